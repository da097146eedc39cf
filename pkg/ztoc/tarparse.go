package ztoc

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"
	"sync"
)

// The TOC must be exactly what archive/tar's Reader.Next gives soci, errors
// included. archive/tar allocates a Header, its strings and (for PAX) a map
// per entry, and skips data through io.CopyN: on layers of many small files
// that costs more than inflating them. So readTOC parses the common headers
// itself (USTAR and GNU, entry types 0-6, no PAX or GNU long-name records
// before them) with archive/tar's rules for those, reading the stream with
// the same calls in the same order, and hands every other header (PAX, GNU
// long names, sparse, V7, STAR, an end marker, anything it would reject) to
// a fresh archive/tar Reader positioned at that header. At a header boundary
// archive/tar keeps no state from earlier entries, so this is equivalent.
// A sparse entry's physical size differs from its size, so after one
// archive/tar reads the rest of the stream.

const tarBlock = 512

// fastTarOK reports whether archive/tar accepts non-local names as the
// fast path does (GODEBUG tarinsecurepath, whose default may change or be
// set per program, makes Next reject them). It is probed once on a real
// archive rather than by parsing GODEBUG.
var fastTarOK = sync.OnceValue(func() bool {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if tw.WriteHeader(&tar.Header{Name: "../probe", Typeflag: tar.TypeReg, Mode: 0o644}) != nil || tw.Close() != nil {
		return false
	}
	_, err := tar.NewReader(&buf).Next()
	return err == nil
})

type tarParser struct {
	r      io.Reader
	seeker io.Seeker // r as a Seeker, nil if it is not one
	pos    func() int64
	blk    [tarBlock]byte
	buf    []byte // for skipping data of a reader that cannot seek
	name   []byte // prefix + "/" + name
	res    *tocResult
	// tr, once set, reads the rest of the stream (after a sparse entry).
	tr     *tar.Reader
	replay replayReader
}

// readTOC reads the tar stream's headers into a compact TOC, with exactly
// archive/tar's offsets, accept/reject decisions and errors.
func readTOC(r io.Reader, pos func() int64) (tocResult, int64, error) {
	return readTOCWith(r, pos, fastTarOK())
}

// readTOCWith reads with the fast path or (fast false, as the tests compare)
// with archive/tar alone.
func readTOCWith(r io.Reader, pos func() int64, fast bool) (tocResult, int64, error) {
	res := tocResult{toc: new(compactTOC)}
	p := &tarParser{r: r, pos: pos, res: &res}
	p.seeker, _ = r.(io.Seeker)
	p.replay.r = r
	var data, pad int64 // bytes of the current entry's data and padding left
	for {
		if p.tr != nil {
			err := p.slow()
			if errors.Is(err, io.EOF) {
				return res, p.position(), nil
			}
			if err != nil {
				return res, 0, err
			}
			continue
		}
		// As archive/tar's next: discard the data, read the padding (an
		// end of stream there is the end of the archive), read a header.
		if err := p.discard(data); err != nil {
			return res, 0, &tarError{off: pos(), err: err}
		}
		if err := tryReadFull(r, p.blk[:pad]); err != nil {
			if err == io.EOF {
				return res, pos(), nil
			}
			return res, 0, &tarError{off: pos(), err: err}
		}
		if _, err := io.ReadFull(r, p.blk[:]); err != nil {
			if err == io.EOF {
				return res, pos(), nil
			}
			return res, 0, &tarError{off: pos(), err: err}
		}
		if fast {
			if n, ok := p.parse(); ok {
				data, pad = n, -n&(tarBlock-1)
				continue
			}
		}
		p.replay.pending = p.blk[:]
		p.tr = tar.NewReader(&p.replay)
		err := p.slow()
		if errors.Is(err, io.EOF) {
			return res, p.position(), nil
		}
		if err != nil {
			return res, 0, err
		}
		if !p.res.toc.lastSparse {
			// Back to the fast path after this entry: archive/tar has read
			// up to its data, whose physical size is its size.
			data = p.res.toc.lastSize
			if data < 0 || isHeaderOnly(p.res.toc.lastType) {
				data = 0
			}
			pad = -data & (tarBlock - 1)
			p.tr = nil
		}
	}
}

