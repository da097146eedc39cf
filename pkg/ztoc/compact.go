package ztoc

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/socify/socify/pkg/ztoc/internal/inflate"
)

// The builder keeps the TOC and the checkpoints in a compact form until they
// are serialized: entries as variable-length records in fixed-size chunks,
// checkpoints in chunks of whole records. Nothing is ever grown by doubling
// (which copies everything and leaves the old copy as garbage), no entry has
// a map, and Marshal reads straight from the chunks into a buffer sized up
// front. This is what bounds peak memory by the size of the zTOC
// (docs/performance.md).

const (
	arenaChunk = 256 << 10
	// markEvery entries, the position of an entry is remembered, so that
	// Marshal, which must emit entries last to first, decodes a block of
	// entries forward and emits it backwards.
	markEvery = 64
)

// arena stores records in chunks; a record never straddles two chunks.
type arena struct {
	chunks [][]byte
	chunk  int // largest chunk size, arenaChunk if 0
}

type arenaPos struct{ chunk, off int }

// mark is where a block of entries starts, with the state its first record
// is relative to (the first record of a block spells out its names).
type mark struct {
	pos     arenaPos
	prevEnd int64
}

func (a *arena) add(rec []byte) arenaPos {
	n := len(a.chunks)
	if n == 0 || len(a.chunks[n-1])+len(rec) > cap(a.chunks[n-1]) {
		size := a.chunk
		if size == 0 {
			size = arenaChunk
		}
		// Small layers get small chunks: sizes double up to the maximum
		// (new chunks, never copies).
		size = min(size, 16<<10<<min(n, 16))
		a.chunks = append(a.chunks, make([]byte, 0, max(size, len(rec))))
		n++
	}
	c := &a.chunks[n-1]
	p := arenaPos{n - 1, len(*c)}
	*c = append(*c, rec...)
	return p
}

func (a *arena) size() int {
	s := 0
	for _, c := range a.chunks {
		s += cap(c)
	}
	return s
}

// Entry type codes in records, in the order of entryTypeNames.
var entryTypeNames = [...]string{"hardlink", "symlink", "dir", "reg", "char", "block", "fifo"}

// entryTypeBytes are entryTypeNames as the serializer writes them.
var entryTypeBytes = func() (b [len(entryTypeNames)][]byte) {
	for i, n := range entryTypeNames {
		b[i] = []byte(n)
	}
	return b
}()

// typOther marks a record whose type name follows the link name: a Ztoc
// made by hand or decoded from another tool may carry any type string.
const typOther = 0x0f

const (
	recUnameSame = 0x10 // uname equals the previous entry's
	recGnameSame = 0x20
	recPAX       = 0x40
)

// compactTOC is the TOC under construction.
type compactTOC struct {
	a       arena
	marks   []mark
	n       int
	prevEnd int64 // aligned end of the previous entry's data
	// The last entry's size and type, and whether it is sparse, for the
	// header parser.
	lastSize   int64
	lastType   uint8
	lastSparse bool
	// fbBound bounds the flatbuffer bytes of the entries (see sizeBound).
	fbBound int
	uname   []byte // the previous entry's, copied
	gname   []byte
	rec     []byte // scratch
	keys    []string
	// xattrs is soci's condition for keeping xattrs in the SOCI index: some
	// entry has a SCHILY.xattr.* record or is an opaque-directory whiteout.
	xattrs bool
}

// tocEntry is one entry as a header parser produces it or as decoded from a
// record; its byte slices are only valid until the next call that reuses it.
type tocEntry struct {
	typ                uint8
	off, size, mode    int64
	uid, gid           uint32
	sec                int64
	nsec               int64
	devmajor, devminor int64
	name, link         []byte
	uname, gname       []byte
	pax                []byte // encoded records: uvarint count, then key and value of each, sorted by key
	npax               int
	typName            []byte // for typ == typOther: a type name Build never produces
}

