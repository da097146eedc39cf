package convert

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestOptionValidation: an invalid option fails Convert before the source is
// touched, with an error naming the option.
func TestOptionValidation(t *testing.T) {
	l := newBlob(mtOCIGzip, gz(t, tarFiles(t, "a")))
	img, d := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: []*blob{l}})
	idx, _ := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(d, "linux", "amd64"), img: img})
	tests := []struct {
		opt  Option
		want string
	}{
		{WithSpanSize(0), "WithSpanSize"},
		{WithSpanSize(-1), "WithSpanSize"},
		{WithSpanSize(MaxSpanSize + 1), "WithSpanSize"},
		{WithMinLayerSize(-1), "WithMinLayerSize"},
		{WithJobs(-2), "WithJobs"},
		{WithPlatforms(v1.Platform{OS: "linux"}), "WithPlatforms"},
		{WithPlatforms(v1.Platform{Architecture: "amd64"}), "WithPlatforms"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			out, rep, err := Convert(context.Background(), idx, tc.opt)
			if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) || out != nil || rep != nil {
				t.Fatalf("err = %v", err)
			}
			if l.reads.Load() != 0 {
				t.Fatal("layer read despite an invalid option")
			}
		})
	}
	// The limits themselves are valid.
	for _, o := range []Option{WithSpanSize(MaxSpanSize), WithSpanSize(1), WithMinLayerSize(0), WithJobs(0), nil} {
		if _, _, err := Convert(context.Background(), idx, o, WithMinLayerSize(0)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWrappedReport: a wrapped lone manifest is reported as such, with the
// manifest as the source, and its index counts as new.
func TestWrappedReport(t *testing.T) {
	l := newBlob(mtOCIGzip, gz(t, tarFiles(t, "a")))
	img, d := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: []*blob{l}})
	_, rep, err := convertImage(t, img, WithMinLayerSize(0))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Wrapped || rep.Source.Digest.String() != d.Digest.String() || string(rep.Source.MediaType) != d.MediaType {
		t.Fatalf("source %+v wrapped %v, want %s", rep.Source, rep.Wrapped, d.Digest)
	}
	// (An OCI index byte-identical to the wrapped form would count as wrapped.)
	idx, _ := makeIndex(t, mtDockerList, entry{desc: withPlatform(d, "linux", "amd64"), img: img})
	if _, rep, err := Convert(context.Background(), idx, WithMinLayerSize(0)); err != nil || rep.Wrapped {
		t.Fatalf("an index of the source reported as wrapped: %v", err)
	}
}

// memCache is a Cache in memory that can be told to fail or to lie.
type memCache struct {
	mu      sync.Mutex
	m       map[string][]byte
	meta    map[string]CacheMeta
	getErr  error
	putErr  error
	corrupt bool
	gets    int
}

func (c *memCache) Get(_ context.Context, k CacheKey) ([]byte, CacheMeta, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	if c.getErr != nil {
		return nil, CacheMeta{}, false, c.getErr
	}
	b, ok := c.m[k.ID()]
	if ok && c.corrupt {
		b = append([]byte("x"), b...)
	}
	return b, c.meta[k.ID()], ok, nil
}

func (c *memCache) Put(_ context.Context, k CacheKey, b []byte, m CacheMeta) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.putErr != nil {
		return c.putErr
	}
	c.m[k.ID()], c.meta[k.ID()] = b, m
	return nil
}

// TestCacheStore: any Cache works; its errors and lies never fail a
// conversion or change its result.
func TestCacheStore(t *testing.T) {
	l := newBlob(mtOCIGzip, gz(t, tarFiles(t, "a", "b")))
	img, d := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: []*blob{l}})
	idx, _ := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(d, "linux", "amd64"), img: img})
	c := &memCache{m: map[string][]byte{}, meta: map[string]CacheMeta{}}
	conv := func(wantStatus string) v1.Hash {
		t.Helper()
		out, rep, err := Convert(context.Background(), idx, WithMinLayerSize(0), WithCacheStore(c))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Layers[0].Status != wantStatus {
			t.Fatalf("status %s, want %s (warnings %v)", rep.Layers[0].Status, wantStatus, rep.Warnings)
		}
		return mustDigest(t, out)
	}
	cold := conv(LayerIndexed)
	if warm := conv(LayerCached); warm != cold || l.reads.Load() != 1 {
		t.Fatalf("warm %s cold %s reads %d", warm, cold, l.reads.Load())
	}
	c.corrupt = true
	if got := conv(LayerIndexed); got != cold {
		t.Fatal("corrupt cache entry changed the result")
	}
	c.corrupt, c.getErr, c.putErr = false, errors.New("cache down"), errors.New("cache full")
	out, rep, err := Convert(context.Background(), idx, WithMinLayerSize(0), WithCacheStore(c))
	if err != nil || mustDigest(t, out) != cold || rep.Layers[0].Status != LayerIndexed {
		t.Fatalf("failing cache: %v", err)
	}
	if w := strings.Join(rep.Warnings, "\n"); !strings.Contains(w, "cache down") || !strings.Contains(w, "cache full") {
		t.Fatalf("cache errors not reported: %q", w)
	}
}

// TestWithCacheDir: a named directory, the default one, and no user cache directory at all
// (a bare container), which converts without a cache and warns instead of failing.
func TestWithCacheDir(t *testing.T) {
	dir := t.TempDir()
	o, err := makeOptions([]Option{WithCacheDir(dir)})
	if dc, ok := o.cache.(*DirCache); err != nil || !ok || dc.dir != dir {
		t.Fatalf("WithCacheDir(%s): %#v, %v", dir, o.cache, err)
	}
	t.Setenv("XDG_CACHE_HOME", dir)
	want, err := DefaultCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	o, err = makeOptions([]Option{WithCacheDir("")})
	if dc, ok := o.cache.(*DirCache); err != nil || !ok || dc.dir != want {
		t.Fatalf("default: %#v, %v; want %s", o.cache, err, want)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if _, err := DefaultCacheDir(); err == nil {
		t.Skip("this OS has a user cache directory without $HOME")
	}
	var logs bytes.Buffer
	c, err := newConverter([]Option{WithCacheDir(""), WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))})
	if err != nil || c.o.cache != nil || !strings.Contains(logs.String(), "no user cache directory") {
		t.Errorf("no cache directory: cache %#v, %v, logs %q", c.o.cache, err, logs.String())
	}
}

func TestWithOptimizations(t *testing.T) {
	o, err := makeOptions([]Option{WithOptimizations()})
	if err != nil || o.disableXattrs {
		t.Errorf("none: %v %v", o.disableXattrs, err)
	}
	if o, err = makeOptions([]Option{WithOptimizations("xattr")}); err != nil || !o.disableXattrs {
		t.Errorf("xattr: %v %v", o.disableXattrs, err)
	}
	if _, err = makeOptions([]Option{WithOptimizations("xattr", "zstd")}); !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), `unknown optimization "zstd"`) {
		t.Errorf("zstd: %v", err)
	}
}

func TestReportLargest(t *testing.T) {
	var none *Report
	if n, l := none.Largest(); n != 0 || l != 0 {
		t.Errorf("nil report: %d, %d", n, l)
	}
	r := &Report{Layers: []LayerReport{{Descriptor: v1.Descriptor{Size: 3}}, {Descriptor: v1.Descriptor{Size: 9}}, {Descriptor: v1.Descriptor{Size: 4}}}}
	if n, l := r.Largest(); n != 3 || l != 9 {
		t.Errorf("%d layers, largest %d", n, l)
	}
}
