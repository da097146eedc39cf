package ztoc

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	fbs "github.com/socify/socify/pkg/ztoc/internal/fbs/ztoc"
)

// ErrInvalidTOCEntry is returned by Unmarshal when TOC entries overlap, the
// same condition soci reports with its ErrInvalidTOCEntry.
var ErrInvalidTOCEntry = errors.New("invalid toc entry")

// Marshal serializes z exactly as soci's ztoc.Marshal does: soci's builder
// call sequence, through fbWriter, which lays out bytes as soci's
// flatbuffers builder does, so the same bytes.
func Marshal(z *Ztoc) ([]byte, error) {
	var toc compactTOC
	for i := range z.TOC {
		m := &z.TOC[i]
		addEntry(&toc, typeCode(m.Type), m.Type, m.UncompressedOffset, m.UncompressedSize, m.Mode, m.UID, m.GID,
			m.ModTime.Unix(), int64(m.ModTime.Nanosecond()), m.Devmajor, m.Devminor, m.Name, m.Linkname, m.Uname, m.Gname, m.PAXHeaders)
	}
	return marshal(&serial{
		version: z.Version, tool: z.BuildToolIdentifier, toc: &toc,
		compressedSize: z.CompressedArchiveSize, uncompressedSize: z.UncompressedArchiveSize,
		compression: z.Compression, maxSpanID: z.MaxSpanID, digests: z.SpanDigests, zinfo: z.Checkpoints,
	})
}

// serial is everything a zTOC serializes, in the builder's compact form.
type serial struct {
	version, tool    string
	toc              *compactTOC
	compressedSize   int64
	uncompressedSize int64
	compression      Compression
	maxSpanID        int32
	digests          []string
	ckpts            *checkpointStore // gzip checkpoints, or nil: zinfo holds the blob
	zinfo            []byte

	// Not serialized.
	warnings   []Warning
	blobDigest string
}

func (s *serial) zinfoSize() int {
	if s.ckpts != nil {
		return s.ckpts.size()
	}
	return len(s.zinfo)
}

// marshal serializes s into a buffer sized for the result up front (see
// sizeBound): the builder never grows, so nothing is copied and the result
// is the only allocation of the size of the zTOC.
func marshal(s *serial) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("cannot marshal ztoc: %v", r)
		}
	}()
	var alg fbs.CompressionAlgorithm
	switch s.compression {
	case "":
	case Gzip:
		alg = fbs.CompressionAlgorithmGzip
	case Uncompressed:
		alg = fbs.CompressionAlgorithmUncompressed
	default:
		return nil, fmt.Errorf("compression algorithm not defined in flatbuf: %s", s.compression)
	}
	w := newFBWriter(sizeBound(s))
	w.reserve(fbString(len(s.version)) + fbString(len(s.tool)))
	version := w.str([]byte(s.version))
	tool := w.str([]byte(s.tool))
	toc := tocToFlatbuffer(w, s.toc)
	// The zinfo blob is written in place from its chunks.
	n := s.zinfoSize()
	w.reserve(n + 8)
	w.prep(4, n)
	dst := w.buf[w.head-n : w.head]
	if s.ckpts != nil {
		if err := s.ckpts.copyTo(dst); err != nil {
			return nil, err
		}
	} else {
		copy(dst, s.zinfo)
	}
	w.head -= n
	w.placeU32(uint32(n))
	checkpoints := w.offset()
	digests := make([]uint32, len(s.digests))
	for i, d := range s.digests {
		w.reserve(fbString(len(d)))
		digests[i] = w.str([]byte(d))
	}
	w.reserve(4*len(digests) + 8 + 2*fbTopTables)
	spanDigests := w.offsetVector(digests)

	// The fields of soci's schema, in the order of soci's calls:
	// CompressionInfo{compression_algorithm, max_span_id, span_digests,
	// checkpoints}, Ztoc{version, build_tool_identifier,
	// compressed_archive_size, uncompressed_archive_size, toc,
	// compression_info}.
	w.startTable(4)
	w.fieldU32(1, uint32(s.maxSpanID))
	w.fieldOffset(2, spanDigests)
	w.fieldOffset(3, checkpoints)
	if s.compression != "" {
		w.fieldI8(0, int8(alg), int8(fbs.CompressionAlgorithmGzip))
	}
	info := w.endTable()

	w.startTable(6)
	w.fieldOffset(0, version)
	w.fieldOffset(1, tool)
	w.fieldOffset(4, toc)
	w.fieldI64(2, s.compressedSize)
	w.fieldI64(3, s.uncompressedSize)
	w.fieldOffset(5, info)
	return w.finish(w.endTable()), nil
}

// fbString bounds the bytes CreateString takes for n bytes: length, bytes,
// terminator, alignment.
func fbString(n int) int { return 4 + n + 1 + 3 }

const (
	// fbEntryTable bounds a FileMetadata table without its vtable: the
	// soffset, 7 offsets, 5 int64 and 2 uint32 fields, alignment; plus its
	// slot in the metadata vector.
	fbEntryTable = 4 + 7*4 + 5*8 + 2*4 + 7 + 4
	// fbVtable bounds one vtable (14 fields). The builder shares identical
	// vtables, and a FileMetadata vtable is decided by which of its 7
	// scalar fields are non-zero and by the table's alignment, so there are
	// at most 2^7*2 distinct ones, plus the Xattr and top-level ones.
	fbVtable    = 4 + 2*14 + 2
	fbMaxVtable = 1<<7*2 + 8
	// fbXattr bounds one Xattr table (soffset, two offsets, alignment) and
	// its slot in the entry's vector.
	fbXattr = 4 + 2*4 + 3 + 4
	// fbTopTables bounds one of the TOC, CompressionInfo and Ztoc tables
	// with its vtable, or the root reference.
	fbTopTables = 128
	// modTimeMax is the longest formatModTime result (RFC 3339 with
	// nanoseconds for years 0000-9999).
	modTimeMax = len("2006-01-02T15:04:05.999999999Z")
)

