package ztoc

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"

	fbs "github.com/socify/socify/pkg/ztoc/internal/fbs/ztoc"
)

// ErrInvalidTOCEntry is returned by Unmarshal when TOC entries overlap, the
// same condition soci reports with its ErrInvalidTOCEntry.
var ErrInvalidTOCEntry = errors.New("invalid toc entry")

// Marshal serializes z exactly as soci's ztoc.Marshal does: the same
// flatbuffers library, the same builder call sequence, so the same bytes.
func Marshal(z *Ztoc) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("cannot marshal ztoc: %v", r)
		}
	}()
	var alg fbs.CompressionAlgorithm
	switch z.Compression {
	case "":
	case Gzip:
		alg = fbs.CompressionAlgorithmGzip
	case Uncompressed:
		alg = fbs.CompressionAlgorithmUncompressed
	default:
		return nil, fmt.Errorf("compression algorithm not defined in flatbuf: %s", z.Compression)
	}
	// Size the buffer up front: the builder otherwise doubles its way up,
	// copying the checkpoints several times.
	b := flatbuffers.NewBuilder(0)
	b.Bytes = make([]byte, estimateSize(z))
	b.Reset()

	version := b.CreateString(z.Version)
	tool := b.CreateString(z.BuildToolIdentifier)
	toc := tocToFlatbuffer(b, z.TOC)
	checkpoints := b.CreateByteVector(z.Checkpoints)
	digests := make([]flatbuffers.UOffsetT, len(z.SpanDigests))
	for i, d := range z.SpanDigests {
		digests[i] = b.CreateString(d)
	}
	fbs.CompressionInfoStartSpanDigestsVector(b, len(digests))
	for i := len(digests) - 1; i >= 0; i-- {
		b.PrependUOffsetT(digests[i])
	}
	spanDigests := b.EndVector(len(digests))

	fbs.CompressionInfoStart(b)
	fbs.CompressionInfoAddMaxSpanId(b, z.MaxSpanID)
	fbs.CompressionInfoAddSpanDigests(b, spanDigests)
	fbs.CompressionInfoAddCheckpoints(b, checkpoints)
	if z.Compression != "" {
		fbs.CompressionInfoAddCompressionAlgorithm(b, alg)
	}
	info := fbs.CompressionInfoEnd(b)

	fbs.ZtocStart(b)
	fbs.ZtocAddVersion(b, version)
	fbs.ZtocAddBuildToolIdentifier(b, tool)
	fbs.ZtocAddToc(b, toc)
	fbs.ZtocAddCompressedArchiveSize(b, z.CompressedArchiveSize)
	fbs.ZtocAddUncompressedArchiveSize(b, z.UncompressedArchiveSize)
	fbs.ZtocAddCompressionInfo(b, info)
	b.Finish(fbs.ZtocEnd(b))
	return b.FinishedBytes(), nil
}

func estimateSize(z *Ztoc) int {
	n := 1024 + len(z.Checkpoints) + 80*len(z.SpanDigests)
	for i := range z.TOC {
		m := &z.TOC[i]
		n += 160 + len(m.Name) + len(m.Linkname) + len(m.Uname) + len(m.Gname)
		for k, v := range m.PAXHeaders {
			n += 24 + len(k) + len(v)
		}
	}
	return n
}

