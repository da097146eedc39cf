// Package inflate is a streaming gzip/deflate decoder that reports every
// deflate block boundary with its exact bit position, the information zlib's
// inflate(Z_BLOCK) gives zran and soci, so that checkpoints can be taken in
// the same single pass that produces the uncompressed stream.
//
// The decoder owns its input and output buffers: input is read in large
// chunks into a byte slice and consumed through a 64-bit bit buffer refilled
// eight bytes at a time; output is written straight into a buffer that also
// serves as the 32 KiB history window. The hot loop is in huffFast.
package inflate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/adler32"
	"hash/crc32"
	"io"
)

// WindowSize is the deflate history size, and the size of a checkpoint window.
const WindowSize = 32768

const (
	inBufSize = 128 << 10
	outChunk  = 256 << 10
	// outSlack lets match copies write whole 8-byte words past the match end.
	outSlack = 16
	maxMatch = 258
)

// Boundary describes a deflate block boundary that is not after the final
// block of a gzip member: the end of a gzip header or of a non-final block.
type Boundary struct {
	// In is the number of input bytes consumed, counting a partially used
	// byte: ceil(bit position / 8).
	In int64
	// Bits is the number of high bits of byte In-1 that belong to the next
	// block (zlib's data_type & 7).
	Bits uint8
	// LastByte is the byte at In-1 (valid when In > 0).
	LastByte byte
	// Out is the number of bytes of uncompressed output so far.
	Out int64
	// Window is the 32 KiB of output before Out, zero-padded on the left. It
	// is only valid during the callback.
	Window []byte
	// Header is true for the boundary right after a gzip member header.
	Header bool
}