func (p *tarParser) position() int64 { return p.pos() - int64(len(p.replay.pending)) }

// slow reads one entry with archive/tar.
func (p *tarParser) slow() error {
	hdr, err := p.tr.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return &tarError{off: p.position(), err: err}
	}
	typ, ok := entryType(hdr.Typeflag)
	if !ok {
		return &tarError{off: p.position(), err: fmt.Errorf("unsupported input tar entry %q (entry %q)", hdr.Typeflag, hdr.Name)}
	}
	off := p.position()
	sparse := false
	if len(hdr.PAXRecords) > 0 {
		m := FileMetadata{Name: hdr.Name, UncompressedOffset: off, PAXHeaders: hdr.PAXRecords}
		p.res.warnings = appendEntryWarnings(p.res.warnings, &m)
		for k := range hdr.PAXRecords {
			sparse = sparse || strings.HasPrefix(k, "GNU.sparse.")
		}
	}
	mt := hdr.ModTime
	addEntry(p.res.toc, typ, "", off, hdr.Size, hdr.Mode, uint32(hdr.Uid), uint32(hdr.Gid), mt.Unix(), int64(mt.Nanosecond()),
		hdr.Devmajor, hdr.Devminor, hdr.Name, hdr.Linkname, hdr.Uname, hdr.Gname, hdr.PAXRecords)
	p.res.toc.lastSparse = sparse
	return nil
}

// parse handles the header in blk if it is one the fast path covers,
// returning the size of the entry's data.
func (p *tarParser) parse() (int64, bool) {
	b := &p.blk
	sum, ok := parseOctal(b[148:156])
	if !ok {
		return 0, false
	}
	if unsigned, signed := headerChecksums(b); sum != unsigned && sum != signed {
		return 0, false
	}
	gnu := false
	switch magic := string(b[257:263]); {
	case magic == "ustar\x00":
		if string(b[508:512]) == "tar\x00" {
			return 0, false // STAR
		}
	case magic == "ustar " && string(b[263:265]) == " \x00":
		if b[345] != 0 || b[357] != 0 {
			return 0, false // GNU atime/ctime, parsed with a fallback for old Go writers
		}
		gnu = true
	default:
		return 0, false // V7
	}
	flag := b[156]
	if flag < '0' || flag > '6' {
		return 0, false
	}
	typ, _ := entryType(flag)
	var bad bool
	size := parseNumeric(b[124:136], &bad)
	mode := parseNumeric(b[100:108], &bad)
	uid := parseNumeric(b[108:116], &bad)
	gid := parseNumeric(b[116:124], &bad)
	mtime := parseNumeric(b[136:148], &bad)
	devmajor := parseNumeric(b[329:337], &bad)
	devminor := parseNumeric(b[337:345], &bad)
	if bad {
		return 0, false
	}
	headerOnly := isHeaderOnly(typ)
	if size < 0 && !headerOnly {
		return 0, false
	}
	name := cString(b[0:100])
	if !gnu {
		if prefix := cString(b[345:500]); len(prefix) > 0 {
			p.name = append(append(append(p.name[:0], prefix...), '/'), name...)
			name = p.name
		}
	}
	addEntry(p.res.toc, typ, "", p.pos(), size, mode, uint32(uid), uint32(gid), mtime, 0,
		devmajor, devminor, name, cString(b[157:257]), cString(b[265:297]), cString(b[297:329]), nil)
	p.res.toc.lastSparse = false
	if headerOnly {
		return 0, true
	}
	return size, true
}

// isHeaderOnly is archive/tar's rule for entries whose data section is
// empty whatever their size field says, by record type code.
func isHeaderOnly(typ uint8) bool { return typ != 3 }

