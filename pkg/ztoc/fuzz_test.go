package ztoc_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/socify/socify/pkg/ztoc"
)

// Fuzz targets for the zTOC reader and builder: every input is untrusted.
// Run one at a time, e.g.
//
//	go test ./pkg/ztoc -run '^$' -fuzz '^FuzzUnmarshal$' -fuzztime 60s
//
// Crashers the engine finds are written to testdata/fuzz/<FuzzName>/ and
// replayed by every plain `go test` from then on.

// fuzzTar is a small tar with the entry kinds the builder handles: files,
// a directory, links, PAX records and a long name.
func fuzzTar(tb testing.TB, n int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 123456789)
	hdrs := []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt},
		{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(n), ModTime: mt, PAXRecords: map[string]string{"SCHILY.xattr.user.a": "b"}},
		{Name: "d/h", Typeflag: tar.TypeLink, Linkname: "d/f", ModTime: mt},
		{Name: "d/s", Typeflag: tar.TypeSymlink, Linkname: "f", ModTime: mt},
		{Name: "d/" + string(bytes.Repeat([]byte("x"), 120)), Typeflag: tar.TypeReg, Mode: 0o600, Size: 3, ModTime: mt},
		{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, ModTime: mt},
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		body := make([]byte, h.Size)
		for i := range body {
			body[i] = byte(i*7 + i/255)
		}
		if _, err := tw.Write(body); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func fuzzGzip(tb testing.TB, b []byte, level int, name string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		tb.Fatal(err)
	}
	zw.Name = name
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func buildOrFatal(tb testing.TB, b []byte, opts ...ztoc.Option) []byte {
	tb.Helper()
	z, err := ztoc.Build(context.Background(), bytes.NewReader(b), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := ztoc.Marshal(z)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// FuzzReader: random access through an untrusted zTOC (what get-file and
// the verifier do) never panics or hangs, whatever the zTOC claims about the
// layer. FuzzUnmarshal (golden_test.go) covers the decoder itself.
func FuzzReader(f *testing.F) {
	tarball := fuzzTar(f, 3000)
	layer := fuzzGzip(f, tarball, gzip.BestSpeed, "x.tar")
	f.Add(buildOrFatal(f, layer, ztoc.WithSpanSize(1024)), false)
	f.Add(buildOrFatal(f, tarball, ztoc.WithCompression(ztoc.Uncompressed), ztoc.WithSpanSize(1024)), true)
	f.Fuzz(func(t *testing.T, b []byte, uncompressed bool) {
		z, err := ztoc.Unmarshal(b)
		if err != nil {
			return
		}
		_, _ = z.GzipCheckpoints()
		_, _ = z.SpanSize()
		src := layer
		if uncompressed {
			src = tarball
		}
		r, err := ztoc.NewReader(z, bytes.NewReader(src))
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i <= int(z.MaxSpanID) && i < 16; i++ {
				_, _, _ = z.SpanRange(i)
				_ = r.ReadSpan(ctx, i, io.Discard)
			}
			for i := 0; i < len(z.TOC) && i < 16; i++ {
				_ = r.ExtractFile(ctx, z.TOC[i].Name, io.Discard)
			}
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("reading through the zTOC did not return within 30s")
		}
	})
}

// buildWithDeadline runs Build and fails the test if it does not return:
// the builder must never hang on malformed input.
func buildWithDeadline(t *testing.T, data []byte, opts ...ztoc.Option) (*ztoc.Ztoc, error) {
	t.Helper()
	type result struct {
		z   *ztoc.Ztoc
		err error
	}
	done := make(chan result, 1)
	go func() {
		z, err := ztoc.Build(context.Background(), bytes.NewReader(data), opts...)
		done <- result{z, err}
	}()
	select {
	case r := <-done:
		checkEncoded(t, bytes.NewReader(data), opts, r.z, r.err)
		return r.z, r.err
	case <-time.After(20 * time.Second):
		t.Fatalf("Build did not return within 20s on %d bytes", len(data))
		return nil, nil
	}
}

// checkEncoded requires BuildEncoded on r to agree with Build's result z
// (or error): the same error, or Marshal(z)'s bytes and the same facts.
func checkEncoded(t *testing.T, r io.Reader, opts []ztoc.Option, z *ztoc.Ztoc, buildErr error) {
	t.Helper()
	e, err := ztoc.BuildEncoded(context.Background(), r, opts...)
	if (err == nil) != (buildErr == nil) || (err != nil && err.Error() != buildErr.Error()) {
		t.Fatalf("BuildEncoded error %v, Build error %v", err, buildErr)
	}
	if err != nil {
		return
	}
	want, err := ztoc.Marshal(z)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if !bytes.Equal(e.Bytes, want) {
		t.Fatalf("BuildEncoded bytes differ from Marshal(Build)\n%s", ztoc.Diff(want, e.Bytes))
	}
	xattrs := false
	for _, f := range z.TOC {
		xattrs = xattrs || strings.HasSuffix(f.Name, ".wh..wh..opq")
		for k := range f.PAXHeaders {
			xattrs = xattrs || strings.HasPrefix(k, "SCHILY.xattr.")
		}
	}
	if e.BlobDigest != z.BlobDigest || e.Compression != z.Compression || e.CompressedArchiveSize != z.CompressedArchiveSize ||
		e.UncompressedArchiveSize != z.UncompressedArchiveSize || e.Spans != int(z.MaxSpanID)+1 || e.Files != len(z.TOC) ||
		e.Xattrs != xattrs || !reflect.DeepEqual(e.Warnings, z.Warnings) {
		t.Fatalf("BuildEncoded facts %+v differ from Build's", *e)
	}
}

// checkBuilt asserts what every successful Build must satisfy, whatever the
// input: sizes and digests match the bytes read, one digest per span, and
// each span digest is the digest of the span's byte range.
func checkBuilt(t *testing.T, data []byte, z *ztoc.Ztoc) {
	t.Helper()
	if z.CompressedArchiveSize != int64(len(data)) {
		t.Fatalf("compressed size %d, input %d", z.CompressedArchiveSize, len(data))
	}
	if want := fmt.Sprintf("sha256:%x", sha256.Sum256(data)); z.BlobDigest != want {
		t.Fatalf("blob digest %s, want %s", z.BlobDigest, want)
	}
	if len(z.SpanDigests) != int(z.MaxSpanID)+1 {
		t.Fatalf("%d span digests, max span id %d", len(z.SpanDigests), z.MaxSpanID)
	}
	for i := range z.SpanDigests {
		s, e, err := z.SpanRange(i)
		if err != nil {
			t.Fatalf("span %d: %v", i, err)
		}
		if s < 0 || e > int64(len(data)) || s > e {
			t.Fatalf("span %d range [%d, %d) outside the %d-byte input", i, s, e, len(data))
		}
		if got := fmt.Sprintf("sha256:%x", sha256.Sum256(data[s:e])); got != z.SpanDigests[i] {
			t.Fatalf("span %d [%d, %d): digest %s, recorded %s", i, s, e, got, z.SpanDigests[i])
		}
	}
	b, err := ztoc.Marshal(z)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if _, err := ztoc.Unmarshal(b); err != nil && len(z.Warnings) == 0 {
		// Overlapping entries come only from sparse files, which Build warns about.
		t.Fatalf("Unmarshal of a built zTOC: %v", err)
	}
}

// maxFuzzGzip bounds gzip inputs so that executions stay fast: small inputs
// reach every state of the decoder. (Build refuses more than 64 checkpoints
// at offset 0, so no input can multiply memory by much.)
const maxFuzzGzip = 8 << 10

// FuzzBuildGzip: Build on arbitrary bytes read as gzip never panics or hangs,
// and whatever it accepts is self-consistent.
func FuzzBuildGzip(f *testing.F) {
	tarball := fuzzTar(f, 1500)
	valid := [][]byte{
		fuzzGzip(f, tarball, gzip.BestSpeed, ""),
		fuzzGzip(f, tarball, gzip.BestCompression, "layer.tar"),
		fuzzGzip(f, tarball, gzip.NoCompression, ""),
		fuzzGzip(f, tarball, gzip.HuffmanOnly, ""),
		append(fuzzGzip(f, nil, gzip.BestSpeed, ""), fuzzGzip(f, tarball, gzip.DefaultCompression, "")...), // empty first member
		append(fuzzGzip(f, tarball[:2048], 1, ""), fuzzGzip(f, tarball[2048:], 9, "")...),                  // two members
		fuzzGzip(f, fuzzTar(f, 0)[:1024], gzip.BestSpeed, ""),                                              // tar without end marker
	}
	for _, v := range valid {
		f.Add(v, uint16(512))
		f.Add(v, uint16(0))
		// Corrupted variants: truncated, trailing garbage, a flipped byte.
		f.Add(v[:len(v)/2], uint16(512))
		f.Add(append(bytes.Clone(v), 0, 0, 0, 0), uint16(512))
		flipped := bytes.Clone(v)
		flipped[len(flipped)/3] ^= 0x55
		f.Add(flipped, uint16(4096))
	}
	f.Add([]byte{}, uint16(1))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0}, uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, span uint16) {
		if len(data) > maxFuzzGzip {
			return
		}
		z, err := buildWithDeadline(t, data, ztoc.WithSpanSize(int64(span)), ztoc.WithCompression(ztoc.Gzip))
		if err != nil {
			return
		}
		checkBuilt(t, data, z)
		cps, err := z.GzipCheckpoints()
		if err != nil {
			t.Fatalf("GzipCheckpoints of a built zTOC: %v", err)
		}
		if len(cps) != int(z.MaxSpanID)+1 {
			t.Fatalf("%d checkpoints, max span id %d", len(cps), z.MaxSpanID)
		}
	})
}

