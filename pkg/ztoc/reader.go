package ztoc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	zfbs "github.com/socify/socify/pkg/ztoc/internal/fbs/zinfo"
	"github.com/socify/socify/pkg/ztoc/internal/inflate"
)

// Checkpoint is one gzip access point: the decoder state at a deflate block
// boundary.
type Checkpoint struct {
	In     int64 // compressed offset: bytes consumed, counting a partial byte
	Out    int64 // uncompressed offset
	Bits   uint8 // high bits of byte In-1 that belong to the next block
	Window []byte
}

// GzipCheckpoints decodes the gzip zinfo blob. Like soci, a blob one record
// short of its count is the legacy v1 form, whose missing first checkpoint is
// synthesized at the end of a minimal 10-byte gzip header.
func (z *Ztoc) GzipCheckpoints() ([]Checkpoint, error) {
	if z.Compression != Gzip && z.Compression != "" {
		return nil, fmt.Errorf("ztoc: %s layers have no gzip checkpoints", z.Compression)
	}
	b := z.Checkpoints
	if len(b) < 12 {
		return nil, fmt.Errorf("ztoc: checkpoint blob of %d bytes is too short", len(b))
	}
	n := int64(int32(binary.LittleEndian.Uint32(b)))
	if n < 0 {
		return nil, fmt.Errorf("ztoc: negative checkpoint count %d", n)
	}
	var cps []Checkpoint
	recs := b[12:]
	switch int64(len(recs)) {
	case n * checkpointSize:
	case (n - 1) * checkpointSize:
		if n == 0 {
			return nil, fmt.Errorf("ztoc: checkpoint blob length %d does not match count %d", len(b), n)
		}
		cps = append(cps, Checkpoint{In: 10, Window: make([]byte, inflate.WindowSize)})
		n--
	default:
		return nil, fmt.Errorf("ztoc: checkpoint blob length %d does not match count %d", len(b), n)
	}
	for i := int64(0); i < n; i++ {
		r := recs[i*checkpointSize : (i+1)*checkpointSize]
		cps = append(cps, Checkpoint{
			In:     int64(binary.LittleEndian.Uint64(r)),
			Out:    int64(binary.LittleEndian.Uint64(r[8:])),
			Bits:   r[16],
			Window: r[17:],
		})
	}
	return cps, nil
}

// SpanSize is the span size recorded in the zinfo.
func (z *Ztoc) SpanSize() (int64, error) {
	if z.Compression == Uncompressed {
		t, err := z.tarSpans()
		return t.SpanSize, err
	}
	if len(z.Checkpoints) < 12 {
		return 0, errors.New("ztoc: checkpoint blob too short")
	}
	return int64(binary.LittleEndian.Uint64(z.Checkpoints[4:])), nil
}

// TarZinfo is the nested zinfo flatbuffer of an uncompressed layer's zTOC.
type TarZinfo struct {
	Version  int32
	SpanSize int64
	Size     int64 // of the layer blob
}

// TarZinfo decodes the zinfo of an uncompressed layer's zTOC. Malformed
// bytes give an error, never a panic; the values are not checked (a span
// size of 0 decodes, though nothing can read such a zTOC).
func (z *Ztoc) TarZinfo() (t TarZinfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ztoc: malformed tar zinfo: %v", r)
		}
	}()
	if len(z.Checkpoints) < 8 {
		return t, fmt.Errorf("ztoc: tar zinfo of %d bytes is too short", len(z.Checkpoints))
	}
	f := zfbs.GetRootAsTarZinfo(z.Checkpoints[:len(z.Checkpoints):len(z.Checkpoints)], 0) // see Unmarshal
	return TarZinfo{Version: f.Version(), SpanSize: f.SpanSize(), Size: f.Size()}, nil
}

// tarSpans is TarZinfo for reading: the span size must be positive.
func (z *Ztoc) tarSpans() (TarZinfo, error) {
	t, err := z.TarZinfo()
	if err == nil && t.SpanSize <= 0 {
		err = fmt.Errorf("ztoc: tar zinfo span size %d", t.SpanSize)
	}
	return t, err
}

