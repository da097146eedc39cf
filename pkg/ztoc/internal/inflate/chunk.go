package inflate

import (
	"encoding/binary"
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
// The unknown window is handled with markers, as rapidgzip does, but in two
// byte planes instead of 16-bit symbols, so that copies still move 8 bytes
// at a time: the output buffer starts with the 32 KiB window, whose byte j
// is marked in a second plane (low byte j&255 in the output, 1+j>>8 in the
// plane; 0 in the plane is a real byte). Copies carry both planes. Once the
// last 32 KiB of output hold no marker, no later copy can reach one
// (distances are at most 32 KiB), so the second plane is dropped and
// decoding goes on in a loop as fast as the sequential decoder's. The
// sequential decoder replaces the markers by its real window bytes when it
// takes the chunk.

// Chunk is output decoded ahead of the sequential decoder.
type Chunk struct {
	// Start is the bit position (in the whole input) of the block the chunk
	// starts with.
	Start  int64
	bounds []chunkBound
	out    []byte
	// marks is the marker plane of out up to its last window copy.
	marks []byte
	bufs  ChunkBuffers
}

// ChunkBuffers are the output buffers of a chunk, reusable once the chunk
// is no longer needed.
type ChunkBuffers struct {
	Out, Marks []byte
}

type chunkBound struct {
	bit int64 // bit position in the whole input
	out int   // output bytes of the chunk before the boundary
}

// End is the bit position of the block boundary where the chunk ends.
func (c *Chunk) End() int64 { return c.bounds[len(c.bounds)-1].bit }

// Buffers are the chunk's buffers, for reuse once the chunk is no longer
// needed.
func (c *Chunk) Buffers() ChunkBuffers { return c.bufs }

// Len is the number of output bytes of the chunk.
func (c *Chunk) Len() int { return c.bounds[len(c.bounds)-1].out }

// fits reports whether the history the chunk's output refers back to is
// within the member's output so far. Only a chunk in the first 32 KiB of a
// member needs the (rarely paid) look at its markers.
func (c *Chunk) fits(memberOut int64) bool {
	if memberOut >= WindowSize {
		return true
	}
	minRef := WindowSize
	for i, h := range c.marks {
		if h != 0 {
			minRef = min(minRef, markerIndex(c.out[i], h))
		}
	}
	return int64(WindowSize-minRef) <= memberOut
}

func markerIndex(lo, hi byte) int { return int(lo) | int(hi-1)<<8 }

// resolve replaces every byte that copies the window by its true value.
func (c *Chunk) resolve(window []byte) {
	out, marks := c.out[:len(c.marks)], c.marks
	for i := 0; i < len(marks); i++ {
		// Runs of real bytes are skipped a word at a time.
		if i+8 <= len(marks) && binary.LittleEndian.Uint64(marks[i:]) == 0 {
			i += 7
			continue
		}
		if h := marks[i]; h != 0 {
			out[i] = window[markerIndex(out[i], h)]
		}
	}
	c.marks = nil
}

// chunkPad zero bytes after the data let the decoder load 8 bytes at any
// position up to 8 bytes past the end without a bounds test.
const chunkPad = 16

// ChunkScratch is reusable state for DecodeChunk; one per goroutine.
type ChunkScratch struct {
	padded []byte
	fs     finderScratch
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
	// Abort is polled at block boundaries; true abandons the chunk.
	Abort func() bool
}

// Results of the Huffman loops.
const (
	resEOB    = iota // end of block
	resFail          // invalid code
	resData          // the input ran out
	resRoom          // the output buffer is full
	resSwitch        // marker loop: no marker in the last 32 KiB
)

const chunkSlack = maxMatch + outSlack

// chunkDec is DecodeChunk's state. The input is all in memory, padded, and
// the output is one flat buffer, so the loops need neither refills nor a
// ring.
type chunkDec struct {
	data    []byte // padded input
	inLimit int    // load no further than this (the real end + 8)
	ip      int
	b       uint64
	nb      uint

	lit  *[litTableSize]uint32
	dist *[distTableSize]uint32

	out      []byte // the window's markers, then the chunk's output
	marks    []byte // marker plane of out, while marking
	marking  bool
	lastMark int // index of the last marked byte
	op       int // next write index
	maxBuf   int
}

// setPos moves the bit reader to bit p of data.
func (d *chunkDec) setPos(p int64) {
	i, k := int(p>>3), uint(p&7)
	d.b = binary.LittleEndian.Uint64(d.data[i:]) >> k
	d.nb = 56 - k
	d.ip = i + 7
}

func (d *chunkDec) pos() int64 { return int64(d.ip)*8 - int64(d.nb) }

// outLimit is where a loop must stop writing and call room.
func (d *chunkDec) outLimit() int {
	if d.marking {
		return min(len(d.out), len(d.marks)) - chunkSlack
	}
	return len(d.out) - chunkSlack
}

// room makes space for at least one more match, within maxBuf; false when
// the chunk is at its limit.
func (d *chunkDec) room() bool {
	n := d.op - WindowSize
	if n >= d.maxBuf {
		return false
	}
	grow := min(max(n, 1<<20), d.maxBuf-n) + chunkSlack
	if len(d.out)-d.op < grow {
		d.out = slices.Grow(d.out[:d.op], grow)
		d.out = d.out[:cap(d.out)]
	}
	if d.marking && len(d.marks)-d.op < grow {
		d.marks = slices.Grow(d.marks[:d.op], grow)
		d.marks = d.marks[:cap(d.marks)]
	}
	return true
}

// DecodeChunk decodes raw deflate from bit start of data (data[0] is at bit
// dataBit of the whole input), with an unknown window, up to a block
// boundary chosen by lim, or up to the last block boundary before a final
// block, the end of data or an error. It returns nil when no block
// boundary was reached: start is then not usable. It decodes into bufs;
// when it returns nil, bufs hold the buffers (grown if they had to be) for
// the next call, otherwise the chunk owns them and bufs are empty.
func DecodeChunk(data []byte, dataBit, start int64, lim ChunkLimits, bufs *ChunkBuffers, scratch *ChunkScratch) *Chunk {
	if scratch == nil {
		scratch = new(ChunkScratch)
	}
	n := len(data)
	rel := start - dataBit
	if rel < 0 || rel >= int64(n)*8 {
		return nil
	}
	if cap(data)-n < chunkPad || !allZero(data[n:n+chunkPad]) {
		scratch.padded = append(append(scratch.padded[:0], data...), make([]byte, chunkPad)...)
		data = scratch.padded
	}
	end := int64(n) * 8
	d := &chunkDec{
		data:     data[:n+chunkPad],
		inLimit:  n + 8,
		out:      bufs.Out,
		marks:    bufs.Marks,
		marking:  true,
		op:       WindowSize,
		lastMark: WindowSize - 1,
		maxBuf:   lim.MaxBuf,
	}
	// Room for twice the input (layers of real files compress less than
	// that; buffers are reused, so growing is rare). The marked part is
	// usually much shorter.
	if cap(d.out) < WindowSize+chunkSlack {
		d.out = make([]byte, WindowSize+min(lim.MaxBuf, 2*n)+chunkSlack)
	}
	if cap(d.marks) < WindowSize+chunkSlack {
		d.marks = make([]byte, 2*WindowSize+1<<20)
	}
	d.out, d.marks = d.out[:cap(d.out)], d.marks[:cap(d.marks)]
	defer func() { *bufs = ChunkBuffers{Out: d.out[:0], Marks: d.marks[:0]} }()
	for j := range WindowSize {
		d.out[j], d.marks[j] = byte(j), byte(1+j>>8)
	}
	c := &Chunk{Start: start}
	p := rel
	fixed := fixedCode()
blocks:
	for p <= end {
		if lim.Abort != nil && lim.Abort() {
			return nil
		}
		v := peekBits(d.data, p)
		if v&1 != 0 {
			break // a final block: the member ends, and so does the chunk
		}
		switch v >> 1 & 3 {
		case 0:
			q := int((p + 3 + 7) >> 3)
			if q+4 > n {
				break blocks
			}
			ln := int(binary.LittleEndian.Uint16(d.data[q:]))
			if ln != int(^binary.LittleEndian.Uint16(d.data[q+2:])) || q+4+ln > n {
				break blocks
			}
			if !d.stored(d.data[q+4 : q+4+ln]) {
				break blocks
			}
			p = int64(q+4+ln) * 8
		case 1:
			d.lit, d.dist = &fixed.lit, &fixed.dist
			d.setPos(p + 3)
		case 2:
			e := scratch.fs.parseDynamic(d.data[:n], p)
			if e < 0 {
				break blocks
			}
			d.lit, d.dist = &scratch.fs.lit, &scratch.fs.dist
			d.setPos(e)
		default:
			break blocks
		}
		if v>>1&3 != 0 {
			for r := d.huff(); r != resEOB; r = d.huff() {
				switch r {
				case resSwitch:
					d.marking = false
				case resRoom:
					if !d.room() {
						break blocks
					}
				default:
					break blocks
				}
			}
			p = d.pos()
			if p > end {
				break
			}
		}
		out := d.op - WindowSize
		c.bounds = append(c.bounds, chunkBound{bit: dataBit + p, out: out})
		if dataBit+p >= lim.Stop || out >= lim.MaxOut {
			break
		}
	}
	if len(c.bounds) == 0 {
		return nil
	}
	size := c.Len()
	c.out = d.out[WindowSize : WindowSize+size]
	if m := min(d.lastMark+1-WindowSize, size); m > 0 {
		c.marks = d.marks[WindowSize : WindowSize+m]
	}
	c.bufs = ChunkBuffers{Out: d.out[:0], Marks: d.marks[:0]}
	d.out, d.marks = nil, nil // the chunk owns them
	return c
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// stored copies a stored block's bytes to the output.
func (d *chunkDec) stored(b []byte) bool {
	for len(b) > 0 {
		k := min(len(b), d.outLimit()-d.op)
		if k <= 0 {
			if !d.room() {
				return false
			}
			continue
		}
		copy(d.out[d.op:], b[:k])
		if d.marking {
			clear(d.marks[d.op : d.op+k])
		}
		d.op += k
		b = b[k:]
		if d.marking && d.op-d.lastMark > WindowSize {
			d.marking = false
		}
	}
	return d.op-WindowSize <= d.maxBuf
}

func (d *chunkDec) huff() int {
	if d.marking {
		return d.huffMarked()
	}
	return d.huff8()
}

// huff8 decodes Huffman codes, as huffFast does. It and huffMarked repeat
// huffFast's symbol decoding on purpose: these are the hot loops, kept
// free of calls and of per-symbol mode tests.
func (d *chunkDec) huff8() int {
	in, out := d.data, d.out
	lit, dist := d.lit, d.dist
	ip, op, b, nb := d.ip, d.op, d.b, d.nb
	inLimit := d.inLimit
	outLimit := d.outLimit()
	const litMask = 1<<litRoot - 1
	res := resData
	for ip <= inLimit {
		if op >= outLimit {
			res = resRoom
			break
		}
		b |= binary.LittleEndian.Uint64(in[ip:]) << (nb & 63)
		ip += int((63 - nb) >> 3)
		nb |= 56

		e := lit[b&litMask]
		if e&fSub != 0 {
			b >>= litRoot
			nb -= litRoot
			e = lit[e>>16+uint32(b&(1<<(e>>8&15)-1))]
		}
		if e&fLit != 0 {
			b >>= e & 63
			nb -= uint(e & 0xff)
			out[op] = byte(e >> 16)
			op++
			// Two more literals fit in the bits left (at least 41).
			e = lit[b&litMask]
			if e&(fLit|fSub) == fLit {
				b >>= e & 63
				nb -= uint(e & 0xff)
				out[op] = byte(e >> 16)
				op++
				e = lit[b&litMask]
				if e&(fLit|fSub) == fLit {
					b >>= e & 63
					nb -= uint(e & 0xff)
					out[op] = byte(e >> 16)
					op++
				}
			}
			continue
		}
		if e&fLen == 0 {
			b >>= e & 63
			nb -= uint(e & 0xff)
			res = resFail
			if e&fEOB != 0 {
				res = resEOB
			}
			break
		}
		saved := b
		b >>= e & 63
		nb -= uint(e & 0xff)
		length := int(e>>16) + int((saved&(1<<(e&63)-1))>>(e>>8&15))

		e = dist[b&(1<<distRoot-1)]
		if e&fSub != 0 {
			b >>= distRoot
			nb -= distRoot
			e = dist[e>>16+uint32(b&(1<<(e>>8&15)-1))]
		}
		if e&fDist == 0 {
			res = resFail
			break
		}
		saved = b
		b >>= e & 63
		nb -= uint(e & 0xff)
		dst := int(e>>16) + int((saved&(1<<(e&63)-1))>>(e>>8&15))
		// The window's markers before the output make src >= 0.
		src := op - dst
		switch {
		case dst >= 8:
			for i := 0; i < length; i += 8 {
				binary.LittleEndian.PutUint64(out[op+i:], binary.LittleEndian.Uint64(out[src+i:]))
			}
		case dst == 1:
			v := uint64(out[src]) * 0x0101010101010101
			for i := 0; i < length; i += 8 {
				binary.LittleEndian.PutUint64(out[op+i:], v)
			}
		default:
			// Each word read starts dst bytes back, so its first dst
			// bytes are final: step by dst.
			for i := 0; i < length; i += dst {
				binary.LittleEndian.PutUint64(out[op+i:], binary.LittleEndian.Uint64(out[src+i:]))
			}
		}
		op += length
	}
	d.ip, d.op, d.b, d.nb = ip, op, b, nb
	return res
}

// huffMarked is huff8 with the marker plane, until 32 KiB follow the last
// marker.
func (d *chunkDec) huffMarked() int {
	in, out, mk := d.data, d.out, d.marks
	lit, dist := d.lit, d.dist
	ip, op, b, nb := d.ip, d.op, d.b, d.nb
	last := d.lastMark
	inLimit := d.inLimit
	outLimit := d.outLimit()
	const litMask = 1<<litRoot - 1
	res := resData
	for ip <= inLimit {
		if op-last > WindowSize {
			res = resSwitch
			break
		}
		if op >= outLimit {
			res = resRoom
			break
		}
		b |= binary.LittleEndian.Uint64(in[ip:]) << (nb & 63)
		ip += int((63 - nb) >> 3)
		nb |= 56

		e := lit[b&litMask]
		if e&fSub != 0 {
			b >>= litRoot
			nb -= litRoot
			e = lit[e>>16+uint32(b&(1<<(e>>8&15)-1))]
		}
		if e&fLit != 0 {
			b >>= e & 63
			nb -= uint(e & 0xff)
			out[op] = byte(e >> 16)
			mk[op] = 0
			op++
			// A second literal fits in the bits left (at least 41).
			e = lit[b&litMask]
			if e&(fLit|fSub) == fLit {
				b >>= e & 63
				nb -= uint(e & 0xff)
				out[op] = byte(e >> 16)
				mk[op] = 0
				op++
			}
			continue
		}
		if e&fLen == 0 {
			b >>= e & 63
			nb -= uint(e & 0xff)
			res = resFail
			if e&fEOB != 0 {
				res = resEOB
			}
			break
		}
		saved := b
		b >>= e & 63
		nb -= uint(e & 0xff)
		length := int(e>>16) + int((saved&(1<<(e&63)-1))>>(e>>8&15))

		e = dist[b&(1<<distRoot-1)]
		if e&fSub != 0 {
			b >>= distRoot
			nb -= distRoot
			e = dist[e>>16+uint32(b&(1<<(e>>8&15)-1))]
		}
		if e&fDist == 0 {
			res = resFail
			break
		}
		saved = b
		b >>= e & 63
		nb -= uint(e & 0xff)
		dst := int(e>>16) + int((saved&(1<<(e&63)-1))>>(e>>8&15))
		src := op - dst
		var m uint64
		step := min(dst, 8)
		for i := 0; i < length; i += step {
			binary.LittleEndian.PutUint64(out[op+i:], binary.LittleEndian.Uint64(out[src+i:]))
			w := binary.LittleEndian.Uint64(mk[src+i:])
			binary.LittleEndian.PutUint64(mk[op+i:], w)
			m |= w
		}
		if m != 0 {
			// Words may have carried marks past the match; look inside it.
			for i := length - 1; i >= 0; i-- {
				if mk[op+i] != 0 {
					last = op + i
					break
				}
			}
		}
		op += length
	}
	d.ip, d.op, d.b, d.nb = ip, op, b, nb
	d.lastMark = last
	return res
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

// FindStoredEnd returns the first bit position in [from, to) of data,
// looking no further than one maximal stored block, at which a block starts
// right after a stored block, or -1. Such a start is exact: a stored block
// ends on a byte boundary. A stored block is recognised by LEN and its
// complement NLEN, confirmed by what follows it: another stored block
// header or a complete dynamic block header. Stored regions (incompressible
// files, often holding deflate streams of their own that fool
// FindDynamicBlock) are where FindDynamicBlock fails; this finds the way
// out of them, or through them.
func FindStoredEnd(data []byte, from, to int64) int64 {
	n := len(data)
	var s finderScratch
	first := int((from + 7) >> 3)
	last := min(int(to>>3), first+0xffff+5)
	for q := first; q+4 <= n && q < last; q++ {
		ln := int(data[q]) | int(data[q+1])<<8
		if ln != int(^(uint16(data[q+2]) | uint16(data[q+3])<<8)) {
			continue
		}
		nx := q + 4 + ln // the next block's first byte
		if nx+5 > n {
			continue
		}
		if int64(nx)*8 >= to {
			return -1
		}
		if data[nx]&7 == 0 {
			// Another non-final stored block, byte-aligned.
			l2 := int(data[nx+1]) | int(data[nx+2])<<8
			if l2 == int(^(uint16(data[nx+3]) | uint16(data[nx+4])<<8)) {
				return int64(nx) * 8
			}
			continue
		}
		if data[nx]&7 == 4 && s.validDynamic(data, int64(nx)*8) {
			return int64(nx) * 8
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
func (s *finderScratch) validDynamic(data []byte, p int64) bool { return s.parseDynamic(data, p) >= 0 }

// parseDynamic parses the dynamic block header at bit p as readDynamic
// does, builds its tables into s and returns the bit position after the
// header, or -1.
func (s *finderScratch) parseDynamic(data []byte, p int64) int64 {
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
		return -1
	}
	end := int64(len(data)) * 8
	var lens [286 + 30]uint8
	for i := 0; i < nlen+ndist; {
		if p >= end {
			return -1
		}
		b := peekBits(data, p)
		e := clt[b&(clTableSize-1)]
		if e == 0 {
			return -1
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
				return -1
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
			return -1
		}
		for ; rep > 0; rep-- {
			lens[i] = val
			i++
		}
	}
	if p > end || lens[256] == 0 {
		return -1
	}
	if buildTable(kindLens, lens[:nlen], s.lit[:], litRoot) != nil ||
		buildTable(kindDists, lens[nlen:nlen+ndist], s.dist[:], distRoot) != nil {
		return -1
	}
	return p
}