// FuzzBuildTar: Build on arbitrary bytes read as an uncompressed tar never
// panics or hangs, and whatever it accepts is self-consistent.
func FuzzBuildTar(f *testing.F) {
	tarball := fuzzTar(f, 5000)
	f.Add(tarball, uint16(512))
	f.Add(tarball, uint16(1))
	f.Add(tarball[:len(tarball)-1024], uint16(100)) // no end marker
	f.Add(tarball[:700], uint16(512))               // truncated inside a header's data
	flipped := bytes.Clone(tarball)
	flipped[148] ^= 1 // header checksum
	f.Add(flipped, uint16(512))
	f.Add([]byte{}, uint16(1))
	f.Add(make([]byte, 1024), uint16(512))
	f.Fuzz(func(t *testing.T, data []byte, span uint16) {
		if len(data) > 64<<10 {
			return
		}
		if span == 0 {
			span = 1 // Build rejects span 0 for tar layers (soci divides by it)
		}
		z, err := buildWithDeadline(t, data, ztoc.WithSpanSize(int64(span)), ztoc.WithCompression(ztoc.Uncompressed))
		if err != nil {
			return
		}
		checkBuilt(t, data, z)
		if z.UncompressedArchiveSize > int64(len(data)) {
			t.Fatalf("uncompressed size %d beyond the %d-byte tar", z.UncompressedArchiveSize, len(data))
		}
	})
}