// SpanRange returns the compressed byte range [start, end) of span i, the
// bytes its span digest covers.
func (z *Ztoc) SpanRange(i int) (start, end int64, err error) {
	if i < 0 || i > int(z.MaxSpanID) {
		return 0, 0, fmt.Errorf("ztoc: span %d out of range [0, %d]", i, z.MaxSpanID)
	}
	if z.Compression == Uncompressed {
		t, err := z.tarSpans()
		if err != nil {
			return 0, 0, err
		}
		start = int64(i) * t.SpanSize
		return start, min(start+t.SpanSize, t.Size), nil
	}
	// Read the two records directly: callers loop over every span, and
	// decoding the whole blob each time would make that quadratic.
	b := z.Checkpoints
	if len(b) < 12 {
		return 0, 0, errors.New("ztoc: checkpoint blob too short")
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	recs := len(b) - 12
	shift := 0 // v1 blobs lack checkpoint 0
	switch {
	case n >= 0 && recs == n*checkpointSize:
	case n > 0 && recs == (n-1)*checkpointSize:
		shift = 1
	default:
		return 0, 0, fmt.Errorf("ztoc: checkpoint blob length %d does not match count %d", len(b), n)
	}
	if i >= n {
		return 0, 0, fmt.Errorf("ztoc: span %d has no checkpoint (%d checkpoints)", i, n)
	}
	rec := func(k int) (in int64, bits uint8) {
		if k-shift < 0 {
			return 10, 0
		}
		r := b[12+(k-shift)*checkpointSize:]
		return int64(binary.LittleEndian.Uint64(r)), r[16]
	}
	in, bits := rec(i)
	start = in
	if bits != 0 {
		start--
	}
	end = z.CompressedArchiveSize
	if i+1 < n {
		end, _ = rec(i + 1)
	}
	return start, end, nil
}

// Reader gives random access to the files of a layer through its zTOC,
// inflating only from the checkpoint nearest before the data.
type Reader struct {
	z     *Ztoc
	layer io.ReaderAt
	cps   []Checkpoint
}

// NewReader returns a Reader over layer, the compressed layer blob.
func NewReader(z *Ztoc, layer io.ReaderAt) (*Reader, error) {
	r := &Reader{z: z, layer: layer}
	if z.Compression != Uncompressed {
		cps, err := z.GzipCheckpoints()
		if err != nil {
			return nil, err
		}
		if len(cps) == 0 {
			return nil, errors.New("ztoc: no checkpoints")
		}
		r.cps = cps
	}
	return r, nil
}

// Lookup returns the TOC entry called name, following hard links to their
// target.
func (r *Reader) Lookup(name string) (*FileMetadata, error) {
	for hops := 0; hops < 64; hops++ {
		var found *FileMetadata
		for i := range r.z.TOC {
			if r.z.TOC[i].Name == name {
				found = &r.z.TOC[i]
			}
		}
		if found == nil {
			return nil, fmt.Errorf("ztoc: %q: %w", name, errNotExist)
		}
		if found.Type != "hardlink" {
			return found, nil
		}
		name = found.Linkname
	}
	return nil, fmt.Errorf("ztoc: %q: too many hard link hops", name)
}

var errNotExist = errors.New("no such file in the layer")

// ExtractFile writes the contents of the regular file name to w.
func (r *Reader) ExtractFile(ctx context.Context, name string, w io.Writer) error {
	m, err := r.Lookup(name)
	if err != nil {
		return err
	}
	if m.Type != "reg" {
		return fmt.Errorf("ztoc: %q is a %s, not a regular file", name, m.Type)
	}
	return r.ReadRange(ctx, m.UncompressedOffset, m.UncompressedSize, w)
}

// ReadSpan writes the uncompressed bytes of span id to w.
func (r *Reader) ReadSpan(ctx context.Context, id int, w io.Writer) error {
	if id < 0 || id > int(r.z.MaxSpanID) {
		return fmt.Errorf("ztoc: span %d out of range [0, %d]", id, r.z.MaxSpanID)
	}
	if r.z.Compression == Uncompressed {
		s, e, err := r.z.SpanRange(id)
		if err != nil {
			return err
		}
		return r.ReadRange(ctx, s, e-s, w)
	}
	start := r.cps[id].Out
	end := r.z.UncompressedArchiveSize
	if id+1 < len(r.cps) {
		end = r.cps[id+1].Out
	}
	if end < start {
		end = start
	}
	return r.ReadRange(ctx, start, end-start, w)
}

// ReadRange writes n bytes of the uncompressed tar stream from offset off.
func (r *Reader) ReadRange(ctx context.Context, off, n int64, w io.Writer) error {
	if off < 0 || n < 0 {
		return fmt.Errorf("ztoc: invalid range %d+%d", off, n)
	}
	if n == 0 {
		return nil
	}
	src := &countingReader{ctx: ctx}
	if r.z.Compression == Uncompressed {
		src.r = io.NewSectionReader(r.layer, off, n)
		if _, err := io.CopyN(w, src, n); err != nil {
			return fmt.Errorf("ztoc: reading %d bytes at offset %d: %w", n, off, err)
		}
		return nil
	}
	k := 0
	for k+1 < len(r.cps) && r.cps[k+1].Out <= off {
		k++
	}
	cp := r.cps[k]
	start := cp.In
	if cp.Bits != 0 {
		start--
	}
	src.r = io.NewSectionReader(r.layer, start, r.z.CompressedArchiveSize-start)
	dec := inflate.NewDecoder(src, inflate.Options{Raw: true, Window: cp.Window, StartBits: cp.Bits})
	if _, err := dec.Seek(off-cp.Out, io.SeekCurrent); err != nil {
		return fmt.Errorf("ztoc: inflating from checkpoint %d (layer offset %d) to tar offset %d: %w", k, cp.In, off, err)
	}
	if _, err := io.CopyN(w, dec, n); err != nil {
		return fmt.Errorf("ztoc: inflating %d bytes at tar offset %d from checkpoint %d (layer offset %d): %w", n, off, k, cp.In, err)
	}
	return nil
}
