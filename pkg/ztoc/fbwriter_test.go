package ztoc

// The reference for fbWriter: soci's serialization, the same calls on the
// flatbuffers Go builder soci uses (this was marshal until fbWriter
// replaced it for speed).

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"

	fbs "github.com/socify/socify/pkg/ztoc/internal/fbs/ztoc"
)

func builderMarshal(s *serial) (out []byte, err error) {
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
	b := flatbuffers.NewBuilder(0)
	b.Bytes = make([]byte, sizeBound(s))
	b.Reset()

	version := b.CreateString(s.version)
	tool := b.CreateString(s.tool)
	toc := builderTOC(b, s.toc)
	// CreateByteVector of the zinfo blob, written in place from its chunks:
	// after the same Prep, CreateByteVector copies the region onto itself.
	n := s.zinfoSize()
	b.Prep(flatbuffers.SizeUOffsetT, n)
	dst := b.Bytes[int(b.Head())-n : b.Head()]
	if s.ckpts != nil {
		if err := s.ckpts.copyTo(dst); err != nil {
			return nil, err
		}
	} else {
		copy(dst, s.zinfo)
	}
	checkpoints := b.CreateByteVector(dst)
	digests := make([]flatbuffers.UOffsetT, len(s.digests))
	for i, d := range s.digests {
		digests[i] = b.CreateString(d)
	}
	fbs.CompressionInfoStartSpanDigestsVector(b, len(digests))
	for i := len(digests) - 1; i >= 0; i-- {
		b.PrependUOffsetT(digests[i])
	}
	spanDigests := b.EndVector(len(digests))

	fbs.CompressionInfoStart(b)
	fbs.CompressionInfoAddMaxSpanId(b, s.maxSpanID)
	fbs.CompressionInfoAddSpanDigests(b, spanDigests)
	fbs.CompressionInfoAddCheckpoints(b, checkpoints)
	if s.compression != "" {
		fbs.CompressionInfoAddCompressionAlgorithm(b, alg)
	}
	info := fbs.CompressionInfoEnd(b)

	fbs.ZtocStart(b)
	fbs.ZtocAddVersion(b, version)
	fbs.ZtocAddBuildToolIdentifier(b, tool)
	fbs.ZtocAddToc(b, toc)
	fbs.ZtocAddCompressedArchiveSize(b, s.compressedSize)
	fbs.ZtocAddUncompressedArchiveSize(b, s.uncompressedSize)
	fbs.ZtocAddCompressionInfo(b, info)
	b.Finish(fbs.ZtocEnd(b))
	return b.FinishedBytes(), nil
}

func builderTOC(b *flatbuffers.Builder, toc *compactTOC) flatbuffers.UOffsetT {
	offsets := make([]flatbuffers.UOffsetT, toc.n)
	var xattrs []flatbuffers.UOffsetT
	var mt []byte
	var mtSec, mtNsec int64
	mtValid := false
	blk := make([]tocEntry, markEvery)
	for k := len(toc.marks) - 1; k >= 0; k-- {
		blk = toc.block(k, blk[:markEvery])
		for j := len(blk) - 1; j >= 0; j-- {
			m := &blk[j]
			i := k*markEvery + j
			name := b.CreateByteString(m.name)
			var typ flatbuffers.UOffsetT
			if m.typ == typOther {
				typ = b.CreateByteString(m.typName)
			} else {
				typ = b.CreateString(entryTypeNames[m.typ])
			}
			link := b.CreateByteString(m.link)
			uname := b.CreateByteString(m.uname)
			gname := b.CreateByteString(m.gname)
			// Layers tend to give all entries one mtime: format it once.
			if !mtValid || m.sec != mtSec || m.nsec != mtNsec {
				mt = appendModTime(mt[:0], m.modTime())
				mtSec, mtNsec, mtValid = m.sec, m.nsec, true
			}
			modTime := b.CreateByteString(mt)

			xattrs = xattrs[:0]
			if m.npax > 0 {
				m.paxRecords(func(k, v []byte) {
					ko := b.CreateByteString(k)
					vo := b.CreateByteString(v)
					fbs.XattrStart(b)
					fbs.XattrAddKey(b, ko)
					fbs.XattrAddValue(b, vo)
					xattrs = append(xattrs, fbs.XattrEnd(b))
				})
			}
			fbs.FileMetadataStartXattrsVector(b, len(xattrs))
			for j := len(xattrs) - 1; j >= 0; j-- {
				b.PrependUOffsetT(xattrs[j])
			}
			xv := b.EndVector(len(xattrs))

			fbs.FileMetadataStart(b)
			fbs.FileMetadataAddName(b, name)
			fbs.FileMetadataAddType(b, typ)
			fbs.FileMetadataAddUncompressedOffset(b, m.off)
			fbs.FileMetadataAddUncompressedSize(b, m.size)
			fbs.FileMetadataAddLinkname(b, link)
			fbs.FileMetadataAddMode(b, m.mode)
			fbs.FileMetadataAddUid(b, m.uid)
			fbs.FileMetadataAddGid(b, m.gid)
			fbs.FileMetadataAddUname(b, uname)
			fbs.FileMetadataAddGname(b, gname)
			fbs.FileMetadataAddModTime(b, modTime)
			fbs.FileMetadataAddDevmajor(b, m.devmajor)
			fbs.FileMetadataAddDevminor(b, m.devminor)
			fbs.FileMetadataAddXattrs(b, xv)
			offsets[i] = fbs.FileMetadataEnd(b)
		}
	}
	fbs.TOCStartMetadataVector(b, toc.n)
	for i := len(offsets) - 1; i >= 0; i-- {
		b.PrependUOffsetT(offsets[i])
	}
	md := b.EndVector(toc.n)
	fbs.TOCStart(b)
	fbs.TOCAddMetadata(b, md)
	return fbs.TOCEnd(b)
}

