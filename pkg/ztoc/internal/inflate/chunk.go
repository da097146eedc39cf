package inflate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
)

// Decoding one gzip stream on several cores (the technique rapidgzip
// showed): a worker guesses where a dynamic-Huffman block starts near a
// chunk boundary (FindDynamicBlock), decodes from there without knowing the
// 32 KiB window before it (DecodeChunk), and the sequential Decoder, when it
// really arrives at that bit position at a block boundary, takes the chunk's
// output instead of decoding it (Options.Ahead). Arriving there is the
// proof that the guess was a true block start; nothing else is trusted.
//
// The unknown window is handled without a second decoder: the chunk is
// decoded twice, through the same Decoder code, with two synthetic windows
// that differ at every position and together encode each position's index.
// A byte on which the two runs agree is a literal or a copy of a decoded
// byte; a byte on which they differ is a copy of window byte j, and j is
// recovered from the pair. Once 32 KiB in a row agree, no later byte can
// depend on the window, so the second run stops and the first one's output
// is final from there on.

// Chunk is output decoded ahead of the sequential decoder.
type Chunk struct {
	// Start is the bit position (in the whole input) of the block the chunk
	// starts with.
	Start  int64
	bounds []chunkBound
	out    []byte
	// hi is the second run's output over the marker region: the bytes
	// before the last one that depends on the window.
	hi []byte
	// minRef is the lowest window index the output depends on (WindowSize
	// when none): the chunk needs WindowSize-minRef bytes of history.
	minRef int
}

type chunkBound struct {
	bit int64 // bit position in the whole input
	out int   // output bytes of the chunk before the boundary
}

// End is the bit position of the block boundary where the chunk ends.
func (c *Chunk) End() int64 { return c.bounds[len(c.bounds)-1].bit }

// Buffer is the chunk's output buffer, for reuse once the chunk is no
// longer needed.
func (c *Chunk) Buffer() []byte { return c.out[:0] }

// Len is the number of output bytes of the chunk.
func (c *Chunk) Len() int { return c.bounds[len(c.bounds)-1].out }

// needs is the history the chunk's output refers back to, in bytes.
func (c *Chunk) needs() int { return WindowSize - c.minRef }

// resolve replaces every byte that copies the window by its true value.
func (c *Chunk) resolve(window []byte) {
	out, hi := c.out[:len(c.hi)], c.hi
	for i := range hi {
		if a := out[i]; a != hi[i] {
			out[i] = window[markerIndex(a, hi[i])]
		}
	}
	c.hi = nil
}

// The synthetic windows: windowA[j] is j's low byte, windowB[j] is that
// plus 1 plus j's high byte (0..127), so the two never agree and the pair
// gives j back.
func windowA(j int) byte { return byte(j) }
func windowB(j int) byte { return byte(j) + 1 + byte(j>>8) }

func markerIndex(a, b byte) int { return int(a) | int(b-a-1)<<8 }

var synthetic = func() [2][]byte {
	var w [2][]byte
	w[0], w[1] = make([]byte, WindowSize), make([]byte, WindowSize)
	for j := range WindowSize {
		w[0][j], w[1][j] = windowA(j), windowB(j)
	}
	return w
}()

var errChunkStop = errors.New("chunk end")

// ChunkScratch is reusable state for DecodeChunk (two decoders and
// their input readers); one per goroutine.
type ChunkScratch struct {
	a, b   Decoder
	ra, rb bytes.Reader
	hi     []byte
}

// ChunkLimits bounds DecodeChunk.
type ChunkLimits struct {
	// Stop: the chunk ends at the first block boundary at or after this bit
	// position (of the whole input).
	Stop int64
	// MaxOut: or at the first block boundary after this much output.
	MaxOut int
	// MaxBuf caps the output buffer; a chunk that reaches it without a
	// boundary beyond its last one ends at that one.
	MaxBuf int
	// Abort is polled between reads; true abandons the chunk.
	Abort func() bool
}

