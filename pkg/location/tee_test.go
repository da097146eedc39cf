package location_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
)

// counter counts the layer bytes a conversion and a sink read from a source.
type counter struct {
	mu   sync.Mutex
	read map[v1.Hash]int64
}

func (c *counter) add(h v1.Hash, n int) {
	c.mu.Lock()
	c.read[h] += int64(n)
	c.mu.Unlock()
}

// index is v1.ImageIndex under another name, so countingIndex can embed it
// and still define ImageIndex.
type index = v1.ImageIndex

type countingIndex struct {
	inner index
	c     *counter
}

func (x countingIndex) MediaType() (types.MediaType, error)       { return x.inner.MediaType() }
func (x countingIndex) Digest() (v1.Hash, error)                  { return x.inner.Digest() }
func (x countingIndex) Size() (int64, error)                      { return x.inner.Size() }
func (x countingIndex) IndexManifest() (*v1.IndexManifest, error) { return x.inner.IndexManifest() }
func (x countingIndex) RawManifest() ([]byte, error)              { return x.inner.RawManifest() }

func (x countingIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := x.inner.Image(h)
	if err != nil {
		return nil, err
	}
	return countingImage{img, x.c}, nil
}

func (x countingIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	idx, err := x.inner.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return countingIndex{idx, x.c}, nil
}

type countingImage struct {
	v1.Image
	c *counter
}

func (i countingImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	for k, l := range ls {
		ls[k] = countingLayer{l, i.c}
	}
	return ls, err
}

func (i countingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return countingLayer{l, i.c}, nil
}

type countingLayer struct {
	v1.Layer
	c *counter
}

func (l countingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	h, _ := l.Digest()
	return countingReader{rc, l.c, h}, nil
}

type countingReader struct {
	io.ReadCloser
	c *counter
	h v1.Hash
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.c.add(r.h, n)
	return n, err
}

// teeConvert converts src into dst in one pass (convert.WithLayerTee) and
// returns how many bytes of each layer were read from the source.
func teeConvert(t *testing.T, src *location.Source, dst string, tee bool, opts []convert.Option, sopts ...location.Option) (map[v1.Hash]int64, *location.WriteResult) {
	t.Helper()
	ctx := context.Background()
	c := &counter{read: map[v1.Hash]int64{}}
	src.Index = countingIndex{src.Index, c}
	sink, err := location.NewSink(location.MustParseReference(dst), sopts...)
	if err != nil {
		t.Fatal(err)
	}
	if tee {
		lt, err := location.NewLayerTee(ctx, src, sink)
		if err != nil || lt == nil {
			t.Fatalf("no tee for %s: %v", dst, err)
		}
		defer lt.Close()
		opts = append(opts, convert.WithLayerTee(lt))
	}
	out, _, err := convert.Convert(ctx, src.Index, opts...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sink.Write(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	return c.read, res
}

// layerSizes lists the layers of every manifest of idx.
func layerSizes(t *testing.T, idx v1.ImageIndex) map[v1.Hash]int64 {
	t.Helper()
	out := map[v1.Hash]int64{}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			continue
		}
		mf, _ := img.Manifest()
		for _, l := range mf.Layers {
			out[l.Digest] = l.Size
		}
	}
	return out
}

// TestOnePassArchive: with the tee, every layer of the source is read once
// (indexed ones by the conversion, others by Write), and the archive is byte
// for byte the one written without the tee; it holds the same image as the
// soci-ordered archive.
func TestOnePassArchive(t *testing.T) {
	for _, v := range vectors() {
		t.Run(v.name+"/"+v.label, func(t *testing.T) {
			in := "oci-archive:" + filepath.Join(vectorsDir, v.name, "IN.tar")
			want := layerSizes(t, open(t, in).Index)
			tmp := t.TempDir()
			one, two := filepath.Join(tmp, "one.tar"), filepath.Join(tmp, "two.tar")
			read, res := teeConvert(t, open(t, in), "oci-archive:"+one, true, v.opts)
			for h, size := range want {
				if read[h] != size {
					t.Errorf("layer %s: read %d bytes, size %d", h, read[h], size)
				}
			}
			readTwice, res2 := teeConvert(t, open(t, in), "oci-archive:"+two, false, v.opts)
			if a, _ := fileSHA(t, one); a != mustSHA(t, two) || res.Descriptor.Digest != res2.Descriptor.Digest || res.BytesWritten != res2.BytesWritten {
				t.Fatalf("archive with tee differs from archive without: %+v %+v", res, res2)
			}
			var twice bool
			for h, n := range readTwice {
				twice = twice || n > want[h]
			}
			if !twice {
				t.Error("without the tee no layer was read twice: the test does not test the tee")
			}
			// The same image: reopened, each blob checked on the way to a layout.
			back := open(t, "oci-archive:"+one)
			if back.Descriptor.Digest != res.Descriptor.Digest {
				t.Fatalf("reopened %s, wrote %s", back.Descriptor.Digest, res.Descriptor.Digest)
			}
			write(t, "oci:"+filepath.Join(tmp, "check"), back.Index, location.WithoutHardLinks())
			if es, _ := os.ReadDir(tmp); len(es) != 3 {
				t.Fatalf("left behind: %v", es)
			}
		})
	}
}

