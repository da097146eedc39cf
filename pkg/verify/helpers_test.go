package verify

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/ociindex"
)

// store is an OCI image layout held in memory and written to a fresh
// directory for each read, so that tests can corrupt any blob and read the
// image back through go-containerregistry's layout package (the code path of
// the oci: transport).
type store struct {
	t     testing.TB
	blobs map[digest.Digest][]byte
	root  []byte // index.json
}

func newStore(t testing.TB) *store {
	return &store{t: t, blobs: map[digest.Digest][]byte{}}
}

func (s *store) put(b []byte) digest.Digest {
	d := digest.FromBytes(b)
	s.blobs[d] = b
	return d
}

func (s *store) clone() *store {
	c := newStore(s.t)
	for d, b := range s.blobs {
		c.blobs[d] = b
	}
	c.root = s.root
	return c
}

// write materializes the layout and returns its directory.
func (s *store) write() string {
	s.t.Helper()
	dir := s.t.TempDir()
	must(s.t, os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755))
	must(s.t, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
	must(s.t, os.WriteFile(filepath.Join(dir, "index.json"), s.root, 0o644))
	for d, b := range s.blobs {
		must(s.t, os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()), b, 0o644))
	}
	return dir
}

func (s *store) index() v1.ImageIndex {
	s.t.Helper()
	idx, err := layout.ImageIndexFromPath(s.write())
	must(s.t, err)
	return idx
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var sizeAfterDigest = regexp.MustCompile(`"digest":"(sha256:[0-9a-f]{64})","size":\d+`)

// replace swaps the blob old for b and repoints every JSON document that
// names old (descriptors and annotations), recursively, so that the image
// stays consistent apart from the one change under test. It returns the new
// digest.
func (s *store) replace(old digest.Digest, b []byte) digest.Digest {
	nd := s.put(b)
	if nd == old {
		return nd
	}
	delete(s.blobs, old)
	fix := func(doc []byte) []byte {
		doc = bytes.ReplaceAll(doc, []byte(old.Encoded()), []byte(nd.Encoded()))
		return sizeAfterDigest.ReplaceAllFunc(doc, func(m []byte) []byte {
			d := digest.Digest(sizeAfterDigest.FindSubmatch(m)[1])
			if d != nd {
				return m
			}
			return []byte(fmt.Sprintf(`"digest":"%s","size":%d`, d, len(b)))
		})
	}
	// Rewriting one referrer rewrites its own referrers, which may also
	// name old: rescan until no document names it.
	for {
		var ref digest.Digest
		for d, doc := range s.blobs {
			if len(doc) > 0 && doc[0] == '{' && bytes.Contains(doc, []byte(old.Encoded())) {
				ref = d
				break
			}
		}
		if ref == "" {
			break
		}
		s.replace(ref, fix(s.blobs[ref]))
	}
	s.root = fix(s.root)
	return nd
}

// editJSON decodes blob d into v, applies f and replaces the blob by the
// canonical encoding of v.
func editJSON[T any](s *store, d digest.Digest, f func(*T)) digest.Digest {
	s.t.Helper()
	var v T
	must(s.t, json.Unmarshal(s.blobs[d], &v))
	f(&v)
	b, err := json.Marshal(v)
	must(s.t, err)
	return s.replace(d, b)
}

// topIndex returns the SOCI-enabled image index of a converted store.
func (s *store) topIndex() (digest.Digest, ocispec.Index) {
	s.t.Helper()
	var root ocispec.Index
	must(s.t, json.Unmarshal(s.root, &root))
	d := root.Manifests[0].Digest
	var ix ocispec.Index
	must(s.t, json.Unmarshal(s.blobs[d], &ix))
	return d, ix
}

// platformBlobs finds, for the image manifest of arch, the manifest digest,
// its SOCI index digest and the zTOC descriptors.
type platformBlobs struct {
	manifest digest.Digest
	soci     digest.Digest
	layers   []ocispec.Descriptor
	ztocs    []ocispec.Descriptor
}

func (s *store) platform(arch string) platformBlobs {
	s.t.Helper()
	_, ix := s.topIndex()
	for _, d := range ix.Manifests {
		if d.ArtifactType != "" || d.Platform == nil || d.Platform.Architecture != arch {
			continue
		}
		var m ocispec.Manifest
		must(s.t, json.Unmarshal(s.blobs[d.Digest], &m))
		pb := platformBlobs{manifest: d.Digest, layers: m.Layers}
		pb.soci = digest.Digest(m.Annotations[ociindex.AnnotationIndexDigest])
		if pb.soci != "" {
			var si ocispec.Manifest
			must(s.t, json.Unmarshal(s.blobs[pb.soci], &si))
			pb.ztocs = si.Layers
		}
		return pb
	}
	s.t.Fatalf("no platform %s", arch)
	return platformBlobs{}
}

// ---- source images ----

type fileSpec struct {
	name    string
	size    int
	typ     byte
	link    string
	pax     map[string]string
	random  bool
	modTime time.Time
}

// makeTar writes a deterministic tar. Random files do not compress, so they
// produce several spans at small span sizes.
func makeTar(t testing.TB, seed uint64, files ...fileSpec) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, f := range files {
		typ := f.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mt := f.modTime
		if mt.IsZero() {
			mt = time.Unix(1700000000, 0)
		}
		h := &tar.Header{Name: f.name, Typeflag: typ, Linkname: f.link, Mode: 0o644, ModTime: mt, PAXRecords: f.pax, Uname: "root", Gname: "root"}
		if typ == tar.TypeDir {
			h.Mode = 0o755
		}
		var body []byte
		if typ == tar.TypeReg {
			body = make([]byte, f.size)
			for i := range body {
				if f.random {
					body[i] = byte(rng.Uint32())
				} else {
					body[i] = "socify verifies lazily loaded images\n"[i%37]
				}
			}
			h.Size = int64(len(body))
		}
		if len(f.pax) > 0 {
			h.Format = tar.FormatPAX
		}
		must(t, tw.WriteHeader(h))
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	must(t, tw.Close())
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte, level int, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	must(t, err)
	zw.Name = name
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	must(t, zw.Close())
	return buf.Bytes()
}

// standardTar has directories, random and text files, a hard link, a
// symlink and xattrs, about 400 KB.
func standardTar(t testing.TB, seed uint64) []byte {
	return makeTar(t, seed,
		fileSpec{name: "etc/", typ: tar.TypeDir},
		fileSpec{name: "etc/os-release", size: 300},
		fileSpec{name: "usr/bin/tool", size: 150000, random: true},
		fileSpec{name: "usr/share/doc.txt", size: 100000},
		fileSpec{name: "usr/bin/tool2", typ: tar.TypeLink, link: "usr/bin/tool"},
		fileSpec{name: "usr/lib/data.bin", size: 120000, random: true, pax: map[string]string{"SCHILY.xattr.user.k": "v"}},
		fileSpec{name: "usr/lib/link", typ: tar.TypeSymlink, link: "data.bin"},
	)
}

type layerBlob struct {
	mediaType string
	data      []byte
}

func gzLayer(b []byte) layerBlob {
	return layerBlob{mediaType: ocispec.MediaTypeImageLayerGzip, data: b}
}

// addImage stores an image manifest (with config) for a platform and
// returns its descriptor.
func (s *store) addImage(p ocispec.Platform, layers ...layerBlob) ocispec.Descriptor {
	s.t.Helper()
	cfg, err := json.Marshal(map[string]any{"architecture": p.Architecture, "os": p.OS, "variant": p.Variant,
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}, "config": map[string]any{}})
	must(s.t, err)
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: s.put(cfg), Size: int64(len(cfg))},
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: l.mediaType, Digest: s.put(l.data), Size: int64(len(l.data))})
	}
	mb, err := json.Marshal(m)
	must(s.t, err)
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: s.put(mb), Size: int64(len(mb)), Platform: &p}
}

