package ztoc

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socify/socify/pkg/ztoc/internal/inflate"
)

// tocOutcome is everything readTOC decides about a stream.
type tocOutcome struct {
	toc      []FileMetadata
	warnings []Warning
	size     int64
	err      string
	errOff   int64
}

func outcome(res tocResult, size int64, err error) tocOutcome {
	o := tocOutcome{toc: res.toc.fileMetadata(), warnings: res.warnings, size: size}
	if err != nil {
		o.err = err.Error()
		var te *tarError
		if errorsAs(err, &te) {
			o.errOff = te.off
		}
	}
	return o
}

func errorsAs(err error, te **tarError) bool {
	t, ok := err.(*tarError)
	if ok {
		*te = t
	}
	return ok
}

// gzipWriters saves allocating a compressor per case.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

type readOnly struct{ r io.Reader }

func (r readOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

// readBoth runs readTOC with and without the fast path, on the tar as a
// plain stream (as for uncompressed layers) and gzipped through the
// decoder (which seeks), and requires the same outcome.
func readBoth(t *testing.T, name string, data []byte) {
	t.Helper()
	plain := func(fast bool) tocOutcome {
		cr := &countingReader{ctx: context.Background(), r: bytes.NewReader(data)}
		sr := readOnly{cr}
		res, size, err := readTOCWith(sr, func() int64 { return cr.n }, fast)
		return outcome(res, size, err)
	}
	var gz bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&gz)
	zw.Write(data)
	zw.Close()
	viaGzip := func(fast bool) tocOutcome {
		dec := inflate.NewDecoder(bytes.NewReader(gz.Bytes()), inflate.Options{})
		res, size, err := readTOCWith(dec, dec.Pos, fast)
		return outcome(res, size, err)
	}
	for _, mode := range []struct {
		name string
		f    func(bool) tocOutcome
	}{{"plain", plain}, {"gzip", viaGzip}} {
		want, got := mode.f(false), mode.f(true)
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%s (%s, %d bytes): fast header parser differs from archive/tar:\n fast: %d entries, size %d, err %q at %d, warnings %v\n tar:  %d entries, size %d, err %q at %d, warnings %v%s",
				name, mode.name, len(data), len(got.toc), got.size, got.err, got.errOff, got.warnings,
				len(want.toc), want.size, want.err, want.errOff, want.warnings, firstDiff(want.toc, got.toc))
		}
	}
}

func firstDiff(a, b []FileMetadata) string {
	for i := range min(len(a), len(b)) {
		if !reflect.DeepEqual(a[i], b[i]) {
			return fmt.Sprintf("\n entry %d: tar %+v\n         fast %+v", i, a[i], b[i])
		}
	}
	return ""
}