// Error is a decoding error with its position.
type Error struct {
	In  int64 // compressed offset (bytes consumed when the error was found)
	Out int64 // uncompressed offset
	Msg string
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrUnexpectedEOF is wrapped by errors for streams that end too early.
var ErrUnexpectedEOF = io.ErrUnexpectedEOF

type state uint8

const (
	stHeader  state = iota // before a gzip member header
	stBlock                // before a block header
	stHuff                 // inside a Huffman-coded block
	stStored               // inside a stored block
	stTrailer              // after the final block of a member
	stSplice               // copying a Chunk decoded ahead
	stEnd                  // the stream ended cleanly
)

// Options configure a Decoder.
type Options struct {
	// OnBoundary is called at every block boundary that is not after a final
	// block, in stream order.
	OnBoundary func(*Boundary) error
	// OnInput receives every input byte exactly once, in order, no earlier than
	// the decoder has consumed it and before the next boundary's In is
	// reported. The slice is only valid during the call.
	OnInput func([]byte)
	// Raw starts in the middle of a deflate stream of a gzip member (for random
	// access from a checkpoint): Window is the preset history, StartBits the
	// number of high bits of the first input byte that belong to the stream
	// (0: start at a byte boundary). The trailer of that first member is not
	// verified, later members are decoded as gzip.
	Raw       bool
	Window    []byte
	StartBits uint8
	// Ahead, when set, is asked at every block boundary inside a member,
	// before the next block header is read, for a Chunk decoded ahead that
	// starts at this bit position of the input. The decoder then takes the
	// chunk's output, reporting its boundaries, instead of decoding those
	// blocks; it declines a chunk that needs more history than the member
	// has (decoding on then reports the error a chunk cannot). Everything
	// the decoder reports is the same as without Ahead.
	Ahead func(bit int64) *Chunk
}

// Decoder decodes a (multi-member) gzip stream.
type Decoder struct {
	src    io.Reader
	srcEOF bool

	in      []byte
	ip      int   // next byte of in to load into the bit buffer
	inEnd   int   // valid bytes in in
	inBase  int64 // absolute offset of in[0]
	flushed int64 // input bytes passed to OnInput

	b  uint64 // bit buffer; bits above nb may hold copies of upcoming input
	nb uint   // valid bits in b

	out      []byte
	op       int   // next write index
	rp       int   // next read index
	outBase  int64 // absolute output offset of out[0] (negative at first)
	outLimit int   // decode while op < outLimit

	st     state
	final  bool
	stored int

	lit   *[litTableSize]uint32
	dist  *[distTableSize]uint32
	dyn   *fixedTables // storage for dynamic tables
	fixed *fixedTables

	memberOut  int64 // output bytes of the current member (distance check)
	crc        uint32
	adler      hash.Hash32 // running Adler-32 of a zlib member, nil for gzip
	goReject   int64       // output offset from which Go's compress/gzip fails, or -1
	goRejectAt int64       // input offset of the member header it fails on
	crcPos     int
	verifyTail bool
	members    int

	err  error
	opts Options
	bd   Boundary

	sp    *Chunk // the chunk being copied (stSplice)
	spOut int    // its output bytes copied so far
	spB   int    // its next boundary
}

// NewDecoder returns a decoder reading the compressed stream from src.
func NewDecoder(src io.Reader, opts Options) *Decoder {
	d := new(Decoder)
	d.Reset(src, opts)
	return d
}

// Reset makes d decode a new stream from src, as NewDecoder would, reusing
// its buffers (about 420 KiB) and tables, so that a caller decoding many
// streams does not allocate per stream.
func (d *Decoder) Reset(src io.Reader, opts Options) {
	in, out, dyn := d.in, d.out, d.dyn
	if in == nil {
		in = make([]byte, inBufSize)
		out = make([]byte, WindowSize+outChunk+maxMatch+outSlack)
		dyn = new(fixedTables)
	} else {
		// The history before the first output byte reads as zeros in the
		// first boundary's window, as in a fresh buffer.
		clear(out[:WindowSize])
	}
	*d = Decoder{
		src:        src,
		in:         in,
		out:        out,
		op:         WindowSize,
		rp:         WindowSize,
		outBase:    -WindowSize,
		outLimit:   WindowSize + outChunk,
		dyn:        dyn,
		fixed:      fixedCode(),
		opts:       opts,
		crcPos:     WindowSize,
		verifyTail: true,
		goReject:   -1,
	}
	if opts.Raw {
		copy(d.out[WindowSize-len(opts.Window):WindowSize], opts.Window)
		d.st = stBlock
		d.memberOut = WindowSize
		d.verifyTail = false
		d.members = 1
		if opts.StartBits != 0 {
			// The first byte's low 8-StartBits bits belong to the previous
			// block; load it and drop them.
			if err := d.pull(8); err != nil {
				d.err = err
			} else {
				d.drop(8 - uint(opts.StartBits))
			}
		}
	}
}

// Read implements io.Reader over the uncompressed stream.
func (d *Decoder) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := d.checkGoReject(); err != nil {
		return 0, err
	}
	for d.rp == d.op {
		if err := d.more(); err != nil {
			if gerr := d.checkGoReject(); gerr != nil {
				return 0, gerr // an empty member soci's Go reader chokes on
			}
			return 0, err
		}
		if err := d.checkGoReject(); err != nil {
			return 0, err
		}
	}
	end := d.op
	if d.goReject >= 0 && d.goReject-d.outBase < int64(end) {
		end = int(d.goReject - d.outBase)
	}
	n := copy(p, d.out[d.rp:end])
	d.rp += n
	return n, nil
}

// checkGoReject fails a read that needs output of a gzip member whose header
// Go's compress/gzip cannot parse. soci reads the tar through compress/gzip,
// which parses a member's header only when the tar reader asks for bytes
// beyond the previous member, so such a member fails soci only if the tar
// reader reaches it; zlib, soci's other pass, accepts it.
func (d *Decoder) checkGoReject() error {
	if d.goReject >= 0 && d.Pos() >= d.goReject {
		return &Error{In: d.goRejectAt, Out: d.goReject, Msg: "invalid gzip member header for the tar reader (Go's compress/gzip, which soci uses, rejects it: a zlib member, or a file name or comment of 512 bytes or more)"}
	}
	return nil
}

