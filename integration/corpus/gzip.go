package corpus

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os/exec"
	"strconv"

	kflate "github.com/klauspost/compress/flate"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// GoGzip compresses with Go's compress/gzip at level (gzip.HuffmanOnly = -2
// and gzip.NoCompression = 0 included).
func GoGzip(data []byte, level int) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		return nil, fmt.Errorf("go gzip level %d: %w", level, err)
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// GoGzipFlushing compresses with Go's compress/gzip and calls Flush before the
// first byte (if flushFirst) and after every `every` bytes (if every > 0). A
// Flush emits an empty stored block (the 00 00 ff ff sync marker), so the
// stream gets block boundaries that are byte aligned and, with flushFirst,
// a block boundary at uncompressed offset 0 right after the header.
func GoGzipFlushing(data []byte, level int, flushFirst bool, every int) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		return nil, err
	}
	if flushFirst {
		if err := w.Flush(); err != nil {
			return nil, err
		}
	}
	for len(data) > 0 {
		n := len(data)
		if every > 0 && n > every {
			n = every
		}
		if _, err := w.Write(data[:n]); err != nil {
			return nil, err
		}
		data = data[n:]
		if every > 0 {
			if err := w.Flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// KlauspostGzip compresses with github.com/klauspost/compress/gzip
// (StatelessCompression = -3 and HuffmanOnly = -2 included).
func KlauspostGzip(data []byte, level int) ([]byte, error) {
	var b bytes.Buffer
	w, err := kgzip.NewWriterLevel(&b, level)
	if err != nil {
		return nil, fmt.Errorf("klauspost gzip level %d: %w", level, err)
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Pgzip compresses with github.com/klauspost/pgzip. Each block of blockSize
// bytes is compressed separately and ends with a sync flush; blockSize 0 keeps
// pgzip's default (1 MiB). The output does not depend on scheduling.
func Pgzip(data []byte, level, blockSize int) ([]byte, error) {
	var b bytes.Buffer
	w, err := pgzip.NewWriterLevel(&b, level)
	if err != nil {
		return nil, fmt.Errorf("pgzip level %d: %w", level, err)
	}
	if blockSize > 0 {
		if err := w.SetConcurrency(blockSize, 4); err != nil {
			return nil, err
		}
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// GNUGzip runs /usr/bin/gzip -n -<level> -c.
func GNUGzip(ctx context.Context, data []byte, level int) ([]byte, error) {
	return runFilter(ctx, data, "gzip", "-n", "-c", "-"+strconv.Itoa(level))
}

// Pigz runs pigz -n -c with extra arguments. pigz's output depends on its
// arguments only, not on the number of threads.
func Pigz(ctx context.Context, data []byte, args ...string) ([]byte, error) {
	return runFilter(ctx, data, "pigz", append([]string{"-n", "-c", "-p", "2"}, args...)...)
}

func runFilter(ctx context.Context, data []byte, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s is needed to generate the corpus (apt-get install -y %s): %w", name, name, err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %v: %w: %s", name, args, err, stderr.String())
	}
	return out.Bytes(), nil
}

// GzipHeader describes the optional parts of an RFC 1952 member header.
type GzipHeader struct {
	Name    string // FNAME
	Comment string // FCOMMENT
	Extra   []byte // FEXTRA (written when non-nil, even if empty)
	MTime   uint32
	XFL     byte
	OS      byte
	HCRC    bool // FHCRC: CRC16 of the header
}

// Bytes encodes the header.
func (h GzipHeader) Bytes() []byte {
	var flg byte
	if h.HCRC {
		flg |= 0x02
	}
	if h.Extra != nil {
		flg |= 0x04
	}
	if h.Name != "" {
		flg |= 0x08
	}
	if h.Comment != "" {
		flg |= 0x10
	}
	b := []byte{0x1f, 0x8b, 8, flg, 0, 0, 0, 0, h.XFL, h.OS}
	binary.LittleEndian.PutUint32(b[4:8], h.MTime)
	if h.Extra != nil {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h.Extra)))
		b = append(b, h.Extra...)
	}
	if h.Name != "" {
		b = append(append(b, h.Name...), 0)
	}
	if h.Comment != "" {
		b = append(append(b, h.Comment...), 0)
	}
	if h.HCRC {
		b = binary.LittleEndian.AppendUint16(b, uint16(crc32.ChecksumIEEE(b)))
	}
	return b
}

// Member builds one gzip member from a header, a raw deflate stream and the
// payload it decodes to (for the CRC32/ISIZE trailer).
func Member(h GzipHeader, deflate, payload []byte) []byte {
	b := h.Bytes()
	b = append(b, deflate...)
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(payload))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	return b
}