// tarCorpus writes archives in every format archive/tar writes, with the
// features the fast path must leave to archive/tar mixed in.
func tarCorpus(t testing.TB) map[string][]byte {
	mt := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	long := strings.Repeat("d/", 70) + "file"
	hdrs := []*tar.Header{
		{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt},
		{Name: "dir/a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5, ModTime: mt, Uname: "root", Gname: "root"},
		{Name: "dir/empty", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mt, Uid: 1000, Gid: 1000, Uname: "u", Gname: "g"},
		{Name: "dir/block", Typeflag: tar.TypeReg, Mode: 0o600, Size: 512, ModTime: mt},
		{Name: "dir/link", Typeflag: tar.TypeSymlink, Linkname: "a", ModTime: mt},
		{Name: "dir/hard", Typeflag: tar.TypeLink, Linkname: "dir/a", ModTime: mt},
		{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666, ModTime: mt},
		{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8, Mode: 0o660, ModTime: mt},
		{Name: "fifo", Typeflag: tar.TypeFifo, Mode: 0o644, ModTime: mt},
		{Name: long, Typeflag: tar.TypeReg, Mode: 0o644, Size: 700, ModTime: mt},
		{Name: "big-ids", Typeflag: tar.TypeReg, Uid: 1 << 22, Gid: 1 << 23, Size: 3, ModTime: mt},
		{Name: "d/.wh..wh..opq", Typeflag: tar.TypeReg, ModTime: mt},
	}
	pax := []*tar.Header{
		{Name: "pax/xattr", Typeflag: tar.TypeReg, Size: 10, ModTime: mt.Add(123456789), PAXRecords: map[string]string{"SCHILY.xattr.user.a": "1", "SCHILY.xattr.user.empty": ""}, Format: tar.FormatPAX},
		{Name: "pax/" + strings.Repeat("ü", 120), Typeflag: tar.TypeReg, Size: 1, ModTime: mt, Format: tar.FormatPAX},
		{Name: "pax/mtime", Typeflag: tar.TypeReg, Size: 2, ModTime: mt.Add(5e8), Format: tar.FormatPAX},
	}
	gnu := []*tar.Header{
		{Name: "gnu/" + strings.Repeat("x", 150), Typeflag: tar.TypeReg, Size: 4, ModTime: mt, Format: tar.FormatGNU},
		{Name: "gnu/link", Typeflag: tar.TypeSymlink, Linkname: strings.Repeat("y", 120), ModTime: mt, Format: tar.FormatGNU},
		{Name: "gnu/huge-uid", Typeflag: tar.TypeReg, Uid: 1 << 30, Size: 1, ModTime: mt, Format: tar.FormatGNU},
		{Name: "gnu/atime", Typeflag: tar.TypeReg, Size: 1, ModTime: mt, AccessTime: mt, ChangeTime: mt, Format: tar.FormatGNU},
		{Name: "gnu/old", Typeflag: tar.TypeReg, Size: 1, ModTime: time.Unix(-1<<40, 0), Format: tar.FormatGNU},
	}
	write := func(format tar.Format, hs ...[]*tar.Header) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		rng := rand.New(rand.NewSource(int64(len(hs))))
		for _, list := range hs {
			for _, h := range list {
				h := *h
				if format != tar.FormatUnknown && h.Format == tar.FormatUnknown {
					h.Format = format
				}
				if err := tw.WriteHeader(&h); err != nil {
					t.Fatalf("%s: %v", h.Name, err)
				}
				if h.Typeflag == tar.TypeReg {
					data := make([]byte, h.Size)
					rng.Read(data)
					tw.Write(data)
				}
			}
		}
		tw.Close()
		return buf.Bytes()
	}
	c := map[string][]byte{
		"ustar":   write(tar.FormatUnknown, hdrs[:9], hdrs[10:]),
		"mixed":   write(tar.FormatUnknown, hdrs, pax, gnu),
		"gnu":     write(tar.FormatGNU, hdrs, gnu),
		"pax":     write(tar.FormatPAX, hdrs, pax),
		"pax-gnu": write(tar.FormatUnknown, pax, gnu, hdrs),
		"empty":   write(tar.FormatUnknown),
	}
	// Old-style headers archive/tar reads but the fast path leaves alone.
	v7 := bytes.Clone(c["ustar"])
	copy(v7[257:265], make([]byte, 8)) // no magic: V7
	fixChecksum(v7[:512])
	c["v7-first"] = v7
	rega := bytes.Clone(c["ustar"])
	rega[156] = 0 // TypeRegA on a name with a trailing slash: a directory
	fixChecksum(rega[:512])
	c["rega"] = rega
	return c
}

func fixChecksum(b []byte) {
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b[:512] {
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// TestFastHeaderParserMatchesArchiveTar: on every archive of the corpus,
// each truncation and many single-byte corruptions of the headers, the
// fast path gives exactly archive/tar's TOC, size, error and offset.
func TestFastHeaderParserMatchesArchiveTar(t *testing.T) {
	if !fastTarOK() {
		t.Fatal("archive/tar rejects non-local names here (GODEBUG tarinsecurepath=0?): the fast path would be off")
	}
	rng := rand.New(rand.NewSource(3))
	interesting := []byte{0, ' ', '0', '7', '8', 0x80, 0xff, 'x', '\n', '/'}
	for name, data := range tarCorpus(t) {
		readBoth(t, name, data)
		for cut := 0; cut < len(data); cut += 1 + cut%211 {
			readBoth(t, fmt.Sprintf("%s cut at %d", name, cut), data[:cut])
		}
		for i := 0; i < 150; i++ {
			bad := bytes.Clone(data)
			hdr := 512 * rng.Intn(max(1, len(data)/512))
			off := hdr + rng.Intn(512)
			if off >= len(bad) {
				continue
			}
			bad[off] = interesting[rng.Intn(len(interesting))]
			if rng.Intn(2) == 0 && hdr+512 <= len(bad) {
				fixChecksum(bad[hdr : hdr+512])
			}
			readBoth(t, fmt.Sprintf("%s byte %d = %#x", name, off, bad[off]), bad)
		}
	}
}

// FuzzFastHeaderParser: whatever the bytes, the fast path agrees with
// archive/tar (outcome, offsets, errors).
func FuzzFastHeaderParser(f *testing.F) {
	for _, data := range tarCorpus(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		readBoth(t, "fuzz", data)
	})
}

func TestHeaderChecksums(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for i := 0; i < 2000; i++ {
		var b [tarBlock]byte
		switch i % 3 {
		case 0:
			rng.Read(b[:])
		case 1:
			for j := range b {
				b[j] = byte(rng.Intn(2)) * 0xff
			}
		}
		var u, s int64
		for j, c := range b {
			if j >= 148 && j < 156 {
				c = ' '
			}
			u += int64(c)
			s += int64(int8(c))
		}
		if gu, gs := headerChecksums(&b); gu != u || gs != s {
			t.Fatalf("block %d: checksums %d/%d, want %d/%d", i, gu, gs, u, s)
		}
	}
}