func mustSHA(t *testing.T, p string) string {
	t.Helper()
	s, _ := fileSHA(t, p)
	return s
}

// TestOnePassLayout: an archive source into a layout, each layer read once,
// the same blobs as without the tee.
func TestOnePassLayout(t *testing.T) {
	v := vectors()[2]
	in := "oci-archive:" + filepath.Join(vectorsDir, v.name, "IN.tar")
	want := layerSizes(t, open(t, in).Index)
	dir := filepath.Join(t.TempDir(), "l")
	read, res := teeConvert(t, open(t, in), "oci:"+dir, true, v.opts)
	for h, size := range want {
		if read[h] != size {
			t.Errorf("layer %s: read %d bytes, size %d", h, read[h], size)
		}
	}
	if res.BlobsWritten == 0 {
		t.Fatalf("%+v", res)
	}
	back := open(t, "oci:"+dir)
	write(t, "oci:"+filepath.Join(t.TempDir(), "check"), back.Index, location.WithoutHardLinks())
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// failingWriter tees fail half way: the conversion goes on, Write copies the
// layers, and the result is the same.
type failingTee struct{ location.LayerTee }

func (f failingTee) TeeLayer(ctx context.Context, d v1.Descriptor) (location.LayerWriter, error) {
	w, err := f.LayerTee.TeeLayer(ctx, d)
	if w == nil || err != nil {
		return w, err
	}
	return &halfWriter{LayerWriter: w, left: d.Size / 2}, nil
}

type halfWriter struct {
	location.LayerWriter
	left int64
}

func (h *halfWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > h.left {
		return 0, errors.New("disk full")
	}
	h.left -= int64(len(p))
	return h.LayerWriter.Write(p)
}

func TestTeeFailureIsNotFatal(t *testing.T) {
	v := vectors()[2]
	in := "oci-archive:" + filepath.Join(vectorsDir, v.name, "IN.tar")
	for _, kind := range []string{"oci-archive:", "oci:"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			tmp := t.TempDir()
			dst := kind + filepath.Join(tmp, "out")
			src := open(t, in)
			sink, _ := location.NewSink(location.MustParseReference(dst))
			lt, err := location.NewLayerTee(ctx, src, sink)
			if err != nil || lt == nil {
				t.Fatal(err)
			}
			defer lt.Close()
			out, _, err := convert.Convert(ctx, src.Index, append(v.opts, convert.WithLayerTee(failingTee{lt}))...)
			if err != nil {
				t.Fatal(err)
			}
			res, err := sink.Write(ctx, out)
			if err != nil {
				t.Fatal(err)
			}
			_, ref := teeConvert(t, open(t, in), kind+filepath.Join(tmp, "ref"), false, v.opts)
			if res.Descriptor.Digest != ref.Descriptor.Digest {
				t.Fatal("different image")
			}
			if kind == "oci-archive:" && mustSHA(t, filepath.Join(tmp, "out")) != mustSHA(t, filepath.Join(tmp, "ref")) {
				t.Fatal("different archive")
			}
			back := open(t, dst)
			write(t, "oci:"+filepath.Join(tmp, "check"), back.Index, location.WithoutHardLinks())
		})
	}
}

// TestTeeCleanupOnFailedConversion: a conversion that fails after the tee
// wrote layers leaves no archive and no blobs.
func TestTeeCleanupOnFailedConversion(t *testing.T) {
	v := vectors()[2]
	in := "oci-archive:" + filepath.Join(vectorsDir, v.name, "IN.tar")
	for _, kind := range []string{"oci-archive:", "oci:"} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tmp := t.TempDir()
			src := open(t, in)
			sink, _ := location.NewSink(location.MustParseReference(kind + filepath.Join(tmp, "out")))
			lt, err := location.NewLayerTee(ctx, src, sink)
			if err != nil || lt == nil {
				t.Fatal(err)
			}
			// The first layer is teed and committed, then the run is cancelled.
			stop := convert.WithProgress(func(e convert.Event) {
				if e.Kind == convert.EventLayerDone {
					cancel()
				}
			})
			if _, _, err := convert.Convert(ctx, src.Index, append(v.opts, convert.WithLayerTee(lt), convert.WithJobs(1), stop)...); !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v", err)
			}
			if err := lt.Close(); err != nil {
				t.Fatal(err)
			}
			var left []string
			filepath.WalkDir(tmp, func(p string, e os.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					left = append(left, p)
				}
				return nil
			})
			if len(left) != 0 {
				t.Fatalf("left behind: %v", left)
			}
		})
	}
}