// headerChecksums sums the header's bytes as unsigned and as signed
// values, the checksum field counted as spaces (archive/tar accepts
// either), eight bytes at a time: this runs once per entry.
func headerChecksums(b *[tarBlock]byte) (unsigned, signed int64) {
	var lanes, high uint64
	for i := 0; i < tarBlock; i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		high += uint64(bits.OnesCount64(w & 0x8080808080808080))
		// Four 16-bit lanes; 64 words of at most 2*255 fit in 16 bits.
		lanes += w&0x00ff00ff00ff00ff + w>>8&0x00ff00ff00ff00ff
	}
	u := int64(lanes&0xffff + lanes>>16&0xffff + lanes>>32&0xffff + lanes>>48)
	h := int64(high)
	for _, c := range b[148:156] {
		u -= int64(c)
		if c >= 0x80 {
			h--
		}
	}
	u += 8 * ' '
	return u, u - 256*h
}

func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// parseNumeric reads a tar number field as archive/tar does: base-256 if
// the high bit is set, else octal; *bad is set where archive/tar fails.
func parseNumeric(b []byte, bad *bool) int64 {
	if len(b) > 0 && b[0]&0x80 != 0 {
		var inv byte
		if b[0]&0x40 != 0 {
			inv = 0xff
		}
		var x uint64
		for i, c := range b {
			c ^= inv
			if i == 0 {
				c &= 0x7f
			}
			if x>>56 > 0 {
				*bad = true
				return 0
			}
			x = x<<8 | uint64(c)
		}
		if x>>63 > 0 {
			*bad = true
			return 0
		}
		if inv == 0xff {
			return ^int64(x)
		}
		return int64(x)
	}
	v, ok := parseOctal(b)
	if !ok {
		*bad = true
	}
	return v
}

// parseOctal trims spaces and NULs on both sides, stops at a NUL inside,
// and requires octal digits that fit 64 bits (strconv.ParseUint base 8).
func parseOctal(b []byte) (int64, bool) {
	for len(b) > 0 && (b[0] == ' ' || b[0] == 0) {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return 0, true
	}
	b = cString(b)
	if len(b) == 0 {
		return 0, false // ParseUint("") fails
	}
	var x uint64
	for _, c := range b {
		if c < '0' || c > '7' || x>>61 != 0 {
			return 0, false
		}
		x = x<<3 | uint64(c-'0')
	}
	return int64(x), true
}

// discard skips n bytes as archive/tar's discard does: seek to the last
// byte when the reader can seek, then read the rest.
func (p *tarParser) discard(n int64) error {
	var skipped int64
	if p.seeker != nil && n > 1 {
		pos1, err := p.seeker.Seek(0, io.SeekCurrent)
		if pos1 >= 0 && err == nil {
			pos2, err := p.seeker.Seek(n-1, io.SeekCurrent)
			if pos2 < 0 || err != nil {
				return err
			}
			skipped = pos2 - pos1
		}
	}
	rest := n - skipped
	if rest > 0 && p.buf == nil {
		p.buf = make([]byte, 32<<10)
	}
	for rest > 0 {
		m, err := p.r.Read(p.buf[:min(rest, int64(len(p.buf)))])
		rest -= int64(m)
		if err != nil {
			if err == io.EOF {
				if rest > 0 {
					return io.ErrUnexpectedEOF
				}
				return nil
			}
			return err
		}
	}
	return nil
}

// tryReadFull is archive/tar's: like io.ReadFull, but an end of stream
// before len(b) bytes is io.EOF, however many were read.
func tryReadFull(r io.Reader, b []byte) error {
	n := 0
	var err error
	for len(b) > n && err == nil {
		var k int
		k, err = r.Read(b[n:])
		n += k
	}
	if len(b) == n && err == io.EOF {
		err = nil
	}
	return err
}

// replayReader gives archive/tar a header block the fast path already read,
// then the stream.
type replayReader struct {
	pending []byte
	r       io.Reader
}

func (r *replayReader) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.r.Read(p)
}

// Seek lets archive/tar skip data without copying, as it did on the stream
// itself; it fails (and archive/tar reads instead) where the stream cannot
// seek.
func (r *replayReader) Seek(off int64, whence int) (int64, error) {
	s, ok := r.r.(io.Seeker)
	if !ok || len(r.pending) > 0 {
		return -1, errors.New("ztoc: cannot seek")
	}
	return s.Seek(off, whence)
}
