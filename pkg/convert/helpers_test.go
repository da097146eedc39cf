package convert

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
	"sync"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/location"
)

// extractTar unpacks a test vector layout (IN.tar) into a temp dir, for
// go-containerregistry's layout package.
func extractTar(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// tarFiles makes a deterministic tar with the given files, in order; file i
// holds 1000*(i+1) bytes that do not compress.
func tarFiles(t *testing.T, files ...string) []byte {
	t.Helper()
	return tarSized(t, 1000, files...)
}

func tarSized(t *testing.T, unit int, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, name := range files {
		rng := rand.New(rand.NewPCG(uint64(len(name)), uint64(i)))
		body := make([]byte, unit*(i+1))
		for k := range body {
			body[k] = byte(rng.Uint32())
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
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

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// blob is a layer of a test image: bytes served as the layer, and the
// descriptor the manifest claims (which tests may falsify).
type blob struct {
	desc ocispec.Descriptor
	data []byte
	// reads counts Compressed calls; active and maxActive track concurrency.
	reads             *atomic.Int32
	active, maxActive *atomic.Int32
	gate              chan struct{} // if set, reads block until closed
}

func newBlob(mt string, data []byte) *blob {
	return &blob{
		desc:  ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))},
		data:  data,
		reads: new(atomic.Int32), active: new(atomic.Int32), maxActive: new(atomic.Int32),
	}
}

type testLayer struct{ b *blob }

func (l testLayer) Digest() (v1.Hash, error) { return v1.NewHash(l.b.desc.Digest.String()) }
func (l testLayer) DiffID() (v1.Hash, error) { return l.Digest() }
func (l testLayer) Size() (int64, error)     { return l.b.desc.Size, nil }
func (l testLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(l.b.desc.MediaType), nil
}
func (l testLayer) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("test layers are only read compressed")
}
func (l testLayer) Compressed() (io.ReadCloser, error) {
	l.b.reads.Add(1)
	n := l.b.active.Add(1)
	for {
		m := l.b.maxActive.Load()
		if n <= m || l.b.maxActive.CompareAndSwap(m, n) {
			break
		}
	}
	if l.b.gate != nil {
		<-l.b.gate
	}
	return &closeFunc{Reader: bytes.NewReader(l.b.data), f: func() { l.b.active.Add(-1) }}, nil
}

type closeFunc struct {
	io.Reader
	once sync.Once
	f    func()
}

func (c *closeFunc) Close() error { c.once.Do(c.f); return nil }

// testImage is an image built from a raw manifest, its config and blobs.
type testImage struct {
	raw, config []byte
	mt          string
	blobs       map[v1.Hash]*blob
}

func (i *testImage) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *testImage) MediaType() (types.MediaType, error) { return types.MediaType(i.mt), nil }
func (i *testImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *testImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if b, ok := i.blobs[h]; ok {
		return testLayer{b}, nil
	}
	return nil, fmt.Errorf("no blob %s", h)
}

type imageSpec struct {
	mt, configMT string
	os, arch     string
	layers       []*blob
	annotations  map[string]string
}

func makeImage(t *testing.T, s imageSpec) (v1.Image, ocispec.Descriptor) {
	t.Helper()
	if s.mt == "" {
		s.mt = ocispec.MediaTypeImageManifest
	}
	if s.configMT == "" {
		s.configMT = ocispec.MediaTypeImageConfig
		if s.mt == "application/vnd.docker.distribution.manifest.v2+json" {
			s.configMT = "application/vnd.docker.container.image.v1+json"
		}
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": s.arch, "os": s.os, "rootfs": map[string]any{"type": "layers"}})
	m := ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   s.mt,
		Config:      ocispec.Descriptor{MediaType: s.configMT, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers:      []ocispec.Descriptor{},
		Annotations: s.annotations,
	}
	ti := &testImage{config: cfg, mt: s.mt, blobs: map[v1.Hash]*blob{}}
	for _, l := range s.layers {
		m.Layers = append(m.Layers, l.desc)
		h, _ := v1.NewHash(l.desc.Digest.String())
		ti.blobs[h] = l
	}
	// Indented like Docker writes it, so re-encoding changes the digest.
	raw, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		t.Fatal(err)
	}
	ti.raw = raw
	img, err := partial.CompressedToImage(ti)
	if err != nil {
		t.Fatal(err)
	}
	return img, ocispec.Descriptor{MediaType: s.mt, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
}

// testIndex is an image index over in-memory children.
type testIndex struct {
	raw     []byte
	mt      string
	images  map[v1.Hash]v1.Image
	indexes map[v1.Hash]v1.ImageIndex
}

func (x *testIndex) MediaType() (types.MediaType, error) { return types.MediaType(x.mt), nil }
func (x *testIndex) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(x.raw))
	return h, err
}
func (x *testIndex) Size() (int64, error)         { return int64(len(x.raw)), nil }
func (x *testIndex) RawManifest() ([]byte, error) { return x.raw, nil }
func (x *testIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(x.raw))
}
func (x *testIndex) Image(h v1.Hash) (v1.Image, error) {
	if i, ok := x.images[h]; ok {
		return i, nil
	}
	return nil, fmt.Errorf("image %s: %w", h, os.ErrNotExist)
}
func (x *testIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	if i, ok := x.indexes[h]; ok {
		return i, nil
	}
	return nil, fmt.Errorf("index %s: %w", h, os.ErrNotExist)
}

