package oracle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	soci "github.com/awslabs/soci-snapshotter/soci"
	socistore "github.com/awslabs/soci-snapshotter/soci/store"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/prefetch"
	"github.com/socify/socify/pkg/ztoc"
)

// prefetchEntry is one tar entry of a generated layer.
type prefetchEntry struct {
	name, link string
	typ        byte
	size       int
}

// prefetchTar writes a tar whose regular files hold random bytes, so that
// they do not compress and span several spans at a small span size.
func prefetchTar(t *testing.T, seed uint64, es ...prefetchEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	rng := rand.New(rand.NewPCG(seed, 11))
	for _, e := range es {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: typ, Mode: 0o644, Uname: "root", Gname: "root"}
		if typ == tar.TypeReg {
			h.Size = int64(e.size)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, h.Size)
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipLevel(t *testing.T, b []byte, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type prefetchLayer struct {
	mediaType string
	blob      []byte
}

// writeLayout writes an OCI layout holding one linux/amd64 image of these
// layers (in manifest order) and returns its directory.
func writeLayout(t *testing.T, layers ...prefetchLayer) string {
	t.Helper()
	dir := t.TempDir()
	put := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		p := filepath.Join(dir, "blobs", "sha256", d.Encoded())
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}, "config": map[string]any{}})
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: put(cfg), Size: int64(len(cfg))},
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: l.mediaType, Digest: put(l.blob), Size: int64(len(l.blob))})
	}
	mb, _ := json.Marshal(m)
	ix, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: put(mb), Size: int64(len(mb))}}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), ix, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sociIndexOf returns the SOCI index manifest bytes of the (one) image in an
// image index, found as the snapshotter finds it: the manifest annotation.
func sociIndexOf(t *testing.T, blob func(digest.Digest) []byte, top digest.Digest) []byte {
	t.Helper()
	var ix ocispec.Index
	if err := json.Unmarshal(blob(top), &ix); err != nil {
		t.Fatal(err)
	}
	for _, d := range ix.Manifests {
		if d.ArtifactType != "" {
			continue
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(blob(d.Digest), &m); err != nil {
			t.Fatal(err)
		}
		if sd := m.Annotations[ociindex.AnnotationIndexDigest]; sd != "" {
			return blob(digest.Digest(sd))
		}
	}
	t.Fatalf("no SOCI-enabled manifest in %s", top)
	return nil
}

// sociConvert runs soci's own IndexBuilder.Convert (v0.16.1) on a copy of
// the layout, as `soci convert --standalone` does: containerd's local
// content store reads it, an oras OCI store takes the new blobs.
func sociConvert(t *testing.T, src string, span, minLayer int64, paths []string) (blob func(digest.Digest) []byte, top digest.Digest) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	cs, err := local.NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := socistore.NewSociStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := soci.NewDB(filepath.Join(t.TempDir(), "artifacts.db"))
	if err != nil {
		t.Fatal(err)
	}
	// The artifacts DB is a process-wide singleton in soci (the first path
	// wins), so earlier runs' zTOCs are in it: force fresh ones, as
	// standalone mode always builds them.
	b, err := soci.NewIndexBuilder(cs, bs, soci.WithArtifactsDb(db), soci.WithForceRecreateZtocs(true), soci.WithSpanSize(span), soci.WithMinLayerSize(minLayer),
		soci.WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier), soci.WithPrefetchPaths(paths))
	if err != nil {
		t.Fatal(err)
	}
	var root ocispec.Index
	raw, err := os.ReadFile(filepath.Join(src, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	desc, err := b.Convert(context.Background(), images.Image{Name: "prefetch-test", Target: root.Manifests[0]}, soci.ConvertWithNoGarbageCollectionLabels())
	if err != nil {
		t.Fatalf("soci convert: %v", err)
	}
	return func(d digest.Digest) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()))
		if err != nil {
			t.Fatalf("soci output: %v", err)
		}
		return b
	}, desc.Digest
}

// socifyConvert converts the layout with socify's engine.
func socifyConvert(t *testing.T, src string, span, minLayer int64, paths []string) (blob func(digest.Digest) []byte, top digest.Digest, rep *convert.Report) {
	t.Helper()
	s, err := location.Open(context.Background(), location.MustParseReference("oci:"+src))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, rep, err := convert.Convert(context.Background(), s.Index, convert.WithSpanSize(span), convert.WithMinLayerSize(minLayer),
		convert.WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier), convert.WithPrefetchFiles(paths...))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	sink, err := location.NewSink(location.MustParseReference("oci:" + dst))
	if err != nil {
		t.Fatal(err)
	}
	res, err := sink.Write(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	return func(d digest.Digest) []byte {
		b, err := os.ReadFile(filepath.Join(dst, "blobs", d.Algorithm().String(), d.Encoded()))
		if err != nil {
			t.Fatalf("socify output: %v", err)
		}
		return b
	}, digest.Digest(res.Descriptor.Digest.String()), rep
}

