package ztoc_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socify/socify/pkg/ztoc"
)

// goldenWriteZtoc is the zTOC of soci's ztoc_test.go TestWriteZtoc (spec
// §1.6): two zero-valued entries, 64 KiB of zero checkpoints, no digests.
func goldenWriteZtoc() *ztoc.Ztoc {
	return &ztoc.Ztoc{
		Version:                 ztoc.Version09,
		BuildToolIdentifier:     "AWS SOCI CLI",
		CompressedArchiveSize:   2000000,
		UncompressedArchiveSize: 2500000,
		TOC:                     []ztoc.FileMetadata{{}, {}},
		MaxSpanID:               3,
		Checkpoints:             make([]byte, 65536),
	}
}

const (
	goldenWriteZtocDigest = "sha256:eba28fdf50b1b57543f57dd051b2468c1d4f57b64d2006c75aa4de1d03e6c7ec"
	goldenWriteZtocSize   = 65928
)

func TestMarshalGoldenTestWriteZtoc(t *testing.T) {
	got, err := ztoc.Marshal(goldenWriteZtoc())
	if err != nil {
		t.Fatal(err)
	}
	if d := sha256Digest(got); d != goldenWriteZtocDigest || len(got) != goldenWriteZtocSize {
		t.Fatalf("Marshal = %s (%d bytes), want %s (%d bytes)", d, len(got), goldenWriteZtocDigest, goldenWriteZtocSize)
	}
	// A zero ModTime is written as time.Time{}.MarshalText gives it.
	if !bytes.Contains(got, []byte("0001-01-01T00:00:00Z\x00")) {
		t.Error(`zero mod_time is not written as "0001-01-01T00:00:00Z"`)
	}

	z, err := ztoc.Unmarshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if z.Version != "0.9" || z.BuildToolIdentifier != "AWS SOCI CLI" || z.CompressedArchiveSize != 2000000 ||
		z.UncompressedArchiveSize != 2500000 || z.MaxSpanID != 3 || len(z.SpanDigests) != 0 ||
		len(z.Checkpoints) != 65536 || len(z.TOC) != 2 {
		t.Errorf("Unmarshal = %+v", z)
	}
	// The absent compression field is the schema default, gzip.
	if z.Compression != ztoc.Gzip {
		t.Errorf("Compression = %q, want gzip", z.Compression)
	}
	for i, m := range z.TOC {
		if !m.ModTime.IsZero() || m.PAXHeaders == nil || len(m.PAXHeaders) != 0 || m.Name != "" || m.UncompressedOffset != 0 {
			t.Errorf("entry %d = %+v", i, m)
		}
	}
	again, err := ztoc.Marshal(z)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, got) {
		t.Errorf("Unmarshal+Marshal changed the golden bytes\n%s", ztoc.Diff(got, again))
	}
}

// Compression "gzip" equals the schema default and is not written, so it
// serializes like ""; "uncompressed" is written.
func TestMarshalCompressionField(t *testing.T) {
	z := goldenWriteZtoc()
	z.Compression = ztoc.Gzip
	gz, err := ztoc.Marshal(z)
	if err != nil {
		t.Fatal(err)
	}
	if d := sha256Digest(gz); d != goldenWriteZtocDigest {
		t.Errorf("gzip: %s, want the golden %s", d, goldenWriteZtocDigest)
	}
	z.Compression = ztoc.Uncompressed
	unc, err := ztoc.Marshal(z)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(unc, gz) {
		t.Fatal("uncompressed serializes like gzip")
	}
	back, err := ztoc.Unmarshal(unc)
	if err != nil {
		t.Fatal(err)
	}
	if back.Compression != ztoc.Uncompressed {
		t.Errorf("Compression = %q", back.Compression)
	}
	z.Compression = "zstd"
	if _, err := ztoc.Marshal(z); err == nil {
		t.Error("Marshal accepted compression zstd, which the schema cannot express")
	}
}

