package ztoc

import (
	"bytes"
	"context"
	"testing"
)

// TestSizeBound: the buffer Marshal sizes up front is never too small (the
// builder would grow it by doubling, copying the zTOC and leaving garbage of
// its size) and not much too large (it is held with the result).
func TestSizeBound(t *testing.T) {
	for name, data := range tarCorpus(t) {
		for _, span := range []int64{1, 512, 1 << 20} {
			s, err := build(context.Background(), bytes.NewReader(data), []Option{WithCompression(Uncompressed), WithSpanSize(span)})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out, err := marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			bound := sizeBound(s)
			if len(out) > bound {
				t.Fatalf("%s span %d: %d bytes serialized, bound %d", name, span, len(out), bound)
			}
			// The fixed allowance (vtables, root tables) dominates small TOCs.
			if slack := bound - len(out); slack > len(out)/4+fbMaxVtable*fbVtable+1024+256 {
				t.Errorf("%s span %d: bound %d for %d bytes", name, span, bound, len(out))
			}
		}
	}
}
