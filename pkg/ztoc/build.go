package ztoc

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"

	"github.com/socify/socify/pkg/ztoc/internal/inflate"
	"github.com/socify/socify/pkg/ztoc/internal/parallel"
)

// checkpointSize is the size of one record of the gzip zinfo blob.
const checkpointSize = 8 + 8 + 1 + inflate.WindowSize

// maxZeroCheckpoints bounds the checkpoints at uncompressed offset 0 that
// Build accepts (soci has no bound; see onBoundary).
const maxZeroCheckpoints = 64

// Build reads a layer blob from r, once, and builds its zTOC: the tar TOC
// and the compression checkpoints come out of the same pass, and the span
// digests and the blob digest are computed on the way. r is read to its end;
// any byte after the compressed stream is an error, as in soci.
//
// A caller that only needs the serialized zTOC should use BuildEncoded,
// which gives the same bytes as Marshal of Build's result with about a third
// of the memory.
func Build(ctx context.Context, r io.Reader, opts ...Option) (*Ztoc, error) {
	s, err := build(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	z := &Ztoc{
		Version:                 s.version,
		BuildToolIdentifier:     s.tool,
		CompressedArchiveSize:   s.compressedSize,
		UncompressedArchiveSize: s.uncompressedSize,
		TOC:                     s.toc.fileMetadata(),
		Compression:             s.compression,
		MaxSpanID:               s.maxSpanID,
		SpanDigests:             s.digests,
		Checkpoints:             s.zinfo,
		Warnings:                s.warnings,
		BlobDigest:              s.blobDigest,
	}
	if s.ckpts != nil {
		z.Checkpoints = make([]byte, s.ckpts.size())
		if err := s.ckpts.copyTo(z.Checkpoints); err != nil {
			return nil, err
		}
	}
	return z, nil
}

// Encoded is a serialized zTOC with what the build learned about the layer.
type Encoded struct {
	// Bytes is the serialized zTOC, as Marshal writes it.
	Bytes []byte
	// BlobDigest is "sha256:<hex>" of every byte read (see Ztoc.BlobDigest).
	BlobDigest              string
	Compression             Compression
	CompressedArchiveSize   int64
	UncompressedArchiveSize int64
	// Spans is the number of spans (MaxSpanID+1), Files the number of TOC
	// entries.
	Spans, Files int
	Warnings     []Warning
	// Xattrs reports that some entry has a SCHILY.xattr.* PAX record or is
	// an opaque-directory whiteout (.wh..wh..opq): soci's condition for
	// keeping xattrs enabled in the SOCI index.
	Xattrs bool
}

// BuildEncoded builds the zTOC of the layer read from r, as Build does, and
// returns it serialized. It keeps the TOC and the checkpoints in a compact
// form while reading and serializes straight from it into a buffer sized up
// front, so its peak memory is about the size of the result plus a fixed
// working set (docs/performance.md).
func BuildEncoded(ctx context.Context, r io.Reader, opts ...Option) (*Encoded, error) {
	s, err := build(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	b, err := marshal(s)
	if err != nil {
		return nil, err
	}
	return &Encoded{
		Bytes:                   b,
		BlobDigest:              s.blobDigest,
		Compression:             s.compression,
		CompressedArchiveSize:   s.compressedSize,
		UncompressedArchiveSize: s.uncompressedSize,
		Spans:                   int(s.maxSpanID) + 1,
		Files:                   s.toc.n,
		Warnings:                s.warnings,
		Xattrs:                  s.toc.xattrs,
	}, nil
}

func build(ctx context.Context, r io.Reader, opts []Option) (*serial, error) {
	o := makeOptions(opts)
	if o.spanSize < 0 || (o.spanSize == 0 && o.compression == Uncompressed) {
		return nil, fmt.Errorf("ztoc: invalid span size %d", o.spanSize)
	}
	if o.workers < 0 {
		return nil, fmt.Errorf("ztoc: invalid worker count %d", o.workers)
	}
	if o.workers == 0 {
		o.workers = runtime.GOMAXPROCS(0)
	}
	if o.chunkSize < 0 || (o.chunkSize > 0 && o.chunkSize < 64) || o.chunkSize > 1<<30 {
		return nil, fmt.Errorf("ztoc: invalid chunk size %d (64 bytes to 1 GiB, 0 for the default)", o.chunkSize)
	}
	cr := &countingReader{ctx: ctx, r: r}
	switch o.compression {
	case Gzip:
		return buildGzip(ctx, cr, o)
	case Uncompressed:
		return buildTar(cr, o)
	}
	return nil, fmt.Errorf("ztoc: unsupported compression %q", o.compression)
}

// countingReader checks for cancellation between reads and counts bytes.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func digestOf(h hash.Hash) string {
	var sum [sha256.Size]byte
	return "sha256:" + hex.EncodeToString(h.Sum(sum[:0]))
}

type gzipBuilder struct {
	span     int64
	hashes   *spanHasher
	last     int64
	ckpts    checkpointStore
	offsets  [][2]int64 // (in, out) of each checkpoint, to locate tar errors
	count    int
	warnings []Warning
}

func (g *gzipBuilder) onInput(p []byte) { g.hashes.write(p) }

// onBoundary applies zran's rule: a checkpoint at the end of the gzip header
// (out == 0) and at the first block boundary after more than span bytes.
func (g *gzipBuilder) onBoundary(b *inflate.Boundary) error {
	if !(b.Out == 0 || b.Out-g.last > g.span) {
		return nil
	}
	// The span starts with the partly used byte, as soci's span ranges do.
	g.hashes.cut(b.Bits != 0, b.LastByte)
	if b.Out == 0 && g.count >= maxZeroCheckpoints {
		// Each costs a 32 KiB window for 5 bytes of input: refuse the
		// amplification. soci would go on, but the snapshotter rejects any
		// zTOC with two checkpoints at offset 0, so nothing usable is lost.
		return &FormatError{CompressedOffset: b.In, UncompressedOffset: 0,
			Msg: fmt.Sprintf("more than %d deflate block boundaries before the first uncompressed byte (empty blocks or members at the start of the stream); each would cost a 32 KiB checkpoint and the SOCI snapshotter rejects such a zTOC", maxZeroCheckpoints)}
	}
	if b.Out == 0 && g.count > 0 {
		g.warnings = append(g.warnings, Warning{Kind: WarnDuplicateZeroCheckpoints, Offset: b.In,
			Message: fmt.Sprintf("checkpoint %d is at uncompressed offset 0 like checkpoint 0 (empty deflate block or empty gzip member at the start); the SOCI snapshotter rejects this zTOC as non-monotonic", g.count)})
	}
	g.ckpts.add(b.In, b.Out, b.Bits, b.Window)
	g.offsets = append(g.offsets, [2]int64{b.In, b.Out})
	g.count++
	g.last = b.Out
	return nil
}

func buildGzip(ctx context.Context, cr *countingReader, o options) (*serial, error) {
	g := &gzipBuilder{span: o.spanSize, hashes: newSpanHasher(!o.syncHash && asyncHashing())}
	defer g.hashes.stop()
	dopts := inflate.Options{OnInput: g.onInput, OnBoundary: g.onBoundary}
	var src io.Reader = cr
	if o.workers > 1 {
		// Chunks decoded ahead on other cores; the decoder below still
		// sees every byte in order and reports exactly the same.
		ps, err := parallel.New(ctx, cr, parallel.Options{Workers: o.workers, ChunkSize: o.chunkSize})
		if err != nil {
			return nil, err
		}
		defer ps.Close()
		src, dopts.Ahead = ps, ps.Ahead
	}
	dec := inflate.NewDecoder(src, dopts)
	toc, tarSize, err := readTOC(dec, dec.Pos)
	if err == nil {
		err = dec.Drain()
	}
	if err != nil {
		return nil, g.decodeError(err, dec)
	}
	digests, blobDigest := g.hashes.finish()
	binary.LittleEndian.PutUint32(g.ckpts.header[0:], uint32(g.count))
	binary.LittleEndian.PutUint64(g.ckpts.header[4:], uint64(o.spanSize))
	return &serial{
		version:          Version09,
		tool:             o.tool,
		compressedSize:   cr.n,
		uncompressedSize: tarSize,
		toc:              toc.toc,
		compression:      Gzip,
		maxSpanID:        int32(g.count - 1),
		digests:          digests,
		ckpts:            &g.ckpts,
		warnings:         append(g.warnings, toc.warnings...),
		blobDigest:       blobDigest,
	}, nil
}

// decodeError turns a decoding or tar error into a FormatError with offsets.
func (g *gzipBuilder) decodeError(err error, dec *inflate.Decoder) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ie *inflate.Error
	if errors.As(err, &ie) {
		return &FormatError{CompressedOffset: ie.In, UncompressedOffset: ie.Out, Msg: ie.Msg, Err: ie.Err}
	}
	var te *tarError
	if errors.As(err, &te) {
		return &FormatError{CompressedOffset: g.spanStart(te.off), UncompressedOffset: te.off, Msg: "invalid tar stream", Err: te.err}
	}
	return &FormatError{CompressedOffset: g.spanStart(dec.Pos()), UncompressedOffset: dec.Pos(), Msg: "reading tar", Err: err}
}

// spanStart is the compressed offset of the checkpoint a reader would
// start decoding from to reach uncompressed offset off: the offset that
// locates a tar error in the layer blob. (How far the decoder had read
// ahead when the tar reader failed depends on buffering, and on chunks
// decoded on other cores, so it would not be a stable answer.)
func (g *gzipBuilder) spanStart(off int64) int64 {
	var in int64
	for _, c := range g.offsets {
		if c[1] > off {
			break
		}
		in = c[0]
	}
	return in
}

type tocResult struct {
	toc      *compactTOC
	warnings []Warning
}

type tarError struct {
	off int64
	err error
}

func (e *tarError) Error() string { return e.err.Error() }
func (e *tarError) Unwrap() error { return e.err }

// entryType is the record code of a tar type flag soci accepts.
func entryType(t byte) (uint8, bool) {
	switch t {
	case tar.TypeLink:
		return 0, true
	case tar.TypeSymlink:
		return 1, true
	case tar.TypeDir:
		return 2, true
	case tar.TypeReg:
		return 3, true
	case tar.TypeChar:
		return 4, true
	case tar.TypeBlock:
		return 5, true
	case tar.TypeFifo:
		return 6, true
	}
	return 0, false
}

func newSHA256() hash.Hash { return sha256.New() }