// Seek supports only forward skips relative to the current position (and
// reporting it), which lets archive/tar skip file contents without copying
// them: the bytes are still inflated and hashed, just never copied out.
func (d *Decoder) Seek(offset int64, whence int) (int64, error) {
	if whence != io.SeekCurrent || offset < 0 {
		return d.Pos(), errors.New("inflate: only forward relative seeks are supported")
	}
	for offset > 0 {
		if err := d.checkGoReject(); err != nil {
			return d.Pos(), err
		}
		if d.rp == d.op {
			if err := d.more(); err != nil {
				if gerr := d.checkGoReject(); gerr != nil {
					return d.Pos(), gerr
				}
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return d.Pos(), err
			}
		}
		n := int64(d.op - d.rp)
		if d.goReject >= 0 && d.goReject-d.Pos() < n {
			n = d.goReject - d.Pos()
		}
		if n > offset {
			n = offset
		}
		d.rp += int(n)
		offset -= n
	}
	return d.Pos(), nil
}

// Pos is the uncompressed offset of the next byte Read returns.
func (d *Decoder) Pos() int64 { return d.outBase + int64(d.rp) }

// InputPos is the number of input bytes consumed so far.
func (d *Decoder) InputPos() int64 { return (d.bitPos() + 7) / 8 }