// setRoot makes index.json list the given manifests (crane's layout shape).
func (s *store) setRoot(ds ...ocispec.Descriptor) {
	s.t.Helper()
	b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: ds})
	must(s.t, err)
	s.root = b
}

var (
	amd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = ocispec.Platform{OS: "linux", Architecture: "arm64"}
)

// converted converts the source store with socify's engine and returns the
// output as a store whose index.json holds the one image index, as soci's
// archives do.
func converted(t testing.TB, src *store, opts ...convert.Option) *store {
	t.Helper()
	opts = append([]convert.Option{convert.WithSpanSize(65536), convert.WithMinLayerSize(0)}, opts...)
	out, _, err := convert.Convert(context.Background(), src.index(), opts...)
	must(t, err)
	dst := newStore(t)
	copyIndex(t, dst, out)
	raw, err := out.RawManifest()
	must(t, err)
	dst.setRoot(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(raw), Size: int64(len(raw))})
	return dst
}

// copyIndex copies every blob reachable from idx into s.
func copyIndex(t testing.TB, s *store, idx v1.ImageIndex) {
	t.Helper()
	raw, err := idx.RawManifest()
	must(t, err)
	s.put(raw)
	im, err := idx.IndexManifest()
	must(t, err)
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			must(t, err)
			copyIndex(t, s, child)
		case d.MediaType.IsImage() || d.MediaType == "application/vnd.oci.image.manifest.v1+json":
			img, err := idx.Image(d.Digest)
			must(t, err)
			copyImage(t, s, img)
		}
	}
}

