package ztoc

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand"
	"testing"
	"time"
)

type testFile struct {
	name string
	data []byte
}

// makeTar writes a tar with files of varied sizes and content, plus links.
func makeTar(t testing.TB, seed int64, n int) ([]byte, []testFile) {
	rng := rand.New(rand.NewSource(seed))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var files []testFile
	mt := time.Unix(1700000000, 0)
	for i := 0; i < n; i++ {
		size := rng.Intn(200 << 10)
		if i%5 == 0 {
			size = 0
		}
		data := make([]byte, size)
		switch i % 3 {
		case 0:
			rng.Read(data)
		case 1:
			for j := range data {
				data[j] = "abcdefgh\n"[rng.Intn(9)]
			}
		}
		name := fmt.Sprintf("dir%d/file-%d.bin", i%4, i)
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(size), ModTime: mt, Typeflag: tar.TypeReg,
			PAXRecords: map[string]string{"SCHILY.xattr.user.n": fmt.Sprint(i)}}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
		files = append(files, testFile{name, data})
	}
	tw.WriteHeader(&tar.Header{Name: "link", Linkname: files[1].name, Typeflag: tar.TypeLink, ModTime: mt})
	tw.WriteHeader(&tar.Header{Name: "sym", Linkname: files[1].name, Typeflag: tar.TypeSymlink, ModTime: mt})
	tw.Close()
	files = append(files, testFile{"link", files[1].data})
	return buf.Bytes(), files
}

func gzipBytes(t testing.TB, data []byte, level int) []byte {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func TestReaderExtractsEveryFile(t *testing.T) {
	ctx := context.Background()
	tarball, files := makeTar(t, 3, 40)
	for _, tc := range []struct {
		name string
		blob []byte
		comp Compression
		span int64
	}{
		{"gzip1-span64k", gzipBytes(t, tarball, 1), Gzip, 65536},
		{"gzip9-span10k", gzipBytes(t, tarball, 9), Gzip, 10000},
		{"gzip6-span0", gzipBytes(t, tarball, 6), Gzip, 0},
		{"gzip6-default", gzipBytes(t, tarball, 6), Gzip, DefaultSpanSize},
		{"tar-span64k", tarball, Uncompressed, 65536},
		{"tar-span4096", tarball, Uncompressed, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z, err := Build(ctx, bytes.NewReader(tc.blob), WithSpanSize(tc.span), WithCompression(tc.comp))
			if err != nil {
				t.Fatal(err)
			}
			// Through the serialized form, as a consumer would.
			b, err := Marshal(z)
			if err != nil {
				t.Fatal(err)
			}
			z2, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if z2.UncompressedArchiveSize != int64(len(tarball)) {
				t.Errorf("uncompressed size %d, tar is %d", z2.UncompressedArchiveSize, len(tarball))
			}
			if len(z2.SpanDigests) != int(z2.MaxSpanID)+1 {
				t.Errorf("%d span digests for max span %d", len(z2.SpanDigests), z2.MaxSpanID)
			}
			r, err := NewReader(z2, bytes.NewReader(tc.blob))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				var out bytes.Buffer
				if err := r.ExtractFile(ctx, f.name, &out); err != nil {
					t.Fatalf("%s: %v", f.name, err)
				}
				if !bytes.Equal(out.Bytes(), f.data) {
					t.Fatalf("%s: extracted %d bytes differ from the %d in the tar", f.name, out.Len(), len(f.data))
				}
			}
			// Spans concatenated give back the whole tar.
			var all bytes.Buffer
			for i := 0; i <= int(z2.MaxSpanID); i++ {
				if err := r.ReadSpan(ctx, i, &all); err != nil {
					t.Fatalf("span %d: %v", i, err)
				}
			}
			if !bytes.HasPrefix(all.Bytes(), tarball[:z2.UncompressedArchiveSize]) {
				t.Fatal("spans do not reassemble the tar")
			}
			if err := r.ExtractFile(ctx, "sym", io.Discard); err == nil {
				t.Error("extracting a symlink should fail")
			}
			if err := r.ExtractFile(ctx, "missing", io.Discard); err == nil {
				t.Error("extracting a missing file should fail")
			}
		})
	}
}

func TestSpanRangesHashToDigests(t *testing.T) {
	tarball, _ := makeTar(t, 5, 30)
	blob := gzipBytes(t, tarball, 1)
	z, err := Build(context.Background(), bytes.NewReader(blob), WithSpanSize(65536))
	if err != nil {
		t.Fatal(err)
	}
	if z.MaxSpanID < 3 {
		t.Fatalf("want several spans, got max %d", z.MaxSpanID)
	}
	for i := 0; i <= int(z.MaxSpanID); i++ {
		s, e, err := z.SpanRange(i)
		if err != nil {
			t.Fatal(err)
		}
		h := newSHA256()
		h.Write(blob[s:e])
		if got := digestOf(h); got != z.SpanDigests[i] {
			t.Fatalf("span %d [%d,%d): digest %s, recorded %s", i, s, e, got, z.SpanDigests[i])
		}
	}
	h := newSHA256()
	h.Write(blob)
	if z.BlobDigest != digestOf(h) || z.CompressedArchiveSize != int64(len(blob)) {
		t.Fatalf("blob digest/size %s/%d do not match the input", z.BlobDigest, z.CompressedArchiveSize)
	}
}
