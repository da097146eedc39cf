package ztoc

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func tarWith(t *testing.T, hdrs ...*tar.Header) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeGNUSparse {
			tw.Write(make([]byte, h.Size))
		}
	}
	tw.Close()
	return b.Bytes()
}

func TestBuildErrors(t *testing.T) {
	ctx := context.Background()
	good, _ := makeTar(t, 1, 5)
	gz := gzipBytes(t, good, 6)
	// A PAX global header ('g'), as `git archive` writes first.
	global := tarWith(t, &tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "x"}},
		&tar.Header{Name: "f", Typeflag: tar.TypeReg, Size: 3, Mode: 0o644})
	// Old GNU sparse entries ('S') cannot be written by archive/tar: patch the typeflag.
	sparse := tarWith(t, &tar.Header{Name: "s", Typeflag: tar.TypeReg, Size: 0, Mode: 0o644, Format: tar.FormatGNU})
	sparse[156] = 'S'
	sum := 0
	for i, c := range sparse[:512] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int(c)
	}
	copy(sparse[148:], []byte(strings.Repeat("0", 6-len(itoa8(sum)))+itoa8(sum)+"\x00 "))
	for _, tc := range []struct {
		name string
		blob []byte
		comp Compression
		want string
	}{
		{"empty gzip", nil, Gzip, "empty gzip stream"},
		{"trailing garbage", append(append([]byte{}, gz...), "junk"...), Gzip, "not a valid gzip or zlib stream"},
		{"trailing zeros", append(append([]byte{}, gz...), make([]byte, 1024)...), Gzip, "not a valid gzip or zlib stream"},
		{"truncated", gz[:len(gz)/2], Gzip, "truncated"},
		{"pax global header", gzipBytes(t, global, 6), Gzip, "unsupported input tar entry 'g'"},
		{"gnu sparse", gzipBytes(t, sparse, 6), Gzip, "unsupported input tar entry 'S'"},
		{"pax global header uncompressed", global, Uncompressed, "unsupported input tar entry 'g'"},
		{"not gzip", good, Gzip, "incorrect gzip header magic"},
		{"truncated tar inside gzip", gzipBytes(t, good[:5000], 6), Gzip, "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(ctx, bytes.NewReader(tc.blob), WithCompression(tc.comp), WithSpanSize(65536))
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("%v is not a *FormatError", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "offset") {
				t.Fatalf("error %q should mention %q and an offset", err, tc.want)
			}
		})
	}
	if _, err := Build(ctx, bytes.NewReader(good), WithCompression(Uncompressed), WithSpanSize(0)); err == nil {
		t.Error("span 0 for an uncompressed layer must fail (soci divides by zero)")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Build(cctx, bytes.NewReader(gz)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled build: %v", err)
	}
}

func itoa8(n int) string {
	s := ""
	for n > 0 || s == "" {
		s = string(rune('0'+n%8)) + s
		n /= 8
	}
	return s
}

func TestWarnings(t *testing.T) {
	ctx := context.Background()
	tarball, _ := makeTar(t, 2, 3)
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Flush() // empty sync block before any data: a second checkpoint at out=0
	w.Write(tarball)
	w.Close()
	z, err := Build(ctx, &b, WithSpanSize(65536))
	if err != nil {
		t.Fatal(err)
	}
	if len(z.Warnings) != 1 || z.Warnings[0].Kind != WarnDuplicateZeroCheckpoints {
		t.Fatalf("warnings %v", z.Warnings)
	}
	cps, _ := z.GzipCheckpoints()
	if len(cps) < 2 || cps[0].Out != 0 || cps[1].Out != 0 {
		t.Fatalf("soci keeps both checkpoints at 0; got %+v", cps[:2])
	}

	// archive/tar's writer drops GNU.sparse.* records: write look-alikes of the
	// same length and patch them (PAX data is not checksummed). This is the
	// PAX 1.0 sparse form: the map ("1 region at 0, 1 byte") leads the data.
	var pb bytes.Buffer
	tw := tar.NewWriter(&pb)
	tw.WriteHeader(&tar.Header{Name: "GNUSparseFile.0/sp", Typeflag: tar.TypeReg, Size: 513, Mode: 0o644,
		PAXRecords: map[string]string{"GNU_sparse.major": "1", "GNU_sparse.minor": "0", "GNU_sparse.name": "sp", "GNU_sparse.realsize": "1"}})
	sparseData := make([]byte, 513)
	copy(sparseData, "1\n0\n1\n")
	sparseData[512] = 'x'
	tw.Write(sparseData)
	tw.Close()
	pax := bytes.ReplaceAll(pb.Bytes(), []byte("GNU_sparse."), []byte("GNU.sparse."))
	z, err = Build(ctx, bytes.NewReader(pax), WithCompression(Uncompressed))
	if err != nil {
		t.Fatalf("pax sparse: %v", err)
	}
	if len(z.Warnings) != 1 || z.Warnings[0].Kind != WarnSparseFile {
		t.Fatalf("warnings %v", z.Warnings)
	}
}

// TestModTimeIsUTC: soci formats mod_time in the local zone; we always use
// UTC, so the bytes do not depend on where the conversion runs.
func TestModTimeIsUTC(t *testing.T) {
	tarball := tarWith(t, &tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(1700000000, 0)})
	build := func() []byte {
		z, err := Build(context.Background(), bytes.NewReader(tarball), WithCompression(Uncompressed))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Marshal(z)
		return b
	}
	utc := build()
	old := time.Local
	time.Local = time.FixedZone("PST", -8*3600)
	defer func() { time.Local = old }()
	if !bytes.Equal(build(), utc) {
		t.Fatal("zTOC bytes depend on the local time zone")
	}
	if !bytes.Contains(utc, []byte("2023-11-14T22:13:20Z")) {
		t.Fatal("mod_time not written as RFC 3339 UTC")
	}
}
