package location

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestTarStoreIndexesInPlace(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 100_000)
	small := []byte(`{"a":1}`)
	hBig, _, _ := v1.SHA256(bytes.NewReader(big))
	hSmall, _, _ := v1.SHA256(bytes.NewReader(small))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, b []byte) {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	add(&tar.Header{Name: "./blobs/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "./blobs/sha256/" + hBig.Hex, Typeflag: tar.TypeReg, Size: int64(len(big)), Mode: 0o644}, big)
	// A long name forces a PAX header before the entry.
	add(&tar.Header{Name: "blobs/sha256/" + hSmall.Hex, Typeflag: tar.TypeReg, Size: int64(len(small)), Mode: 0o644,
		PAXRecords: map[string]string{"comment": strings.Repeat("x", 300)}, Format: tar.FormatPAX}, small)
	add(&tar.Header{Name: "index.json", Typeflag: tar.TypeLink, Linkname: "./blobs/sha256/" + hSmall.Hex}, nil)
	add(&tar.Header{Name: "oci-layout", Typeflag: tar.TypeSymlink, Linkname: "blobs/sha256/" + hSmall.Hex}, nil)
	tw.Close()
	p := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	s, err := openTarStore(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		h    v1.Hash
		want []byte
	}{{hBig, big}, {hSmall, small}} {
		n, err := s.stat(tc.h)
		if err != nil || n != int64(len(tc.want)) {
			t.Fatalf("stat %s: %d %v", tc.h, n, err)
		}
		rc, err := s.open(tc.h, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, tc.want) {
			t.Fatalf("blob %s: wrong bytes", tc.h)
		}
	}
	for _, f := range []string{"index.json", "oci-layout"} {
		if b, err := s.file(f); err != nil || !bytes.Equal(b, small) {
			t.Fatalf("%s through a link: %q %v", f, b, err)
		}
	}
	if b, err := readBlob(s, hSmall, 100); err != nil || !bytes.Equal(b, small) {
		t.Fatalf("readBlob: %v", err)
	}
	if _, err := readBlob(s, hBig, 100); err == nil {
		t.Fatal("readBlob ignored its limit")
	}
	missing := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	if _, err := s.stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat of a missing blob: %v", err)
	}
	if _, err := s.open(missing, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open of a missing blob: %v", err)
	}
}

func TestReadBlobChecksDigest(t *testing.T) {
	dir := t.TempDir()
	h := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
	os.WriteFile(filepath.Join(dir, "blobs", "sha256", h.Hex), []byte("{}"), 0o644)
	if _, err := readBlob(dirStore{root: dir}, h, 100); err == nil || !strings.Contains(err.Error(), "content has digest") {
		t.Fatalf("err = %v", err)
	}
}

// TestStoreOpenAtOffset: every store serves a blob from an offset (what a
// broken upload resumes from), the end of the blob included, and refuses an
// offset past it.
func TestStoreOpenAtOffset(t *testing.T) {
	blob := bytes.Repeat([]byte("abcdefghij"), 10_000)
	h, _, _ := v1.SHA256(bytes.NewReader(blob))
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", h.Hex), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A member before the blob, so that its section does not start at 0.
	for _, m := range []struct {
		name string
		b    []byte
	}{{"oci-layout", []byte(ociLayoutFile)}, {"blobs/sha256/" + h.Hex, blob}, {"layer.tar", blob}} {
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Typeflag: tar.TypeReg, Size: int64(len(m.b)), Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		tw.Write(m.b)
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ts, err := openTarStore(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	hMem, _, _ := v1.SHA256(bytes.NewReader(blob[:500]))
	stores := []struct {
		name string
		s    store
		h    v1.Hash
		want []byte
	}{
		{"directory", dirStore{root: dir}, h, blob},
		{"tar", ts, h, blob},
		{"docker archive member", &overlayStore{base: ts, alias: map[v1.Hash]string{h: "layer.tar"}}, h, blob},
		{"docker archive document", &overlayStore{base: ts, mem: map[v1.Hash][]byte{hMem: blob[:500]}}, hMem, blob[:500]},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			n := int64(len(st.want))
			for _, off := range []int64{0, 1, 499, n - 1, n} {
				rc, err := st.s.open(st.h, off)
				if err != nil {
					t.Fatalf("offset %d: %v", off, err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, st.want[off:]) {
					t.Fatalf("offset %d: %d bytes (%v), want the %d from there", off, len(got), err, n-off)
				}
			}
			if rc, err := st.s.open(st.h, n+1); err == nil {
				rc.Close()
				t.Fatalf("offset %d of a %d-byte blob opened", n+1, n)
			}
		})
	}
}
