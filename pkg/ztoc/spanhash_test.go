package ztoc

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"math/rand/v2"
	"slices"
	"testing"
)

// The hashing goroutine gives the digests of hashing in line, for any sequence of writes
// (empty, small, larger than a ring buffer) and cuts.
func TestSpanHasherModesAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		sync, async := newSpanHasher(false), newSpanHasher(true)
		buf := make([]byte, 3*hashBufferCap)
		for range 1 + rng.IntN(60) {
			if rng.IntN(4) == 0 {
				last := byte(rng.Uint32())
				has := rng.IntN(2) == 0
				sync.cut(has, last)
				async.cut(has, last)
				continue
			}
			p := buf[:[]int{0, 1, 1000, hashBufferCap, hashBufferCap + 7, len(buf)}[rng.IntN(6)]]
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			sync.write(p)
			async.write(p)
			// The caller reuses its buffer at once: the goroutine must hash a copy.
			clear(p)
		}
		d1, b1 := sync.finish()
		d2, b2 := async.finish()
		if !slices.Equal(d1, d2) || b1 != b2 {
			t.Fatalf("trial %d: in line %v %s, goroutine %v %s", trial, d1, b1, d2, b2)
		}
	}
	// stop after finish, and stop without finish (an error path), end cleanly.
	h := newSpanHasher(true)
	h.write([]byte("x"))
	h.stop()
	h.stop()
}

// A whole build hashes the same in line and on the goroutine, good input and corrupt alike
// (same bytes, same error).
func TestBuildHashingModesAgree(t *testing.T) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 40 {
		body := make([]byte, rng.IntN(200<<10))
		for j := range body {
			body[j] = "abcdefgh"[rng.IntN(8)]
		}
		if err := tw.WriteHeader(&tar.Header{Name: "f" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, 6)
	zw.Write(tb.Bytes())
	zw.Close()
	layers := [][]byte{gz.Bytes()}
	for i := range 10 {
		bad := bytes.Clone(gz.Bytes())
		bad[100+i*len(bad)/11] ^= 0x55
		layers = append(layers, bad, gz.Bytes()[:len(gz.Bytes())*(i+1)/12])
	}
	for i, l := range layers {
		build := func(sync bool) ([]byte, string) {
			z, err := BuildEncoded(context.Background(), bytes.NewReader(l), WithSpanSize(64<<10), func(o *options) { o.syncHash = sync })
			if err != nil {
				return nil, err.Error()
			}
			return z.Bytes, z.BlobDigest
		}
		b1, e1 := build(true)
		b2, e2 := build(false)
		if !bytes.Equal(b1, b2) || e1 != e2 {
			t.Fatalf("layer %d: in line %d bytes %q, goroutine %d bytes %q", i, len(b1), e1, len(b2), e2)
		}
	}
}