// TestPrefetchParityWithSoci builds prefetch artifacts with soci's own
// IndexBuilder and with socify for generated layers and paths, and compares
// the SOCI index (zTOC and prefetch descriptors, in order) and every
// prefetch blob byte for byte.
func TestPrefetchParityWithSoci(t *testing.T) {
	const span = 65536
	// Bottom layer, gzip: "./"-prefixed names, a directory with and one
	// without a trailing slash, files spanning many spans, adjacent and
	// overlapping small files, links, an empty file.
	bottom := prefetchTar(t, 1,
		prefetchEntry{name: "./", typ: tar.TypeDir},
		prefetchEntry{name: "./usr/", typ: tar.TypeDir},
		prefetchEntry{name: "./usr/bin/dotted", size: 70000},
		prefetchEntry{name: "etc/", typ: tar.TypeDir},
		prefetchEntry{name: "etc/a.conf", size: 3000},
		prefetchEntry{name: "etc/b.conf", size: 3000}, // same span as a.conf
		prefetchEntry{name: "opt", typ: tar.TypeDir},
		prefetchEntry{name: "big/file", size: 400000}, // several spans
		prefetchEntry{name: "big/next", size: 70000},  // adjacent spans
		prefetchEntry{name: "gap", size: 300000},
		prefetchEntry{name: "far/file", size: 100000},
		prefetchEntry{name: "empty", size: 0},
		prefetchEntry{name: "hard", typ: tar.TypeLink, link: "etc/a.conf"},
		prefetchEntry{name: "sym", typ: tar.TypeSymlink, link: "etc/a.conf"},
		prefetchEntry{name: "shadowed", size: 5000},
	)
	// Middle layer, uncompressed tar: shadows a file of the bottom layer.
	middle := prefetchTar(t, 2,
		prefetchEntry{name: "shadowed", size: 200000},
		prefetchEntry{name: "mid/one", size: 150000},
		prefetchEntry{name: "mid/two", size: 10},
	)
	// Top layer, below the minimum layer size: no zTOC, so its files are
	// not searched and "shadowed" resolves to the middle layer.
	top := gzipLevel(t, prefetchTar(t, 3, prefetchEntry{name: "shadowed", size: 10}, prefetchEntry{name: "only-top", size: 10}), gzip.BestCompression)
	const minLayer = 4096
	if len(top) >= minLayer {
		t.Fatalf("top layer is %d bytes, want it below %d", len(top), minLayer)
	}
	gzBottom := gzipLevel(t, bottom, gzip.BestSpeed)

	paths := []string{
		"./usr/bin/dotted", "usr/bin/dotted", // the raw name has "./": never matches
		"/etc/a.conf", "etc/b.conf", "etc/../etc/a.conf",
		"etc/", "etc", "opt", // "etc/" in the tar does not match "etc"; "opt" does
		"big/file", "big/next", "//far/./file", "empty", "hard", "sym",
		"shadowed", "only-top", "missing", "mid/two", "//mid//one",
	}
	// Exact boundaries, at a span size of 128 KiB. gzip level 0 writes
	// stored blocks of 65535 bytes, and a flush ends one where it is called,
	// so checkpoints can be put on chosen offsets: the first block boundary
	// past 131072. In "gz/ends", the flush follows the 131072-byte body of
	// "gz/a", so a checkpoint sits at its one-past-end offset (its range
	// ends in span 1). In "gz/starts", the flush follows the header of
	// "gz/b", whose data starts at 132096, so a checkpoint sits exactly at
	// its first byte (span 1). In the tar layer, "tar/a" ends in span 1,
	// "tar/b" starts in span 2 (adjacent ranges merge), and "tar/c" starts
	// exactly at span 3.
	const bspan = 131072
	rng := rand.New(rand.NewPCG(4, 4))
	writeFile := func(tw *tar.Writer, name string, size int, after func()) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(size)}); err != nil {
			t.Fatal(err)
		}
		if after != nil {
			after()
		}
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	storedGzip := func(write func(tw *tar.Writer, flush func())) []byte {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.NoCompression)
		tw := tar.NewWriter(zw)
		write(tw, func() { zw.Flush() })
		tw.Close()
		zw.Close()
		return b.Bytes()
	}
	gzEnds := storedGzip(func(tw *tar.Writer, flush func()) {
		writeFile(tw, "gz/a", 131072, nil)
		flush()
		writeFile(tw, "gz/pad", 1000, nil)
	})
	gzStarts := storedGzip(func(tw *tar.Writer, flush func()) {
		writeFile(tw, "gz/pad", 131072, nil)
		writeFile(tw, "gz/b", 1000, flush)
		writeFile(tw, "gz/more", 300000, nil)
	})
	wantCheckpoint := func(layer []byte, name string, end bool) {
		z, err := ztoc.Build(context.Background(), bytes.NewReader(layer), ztoc.WithSpanSize(bspan))
		if err != nil {
			t.Fatal(err)
		}
		e := find(t, z, name)
		off := e.UncompressedOffset
		if end {
			off += e.UncompressedSize
		}
		cps, _ := z.GzipCheckpoints()
		for _, c := range cps {
			if c.Out == off {
				return
			}
		}
		t.Fatalf("test layout: no checkpoint at offset %d of %s", off, name)
	}
	wantCheckpoint(gzEnds, "gz/a", true)
	wantCheckpoint(gzStarts, "gz/b", false)
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	writeFile(tw, "tar/a", 2*bspan-100-512, nil)
	writeFile(tw, "tar/b", 10, nil)
	writeFile(tw, "tar/pad", 3*bspan-512-(2*bspan+512+512), nil)
	writeFile(tw, "tar/c", 10, nil)
	tw.Close()
	boundaryLayers := []prefetchLayer{{ocispec.MediaTypeImageLayerGzip, gzEnds}, {ocispec.MediaTypeImageLayerGzip, gzStarts}, {ocispec.MediaTypeImageLayer, tb.Bytes()}}

	cases := []struct {
		name    string
		span    int64
		layers  []prefetchLayer
		paths   []string
		missing bool // some paths are in no layer with a zTOC
	}{
		{"boundaries", bspan, boundaryLayers, []string{"gz/a", "gz/b", "tar/a", "tar/b", "tar/c"}, false},
		{"three layers", span, []prefetchLayer{
			{ocispec.MediaTypeImageLayerGzip, gzBottom},
			{ocispec.MediaTypeImageLayer, middle},
			{ocispec.MediaTypeImageLayerGzip, top},
		}, paths, true},
		{"one file", span, []prefetchLayer{{ocispec.MediaTypeImageLayerGzip, gzBottom}}, []string{"big/file"}, false},
		{"nothing found", span, []prefetchLayer{{ocispec.MediaTypeImageLayerGzip, gzBottom}}, []string{"missing", "./usr/bin/dotted"}, true},
		// The same layer twice: soci lists its artifact twice.
		{"duplicate layer", span, []prefetchLayer{
			{ocispec.MediaTypeImageLayerGzip, gzBottom},
			{ocispec.MediaTypeImageLayer, middle},
			{ocispec.MediaTypeImageLayerGzip, gzBottom},
		}, []string{"etc/a.conf", "mid/one"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeLayout(t, tc.layers...)
			ourBlob, ourTop, rep := socifyConvert(t, dir, tc.span, minLayer, tc.paths)
			ours := sociIndexOf(t, ourBlob, ourTop)
			var ourIdx ocispec.Manifest
			if err := json.Unmarshal(ours, &ourIdx); err != nil {
				t.Fatal(err)
			}
			// soci appends builtZtocs from one goroutine per layer without a
			// lock (a data race in v0.16.1, only with prefetch paths), so a
			// run can lose a layer's zTOC for prefetching. Such a run lists
			// fewer prefetch artifacts; it is retried, any other difference
			// is a failure.
			var theirs []byte
			var theirBlob func(digest.Digest) []byte
			for attempt := 0; attempt < 3; attempt++ {
				var theirTop digest.Digest
				theirBlob, theirTop = sociConvert(t, dir, tc.span, minLayer, tc.paths)
				theirs = sociIndexOf(t, theirBlob, theirTop)
				if bytes.Equal(ours, theirs) || countPrefetch(t, theirs) >= countPrefetch(t, ours) {
					break
				}
				t.Logf("soci run %d lost a zTOC to its data race (%d prefetch artifacts, socify %d); retrying", attempt+1, countPrefetch(t, theirs), countPrefetch(t, ours))
			}
			if !bytes.Equal(ours, theirs) {
				t.Fatalf("SOCI index differs from soci's:\nsocify %s\nsoci   %s", ours, theirs)
			}
			n := 0
			for _, d := range ourIdx.Layers {
				if d.MediaType != prefetch.MediaType {
					continue
				}
				n++
				if a, b := ourBlob(d.Digest), theirBlob(d.Digest); !bytes.Equal(a, b) {
					t.Fatalf("prefetch blob %s: socify %s, soci %s", d.Digest, a, b)
				}
				t.Logf("prefetch for %s: %s", d.Annotations[ociindex.AnnotationImageLayerDigest], ourBlob(d.Digest))
			}
			if tc.name == "nothing found" && n != 0 || tc.name != "nothing found" && n == 0 {
				t.Fatalf("%d prefetch artifacts", n)
			}
			if strings.Contains(fmt.Sprint(rep.Warnings), "not in any layer with a zTOC") != tc.missing {
				t.Errorf("report warnings %q: want paths not found reported: %v", rep.Warnings, tc.missing)
			}
		})
	}
}

func countPrefetch(t *testing.T, sociIndex []byte) int {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(sociIndex, &m); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range m.Layers {
		if d.MediaType == prefetch.MediaType {
			n++
		}
	}
	return n
}

func find(t *testing.T, z *ztoc.Ztoc, name string) ztoc.FileMetadata {
	t.Helper()
	for _, e := range z.TOC {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no %s in the TOC", name)
	return ztoc.FileMetadata{}
}
