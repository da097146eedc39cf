package ztoc

import (
	"encoding/binary"
	"math/bits"
)

// fbWriter writes a flatbuffer back to front with the layout rules of the
// flatbuffers Go builder that soci uses (alignment before each scalar, a
// string's terminator and padding, vectors' length words, vtables written
// after their table and shared between tables whose field offsets are
// equal), so that a given sequence of calls gives the builder's bytes. The
// builder's generic calls were a quarter of a build's CPU on a layer of many
// small files; this one keeps the current table's fields in a fixed array,
// finds a shared vtable through a map instead of a scan, never writes
// padding (the buffer is zero below head), and checks for room once per
// entry instead of once per scalar. The byte-for-byte equality is what the held soci vectors,
// TestMarshalMatchesBuilder and integration/oracle check.
type fbWriter struct {
	buf     []byte
	head    int        // buf[head:] is written
	aligns  int        // or of every alignment prepared for: the largest is the builder's minalign
	fields  [14]uint32 // offsets of the current table's fields, 0 if absent
	nfields int
	objEnd  uint32
	vtables map[string]uint32 // field offsets of a written vtable -> its offset
	key     []byte
}

func newFBWriter(size int) *fbWriter {
	return &fbWriter{buf: make([]byte, size), head: size, aligns: 1, vtables: map[string]uint32{}}
}

// offset is the builder's Offset: bytes written so far.
func (w *fbWriter) offset() uint32 { return uint32(len(w.buf) - w.head) }

// reserve makes room for n more bytes. The writing calls do not check for
// room (so that they inline): callers reserve a bound of what they write
// first, and a bound too small panics on a slice index, which marshal
// returns as an error.
func (w *fbWriter) reserve(n int) {
	for w.head <= n {
		m := max(2*len(w.buf), 64)
		nb := make([]byte, m)
		copy(nb[m-len(w.buf):], w.buf)
		w.head += m - len(w.buf)
		w.buf = nb
	}
}

// prep aligns so that an element of size bytes (a power of two) is aligned
// after additional more bytes are written. The padding is not written:
// every byte below head is still zero from make.
func (w *fbWriter) prep(size, additional int) {
	w.aligns |= size
	w.head -= -(len(w.buf) - w.head + additional) & (size - 1)
}

func (w *fbWriter) placeU32(x uint32) {
	w.head -= 4
	binary.LittleEndian.PutUint32(w.buf[w.head:], x)
}

func (w *fbWriter) prependU16(x uint16) {
	w.prep(2, 0)
	w.head -= 2
	binary.LittleEndian.PutUint16(w.buf[w.head:], x)
}

// uoffset prepends a reference to the object at offset off.
func (w *fbWriter) uoffset(off uint32) {
	w.prep(4, 0)
	w.placeU32(w.offset() - off + 4)
}

// bytes writes s as a flatbuffers string (length, bytes, terminator) and
// returns its offset.
func (w *fbWriter) str(s []byte) uint32 {
	w.prep(4, len(s)+1)
	w.head--
	w.buf[w.head] = 0
	w.head -= len(s)
	copy(w.buf[w.head:], s)
	w.placeU32(uint32(len(s)))
	return w.offset()
}

// byteVector writes v as a vector of bytes.
func (w *fbWriter) byteVector(v []byte) uint32 {
	w.prep(4, len(v))
	w.head -= len(v)
	copy(w.buf[w.head:], v)
	w.placeU32(uint32(len(v)))
	return w.offset()
}

// offsetVector writes a vector of references to the objects at offs.
func (w *fbWriter) offsetVector(offs []uint32) uint32 {
	w.prep(4, 4*len(offs))
	for i := len(offs) - 1; i >= 0; i-- {
		w.uoffset(offs[i])
	}
	w.placeU32(uint32(len(offs)))
	return w.offset()
}

func (w *fbWriter) startTable(nfields int) {
	w.nfields = nfields
	clear(w.fields[:nfields])
	w.objEnd = w.offset()
}

// The field setters follow the builder's Prepend*Slot: a scalar equal to
// its default is not written.
func (w *fbWriter) fieldOffset(i int, off uint32) {
	w.uoffset(off)
	w.fields[i] = w.offset()
}

func (w *fbWriter) fieldI64(i int, x int64) {
	if x != 0 {
		w.prep(8, 0)
		w.head -= 8
		binary.LittleEndian.PutUint64(w.buf[w.head:], uint64(x))
		w.fields[i] = w.offset()
	}
}

func (w *fbWriter) fieldU32(i int, x uint32) {
	if x != 0 {
		w.prep(4, 0)
		w.placeU32(x)
		w.fields[i] = w.offset()
	}
}

func (w *fbWriter) fieldI8(i int, x, def int8) {
	if x != def {
		w.prep(1, 0)
		w.head--
		w.buf[w.head] = byte(x)
		w.fields[i] = w.offset()
	}
}

// endTable writes the table's vtable reference and, unless a vtable with
// the same field offsets was written before, the vtable; it returns the
// table's offset.
func (w *fbWriter) endTable() uint32 {
	w.prep(4, 0)
	w.placeU32(0) // the vtable reference, filled in below
	obj := w.offset()
	n := w.nfields
	for n > 0 && w.fields[n-1] == 0 {
		n--
	}
	key := w.key[:0]
	for _, f := range w.fields[:n] {
		var v uint16
		if f != 0 {
			v = uint16(obj - f)
		}
		key = binary.LittleEndian.AppendUint16(key, v)
	}
	w.key = key
	objStart := len(w.buf) - int(obj)
	if vt, ok := w.vtables[string(key)]; ok {
		binary.LittleEndian.PutUint32(w.buf[objStart:], uint32(int32(vt)-int32(obj)))
		return obj
	}
	for i := n - 1; i >= 0; i-- {
		w.prependU16(binary.LittleEndian.Uint16(key[2*i:]))
	}
	w.prependU16(uint16(obj - w.objEnd))
	w.prependU16(uint16(2 * (n + 2)))
	vt := w.offset()
	binary.LittleEndian.PutUint32(w.buf[objStart:], vt-obj)
	w.vtables[string(key)] = vt
	return obj
}

// finish writes the root reference; the buffer is buf[head:].
func (w *fbWriter) finish(root uint32) []byte {
	w.prep(1<<(bits.Len(uint(w.aligns))-1), 4)
	w.uoffset(root)
	return w.buf[w.head:]
}