// Drain decodes the rest of the stream, discarding output, and returns nil
// at a clean end of stream.
func (d *Decoder) Drain() error {
	for {
		d.rp = d.op
		if err := d.more(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// Members is the number of gzip members started so far.
func (d *Decoder) Members() int { return d.members }

func (d *Decoder) bitPos() int64 { return (d.inBase+int64(d.ip))*8 - int64(d.nb) }

// more decodes at least one more byte of output, or returns io.EOF at the
// end of the stream, or an error.
func (d *Decoder) more() error {
	if d.err != nil {
		return d.err
	}
	if d.op >= d.outLimit {
		// Everything was read: keep the last 32 KiB as history.
		delta := d.op - WindowSize
		copy(d.out[:WindowSize], d.out[delta:d.op])
		d.outBase += int64(delta)
		d.op -= delta
		d.rp -= delta
		d.crcPos -= delta
	}
	start := d.op
	for d.op == start {
		if d.st == stEnd {
			return io.EOF
		}
		if err := d.step(); err != nil {
			d.updateCRC()
			d.err = d.wrapErr(err)
			if d.op > start {
				return nil // deliver what was decoded; the error comes next
			}
			return d.err
		}
	}
	d.updateCRC()
	return nil
}

func (d *Decoder) wrapErr(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	msg := "invalid gzip data"
	if errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "gzip stream truncated"
	}
	return &Error{In: d.InputPos(), Out: d.outBase + int64(d.op), Msg: msg, Err: err}
}

func (d *Decoder) updateCRC() {
	if d.op > d.crcPos {
		if d.adler != nil {
			d.adler.Write(d.out[d.crcPos:d.op])
		} else {
			d.crc = crc32.Update(d.crc, crc32.IEEETable, d.out[d.crcPos:d.op])
		}
		d.memberOut += int64(d.op - d.crcPos)
		d.crcPos = d.op
	}
}

// step advances the state machine; it may or may not produce output.
func (d *Decoder) step() error {
	switch d.st {
	case stHeader:
		return d.readHeader()
	case stBlock:
		return d.readBlockHeader()
	case stHuff:
		if d.ip+8 > d.inEnd && !d.srcEOF {
			if err := d.refill(); err != nil {
				return err
			}
		}
		if d.ip+8 <= d.inEnd {
			return d.huffFast()
		}
		return d.huffSlow()
	case stStored:
		return d.copyStored()
	case stTrailer:
		return d.readTrailer()
	case stSplice:
		return d.copySplice()
	}
	return nil
}

// refill moves the unconsumed tail of the input buffer to its front and reads
// more. It returns io.EOF only when no byte could be added.
func (d *Decoder) refill() error {
	if d.srcEOF {
		return io.EOF
	}
	safe := d.bitPos() / 8 // bytes before this are consumed for good
	d.flushInput(safe)
	keep := safe - 1 // one more byte: a boundary may need it as LastByte
	if keep < d.inBase {
		keep = d.inBase
	}
	k := int(keep - d.inBase)
	n := copy(d.in, d.in[k:d.inEnd])
	d.inBase += int64(k)
	d.ip -= k
	d.inEnd = n
	added := 0
	for d.inEnd < len(d.in) {
		m, err := d.src.Read(d.in[d.inEnd:])
		d.inEnd += m
		added += m
		if err == io.EOF {
			d.srcEOF = true
			break
		}
		if err != nil {
			return &Error{In: d.inBase + int64(d.inEnd), Out: d.outBase + int64(d.op), Msg: "reading layer", Err: err}
		}
		if m == 0 {
			continue
		}
	}
	if added == 0 && d.srcEOF {
		return io.EOF
	}
	return nil
}

func (d *Decoder) flushInput(upto int64) {
	if upto <= d.flushed {
		return
	}
	if d.opts.OnInput != nil {
		d.opts.OnInput(d.in[d.flushed-d.inBase : upto-d.inBase])
	}
	d.flushed = upto
}

// pull loads single bytes until at least n bits are buffered.
func (d *Decoder) pull(n uint) error {
	for d.nb < n {
		if d.ip == d.inEnd {
			if err := d.refill(); err != nil {
				return err
			}
		}
		d.b |= uint64(d.in[d.ip]) << d.nb
		d.ip++
		d.nb += 8
	}
	return nil
}

// pullMax loads as many bytes as available, up to at least 48 bits.
func (d *Decoder) pullMax() {
	for d.nb < 48 {
		if d.ip == d.inEnd {
			if d.refill() != nil {
				return
			}
		}
		d.b |= uint64(d.in[d.ip]) << d.nb
		d.ip++
		d.nb += 8
	}
}

func (d *Decoder) drop(n uint) {
	d.b >>= n
	d.nb -= n
}

func (d *Decoder) bits(n uint) (uint32, error) {
	if err := d.pull(n); err != nil {
		return 0, err
	}
	v := uint32(d.b & (1<<n - 1))
	d.drop(n)
	return v, nil
}

func (d *Decoder) alignByte() { d.drop(d.nb % 8) }

func (d *Decoder) fail(msg string) error {
	return &Error{In: d.InputPos(), Out: d.outBase + int64(d.op), Msg: msg}
}

// atInputEnd reports whether no input byte is left (after a member).
func (d *Decoder) atInputEnd() bool {
	if d.nb >= 8 || d.ip < d.inEnd {
		return false
	}
	if d.srcEOF {
		return true
	}
	return d.refill() == io.EOF
}

func (d *Decoder) readHeader() error {
	if d.members > 0 && d.atInputEnd() {
		d.flushInput(d.inBase + int64(d.inEnd))
		d.st = stEnd
		return nil
	}
	start := d.InputPos()
	// The header CRC-32 is kept complemented, one table step per byte, so
	// that parsing a header allocates nothing.
	hcrc := ^uint32(0)
	byte1 := func() (byte, error) {
		v, err := d.bits(8)
		hcrc = crc32.IEEETable[byte(hcrc)^byte(v)] ^ hcrc>>8
		return byte(v), err
	}
	var h [10]byte
	for i := range h {
		c, err := byte1()
		if err != nil {
			if d.members == 0 && i == 0 && errors.Is(err, io.EOF) {
				return &Error{In: 0, Out: 0, Msg: "empty gzip stream", Err: io.ErrUnexpectedEOF}
			}
			return err
		}
		h[i] = c
		if i == 1 && (h[0] != 0x1f || h[1] != 0x8b) {
			if d.members > 0 {
				// zlib resets with automatic header detection after each
				// member, so a zlib stream may follow a gzip member.
				return d.readZlibHeader(h[0], h[1], start)
			}
			return d.fail(fmt.Sprintf("incorrect gzip header magic %#02x %#02x", h[0], h[1]))
		}
	}
	if h[2] != 8 {
		return d.fail(fmt.Sprintf("unknown compression method %d", h[2]))
	}
	flg := h[3]
	if flg&0xe0 != 0 {
		return d.fail("unknown gzip header flags set")
	}
	if flg&0x04 != 0 { // FEXTRA
		lo, err := byte1()
		if err != nil {
			return err
		}
		hi, err := byte1()
		if err != nil {
			return err
		}
		for n := int(lo) | int(hi)<<8; n > 0; n-- {
			if _, err := byte1(); err != nil {
				return err
			}
		}
	}
	goFails := false
	for _, f := range []byte{0x08, 0x10} { // FNAME, FCOMMENT
		if flg&f == 0 {
			continue
		}
		for n := 0; ; n++ {
			c, err := byte1()
			if err != nil {
				return err
			}
			if c == 0 {
				// compress/gzip reads these into a 512-byte buffer.
				goFails = goFails || n >= 512
				break
			}
		}
	}
	if flg&0x02 != 0 { // FHCRC
		want := uint16(^hcrc)
		v, err := d.bits(16)
		if err != nil {
			return err
		}
		if uint16(v) != want {
			return d.fail("gzip header crc mismatch")
		}
	}
	if goFails {
		d.rejectForGo(start)
	}
	d.startMember(nil)
	return d.boundary(true)
}

func (d *Decoder) rejectForGo(in int64) {
	if d.goReject < 0 {
		d.updateCRC()
		d.goReject = d.outBase + int64(d.op)
		d.goRejectAt = in
	}
}

func (d *Decoder) startMember(adler hash.Hash32) {
	d.updateCRC()
	d.members++
	d.memberOut = 0
	d.crc = 0
	d.adler = adler
	d.verifyTail = true
	d.st = stBlock
}

// readZlibHeader parses an RFC 1950 header whose first two bytes were read.
func (d *Decoder) readZlibHeader(cmf, flg byte, start int64) error {
	bad := func(why string) error {
		return d.fail(fmt.Sprintf("data after gzip member %d is not a valid gzip or zlib stream (bytes %#02x %#02x: %s)", d.members, cmf, flg, why))
	}
	switch {
	case (uint(cmf)<<8|uint(flg))%31 != 0:
		return bad("incorrect header check")
	case cmf&0x0f != 8:
		return bad("unknown compression method")
	case cmf>>4+8 > 15:
		return bad("invalid window size")
	case flg&0x20 != 0:
		return bad("zlib stream needs a preset dictionary")
	}
	d.rejectForGo(start)
	d.startMember(adler32.New())
	return d.boundary(true)
}

func (d *Decoder) readTrailer() error {
	d.updateCRC()
	d.alignByte()
	if d.adler != nil {
		var sum uint32
		for i := 0; i < 4; i++ {
			c, err := d.bits(8)
			if err != nil {
				return err
			}
			sum = sum<<8 | c
		}
		if d.verifyTail && sum != d.adler.Sum32() {
			return d.fail("incorrect data check (zlib Adler-32 mismatch)")
		}
		d.st = stHeader
		return nil
	}
	c, err := d.bits(16)
	if err != nil {
		return err
	}
	c2, err := d.bits(16)
	if err != nil {
		return err
	}
	s, err := d.bits(16)
	if err != nil {
		return err
	}
	s2, err := d.bits(16)
	if err != nil {
		return err
	}
	if d.verifyTail {
		if c|c2<<16 != d.crc {
			return d.fail("incorrect data check (gzip CRC-32 mismatch)")
		}
		if s|s2<<16 != uint32(d.memberOut) {
			return d.fail("incorrect length check (gzip ISIZE mismatch)")
		}
	}
	d.st = stHeader
	return nil
}

// boundary reports a block boundary to OnBoundary.
func (d *Decoder) boundary(header bool) error {
	if d.opts.OnBoundary == nil {
		return nil
	}
	d.updateCRC()
	bp := d.bitPos()
	in := (bp + 7) / 8
	d.flushInput(in)
	bd := &d.bd
	*bd = Boundary{In: in, Bits: uint8(in*8 - bp), Out: d.outBase + int64(d.op), Window: d.out[d.op-WindowSize : d.op], Header: header}
	if in > 0 {
		bd.LastByte = d.in[in-1-d.inBase]
	}
	return d.opts.OnBoundary(bd)
}

func (d *Decoder) readBlockHeader() error {
	if d.opts.Ahead != nil {
		if c := d.opts.Ahead(d.bitPos()); c != nil && d.splice(c) {
			return nil
		}
	}
	v, err := d.bits(3)
	if err != nil {
		return err
	}
	d.final = v&1 != 0
	switch v >> 1 {
	case 0:
		d.alignByte()
		n, err := d.bits(16)
		if err != nil {
			return err
		}
		nn, err := d.bits(16)
		if err != nil {
			return err
		}
		if n != ^nn&0xffff {
			return d.fail("invalid stored block lengths")
		}
		d.stored = int(n)
		d.st = stStored
		if n == 0 {
			return d.endBlock()
		}
	case 1:
		d.lit, d.dist = &d.fixed.lit, &d.fixed.dist
		d.st = stHuff
	case 2:
		if err := d.readDynamic(); err != nil {
			return err
		}
		d.lit, d.dist = &d.dyn.lit, &d.dyn.dist
		d.st = stHuff
	default:
		return d.fail("invalid block type")
	}
	return nil
}

func (d *Decoder) readDynamic() error {
	v, err := d.bits(14)
	if err != nil {
		return err
	}
	nlen := int(v&31) + 257
	ndist := int(v>>5&31) + 1
	ncode := int(v>>10) + 4
	if nlen > 286 || ndist > 30 {
		return d.fail("too many length or distance symbols")
	}
	var cl [19]uint8
	for i := 0; i < ncode; i++ {
		x, err := d.bits(3)
		if err != nil {
			return err
		}
		cl[clOrder[i]] = uint8(x)
	}
	var clt [clTableSize]uint32
	if err := buildTable(kindCodes, cl[:], clt[:], clRoot); err != nil {
		return d.fail("invalid code lengths set")
	}
	var lens [286 + 30]uint8
	for i := 0; i < nlen+ndist; {
		if err := d.pull(7); err != nil {
			// A short code may still fit in what is left.
			if d.nb == 0 {
				return err
			}
		}
		e := clt[d.b&(clTableSize-1)]
		n := uint(e & 0xff)
		if e == 0 || n > d.nb {
			if e == 0 {
				return d.fail("invalid code lengths set")
			}
			return io.ErrUnexpectedEOF
		}
		d.drop(n)
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
				return d.fail("invalid bit length repeat")
			}
			x, err := d.bits(2)
			if err != nil {
				return err
			}
			val, rep = lens[i-1], 3+int(x)
		case 17:
			x, err := d.bits(3)
			if err != nil {
				return err
			}
			rep = 3 + int(x)
		default:
			x, err := d.bits(7)
			if err != nil {
				return err
			}
			rep = 11 + int(x)
		}
		if i+rep > nlen+ndist {
			return d.fail("invalid bit length repeat")
		}
		for ; rep > 0; rep-- {
			lens[i] = val
			i++
		}
	}
	if lens[256] == 0 {
		return d.fail("invalid code -- missing end-of-block")
	}
	if err := buildTable(kindLens, lens[:nlen], d.dyn.lit[:], litRoot); err != nil {
		return d.fail("invalid literal/lengths set")
	}
	if err := buildTable(kindDists, lens[nlen:nlen+ndist], d.dyn.dist[:], distRoot); err != nil {
		return d.fail("invalid distances set")
	}
	return nil
}