type entry struct {
	desc ocispec.Descriptor
	img  v1.Image
	idx  v1.ImageIndex
}

func makeIndex(t *testing.T, mt string, entries ...entry) (*testIndex, ocispec.Descriptor) {
	t.Helper()
	x := &testIndex{mt: mt, images: map[v1.Hash]v1.Image{}, indexes: map[v1.Hash]v1.ImageIndex{}}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mt, Manifests: []ocispec.Descriptor{}}
	for _, e := range entries {
		idx.Manifests = append(idx.Manifests, e.desc)
		h, _ := v1.NewHash(e.desc.Digest.String())
		if e.img != nil {
			x.images[h] = e.img
		}
		if e.idx != nil {
			x.indexes[h] = e.idx
		}
	}
	raw, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	x.raw = raw
	return x, ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
}

func withPlatform(d ocispec.Descriptor, os, arch string) ocispec.Descriptor {
	d.Platform = &ocispec.Platform{OS: os, Architecture: arch}
	return d
}

// collect walks a converted index and returns every document and zTOC it
// references, by digest (source layers and configs are left out).
func collect(t *testing.T, idx v1.ImageIndex) map[digest.Digest][]byte {
	t.Helper()
	out := map[digest.Digest][]byte{}
	var walk func(v1.ImageIndex)
	walk = func(x v1.ImageIndex) {
		raw, err := x.RawManifest()
		if err != nil {
			t.Fatal(err)
		}
		out[digest.FromBytes(raw)] = raw
		m, err := x.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range m.Manifests {
			switch {
			case d.MediaType.IsIndex():
				sub, err := x.ImageIndex(d.Digest)
				if err != nil {
					t.Fatal(err)
				}
				walk(sub)
			case d.MediaType.IsImage():
				img, err := x.Image(d.Digest)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := img.RawManifest()
				if err != nil {
					t.Fatal(err)
				}
				if digest.FromBytes(raw).String() != d.Digest.String() {
					t.Fatalf("child %s serves manifest %s", d.Digest, digest.FromBytes(raw))
				}
				out[digest.FromBytes(raw)] = raw
				if d.ArtifactType == "application/vnd.amazon.soci.index.v2+json" {
					ls, err := img.Layers()
					if err != nil {
						t.Fatal(err)
					}
					for _, l := range ls {
						rc, err := l.Compressed()
						if err != nil {
							t.Fatal(err)
						}
						b, err := io.ReadAll(rc)
						rc.Close()
						if err != nil {
							t.Fatal(err)
						}
						out[digest.FromBytes(b)] = b
					}
					cfg, err := img.RawConfigFile()
					if err != nil {
						t.Fatal(err)
					}
					out[digest.FromBytes(cfg)] = cfg
				}
			}
		}
	}
	walk(idx)
	return out
}

func tarWithPAX(t *testing.T, pax map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("hello")
	if err := tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, PAXRecords: pax, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	return buf.Bytes()
}

func tarNamed(t *testing.T, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	return buf.Bytes()
}

// convertImage converts a lone image the way a source that names one does.
func convertImage(t *testing.T, img v1.Image, opts ...Option) (v1.ImageIndex, *Report, error) {
	t.Helper()
	idx, err := location.WrapImage(img)
	if err != nil {
		t.Fatal(err)
	}
	return Convert(context.Background(), idx, opts...)
}