// Deflate is a raw deflate stream from Go's compress/flate.
func Deflate(data []byte, level int) ([]byte, error) {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// KlauspostDeflate is a raw deflate stream from klauspost/compress/flate.
func KlauspostDeflate(data []byte, level int) ([]byte, error) {
	var b bytes.Buffer
	w, err := kflate.NewWriter(&b, level)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// BlockKind selects how HandDeflate encodes one block.
type BlockKind int

const (
	// Stored is a stored block (BTYPE 00): it byte-aligns the stream.
	Stored BlockKind = iota
	// Fixed is a fixed-Huffman block (BTYPE 01) of literals only, so block
	// boundaries fall at arbitrary bit positions.
	Fixed
	// Dynamic is a dynamic-Huffman block (BTYPE 10) with the code lengths
	// given in Block (or defaults), to probe which codes decoders accept.
	Dynamic
)

// Block is one deflate block of HandDeflate. Data may be empty: an empty
// block is a block boundary with no output.
type Block struct {
	Kind BlockKind
	Data []byte
	// LitLens and DistLens are the code lengths of a Dynamic block. Nil
	// LitLens: literals 9 bits, end-of-block and length code 257 (length 3)
	// 2 bits each, a complete code. Nil DistLens: one distance code of 1 bit
	// (distance 1), the incomplete single-code case zlib and Go allow.
	// Runs of a byte repeated are coded as matches (257, distance 1) when
	// both codes exist.
	LitLens, DistLens []int
}

// DefaultLitLens is the literal/length code Dynamic blocks use by default.
func DefaultLitLens() []int {
	l := make([]int, 258)
	for i := 0; i < 256; i++ {
		l[i] = 9
	}
	l[256], l[257] = 2, 2
	return l
}

// NoMatchLitLens is a complete literal-only code: literals 9 bits,
// end-of-block 1 bit; with it, DistLens may be empty ({0}).
func NoMatchLitLens() []int {
	l := DefaultLitLens()[:257]
	l[256] = 1
	return l
}

// EOBOnlyLitLens codes only end-of-block, with 1 bit: an empty dynamic
// block, the single-code case.
func EOBOnlyLitLens() []int {
	l := make([]int, 257)
	l[256] = 1
	return l
}

// canonical assigns RFC 1951 canonical Huffman codes to code lengths.
func canonical(lens []int) []uint64 {
	var count [16]int
	for _, n := range lens {
		if n > 0 {
			count[n]++
		}
	}
	var next [16]uint64
	code := uint64(0)
	for n := 1; n < 16; n++ {
		code = (code + uint64(count[n-1])) << 1
		if n == 1 {
			code = 0
		}
		next[n] = code
	}
	codes := make([]uint64, len(lens))
	for i, n := range lens {
		if n > 0 {
			codes[i] = next[n]
			next[n]++
		}
	}
	return codes
}

// huff writes a Huffman code MSB first.
func (w *bitWriter) huff(code uint64, n int) {
	var rev uint64
	for i := 0; i < n; i++ {
		rev = rev<<1 | (code>>uint(i))&1
	}
	w.bits(rev, uint(n))
}

func (w *bitWriter) dynamic(blk Block) {
	lit, dist := blk.LitLens, blk.DistLens
	if lit == nil {
		lit = DefaultLitLens()
	}
	if dist == nil {
		dist = []int{1}
	}
	w.bits(0, 1)
	w.bits(2, 2) // BTYPE dynamic
	w.bits(uint64(len(lit)-257), 5)
	w.bits(uint64(len(dist)-1), 5)
	w.bits(19-4, 4) // HCLEN: all 19 code length code lengths follow
	order := []int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
	for _, sym := range order {
		if sym <= 15 {
			w.bits(4, 3) // symbols 0-15: 4 bits each, a complete code
		} else {
			w.bits(0, 3)
		}
	}
	for _, n := range append(append([]int{}, lit...), dist...) {
		w.huff(uint64(n), 4) // canonical code of symbol n with 16 4-bit codes is n
	}
	lc, dc := canonical(lit), canonical(dist)
	match := len(lit) > 257 && lit[257] > 0 && len(dist) > 0 && dist[0] > 0
	d := blk.Data
	for i := 0; i < len(d); i++ {
		if match && i > 0 && i+3 <= len(d) && d[i] == d[i-1] && d[i+1] == d[i-1] && d[i+2] == d[i-1] {
			w.huff(lc[257], lit[257])
			w.huff(dc[0], dist[0])
			i += 2
			continue
		}
		w.huff(lc[d[i]], lit[d[i]])
	}
	if len(lit) > 256 && lit[256] > 0 {
		w.huff(lc[256], lit[256])
	}
}

// HandDeflate encodes blocks as a raw deflate stream, exactly as given; no
// compressor decides where blocks end. A final empty fixed block ends the
// stream. Stored blocks longer than 65535 bytes are split.
func HandDeflate(blocks []Block) []byte {
	var w bitWriter
	for _, blk := range blocks {
		switch blk.Kind {
		case Stored:
			d := blk.Data
			for first := true; first || len(d) > 0; first = false {
				n := min(len(d), 65535)
				w.bits(0, 1) // BFINAL
				w.bits(0, 2) // BTYPE stored
				w.align()
				w.bytes([]byte{byte(n), byte(n >> 8), ^byte(n), ^byte(n >> 8)})
				w.bytes(d[:n])
				d = d[n:]
			}
		case Fixed:
			w.bits(0, 1)
			w.bits(1, 2) // BTYPE fixed
			for _, c := range blk.Data {
				w.fixedLiteral(int(c))
			}
			w.fixedLiteral(256)
		case Dynamic:
			w.dynamic(blk)
		}
	}
	w.bits(1, 1)
	w.bits(1, 2)
	w.fixedLiteral(256)
	w.align()
	return w.out
}

type bitWriter struct {
	out  []byte
	acc  uint64
	nacc uint
}

// bits writes the n low bits of v, LSB first (deflate's bit order for
// everything but Huffman codes).
func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.nacc
	w.nacc += n
	for w.nacc >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

func (w *bitWriter) align() {
	if w.nacc > 0 {
		w.bits(0, 8-w.nacc)
	}
}

func (w *bitWriter) bytes(b []byte) {
	w.align()
	w.out = append(w.out, b...)
}

// fixedLiteral writes the fixed-Huffman code of a literal/length symbol
// (RFC 1951 §3.2.6). Huffman codes go MSB first, so they are bit-reversed.
func (w *bitWriter) fixedLiteral(sym int) {
	var code, n uint64
	switch {
	case sym <= 143:
		code, n = uint64(0x30+sym), 8
	case sym <= 255:
		code, n = uint64(0x190+sym-144), 9
	case sym <= 279:
		code, n = uint64(sym-256), 7
	default:
		code, n = uint64(0xc0+sym-280), 8
	}
	var rev uint64
	for i := uint64(0); i < n; i++ {
		rev = rev<<1 | (code>>i)&1
	}
	w.bits(rev, uint(n))
}
