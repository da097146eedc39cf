package ztoc_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"testing"
	"testing/iotest"
	"time"

	"github.com/socify/socify/pkg/ztoc"
)

// parallelTar is a tar of about n bytes of files with text-like, random
// and repetitive content, so gzip makes many blocks of every kind.
func parallelTar(tb testing.TB, n int, seed int64) []byte {
	tb.Helper()
	rng := rand.New(rand.NewSource(seed))
	words := []string{"layer", "span", "checkpoint", "deflate", "window", "tar", "gzip", "\n", "the", "a", "func", "return"}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; buf.Len() < n; i++ {
		var body bytes.Buffer
		size := rng.Intn(40 << 10)
		switch i % 4 {
		case 0, 1:
			for body.Len() < size {
				body.WriteString(words[rng.Intn(len(words))])
				body.WriteByte(' ')
			}
		case 2:
			b := make([]byte, size/2)
			rng.Read(b)
			body.Write(b)
		default:
			body.Write(bytes.Repeat([]byte{byte(i)}, size))
		}
		hdr := &tar.Header{Name: fmt.Sprintf("d/f%05d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(body.Len()), ModTime: time.Unix(1700000000, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(body.Bytes()); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func gzipFlushing(tb testing.TB, data []byte, level, every int) []byte {
	tb.Helper()
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		tb.Fatal(err)
	}
	for len(data) > 0 {
		n := min(every, len(data))
		w.Write(data[:n])
		data = data[n:]
		w.Flush()
	}
	w.Close()
	return b.Bytes()
}

// buildResult is what a Build returns, in comparable form: the zTOC bytes
// and warnings, or the error with its offsets.
func buildResult(tb testing.TB, data []byte, opts ...ztoc.Option) string {
	tb.Helper()
	z, err := ztoc.Build(context.Background(), bytes.NewReader(data), opts...)
	if err != nil {
		var fe *ztoc.FormatError
		if errors.As(err, &fe) {
			return fmt.Sprintf("error at %d/%d: %v", fe.CompressedOffset, fe.UncompressedOffset, err)
		}
		return "error: " + err.Error()
	}
	b, err := ztoc.Marshal(z)
	if err != nil {
		return "marshal error: " + err.Error()
	}
	return fmt.Sprintf("%s %v %x", sha256Digest(b), z.Warnings, len(b))
}

func checkParallelSame(t *testing.T, name string, data []byte, span int64, chunks ...int) {
	t.Helper()
	want := buildResult(t, data, ztoc.WithSpanSize(span), ztoc.WithWorkers(1))
	for _, c := range chunks {
		for _, w := range []int{2, 3} {
			got := buildResult(t, data, ztoc.WithSpanSize(span), ztoc.WithWorkers(w), ztoc.WithChunkSize(c))
			if got != want {
				t.Fatalf("%s, span %d, %d workers, chunk %d:\n parallel:   %s\n sequential: %s", name, span, w, c, got, want)
			}
		}
	}
}

// TestParallelBuildSame: parallel builds give the sequential build's bytes
// (or its error, at the same offsets) over many block layouts, members and
// corruptions, with chunk sizes that put chunk boundaries everywhere.
func TestParallelBuildSame(t *testing.T) {
	tarball := parallelTar(t, 600<<10, 1)
	small := tarball[:64<<10]
	var multi []byte
	for i, part := range [][]byte{tarball[:100<<10], {}, tarball[100<<10 : 300<<10], tarball[300<<10:]} {
		multi = append(multi, fuzzGzip(t, part, []int{1, 6, 9, -2}[i], "part")...)
	}
	layers := map[string][]byte{
		"go-1":       fuzzGzip(t, tarball, 1, ""),
		"go-6":       fuzzGzip(t, tarball, 6, "layer.tar"),
		"go-9":       fuzzGzip(t, tarball, 9, ""),
		"huffman":    fuzzGzip(t, tarball, gzip.HuffmanOnly, ""),
		"stored":     fuzzGzip(t, small, gzip.NoCompression, ""),
		"flushing":   gzipFlushing(t, tarball, 6, 50000),
		"flushing-1": gzipFlushing(t, tarball, 1, 7000),
		"members":    multi,
	}
	for name, l := range layers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkParallelSame(t, name, l, 65536, 777, 20000, 100000)
			checkParallelSame(t, name, l, 1<<20, 64, 50000)
		})
	}
	t.Run("corrupt", func(t *testing.T) {
		t.Parallel()
		good := layers["go-6"]
		rng := rand.New(rand.NewSource(3))
		for i := 0; i < 40; i++ {
			bad := bytes.Clone(good)
			pos := 20 + rng.Intn(len(bad)-20)
			switch i % 4 {
			case 0:
				bad = bad[:pos] // truncated
			case 1:
				bad = append(bad, byte(i)) // trailing garbage
			default:
				bad[pos] ^= byte(1 + rng.Intn(255))
			}
			checkParallelSame(t, fmt.Sprintf("corruption %d at %d", i, pos), bad, 65536, 5000, 30000)
		}
	})
}