// endBlock handles the end of a block: a boundary unless it was the final one.
func (d *Decoder) endBlock() error {
	if d.final {
		d.st = stTrailer
		return nil
	}
	d.st = stBlock
	return d.boundary(false)
}

func (d *Decoder) copyStored() error {
	for d.stored > 0 && d.nb >= 8 && d.op < d.outLimit {
		d.out[d.op] = byte(d.b)
		d.op++
		d.drop(8)
		d.stored--
	}
	if d.nb == 0 {
		d.b = 0
	}
	for d.stored > 0 && d.op < d.outLimit {
		if d.ip == d.inEnd {
			if err := d.refill(); err != nil {
				return err
			}
		}
		n := copy(d.out[d.op:d.outLimit], d.in[d.ip:d.inEnd])
		if n > d.stored {
			n = d.stored
		}
		d.op += n
		d.ip += n
		d.stored -= n
	}
	if d.stored == 0 {
		return d.endBlock()
	}
	return nil
}

// huffSlow decodes one symbol near the end of the input, checking every bit.
// It consumes a codeword, then its extra bits, each only when all its bits
// are there, so a truncated stream stops (and reports its offset) exactly
// where it did before the tables carried both lengths in one entry.
func (d *Decoder) huffSlow() error {
	if d.op >= d.outLimit {
		return nil
	}
	d.pullMax()
	e := d.lit[d.b&(1<<litRoot-1)]
	cw := uint(0)
	if e&fSub != 0 {
		e = d.lit[e>>16+uint32(d.b>>litRoot&(1<<(e>>8&15)-1))]
		cw = litRoot
	}
	// (Only an incomplete code has invalid entries, and it has no
	// subtable: cw is 0 here.)
	if e&(fLit|fLen|fEOB) == 0 {
		d.drop(cw)
		return d.fail("invalid literal/length code")
	}
	cw += uint(e >> 8 & 15)
	if cw > d.nb {
		// A truncated codeword stops where it did when the root table had
		// 10 bits: a longer code consumed those 10 bits first.
		if cw > oldLitRoot && d.nb >= oldLitRoot {
			d.drop(oldLitRoot)
		}
		return io.ErrUnexpectedEOF
	}
	d.drop(cw)
	if e&fLit != 0 {
		d.out[d.op] = byte(e >> 16)
		d.op++
		return nil
	}
	if e&fEOB != 0 {
		return d.endBlock()
	}
	x := uint(e&0xff) - uint(e>>8&15)
	if x > d.nb {
		return io.ErrUnexpectedEOF
	}
	length := int(e>>16) + int(d.b&(1<<x-1))
	d.drop(x)
	e = d.dist[d.b&(1<<distRoot-1)]
	if e&fSub != 0 {
		if distRoot > d.nb {
			return io.ErrUnexpectedEOF
		}
		d.drop(distRoot)
		e = d.dist[e>>16+uint32(d.b&(1<<(e>>8&15)-1))]
	}
	if e&fDist == 0 {
		return d.fail("invalid distance code")
	}
	cw = uint(e >> 8 & 15)
	if cw > d.nb {
		return io.ErrUnexpectedEOF
	}
	d.drop(cw)
	x = uint(e&0xff) - cw
	if x > d.nb {
		return io.ErrUnexpectedEOF
	}
	dist := int(e>>16) + int(d.b&(1<<x-1))
	d.drop(x)
	if int64(dist) > d.memberOut+int64(d.op-d.crcPos) {
		return d.fail("invalid distance too far back")
	}
	for i := 0; i < length; i++ {
		d.out[d.op+i] = d.out[d.op-dist+i]
	}
	d.op += length
	return nil
}