// mod_time is always written in UTC: the bytes do not depend on the zone of
// the time value nor on the process's TZ.
func TestMarshalModTimeUTC(t *testing.T) {
	instant := time.Date(2023, 11, 14, 22, 13, 20, 123456789, time.UTC)
	mk := func(mt time.Time) []byte {
		z := goldenWriteZtoc()
		z.TOC = []ztoc.FileMetadata{{Name: "f", Type: "reg", ModTime: mt, PAXHeaders: map[string]string{}}}
		b, err := ztoc.Marshal(z)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	utc := mk(instant)
	if !bytes.Contains(utc, []byte("2023-11-14T22:13:20.123456789Z\x00")) {
		t.Fatal("mod_time not written as RFC 3339 UTC with nanoseconds")
	}
	for _, loc := range []*time.Location{time.FixedZone("PST", -8*3600), time.FixedZone("IST", 5*3600+1800), time.Local} {
		if got := mk(instant.In(loc)); !bytes.Equal(got, utc) {
			t.Errorf("zone %v changes the bytes", loc)
		}
	}
	// time.MarshalText fails outside years 0-9999: soci writes "" and so must we.
	far := mk(time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC))
	z, err := ztoc.Unmarshal(far)
	if err != nil {
		t.Fatal(err)
	}
	if !z.TOC[0].ModTime.IsZero() || bytes.Contains(far, []byte("12000")) {
		t.Errorf("year 12000 mod_time: decoded %v", z.TOC[0].ModTime)
	}
}

// PAX records are written sorted by key whatever the map order, so
// Marshal is deterministic.
func TestMarshalDeterministic(t *testing.T) {
	z := goldenWriteZtoc()
	pax := map[string]string{}
	for i := 0; i < 50; i++ {
		pax[fmt.Sprintf("SCHILY.xattr.user.k%02d", 49-i)] = strings.Repeat("v", i)
	}
	z.TOC = []ztoc.FileMetadata{{Name: "a", Type: "reg", UncompressedOffset: 512, UncompressedSize: 10, PAXHeaders: pax},
		{Name: "b", Type: "reg", UncompressedOffset: 1536, PAXHeaders: pax}}
	first, err := ztoc.Marshal(z)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		got, err := ztoc.Marshal(z)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, first) {
			t.Fatal("Marshal output changes between calls")
		}
	}
	back, err := ztoc.Unmarshal(first)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.TOC[0].PAXHeaders) != 50 || back.TOC[0].PAXHeaders["SCHILY.xattr.user.k00"] != strings.Repeat("v", 49) {
		t.Errorf("PAX records: %v", back.TOC[0].PAXHeaders)
	}
}

// Unmarshal, like soci, sorts entries by data offset, recomputes
// TarHeaderOffset and rejects overlapping entries.
func TestUnmarshalTOCOrderAndOverlap(t *testing.T) {
	z := goldenWriteZtoc()
	z.TOC = []ztoc.FileMetadata{
		{Name: "second", Type: "reg", UncompressedOffset: 2048, UncompressedSize: 100},
		{Name: "first", Type: "reg", UncompressedOffset: 512, UncompressedSize: 1000},
	}
	b, err := ztoc.Marshal(z)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ztoc.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.TOC[0].Name != "first" || got.TOC[1].Name != "second" {
		t.Fatalf("order %q, %q", got.TOC[0].Name, got.TOC[1].Name)
	}
	if got.TOC[0].TarHeaderOffset != 0 || got.TOC[1].TarHeaderOffset != 1536 {
		t.Errorf("TarHeaderOffset = %d, %d; want 0, 1536", got.TOC[0].TarHeaderOffset, got.TOC[1].TarHeaderOffset)
	}

	z.TOC[1].UncompressedSize = 1537 // ends after the second entry's header
	b, err = ztoc.Marshal(z)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ztoc.Unmarshal(b)
	if !errors.Is(err, ztoc.ErrInvalidTOCEntry) || !strings.Contains(err.Error(), `"second"`) || !strings.Contains(err.Error(), `previous entry "first"`) || strings.Contains(err.Error(), "sparse") {
		t.Errorf("overlapping entries: err = %v, want ErrInvalidTOCEntry naming both entries", err)
	}

	// A negative offset sorts first and overlaps the start, as soci's reader sees it.
	z.TOC[1].UncompressedSize = 700
	z.TOC[0].UncompressedOffset = -512
	if b, err = ztoc.Marshal(z); err != nil {
		t.Fatal(err)
	}
	if _, err := ztoc.Unmarshal(b); !errors.Is(err, ztoc.ErrInvalidTOCEntry) || !strings.Contains(err.Error(), "negative offset -512") {
		t.Errorf("negative offset: err = %v, want ErrInvalidTOCEntry", err)
	}
}