func copyImage(t testing.TB, s *store, img v1.Image) {
	t.Helper()
	raw, err := img.RawManifest()
	must(t, err)
	s.put(raw)
	var m ocispec.Manifest
	must(t, json.Unmarshal(raw, &m))
	if cfg, err := img.RawConfigFile(); err == nil {
		s.put(cfg)
	}
	for _, d := range m.Layers {
		h, err := v1.NewHash(d.Digest.String())
		must(t, err)
		l, err := img.LayerByDigest(h)
		if err != nil {
			continue // absent blob (e.g. a layer the source lacks)
		}
		rc, err := l.Compressed()
		if err != nil {
			continue
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		must(t, err)
		s.put(b)
	}
}

// vectorStore loads a soci-made test vector: the expected output layout of
// one conversion plus the input blobs from IN.tar.
func vectorStore(t *testing.T, name, label string) *store {
	t.Helper()
	s := newStore(t)
	base := filepath.Join("..", "..", "testdata", "images", name)
	f, err := os.Open(filepath.Join(base, "IN.tar"))
	must(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		if dir, file := filepath.Split(h.Name); dir == "blobs/sha256/" && file != "" {
			b, err := io.ReadAll(tr)
			must(t, err)
			s.put(b)
		}
	}
	exp := filepath.Join(base, "expected", label)
	entries, err := os.ReadDir(filepath.Join(exp, "blobs", "sha256"))
	must(t, err)
	for _, e := range entries {
		if filepath.Ext(e.Name()) != "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(exp, "blobs", "sha256", e.Name()))
		must(t, err)
		s.put(b)
	}
	s.root, err = os.ReadFile(filepath.Join(exp, "index.json"))
	must(t, err)
	return s
}

func problemsOf(ps []Problem, c Check) []Problem {
	var out []Problem
	for _, p := range ps {
		if p.Check == c {
			out = append(out, p)
		}
	}
	return out
}

func dump(ps []Problem) string {
	var b bytes.Buffer
	for _, p := range ps {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// platOf names the platform of a problem, "" for none.
func platOf(p Problem) string {
	if p.Platform == nil {
		return ""
	}
	return p.Platform.String()
}