// TestParallelVectors: the held soci vectors come out byte-identical with
// several workers and small chunks too.
func TestParallelVectors(t *testing.T) {
	for _, c := range loadVectorCases(t) {
		if c.compression() != ztoc.Gzip {
			continue
		}
		t.Run(c.name(), func(t *testing.T) {
			t.Parallel()
			want := expectedZtoc(t, c)
			layer := readVector(t, c.LayerFile)
			for _, chunk := range []int{4096, 100000} {
				z, err := ztoc.Build(context.Background(), plainReader{bytes.NewReader(layer)},
					ztoc.WithSpanSize(c.SpanSize), ztoc.WithBuildToolIdentifier(c.BuildToolIdentifier),
					ztoc.WithWorkers(3), ztoc.WithChunkSize(chunk))
				if err != nil {
					t.Fatal(err)
				}
				got, err := ztoc.Marshal(z)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("chunk %d: zTOC differs from soci's\n%s", chunk, ztoc.Diff(want, got))
				}
			}
		})
	}
}

func TestBuildOptionErrors(t *testing.T) {
	for _, o := range []ztoc.Option{ztoc.WithWorkers(-1), ztoc.WithChunkSize(-1), ztoc.WithChunkSize(10), ztoc.WithChunkSize(2 << 30)} {
		if _, err := ztoc.Build(context.Background(), bytes.NewReader(nil), o); err == nil {
			t.Error("invalid option accepted")
		}
	}
}

// FuzzParallelBuild: for any input, a parallel build with small chunks
// (so that chunk boundaries fall inside the fuzzed bytes) gives exactly
// the sequential build's result: the same zTOC, or the same error at the
// same offsets.
func FuzzParallelBuild(f *testing.F) {
	tarball := fuzzTar(f, 3000)
	for _, v := range [][]byte{
		fuzzGzip(f, tarball, gzip.BestSpeed, ""),
		fuzzGzip(f, tarball, gzip.BestCompression, "layer.tar"),
		fuzzGzip(f, tarball, gzip.HuffmanOnly, ""),
		gzipFlushing(f, tarball, 6, 1500),
		append(fuzzGzip(f, tarball[:2048], 1, ""), fuzzGzip(f, tarball[2048:], 9, "")...),
		// Stored blocks: a whole stored stream, and random file contents
		// (stored blocks between dynamic ones, where chunks may start).
		fuzzGzip(f, tarball, gzip.NoCompression, ""),
		fuzzGzip(f, parallelTar(f, 12000, 3), 6, ""),
	} {
		f.Add(v, uint16(512), uint16(100))
		f.Add(v[:len(v)*2/3], uint16(1000), uint16(64))
	}
	f.Fuzz(func(t *testing.T, data []byte, span, chunk uint16) {
		if len(data) > maxFuzzGzip {
			return
		}
		c := 64 + int(chunk)%4096
		want := buildResult(t, data, ztoc.WithSpanSize(int64(span)), ztoc.WithWorkers(1))
		got := buildResult(t, data, ztoc.WithSpanSize(int64(span)), ztoc.WithWorkers(2), ztoc.WithChunkSize(c))
		if got != want {
			t.Fatalf("chunk %d:\n parallel:   %s\n sequential: %s", c, got, want)
		}
	})
}

// cancelAfter cancels its context once n bytes have been read.
type cancelAfter struct {
	r      *bytes.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	k, err := c.r.Read(p[:min(len(p), 4096)])
	c.n -= k
	return k, err
}

// TestParallelCancelAndReadError: a parallel build stops with the
// context's error or the reader's, and leaves no goroutine behind.
func TestParallelCancelAndReadError(t *testing.T) {
	layer := fuzzGzip(t, parallelTar(t, 2<<20, 5), 6, "")
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := ztoc.Build(ctx, &cancelAfter{r: bytes.NewReader(layer), n: len(layer) / 2, cancel: cancel}, ztoc.WithWorkers(3), ztoc.WithChunkSize(50000))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled build: %v", err)
	}
	boom := errors.New("boom")
	_, err = ztoc.Build(context.Background(), io.MultiReader(bytes.NewReader(layer[:len(layer)/3]), iotest.ErrReader(boom)), ztoc.WithWorkers(3), ztoc.WithChunkSize(50000))
	if !errors.Is(err, boom) {
		t.Fatalf("reader error: %v", err)
	}
	for i := 0; i < 100 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after the builds, %d before", n, before)
	}
}
