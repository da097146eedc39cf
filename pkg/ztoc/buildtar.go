package ztoc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	flatbuffers "github.com/google/flatbuffers/go"

	zfbs "github.com/socify/socify/pkg/ztoc/internal/fbs/zinfo"
)

// tarZinfoVersion is the TarZinfo version soci writes.
const tarZinfoVersion = 2

// spanReader passes an uncompressed layer through, hashing it whole and in
// fixed-size spans, and counts the position for the TOC.
type spanReader struct {
	r        io.Reader
	span     int64
	pos      int64
	blob     hash.Hash
	spanHash hash.Hash
	digests  []string
}

func (s *spanReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	b := p[:n]
	s.blob.Write(b)
	for len(b) > 0 {
		room := s.span - s.pos%s.span
		k := int64(len(b))
		if k > room {
			k = room
		}
		s.spanHash.Write(b[:k])
		s.pos += k
		b = b[k:]
		if s.pos%s.span == 0 {
			s.digests = append(s.digests, digestOf(s.spanHash))
			s.spanHash.Reset()
		}
	}
	return n, err
}

func buildTar(cr *countingReader, o options) (*serial, error) {
	sr := &spanReader{r: cr, span: o.spanSize, blob: sha256.New(), spanHash: sha256.New()}
	toc, tarSize, err := readTOC(sr, func() int64 { return sr.pos })
	if err == nil {
		_, err = io.Copy(io.Discard, sr)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		off := sr.pos
		var te *tarError
		if errors.As(err, &te) {
			off = te.off
			err = te.err
		}
		return nil, &FormatError{CompressedOffset: off, UncompressedOffset: off, Msg: "invalid tar stream", Err: err}
	}
	if sr.pos%sr.span != 0 {
		sr.digests = append(sr.digests, digestOf(sr.spanHash))
	}
	size := sr.pos
	maxSpan := size / o.spanSize
	if size%o.spanSize == 0 {
		maxSpan--
	}
	if maxSpan > 1<<31-1 {
		return nil, fmt.Errorf("ztoc: %d spans do not fit a zTOC", maxSpan+1)
	}
	return &serial{
		version:          Version09,
		tool:             o.tool,
		compressedSize:   size,
		uncompressedSize: tarSize,
		toc:              toc.toc,
		compression:      Uncompressed,
		maxSpanID:        int32(maxSpan),
		digests:          sr.digests,
		zinfo:            tarZinfo(o.spanSize, size),
		warnings:         toc.warnings,
		blobDigest:       digestOf(sr.blob),
	}, nil
}

// tarZinfo serializes the nested TarZinfo flatbuffer as soci does.
func tarZinfo(span, size int64) []byte {
	b := flatbuffers.NewBuilder(0)
	zfbs.TarZinfoStart(b)
	zfbs.TarZinfoAddVersion(b, tarZinfoVersion)
	zfbs.TarZinfoAddSpanSize(b, span)
	zfbs.TarZinfoAddSize(b, size)
	b.Finish(zfbs.TarZinfoEnd(b))
	return b.FinishedBytes()
}