func serialOf(z *Ztoc) *serial {
	var toc compactTOC
	for i := range z.TOC {
		m := &z.TOC[i]
		addEntry(&toc, typeCode(m.Type), m.Type, m.UncompressedOffset, m.UncompressedSize, m.Mode, m.UID, m.GID,
			m.ModTime.Unix(), int64(m.ModTime.Nanosecond()), m.Devmajor, m.Devminor, m.Name, m.Linkname, m.Uname, m.Gname, m.PAXHeaders)
	}
	return &serial{version: z.Version, tool: z.BuildToolIdentifier, toc: &toc,
		compressedSize: z.CompressedArchiveSize, uncompressedSize: z.UncompressedArchiveSize,
		compression: z.Compression, maxSpanID: z.MaxSpanID, digests: z.SpanDigests, zinfo: z.Checkpoints}
}

// TestMarshalMatchesBuilder: fbWriter gives the builder's bytes for random
// zTOCs: every entry type and an unknown one, zero and non-zero scalars (so
// tables with different vtables, shared or not), PAX records, every
// compression value, empty and long TOCs.
func TestMarshalMatchesBuilder(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	rs := func(n int) string {
		b := make([]byte, rng.Intn(n+1))
		for i := range b {
			b[i] = byte('a' + rng.Intn(26))
		}
		return string(b)
	}
	types := []string{"reg", "dir", "symlink", "hardlink", "char", "block", "fifo", "weird", ""}
	comps := []Compression{Gzip, Uncompressed, ""}
	for iter := 0; iter < 400; iter++ {
		z := &Ztoc{Version: rs(6), BuildToolIdentifier: rs(20), CompressedArchiveSize: rng.Int63n(3) * rng.Int63(),
			UncompressedArchiveSize: rng.Int63n(2) * rng.Int63n(1<<40), Compression: comps[rng.Intn(3)], MaxSpanID: int32(rng.Intn(3) - 1)}
		for i := rng.Intn(4); i > 0; i-- {
			z.SpanDigests = append(z.SpanDigests, rs(71))
		}
		z.Checkpoints = make([]byte, rng.Intn(50))
		rng.Read(z.Checkpoints)
		n := rng.Intn(200)
		if iter%100 == 0 {
			n = 3000
		}
		var off int64
		for i := 0; i < n; i++ {
			m := FileMetadata{Name: rs(40), Type: types[rng.Intn(len(types))], Linkname: rs(3), Uname: rs(5), Gname: rs(5)}
			if rng.Intn(2) == 0 {
				m.UncompressedOffset = off
				m.UncompressedSize = rng.Int63n(3000)
				off += alignToTarBlock(m.UncompressedSize) + 512
			}
			if rng.Intn(3) > 0 {
				m.Mode = rng.Int63n(1 << 16)
			}
			if rng.Intn(2) == 0 {
				m.UID = uint32(rng.Intn(3) * rng.Intn(70000))
			}
			if rng.Intn(2) == 0 {
				m.GID = uint32(rng.Intn(70000))
			}
			m.ModTime = time.Unix(rng.Int63n(3)*rng.Int63n(2e9), rng.Int63n(2)*rng.Int63n(1e9))
			if rng.Intn(10) == 0 {
				m.Devmajor, m.Devminor = rng.Int63n(300), rng.Int63n(300)
			}
			if rng.Intn(8) == 0 {
				m.PAXHeaders = map[string]string{}
				for k := rng.Intn(4); k >= 0; k-- {
					m.PAXHeaders[rs(10)] = rs(rng.Intn(30))
				}
			}
			z.TOC = append(z.TOC, m)
		}
		want, err1 := builderMarshal(serialOf(z))
		got, err2 := marshal(serialOf(z))
		if fmt.Sprint(err1) != fmt.Sprint(err2) || !bytes.Equal(got, want) {
			t.Fatalf("iter %d: %d entries: got %d bytes (%v), want %d (%v)", iter, n, len(got), err2, len(want), err1)
		}
	}
}

// TestFBWriterGrows: from an empty buffer (every reserve grows it) the
// writer still gives the builder's bytes.
func TestFBWriterGrows(t *testing.T) {
	w := newFBWriter(0)
	b := flatbuffers.NewBuilder(0)
	var offs []uint32
	var boffs []flatbuffers.UOffsetT
	for i := 0; i < 300; i++ {
		s := bytes.Repeat([]byte{byte('a' + i%26)}, i%37)
		w.reserve(fbString(len(s)) + fbXattr + fbVtable)
		ws := w.str(s)
		w.startTable(2)
		w.fieldOffset(0, ws)
		w.fieldI64(1, int64(i%3))
		offs = append(offs, w.endTable())
		bs := b.CreateByteString(s)
		b.StartObject(2)
		b.PrependUOffsetTSlot(0, bs, 0)
		b.PrependInt64Slot(1, int64(i%3), 0)
		boffs = append(boffs, b.EndObject())
	}
	w.reserve(4*len(offs) + 8 + fbTopTables)
	got := w.finish(w.offsetVector(offs))
	b.StartVector(4, len(boffs), 4)
	for i := len(boffs) - 1; i >= 0; i-- {
		b.PrependUOffsetT(boffs[i])
	}
	b.Finish(b.EndVector(len(boffs)))
	if want := b.FinishedBytes(); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
}