func appendBytes[S string | []byte](b []byte, s S) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// addEntry appends an entry to t. pax holds the PAX records (nil if
// none); typName is used only with typ == typOther. Strings may be given as
// string or []byte: the header parser passes slices of its header block, so
// nothing is allocated per entry beyond the record's bytes.
func addEntry[S string | []byte](t *compactTOC, typ uint8, typName string, off, size, mode int64, uid, gid uint32, sec, nsec int64, devmajor, devminor int64, name, link, uname, gname S, pax map[string]string) {
	flags := typ
	first := t.n%markEvery == 0
	if !first && string(t.uname) == string(uname) {
		flags |= recUnameSame
	}
	if !first && string(t.gname) == string(gname) {
		flags |= recGnameSame
	}
	if len(pax) > 0 {
		flags |= recPAX
	}
	tn := len(typName)
	if typ != typOther {
		tn = len(entryTypeNames[typ])
	}
	t.fbBound += fbEntryTable + fbString(len(name)) + fbString(len(link)) + fbString(len(uname)) +
		fbString(len(gname)) + fbString(modTimeMax) + fbString(tn) + 4 + 3
	r := append(t.rec[:0], flags)
	r = binary.AppendVarint(r, off-t.prevEnd)
	r = binary.AppendVarint(r, size)
	r = binary.AppendVarint(r, mode)
	r = binary.AppendUvarint(r, uint64(uid))
	r = binary.AppendUvarint(r, uint64(gid))
	r = binary.AppendVarint(r, sec)
	r = binary.AppendUvarint(r, uint64(nsec))
	r = binary.AppendVarint(r, devmajor)
	r = binary.AppendVarint(r, devminor)
	r = appendBytes(r, name)
	r = appendBytes(r, link)
	if typ == typOther {
		r = appendBytes(r, typName)
	}
	if flags&recUnameSame == 0 {
		r = appendBytes(r, uname)
		t.uname = append(t.uname[:0], uname...)
	}
	if flags&recGnameSame == 0 {
		r = appendBytes(r, gname)
		t.gname = append(t.gname[:0], gname...)
	}
	if len(name) >= len(OpaqueWhiteout) && string(name[len(name)-len(OpaqueWhiteout):]) == OpaqueWhiteout {
		t.xattrs = true
	}
	if len(pax) > 0 {
		keys := t.keys[:0]
		for k := range pax {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.keys = keys[:0]
		r = binary.AppendUvarint(r, uint64(len(keys)))
		for _, k := range keys {
			r = appendBytes(r, k)
			r = appendBytes(r, pax[k])
			t.fbBound += fbXattr + fbString(len(k)) + fbString(len(pax[k]))
			if strings.HasPrefix(k, PAXXattrPrefix) {
				t.xattrs = true
			}
		}
	}
	t.rec = r
	p := t.a.add(r)
	if first {
		t.marks = append(t.marks, mark{p, t.prevEnd})
	}
	t.n++
	t.lastSize, t.lastType = size, typ
	t.prevEnd = alignToTarBlock(off + size)
}

// cursor decodes entries forward from a position.
type cursor struct {
	a       *arena
	pos     arenaPos
	prevEnd int64
	uname   []byte
	gname   []byte
}

func uvarint(b []byte, i *int) uint64 {
	v, n := binary.Uvarint(b[*i:])
	*i += n
	return v
}

func varint(b []byte, i *int) int64 {
	v, n := binary.Varint(b[*i:])
	*i += n
	return v
}

func bytesAt(b []byte, i *int) []byte {
	n := int(uvarint(b, i))
	s := b[*i : *i+n : *i+n]
	*i += n
	return s
}

// next decodes the entry at the cursor into e. Records were written by add,
// so they are well formed.
func (c *cursor) next(e *tocEntry) {
	if c.pos.off == len(c.a.chunks[c.pos.chunk]) {
		c.pos = arenaPos{c.pos.chunk + 1, 0}
	}
	b := c.a.chunks[c.pos.chunk]
	i := c.pos.off
	flags := b[i]
	i++
	e.typ = flags & 0x0f
	e.off = c.prevEnd + varint(b, &i)
	e.size = varint(b, &i)
	e.mode = varint(b, &i)
	e.uid = uint32(uvarint(b, &i))
	e.gid = uint32(uvarint(b, &i))
	e.sec = varint(b, &i)
	e.nsec = int64(uvarint(b, &i))
	e.devmajor = varint(b, &i)
	e.devminor = varint(b, &i)
	e.name = bytesAt(b, &i)
	e.link = bytesAt(b, &i)
	e.typName = nil
	if e.typ == typOther {
		e.typName = bytesAt(b, &i)
	}
	if flags&recUnameSame == 0 {
		c.uname = bytesAt(b, &i)
	}
	if flags&recGnameSame == 0 {
		c.gname = bytesAt(b, &i)
	}
	e.uname, e.gname = c.uname, c.gname
	e.pax, e.npax = nil, 0
	if flags&recPAX != 0 {
		start := i
		e.npax = int(uvarint(b, &i))
		for k := 0; k < 2*e.npax; k++ {
			bytesAt(b, &i)
		}
		e.pax = b[start:i]
	}
	c.pos.off = i
	c.prevEnd = alignToTarBlock(e.off + e.size)
}

// paxRecords iterates over the encoded records of e in key order.
func (e *tocEntry) paxRecords(f func(k, v []byte)) {
	i := 0
	n := int(uvarint(e.pax, &i))
	for ; n > 0; n-- {
		k := bytesAt(e.pax, &i)
		f(k, bytesAt(e.pax, &i))
	}
}

// block decodes the entries of block k (markEvery entries from marks[k])
// into dst, which it returns resized.
func (t *compactTOC) block(k int, dst []tocEntry) []tocEntry {
	dst = dst[:min(markEvery, t.n-k*markEvery)]
	c := cursor{a: &t.a, pos: t.marks[k].pos, prevEnd: t.marks[k].prevEnd}
	for i := range dst {
		c.next(&dst[i])
	}
	return dst
}

// each calls f for every entry in order.
func (t *compactTOC) each(f func(e *tocEntry)) {
	if t.n == 0 {
		return
	}
	c := cursor{a: &t.a, pos: t.marks[0].pos}
	var e tocEntry
	for i := 0; i < t.n; i++ {
		c.next(&e)
		f(&e)
	}
}

func (e *tocEntry) typeName() string {
	if e.typ == typOther {
		return string(e.typName)
	}
	return entryTypeNames[e.typ]
}

func (e *tocEntry) modTime() time.Time { return time.Unix(e.sec, e.nsec) }

// fileMetadata materializes e as the public type; prev (or nil) is the
// entry before, whose user and group name strings are reused when equal.
func (e *tocEntry) fileMetadata(tarHeaderOffset int64, prev *FileMetadata) FileMetadata {
	m := FileMetadata{
		Name:               string(e.name),
		Type:               e.typeName(),
		UncompressedOffset: e.off,
		UncompressedSize:   e.size,
		TarHeaderOffset:    tarHeaderOffset,
		Linkname:           string(e.link),
		Mode:               e.mode,
		UID:                e.uid,
		GID:                e.gid,
		ModTime:            e.modTime(),
		Devmajor:           e.devmajor,
		Devminor:           e.devminor,
	}
	if prev != nil && prev.Uname == string(e.uname) {
		m.Uname = prev.Uname
	} else {
		m.Uname = string(e.uname)
	}
	if prev != nil && prev.Gname == string(e.gname) {
		m.Gname = prev.Gname
	} else {
		m.Gname = string(e.gname)
	}
	if e.npax > 0 {
		m.PAXHeaders = make(map[string]string, e.npax)
		e.paxRecords(func(k, v []byte) { m.PAXHeaders[string(k)] = string(v) })
	}
	return m
}

// fileMetadata materializes the whole TOC as the public type. Entries share
// the previous entry's user and group name strings when they are equal (as
// they mostly are), so a layer of many files costs one string per entry
// (its name), not three.
func (t *compactTOC) fileMetadata() []FileMetadata {
	out := make([]FileMetadata, 0, t.n)
	t.each(func(e *tocEntry) {
		var tho int64
		var p *FileMetadata
		if n := len(out); n > 0 {
			p = &out[n-1]
			tho = alignToTarBlock(p.UncompressedOffset + p.UncompressedSize)
		}
		m := e.fileMetadata(tho, p)
		out = append(out, m)
	})
	return out
}

// typeCode is the record code of a TOC type name.
func typeCode(s string) uint8 {
	for i, n := range entryTypeNames {
		if n == s {
			return uint8(i)
		}
	}
	return typOther
}

// checkpointStore holds the gzip zinfo blob's records until Marshal. Each
// 32 KiB window is kept S2-compressed when that is smaller: the windows are
// also in the serialized zTOC, and holding them raw as well would make a
// checkpoint-heavy zTOC cost twice its size at its peak. S2 rather than
// deflate because it is an order of magnitude cheaper per window (deflate's
// BestSpeed cost about 6 % of a build's CPU on a 500 MB layer, S2 well under
// 1 %) for a ratio close to it (0.71 against 0.67 on real-file windows).
type checkpointStore struct {
	header [12]byte
	a      arena
	count  int
	enc    []byte
	rec    []byte
}

func (s *checkpointStore) add(in, out int64, bits uint8, window []byte) {
	if s.enc == nil {
		s.enc = make([]byte, s2.MaxEncodedLen(inflate.WindowSize))
		s.a.chunk = 1 << 20 // 31 raw records; a 256 KiB chunk would waste 12%
	}
	enc := s2.Encode(s.enc, window)
	rec := binary.LittleEndian.AppendUint64(s.rec[:0], uint64(in))
	rec = binary.LittleEndian.AppendUint64(rec, uint64(out))
	rec = append(rec, bits)
	if len(enc) < len(window) {
		rec = binary.LittleEndian.AppendUint32(rec, uint32(len(enc)))
		rec = append(rec, enc...)
	} else {
		rec = binary.LittleEndian.AppendUint32(rec, 0)
		rec = append(rec, window...)
	}
	s.a.add(rec)
	s.rec = rec
	s.count++
}

func (s *checkpointStore) size() int { return 12 + s.count*checkpointSize }

// copyTo writes the whole blob into dst, which has size() bytes.
func (s *checkpointStore) copyTo(dst []byte) error {
	n := copy(dst, s.header[:])
	c := cursor{a: &s.a}
	for k := 0; k < s.count; k++ {
		if c.pos.off == len(s.a.chunks[c.pos.chunk]) {
			c.pos = arenaPos{c.pos.chunk + 1, 0}
		}
		b := s.a.chunks[c.pos.chunk][c.pos.off:]
		n += copy(dst[n:], b[:17])
		clen := int(binary.LittleEndian.Uint32(b[17:]))
		b = b[21:]
		w := dst[n : n+inflate.WindowSize]
		if clen == 0 {
			copy(w, b[:inflate.WindowSize])
			c.pos.off += 21 + inflate.WindowSize
		} else {
			got, err := s2.Decode(w, b[:clen])
			if err == nil && (len(got) != len(w) || &got[0] != &w[0]) {
				err = fmt.Errorf("decoded %d bytes", len(got))
			}
			if err != nil {
				return fmt.Errorf("ztoc: checkpoint %d: restoring its window: %w", k, err)
			}
			c.pos.off += 21 + clen
		}
		n += inflate.WindowSize
	}
	return nil
}
