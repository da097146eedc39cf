package inflate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// spliceRecord is everything a decoder reports: output, input passed to
// OnInput, boundaries with their windows, and the error.
type spliceRecord struct {
	out, seen []byte
	bounds    []Boundary
	err       error
}

func record(comp []byte, ahead func(int64) *Chunk) spliceRecord {
	var r spliceRecord
	var seen bytes.Buffer
	d := NewDecoder(bytes.NewReader(comp), Options{
		OnInput: func(p []byte) { seen.Write(p) },
		OnBoundary: func(b *Boundary) error {
			c := *b
			c.Window = bytes.Clone(b.Window)
			r.bounds = append(r.bounds, c)
			return nil
		},
		Ahead: ahead,
	})
	r.out, r.err = io.ReadAll(d)
	r.seen = seen.Bytes()
	return r
}

func (r spliceRecord) diff(o spliceRecord) error {
	switch {
	case !bytes.Equal(r.out, o.out):
		return fmt.Errorf("output differs (%d vs %d bytes)", len(r.out), len(o.out))
	case !bytes.Equal(r.seen, o.seen):
		return fmt.Errorf("OnInput saw %d vs %d bytes", len(r.seen), len(o.seen))
	case len(r.bounds) != len(o.bounds):
		return fmt.Errorf("%d vs %d boundaries", len(r.bounds), len(o.bounds))
	case fmt.Sprint(r.err) != fmt.Sprint(o.err):
		return fmt.Errorf("error %v vs %v", r.err, o.err)
	}
	for i, b := range r.bounds {
		c := o.bounds[i]
		if b.In != c.In || b.Bits != c.Bits || b.Out != c.Out || b.LastByte != c.LastByte || b.Header != c.Header || !bytes.Equal(b.Window, c.Window) {
			return fmt.Errorf("boundary %d: %d/%d/%d vs %d/%d/%d", i, b.In, b.Bits, b.Out, c.In, c.Bits, c.Out)
		}
	}
	return nil
}

// chunksAhead decodes chunks of comp at every chunk-size offset, as the
// parallel builder does, and returns an Ahead hook serving them.
func chunksAhead(comp []byte, size int) (func(int64) *Chunk, *int) {
	chunks := map[int64]*Chunk{}
	for off := size; off < len(comp); off += size {
		from := int64(off) * 8
		to := min(int64(off+size), int64(len(comp))) * 8
		for from < to {
			// As the parallel package does: a stored block's end first.
			s := FindStoredEnd(comp, from, to)
			if s < 0 {
				s = FindDynamicBlock(comp, from, to)
			}
			if s < 0 {
				break
			}
			c := DecodeChunk(comp, 0, s, ChunkLimits{Stop: to, MaxOut: 1 << 20, MaxBuf: 4 << 20}, new(ChunkBuffers), nil)
			if c != nil {
				chunks[s] = c
				break
			}
			from = s + 1
		}
	}
	used := new(int)
	return func(bit int64) *Chunk {
		c := chunks[bit]
		if c != nil {
			delete(chunks, bit)
			*used++
		}
		return c
	}, used
}

// TestChunksSpliceIdentically: a decoder that takes chunks decoded ahead
// reports exactly what the plain decoder reports, for every corpus input
// and compressor, and chunk sizes that put boundaries everywhere.
func TestChunksSpliceIdentically(t *testing.T) {
	spliced := 0
	for name, data := range corpus() {
		for _, c := range compressors() {
			comp := c.fn(t, data)
			want := record(comp, nil)
			if want.err != nil {
				t.Fatal(want.err)
			}
			for _, size := range []int{97, 1000, 4096, 40000} {
				ahead, used := chunksAhead(comp, size)
				got := record(comp, ahead)
				if err := want.diff(got); err != nil {
					t.Fatalf("%s/%s chunk size %d (%d chunks used): %v", name, c.name, size, *used, err)
				}
				spliced += *used
			}
		}
	}
	if spliced < 50 {
		t.Fatalf("only %d chunks were used: the test does not exercise splicing", spliced)
	}
	t.Logf("%d chunks spliced", spliced)
}

