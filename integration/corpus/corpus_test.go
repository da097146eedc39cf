package corpus

import (
	"archive/tar"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestCorpusDecodes checks the generator itself: every layer meant to be
// valid decodes (Go's multistream gzip reader) to exactly its Tar, and
// archive/tar reads that tar to the end.
func TestCorpusDecodes(t *testing.T) {
	layers, err := Generate(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) < 80 {
		t.Fatalf("only %d layers", len(layers))
	}
	names := map[string]bool{}
	for _, l := range layers {
		if names[l.Name] {
			t.Errorf("duplicate layer name %s", l.Name)
		}
		names[l.Name] = true
		if l.WantError {
			continue
		}
		t.Run(l.Name, func(t *testing.T) {
			got := l.Blob
			if l.Compression == Gzip {
				zr, err := gzip.NewReader(bytes.NewReader(l.Blob))
				if err != nil {
					t.Fatal(err)
				}
				got, err = io.ReadAll(zr)
				if l.GoGzipRejects {
					if err == nil || !bytes.HasPrefix(l.Tar, got) || len(got) < 1024 {
						t.Fatalf("compress/gzip should decode a prefix of the tar, then fail: %d bytes, %v", len(got), err)
					}
					got = l.Tar
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, l.Tar) {
				t.Fatalf("decodes to %d bytes, want the %d-byte tar", len(got), len(l.Tar))
			}
			tr := tar.NewReader(bytes.NewReader(l.Tar))
			for {
				_, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("tar: %v", err)
				}
			}
		})
	}
}

// TestCorpusDeterministic: two generations give the same bytes, so a failing
// layer can be named and regenerated.
func TestCorpusDeterministic(t *testing.T) {
	sum := func() map[string][32]byte {
		layers, err := Generate(context.Background(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][32]byte{}
		for _, l := range layers {
			m[l.Name] = sha256.Sum256(l.Blob)
		}
		return m
	}
	a, b := sum(), sum()
	for k, v := range a {
		if b[k] != v {
			t.Errorf("layer %s differs between runs", k)
		}
	}
}

func TestHandDeflate(t *testing.T) {
	g := newGen(42)
	data := append(g.text(70000), g.random(70000)...)
	for i, blocks := range [][]Block{
		nil,
		{{Kind: Fixed}},
		{{Kind: Stored}},
		{{Kind: Stored, Data: data}},
		{{Kind: Fixed, Data: data}},
		splitBlocks(data, Fixed, 1, 2, 3, 1000),
		append([]Block{{Kind: Fixed}, {Kind: Stored}}, splitBlocks(data, Stored, 70000)...),
		{{Kind: Dynamic, Data: append([]byte("aaaaaaaabbbbbbbbbbbbbbbbbbbcd"), data...)}},
		{{Kind: Dynamic, Data: data[:5000], LitLens: NoMatchLitLens(), DistLens: []int{0}}},
		{{Kind: Dynamic, LitLens: EOBOnlyLitLens(), DistLens: []int{0}}, {Kind: Dynamic, Data: []byte("xyz")}},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var want []byte
			for _, b := range blocks {
				want = append(want, b.Data...)
			}
			got, err := io.ReadAll(flate.NewReader(bytes.NewReader(HandDeflate(blocks))))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

func TestGzipHeaderVariants(t *testing.T) {
	payload := []byte("hello gzip header")
	d, err := Deflate(payload, 6)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []GzipHeader{
		{},
		{Name: "n", Comment: "c", Extra: []byte("AB\x02\x00hi"), HCRC: true, MTime: 7},
		{Extra: make([]byte, 65535), HCRC: true},
	} {
		zr, err := gzip.NewReader(bytes.NewReader(Member(h, d, payload)))
		if err != nil {
			t.Fatalf("%+v: %v", h.Name, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("got %q, %v", got, err)
		}
		if zr.Name != h.Name || zr.Comment != h.Comment || !bytes.Equal(zr.Extra, h.Extra) {
			t.Fatalf("header round trip: %+v", zr.Header)
		}
	}
}