func tocToFlatbuffer(b *flatbuffers.Builder, toc []FileMetadata) flatbuffers.UOffsetT {
	offsets := make([]flatbuffers.UOffsetT, len(toc))
	var keys []string
	var xattrs []flatbuffers.UOffsetT
	for i := len(toc) - 1; i >= 0; i-- {
		m := &toc[i]
		name := b.CreateString(m.Name)
		typ := b.CreateString(m.Type)
		link := b.CreateString(m.Linkname)
		uname := b.CreateString(m.Uname)
		gname := b.CreateString(m.Gname)
		modTime := b.CreateString(formatModTime(m.ModTime))

		keys = keys[:0]
		for k := range m.PAXHeaders {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		xattrs = xattrs[:0]
		for _, k := range keys {
			ko := b.CreateString(k)
			vo := b.CreateString(m.PAXHeaders[k])
			fbs.XattrStart(b)
			fbs.XattrAddKey(b, ko)
			fbs.XattrAddValue(b, vo)
			xattrs = append(xattrs, fbs.XattrEnd(b))
		}
		fbs.FileMetadataStartXattrsVector(b, len(xattrs))
		for j := len(xattrs) - 1; j >= 0; j-- {
			b.PrependUOffsetT(xattrs[j])
		}
		xv := b.EndVector(len(xattrs))

		fbs.FileMetadataStart(b)
		fbs.FileMetadataAddName(b, name)
		fbs.FileMetadataAddType(b, typ)
		fbs.FileMetadataAddUncompressedOffset(b, m.UncompressedOffset)
		fbs.FileMetadataAddUncompressedSize(b, m.UncompressedSize)
		fbs.FileMetadataAddLinkname(b, link)
		fbs.FileMetadataAddMode(b, m.Mode)
		fbs.FileMetadataAddUid(b, m.UID)
		fbs.FileMetadataAddGid(b, m.GID)
		fbs.FileMetadataAddUname(b, uname)
		fbs.FileMetadataAddGname(b, gname)
		fbs.FileMetadataAddModTime(b, modTime)
		fbs.FileMetadataAddDevmajor(b, m.Devmajor)
		fbs.FileMetadataAddDevminor(b, m.Devminor)
		fbs.FileMetadataAddXattrs(b, xv)
		offsets[i] = fbs.FileMetadataEnd(b)
	}
	fbs.TOCStartMetadataVector(b, len(toc))
	for i := len(offsets) - 1; i >= 0; i-- {
		b.PrependUOffsetT(offsets[i])
	}
	md := b.EndVector(len(toc))
	fbs.TOCStart(b)
	fbs.TOCAddMetadata(b, md)
	return fbs.TOCEnd(b)
}

// formatModTime writes t as time.Time.MarshalText does, but always in UTC:
// soci formats in the process's local zone, so its bytes depend on TZ; ours
// equal soci's run with TZ=UTC. A time MarshalText rejects (year outside
// 0..9999) becomes "", as in soci.
func formatModTime(t time.Time) string {
	b, err := t.UTC().MarshalText()
	if err != nil {
		return ""
	}
	return string(b)
}

// Unmarshal decodes a serialized zTOC. Malformed input gives an error, never
// a panic. Like soci, it sorts the TOC by data offset, recomputes
// TarHeaderOffset and rejects overlapping entries with ErrInvalidTOCEntry.
func Unmarshal(buf []byte) (z *Ztoc, err error) {
	defer func() {
		if r := recover(); r != nil {
			z, err = nil, fmt.Errorf("cannot unmarshal ztoc: malformed flatbuffer: %v", r)
		}
	}()
	if len(buf) < 8 {
		return nil, fmt.Errorf("cannot unmarshal ztoc: %d bytes is too short", len(buf))
	}
	root := fbs.GetRootAsZtoc(buf, 0)
	z = &Ztoc{
		Version:                 string(root.Version()),
		BuildToolIdentifier:     string(root.BuildToolIdentifier()),
		CompressedArchiveSize:   root.CompressedArchiveSize(),
		UncompressedArchiveSize: root.UncompressedArchiveSize(),
	}
	var toc fbs.TOC
	if root.Toc(&toc) != nil {
		n := toc.MetadataLength()
		if n < 0 || n > len(buf)/4 {
			return nil, fmt.Errorf("cannot unmarshal ztoc: TOC claims %d entries in %d bytes", n, len(buf))
		}
		z.TOC = make([]FileMetadata, n)
		var fm fbs.FileMetadata
		var xa fbs.Xattr
		for i := 0; i < n; i++ {
			if !toc.Metadata(&fm, i) {
				return nil, fmt.Errorf("cannot unmarshal ztoc: TOC entry %d missing", i)
			}
			m := &z.TOC[i]
			m.Name = string(fm.Name())
			m.Type = string(fm.Type())
			m.UncompressedOffset = fm.UncompressedOffset()
			m.UncompressedSize = fm.UncompressedSize()
			m.Linkname = string(fm.Linkname())
			m.Mode = fm.Mode()
			m.UID = fm.Uid()
			m.GID = fm.Gid()
			m.Uname = string(fm.Uname())
			m.Gname = string(fm.Gname())
			_ = m.ModTime.UnmarshalText(fm.ModTime()) // soci ignores the error too
			m.Devmajor = fm.Devmajor()
			m.Devminor = fm.Devminor()
			nx := fm.XattrsLength()
			if nx < 0 || nx > len(buf)/4 {
				return nil, fmt.Errorf("cannot unmarshal ztoc: entry %d claims %d PAX records", i, nx)
			}
			m.PAXHeaders = make(map[string]string, nx)
			for j := 0; j < nx; j++ {
				if fm.Xattrs(&xa, j) {
					m.PAXHeaders[string(xa.Key())] = string(xa.Value())
				}
			}
		}
	}
	var info fbs.CompressionInfo
	if root.CompressionInfo(&info) != nil {
		z.MaxSpanID = info.MaxSpanId()
		n := info.SpanDigestsLength()
		if n < 0 || n > len(buf)/4 {
			return nil, fmt.Errorf("cannot unmarshal ztoc: %d span digests in %d bytes", n, len(buf))
		}
		z.SpanDigests = make([]string, n)
		for i := range z.SpanDigests {
			z.SpanDigests[i] = string(info.SpanDigests(i))
		}
		z.Checkpoints = append([]byte(nil), info.CheckpointsBytes()...)
		z.Compression = Compression(strings.ToLower(info.CompressionAlgorithm().String()))
	} else {
		z.Compression = Gzip
	}
	if err := sortTOC(z.TOC); err != nil {
		return nil, err
	}
	return z, nil
}

// sortTOC orders entries by data offset and recomputes TarHeaderOffset, the
// way soci's reader does, failing on overlap.
func sortTOC(toc []FileMetadata) error {
	sort.SliceStable(toc, func(i, j int) bool { return toc[i].UncompressedOffset < toc[j].UncompressedOffset })
	var next int64
	for i := range toc {
		e := &toc[i]
		if next > e.UncompressedOffset {
			return fmt.Errorf("%w: entry %q at offset %d overlaps the previous entry (ends at %d)", ErrInvalidTOCEntry, e.Name, e.UncompressedOffset, next)
		}
		e.TarHeaderOffset = next
		next = alignToTarBlock(e.UncompressedOffset + e.UncompressedSize)
	}
	return nil
}

func alignToTarBlock(o int64) int64 {
	return (o + 511) &^ 511
}