// sizeBound is an upper bound of the serialized size of s, tight enough
// that little of the buffer goes unused.
func sizeBound(s *serial) int {
	n := 1024 + fbString(len(s.version)) + fbString(len(s.tool)) + s.zinfoSize() + 8
	for _, d := range s.digests {
		n += fbString(len(d)) + 4
	}
	n += fbMaxVtable*fbVtable + s.toc.fbBound
	return n
}

func tocToFlatbuffer(w *fbWriter, toc *compactTOC) uint32 {
	offsets := make([]uint32, toc.n)
	var xattrs []uint32
	var mt []byte
	var mtSec, mtNsec int64
	mtValid := false
	blk := make([]tocEntry, markEvery)
	for k := len(toc.marks) - 1; k >= 0; k-- {
		blk = toc.block(k, blk[:markEvery])
		for j := len(blk) - 1; j >= 0; j-- {
			m := &blk[j]
			w.reserve(fbString(len(m.name)) + fbString(len(m.typName)+len("hardlink")) + fbString(len(m.link)) +
				fbString(len(m.uname)) + fbString(len(m.gname)) + fbString(modTimeMax))
			name := w.str(m.name)
			var typ uint32
			if m.typ == typOther {
				typ = w.str(m.typName)
			} else {
				typ = w.str(entryTypeBytes[m.typ])
			}
			link := w.str(m.link)
			uname := w.str(m.uname)
			gname := w.str(m.gname)
			// Layers tend to give all entries one mtime: format it once.
			if !mtValid || m.sec != mtSec || m.nsec != mtNsec {
				mt = appendModTime(mt[:0], m.modTime())
				mtSec, mtNsec, mtValid = m.sec, m.nsec, true
			}
			modTime := w.str(mt)

			xattrs = xattrs[:0]
			if m.npax > 0 {
				m.paxRecords(func(k, v []byte) {
					w.reserve(fbString(len(k)) + fbString(len(v)) + fbXattr + fbVtable)
					ko := w.str(k)
					vo := w.str(v)
					w.startTable(2)
					w.fieldOffset(0, ko)
					w.fieldOffset(1, vo)
					xattrs = append(xattrs, w.endTable())
				})
			}
			w.reserve(4*len(xattrs) + 8 + fbEntryTable + fbVtable)
			xv := w.offsetVector(xattrs)

			// soci's FileMetadata calls, in its order (the slot numbers
			// are the schema's field ids).
			w.startTable(14)
			w.fieldOffset(0, name)
			w.fieldOffset(1, typ)
			w.fieldI64(2, m.off)
			w.fieldI64(3, m.size)
			w.fieldOffset(4, link)
			w.fieldI64(5, m.mode)
			w.fieldU32(6, m.uid)
			w.fieldU32(7, m.gid)
			w.fieldOffset(8, uname)
			w.fieldOffset(9, gname)
			w.fieldOffset(10, modTime)
			w.fieldI64(11, m.devmajor)
			w.fieldI64(12, m.devminor)
			w.fieldOffset(13, xv)
			offsets[k*markEvery+j] = w.endTable()
		}
	}
	w.reserve(4*len(offsets) + 8 + fbTopTables)
	md := w.offsetVector(offsets)
	w.startTable(1)
	w.fieldOffset(0, md)
	return w.endTable()
}

// appendModTime appends t as time.Time.MarshalText does, but always in UTC:
// soci formats in the process's local zone, so its bytes depend on TZ; ours
// equal soci's run with TZ=UTC. A time MarshalText rejects (year outside
// 0..9999) appends nothing, as soci writes "".
func appendModTime(b []byte, t time.Time) []byte {
	out, err := t.UTC().AppendText(b)
	if err != nil {
		return b
	}
	return out
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
	// flatbuffers slices offsets read from the data; a slice of buf reaches up to its
	// capacity, so a malformed zTOC in a larger buffer (a fuzzer's shared memory, a
	// bytes.Buffer) would read whatever lies beyond it instead of failing.
	buf = buf[:len(buf):len(buf)]
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
			if i == 0 {
				// soci's reader starts at 0 too: a negative first offset is an overlap.
				return fmt.Errorf("%w: entry %q at negative offset %d", ErrInvalidTOCEntry, e.Name, e.UncompressedOffset)
			}
			prev := &toc[i-1]
			why := ""
			if prev.Sparse() {
				// The common real cause: soci records a sparse file's logical size over
				// its packed data, so the file seems to run into the next entry.
				why = ": it is a sparse file, whose logical size the zTOC records over its packed data; rewrite the layer without sparse files"
			}
			return fmt.Errorf("%w: entry %q at offset %d overlaps the previous entry %q (data [%d, %d))%s", ErrInvalidTOCEntry, e.Name, e.UncompressedOffset, prev.Name, prev.UncompressedOffset, next, why)
		}
		e.TarHeaderOffset = next
		next = alignToTarBlock(e.UncompressedOffset + e.UncompressedSize)
	}
	return nil
}

func alignToTarBlock(o int64) int64 {
	return (o + 511) &^ 511
}