// TestChunksCorrupt: with corrupted input, splicing gives the same output,
// boundaries and error (message and offsets) as plain decoding.
func TestChunksCorrupt(t *testing.T) {
	data := corpus()["text"]
	comp := compressors()[8].fn(t, data) // go-6
	for i := 0; i < 200; i++ {
		bad := bytes.Clone(comp)
		pos := 10 + (i*7919)%(len(bad)-10)
		bad[pos] ^= byte(1 + i%255)
		if i%5 == 0 {
			bad = bad[:pos]
		}
		want := record(bad, nil)
		ahead, _ := chunksAhead(bad, 3000)
		got := record(bad, ahead)
		if err := want.diff(got); err != nil {
			t.Fatalf("corruption %d at %d: %v", i, pos, err)
		}
		var e *Error
		if want.err != nil && !errors.As(want.err, &e) {
			t.Fatalf("error %v is not an *Error", want.err)
		}
	}
}

// TestFindDynamicBlock: the finder finds the real dynamic block starts.
func TestFindDynamicBlock(t *testing.T) {
	comp := compressors()[3].fn(t, corpus()["text"]) // go-1: many blocks
	var starts []int64
	record := record(comp, nil)
	for _, b := range record.bounds {
		starts = append(starts, b.In*8-int64(b.Bits))
	}
	found := 0
	starts = starts[:len(starts)-1] // the last block is final
	for _, s := range starts {
		if FindDynamicBlock(comp, s, s+1) == s {
			found++
		}
	}
	if found != len(starts) || found < 3 {
		t.Fatalf("finder accepted %d of %d real block starts", found, len(starts))
	}
}

// storedRegions is gzip -6 of text interleaved with gzip files of text:
// the deflator keeps those (incompressible) in stored blocks, and their own
// deflate streams are what a dynamic block finder finds in them.
func storedRegions(t *testing.T) []byte {
	text := corpus()["text"]
	var data []byte
	for i := 0; i < 6; i++ {
		data = append(data, text[i*20000:i*20000+30000]...)
		data = append(data, compressors()[8].fn(t, text[i*50000:i*50000+150000])...) // go-6
	}
	return compressors()[8].fn(t, data)
}

// TestFindStoredEnd: in stored regions, the stored block finder returns
// exact block starts, where the dynamic finder is fooled by the embedded
// streams; and chunks starting there splice identically.
func TestFindStoredEnd(t *testing.T) {
	comp := storedRegions(t)
	want := record(comp, nil)
	real := map[int64]bool{}
	for _, b := range want.bounds {
		real[b.In*8-int64(b.Bits)] = true
	}
	found := 0
	for off := int64(0); off < int64(len(comp)); off += 5000 {
		s := FindStoredEnd(comp, off*8, int64(len(comp))*8)
		if s < 0 {
			continue
		}
		if !real[s] {
			t.Fatalf("from byte %d: %d is not a block boundary", off, s)
		}
		found++
	}
	if found < 10 {
		t.Fatalf("only %d stored block ends found", found)
	}
	total := 0
	for _, size := range []int{3000, 20000, 70000} {
		ahead, used := chunksAhead(comp, size)
		got := record(comp, ahead)
		if err := want.diff(got); err != nil {
			t.Fatalf("chunk size %d (%d chunks used): %v", size, *used, err)
		}
		total += *used
	}
	if total < 8 {
		t.Fatalf("only %d chunks used: the test does not exercise splicing", total)
	}
}

// TestChunkFits: a chunk is taken only when the member has the history its
// markers refer to.
func TestChunkFits(t *testing.T) {
	j := WindowSize - 10 // the 10th byte before the chunk
	c := &Chunk{out: []byte{'a', byte(j), 'b'}, marks: []byte{0, byte(1 + j>>8), 0}}
	for _, tc := range []struct {
		memberOut int64
		want      bool
	}{{0, false}, {9, false}, {10, true}, {WindowSize - 1, true}, {WindowSize, true}} {
		if got := c.fits(tc.memberOut); got != tc.want {
			t.Errorf("fits(%d) = %v, want %v", tc.memberOut, got, tc.want)
		}
	}
	none := &Chunk{out: []byte("abc")}
	if !none.fits(0) {
		t.Error("a chunk without markers needs no history")
	}
	window := make([]byte, WindowSize)
	window[j] = 'w'
	c.resolve(window)
	if string(c.out) != "awb" {
		t.Errorf("resolved to %q", c.out)
	}
}