// unmarshalNoPanic calls Unmarshal and turns a panic into a test failure
// (Unmarshal must recover from malformed flatbuffers itself).
func unmarshalNoPanic(t *testing.T, b []byte) (z *ztoc.Ztoc, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Unmarshal panicked on %d bytes: %v", len(b), r)
		}
	}()
	return ztoc.Unmarshal(b)
}

func TestUnmarshalGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {}, {0}, {1, 2, 3}, make([]byte, 7), make([]byte, 8), bytes.Repeat([]byte{0xff}, 64),
		[]byte("not a flatbuffer at all, just text"), {4, 0, 0, 0, 0, 0, 0, 0}, {0xf0, 0xff, 0xff, 0x7f, 0, 0, 0, 0}} {
		if z, err := unmarshalNoPanic(t, b); err == nil && len(b) < 8 {
			t.Errorf("Unmarshal(%x) = %+v, want an error", b, z)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, r.IntN(600))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		unmarshalNoPanic(t, b)
	}
}

// Every prefix of a valid zTOC, and every single-byte corruption of a small
// one, is rejected or decoded, never a panic.
func TestUnmarshalTruncatedAndCorrupt(t *testing.T) {
	valid := smallZtoc(t)
	for n := 0; n < len(valid); n++ {
		unmarshalNoPanic(t, valid[:n])
	}
	if _, err := unmarshalNoPanic(t, valid[:len(valid)/2]); err == nil {
		t.Error("half a zTOC decoded without error")
	}
	for i := range valid {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(valid)
			b[i] ^= x
			unmarshalNoPanic(t, b)
		}
	}
	// A vector length far beyond the buffer must fail fast, not allocate it.
	for i := 0; i+4 <= len(valid); i += 4 {
		b := bytes.Clone(valid)
		binary.LittleEndian.PutUint32(b[i:], 0x7fffffff)
		unmarshalNoPanic(t, b)
	}

	vec := readVector(t, "ztocs/9d8b62dd93a31e940fb52427bd292c5a4d28c88ed70b4966a0100faa21b749fc.ztoc")
	for n := 0; n < len(vec); n += 61 {
		unmarshalNoPanic(t, vec[:n])
	}
}