// huffFast is the hot loop, in libdeflate's manner. It runs while at least 8
// input bytes and room for a whole match remain, so that one refill (an
// unaligned 64-bit load; the bits above nb are always the input's next
// bits, so or-ing the load in again is harmless) covers a full
// length/distance pair (at most 48 bits), and match copies may write whole
// words past the match end. Each entry is looked up before the refill that
// precedes its use: the refill only adds bits above the 16 or more real
// bits left at the bottom, so the lookup does not wait for the load.
func (d *Decoder) huffFast() error {
	in := d.in[:d.inEnd]
	out := d.out
	lit, dist := d.lit, d.dist
	ip, op := d.ip, d.op
	b, nb := d.b, d.nb
	inLimit := d.inEnd - 8
	outLimit := d.outLimit
	// Distances may reach back to the start of the member's output.
	reach := d.memberOut - int64(d.crcPos)
	var err error
	const litMask = 1<<litRoot - 1
	if ip > inLimit {
		return nil
	}
	b |= binary.LittleEndian.Uint64(in[ip:]) << (nb & 63)
	ip += int((63 - nb) >> 3)
	nb |= 56
	e := lit[b&litMask]
	for op < outLimit && ip <= inLimit {
		b |= binary.LittleEndian.Uint64(in[ip:]) << (nb & 63)
		ip += int((63 - nb) >> 3)
		nb |= 56

		if e&fLit != 0 {
			// Up to three literals per refill (at most 45 bits), unrolled:
			// the same as a `for range 3` loop costs 6 % more CPU.
			b >>= e & 63
			nb -= uint(e & 0xff)
			out[op] = byte(e >> 16)
			op++
			e = lit[b&litMask]
			if e&fLit != 0 {
				b >>= e & 63
				nb -= uint(e & 0xff)
				out[op] = byte(e >> 16)
				op++
				e = lit[b&litMask]
				if e&fLit != 0 {
					b >>= e & 63
					nb -= uint(e & 0xff)
					out[op] = byte(e >> 16)
					op++
					e = lit[b&litMask]
				}
			}
			continue
		}
		if e&fSub != 0 {
			b >>= litRoot
			nb -= litRoot
			e = lit[e>>16+uint32(b&(1<<(e>>8&15)-1))]
			if e&fLit != 0 {
				b >>= e & 63
				nb -= uint(e & 0xff)
				out[op] = byte(e >> 16)
				op++
				e = lit[b&litMask]
				continue
			}
		}
		if e&fLen == 0 {
			b >>= e & 63
			nb -= uint(e & 0xff)
			if e&fEOB != 0 {
				d.ip, d.op, d.b, d.nb = ip, op, b, nb
				return d.endBlock()
			}
			err = d.failAt(ip, nb, op, "invalid literal/length code")
			break
		}
		saved := b
		b >>= e & 63
		nb -= uint(e & 0xff)
		length := int(e>>16) + int((saved&(1<<(e&63)-1))>>(e>>8&15))

		ed := dist[b&(1<<distRoot-1)]
		if ed&fSub != 0 {
			b >>= distRoot
			nb -= distRoot
			ed = dist[ed>>16+uint32(b&(1<<(ed>>8&15)-1))]
		}
		if ed&fDist == 0 {
			err = d.failAt(ip, nb, op, "invalid distance code")
			break
		}
		saved = b
		b >>= ed & 63
		nb -= uint(ed & 0xff)
		dst := int(ed>>16) + int((saved&(1<<(ed&63)-1))>>(ed>>8&15))
		e = lit[b&litMask]
		if int64(dst) > reach+int64(op) {
			err = d.failAt(ip, nb, op, "invalid distance too far back")
			break
		}
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
	return err
}

func (d *Decoder) failAt(ip int, nb uint, op int, msg string) error {
	bp := (d.inBase+int64(ip))*8 - int64(nb)
	return &Error{In: (bp + 7) / 8, Out: d.outBase + int64(op), Msg: msg}
}

// splice starts copying c, which starts at the current bit position, unless
// its output reaches back before the start of the member.
func (d *Decoder) splice(c *Chunk) bool {
	d.updateCRC()
	if !c.fits(d.memberOut) {
		return false
	}
	c.resolve(d.out[d.op-WindowSize : d.op])
	d.sp, d.spOut, d.spB = c, 0, 0
	d.st = stSplice
	return true
}

// copySplice copies the chunk's output up to its next boundary (or as much
// as fits), then moves the input to that boundary and reports it.
func (d *Decoder) copySplice() error {
	c := d.sp
	bd := c.bounds[d.spB]
	n := copy(d.out[d.op:d.outLimit], c.out[d.spOut:bd.out])
	d.op += n
	d.spOut += n
	if d.spOut < bd.out {
		return nil
	}
	if err := d.seekBit(bd.bit); err != nil {
		return err
	}
	// Every chunk boundary ends a non-final block.
	d.final = false
	d.spB++
	if d.spB < len(c.bounds) {
		return d.boundary(false)
	}
	d.sp = nil
	return d.endBlock()
}

// seekBit moves the input forward to bit position bp, reading (and passing
// to OnInput) the bytes in between.
func (d *Decoder) seekBit(bp int64) error {
	for {
		i := bp>>3 - d.inBase
		if i < int64(d.inEnd) || (bp&7 == 0 && i == int64(d.inEnd)) {
			d.ip, d.b, d.nb = int(i), 0, 0
			if k := uint(bp & 7); k != 0 {
				d.b = uint64(d.in[d.ip]) >> k
				d.ip++
				d.nb = 8 - k
			}
			return nil
		}
		d.ip, d.b, d.nb = d.inEnd, 0, 0
		if err := d.refill(); err != nil {
			return err
		}
	}
}