// DecodeChunk decodes raw deflate from bit start of data (data[0] is at bit
// dataBit of the whole input), with an unknown window, up to a block
// boundary chosen by lim, or up to the last block boundary before the end
// of a final block, the end of data or an error. It returns nil when no
// block boundary was reached: start is then not usable.
func DecodeChunk(data []byte, dataBit, start int64, lim ChunkLimits, buf []byte, scratch *ChunkScratch) *Chunk {
	if scratch == nil {
		scratch = new(ChunkScratch)
	}
	rel := start - dataBit
	if rel < 0 || rel >= int64(len(data))*8 {
		return nil
	}
	byteOff := rel >> 3
	var startBits uint8
	if k := rel & 7; k != 0 {
		startBits = uint8(8 - k)
	}
	base := dataBit + byteOff*8
	c := &Chunk{Start: start, minRef: WindowSize}
	onBoundary := func(b *Boundary) error {
		if b.Header {
			return errChunkStop // the member ended: the chunk ends before its final block
		}
		bit := base + b.In*8 - int64(b.Bits)
		c.bounds = append(c.bounds, chunkBound{bit: bit, out: int(b.Out)})
		if bit >= lim.Stop || int(b.Out) >= lim.MaxOut {
			return errChunkStop
		}
		return nil
	}
	scratch.ra.Reset(data[byteOff:])
	scratch.rb.Reset(data[byteOff:])
	da, db := &scratch.a, &scratch.b
	da.Reset(&scratch.ra, Options{Raw: true, Window: synthetic[0], StartBits: startBits, OnBoundary: onBoundary})
	db.Reset(&scratch.rb, Options{Raw: true, Window: synthetic[1], StartBits: startBits})
	out := buf[:0]
	if cap(out) == 0 {
		out = make([]byte, 0, 1<<20)
	}
	hi := scratch.hi[:0]
	defer func() { scratch.hi = hi[:0] }()
	region := true // still comparing the two runs
	lastMark := -1
	for {
		if lim.Abort != nil && lim.Abort() {
			return nil
		}
		if len(out) >= lim.MaxBuf {
			break
		}
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		n, err := da.Read(out[len(out):min(cap(out), lim.MaxBuf)])
		if region && n > 0 {
			p := len(hi)
			hi = slices.Grow(hi, n)[:p+n]
			if m, _ := io.ReadFull(db, hi[p:]); m != n {
				return nil // cannot happen: both runs parse the same bits
			}
			for i, a := range out[len(out) : len(out)+n] {
				if b := hi[p+i]; a != b {
					j := markerIndex(a, b)
					if j >= WindowSize {
						return nil // cannot happen either
					}
					c.minRef = min(c.minRef, j)
					lastMark = p + i
				}
			}
			if len(hi)-(lastMark+1) >= WindowSize {
				// No later byte can reach a window byte: stop the second run.
				region = false
				hi = hi[:lastMark+1]
			}
		}
		out = out[:len(out)+n]
		if err != nil {
			break
		}
	}
	// Decoding ran past the last boundary (final block, error, end of
	// data, full buffer): the chunk ends at that boundary.
	for len(c.bounds) > 0 && c.bounds[len(c.bounds)-1].out > len(out) {
		c.bounds = c.bounds[:len(c.bounds)-1]
	}
	if len(c.bounds) == 0 {
		return nil
	}
	end := c.bounds[len(c.bounds)-1].out
	c.out = out[:end]
	c.hi = bytes.Clone(hi[:min(lastMark+1, end)])
	return c
}

// FindDynamicBlock returns the first bit position in [from, to) of data at
// which a non-final dynamic-Huffman block header parses with code tables
// zlib accepts, or -1. It is a filter: the header may still be a false
// positive, which DecodeChunk and, finally, the sequential decoder reject.
func FindDynamicBlock(data []byte, from, to int64) int64 {
	if lim := int64(len(data)) * 8; to > lim {
		to = lim
	}
	var s finderScratch
	for p := from; p < to; p++ {
		v := peekBits(data, p)
		// BFINAL=0, BTYPE=2 (bits 0-2 = 0b100), HLIT and HDIST at most 29.
		if v&7 != 4 || v>>3&31 > 29 || v>>8&31 > 29 {
			continue
		}
		ncode := int(v>>13&15) + 4
		w := peekBits(data, p+17)
		var count [8]int
		for i := range ncode {
			count[w>>(3*i)&7]++
		}
		left := 1
		for l := 1; l <= 7; l++ {
			left = left<<1 - count[l]
			if left < 0 {
				break
			}
		}
		if left != 0 { // the code-length code must be complete
			continue
		}
		if s.validDynamic(data, p) {
			return p
		}
	}
	return -1
}

// peekBits returns the bits from bit position p on, at least 57 of them
// (zero beyond the end of data).
func peekBits(data []byte, p int64) uint64 {
	i := p >> 3
	var v uint64
	if i+8 <= int64(len(data)) {
		v = binary.LittleEndian.Uint64(data[i:])
	} else {
		var t [8]byte
		if i < int64(len(data)) {
			copy(t[:], data[i:])
		}
		v = binary.LittleEndian.Uint64(t[:])
	}
	return v >> (p & 7)
}

type finderScratch struct {
	lit  [litTableSize]uint32
	dist [distTableSize]uint32
}

// validDynamic parses the whole dynamic block header at bit p as
// readDynamic does and builds its tables.
func (s *finderScratch) validDynamic(data []byte, p int64) bool {
	v := peekBits(data, p+3)
	nlen := int(v&31) + 257
	ndist := int(v>>5&31) + 1
	ncode := int(v>>10&15) + 4
	p += 17
	var cl [19]uint8
	w := peekBits(data, p)
	for i := range ncode {
		cl[clOrder[i]] = uint8(w >> (3 * i) & 7)
	}
	p += int64(3 * ncode)
	var clt [clTableSize]uint32
	if buildTable(kindCodes, cl[:], clt[:], clRoot) != nil {
		return false
	}
	end := int64(len(data)) * 8
	var lens [286 + 30]uint8
	for i := 0; i < nlen+ndist; {
		if p >= end {
			return false
		}
		b := peekBits(data, p)
		e := clt[b&(clTableSize-1)]
		if e == 0 {
			return false
		}
		n := int64(e & 0xff)
		b >>= n
		p += n
		sym := int(e >> 16)
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return false
			}
			val, rep = lens[i-1], 3+int(b&3)
			p += 2
		case 17:
			rep = 3 + int(b&7)
			p += 3
		default:
			rep = 11 + int(b&127)
			p += 7
		}
		if i+rep > nlen+ndist {
			return false
		}
		for ; rep > 0; rep-- {
			lens[i] = val
			i++
		}
	}
	if p > end || lens[256] == 0 {
		return false
	}
	return buildTable(kindLens, lens[:nlen], s.lit[:], litRoot) == nil &&
		buildTable(kindDists, lens[nlen:nlen+ndist], s.dist[:], distRoot) == nil
}
