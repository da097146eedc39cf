package ztoc

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"
)

// TestManyTinyEntries streams a layer of many empty files, generated on the
// fly, and checks that memory grows with the TOC only: no buffering of the
// layer, nothing per entry beyond its metadata.
func TestManyTinyEntries(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		tw := tar.NewWriter(zw)
		for i := 0; i < n; i++ {
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%03d/f%07d", i%1000, i), Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		tw.Close()
		zw.Close()
		pw.Close()
	}()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	z, err := Build(context.Background(), pr, WithSpanSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if len(z.TOC) != n {
		t.Fatalf("%d entries, want %d", len(z.TOC), n)
	}
	perEntry := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	t.Logf("%d entries, %.0f bytes of live heap per entry, uncompressed %d", n, perEntry, z.UncompressedArchiveSize)
	// A FileMetadata is ~200 bytes plus its name; the layer itself (100 MB of
	// tar headers here) must not be held.
	if perEntry > 400 {
		t.Fatalf("%.0f bytes per entry retained", perEntry)
	}
	b, err := Marshal(z)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unmarshal(b); err != nil {
		t.Fatal(err)
	}
}

// TestBuildEncodedAllocates bounds everything BuildEncoded allocates, garbage
// included, on a layer of many tiny entries: the compact TOC, the serialized
// zTOC and a fixed working set. With little garbage the heap, and so the
// process, stays near the zTOC's size whatever the GC target.
func TestBuildEncodedAllocates(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	var layer bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&layer, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	data := make([]byte, 300)
	for i := 0; i < n; i++ {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("app/node_modules/p%03d/f%07d.js", i%1000, i), Mode: 0o644, Size: int64(i % 300), Typeflag: tar.TypeReg, Uname: "node"}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data[:i%300])
	}
	tw.Close()
	zw.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	e, err := BuildEncoded(context.Background(), &layer, WithSpanSize(1<<20))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if e.Files != n {
		t.Fatalf("%d entries, want %d", e.Files, n)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	limit := uint64(1.5*float64(len(e.Bytes))) + 6<<20
	t.Logf("%d entries: allocated %.1f MiB for a %.1f MiB zTOC (limit %.1f MiB)", n, float64(alloc)/(1<<20), float64(len(e.Bytes))/(1<<20), float64(limit)/(1<<20))
	if alloc > limit {
		t.Fatalf("allocated %d bytes for a %d-byte zTOC", alloc, len(e.Bytes))
	}
}