// smallZtoc is a compact valid zTOC with every field set.
func smallZtoc(t testing.TB) []byte {
	z := &ztoc.Ztoc{
		Version: ztoc.Version09, BuildToolIdentifier: "test", CompressedArchiveSize: 3000, UncompressedArchiveSize: 10240,
		Compression: ztoc.Uncompressed, MaxSpanID: 1,
		SpanDigests: []string{"sha256:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("b", 64)},
		Checkpoints: []byte{1, 2, 3, 4, 5, 6, 7, 8},
		TOC: []ztoc.FileMetadata{
			{Name: "dir/", Type: "dir", UncompressedOffset: 512, Mode: 0o755, ModTime: time.Unix(1700000000, 0)},
			{Name: "dir/file", Type: "reg", UncompressedOffset: 1536, UncompressedSize: 700, Mode: 0o644, UID: 1000, GID: 1000,
				Uname: "u", Gname: "g", ModTime: time.Unix(1700000000, 5), PAXHeaders: map[string]string{"SCHILY.xattr.user.a": "b"}},
			{Name: "dir/link", Type: "symlink", UncompressedOffset: 3072, Linkname: "file"},
			{Name: "dev", Type: "char", UncompressedOffset: 4096, Devmajor: 1, Devminor: 3},
		},
	}
	b, err := ztoc.Marshal(z)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzUnmarshal: Unmarshal never panics; whatever it accepts re-encodes
// stably (after one Marshal/Unmarshal round, values are a fixed point).
func FuzzUnmarshal(f *testing.F) {
	f.Add(smallZtoc(f))
	g, err := ztoc.Marshal(goldenWriteZtoc())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(g[:2000]) // the golden zTOC, cut: the checkpoints are 64 KiB of zeros
	// A real TOC from a soci vector, cut to a few entries: small seeds keep
	// the fuzzer's minimization fast.
	vec, err := os.ReadFile(filepath.Join(vectorDir, "ztocs", "9d8b62dd93a31e940fb52427bd292c5a4d28c88ed70b4966a0100faa21b749fc.ztoc"))
	if err != nil {
		f.Fatal(err)
	}
	z, err := ztoc.Unmarshal(vec)
	if err != nil {
		f.Fatal(err)
	}
	z.TOC = z.TOC[20:26]
	cut, err := ztoc.Marshal(z)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cut)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		z, err := unmarshalNoPanic(t, b)
		if err != nil {
			return
		}
		b1, err := ztoc.Marshal(z)
		if err != nil {
			return // e.g. an enum value the schema does not name
		}
		z2, err := unmarshalNoPanic(t, b1)
		if err != nil {
			t.Fatalf("Unmarshal rejects what Marshal wrote from an accepted zTOC: %v", err)
		}
		b2, err := ztoc.Marshal(z2)
		if err != nil {
			t.Fatal(err)
		}
		z3, err := unmarshalNoPanic(t, b2)
		if err != nil {
			t.Fatal(err)
		}
		b3, err := ztoc.Marshal(z3)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b2, b3) {
			t.Fatalf("re-encoding is not stable\n%s", ztoc.Diff(b2, b3))
		}
	})
}

// The mismatch report of the vector tests names the field at fault.
func TestZtocDiffNamesField(t *testing.T) {
	want := readVector(t, "ztocs/82cfb3d482d22bda9fbddc620b8817075b916895682a4783ea230f54ff47188d.ztoc")
	z, err := ztoc.Unmarshal(want)
	if err != nil {
		t.Fatal(err)
	}
	const rec = 8 + 8 + 1 + 32768
	binary.LittleEndian.PutUint64(z.Checkpoints[12+2*rec+8:], 12345) // out of checkpoint 2
	z.SpanDigests[4] = "sha256:" + strings.Repeat("0", 64)
	z.TOC[7].Mode ^= 1
	got, err := ztoc.Marshal(z)
	if err != nil {
		t.Fatal(err)
	}
	d := ztoc.Diff(want, got)
	for _, s := range []string{"checkpoint 2 (first differing one): got {in", "out 12345", "span digest 4", "TOC entry 7", "Mode got"} {
		if !strings.Contains(d, s) {
			t.Errorf("diff lacks %q:\n%s", s, d)
		}
	}
}

// A zTOC is read from its bytes only, never from the capacity behind them: a cut zTOC whose
// slice still has the rest of the bytes in its capacity (a reused buffer, a fuzzer's shared
// memory) fails exactly as a copy of the cut does, at every cut.
func TestUnmarshalIgnoresCapacity(t *testing.T) {
	full := smallZtoc(t)
	for n := 8; n < len(full); n++ {
		inPlace, errInPlace := ztoc.Unmarshal(full[:n])
		copied, errCopied := ztoc.Unmarshal(append([]byte(nil), full[:n]...)[:n:n])
		if fmt.Sprint(errInPlace) != fmt.Sprint(errCopied) || (inPlace == nil) != (copied == nil) {
			t.Fatalf("cut at %d of %d: in place %v, copied %v", n, len(full), errInPlace, errCopied)
		}
	}
}
