package verify

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/socify/socify/pkg/convert"
)

// paxSparseTar writes "a.txt", then a PAX 1.0 sparse file "sp" of logical
// size realsize holding one byte, then, with next, "z.txt". archive/tar's
// writer drops GNU.sparse.* records, so look-alikes of the same length are
// patched (PAX data is not checksummed).
func paxSparseTar(t testing.TB, realsize int64, next bool) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	file := func(name, body string) {
		must(t, tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: int64(len(body)), Mode: 0o644}))
		_, err := tw.Write([]byte(body))
		must(t, err)
	}
	file("a.txt", "abc")
	must(t, tw.WriteHeader(&tar.Header{Name: "GNUSparseFile.0/sp", Typeflag: tar.TypeReg, Size: 513, Mode: 0o644,
		PAXRecords: map[string]string{"GNU_sparse.major": "1", "GNU_sparse.minor": "0", "GNU_sparse.name": "sp", "GNU_sparse.realsize": strconv.FormatInt(realsize, 10)}}))
	data := make([]byte, 513)
	copy(data, "1\n0\n1\n") // one region: offset 0, 1 byte
	data[512] = 'x'
	_, err := tw.Write(data)
	must(t, err)
	if next {
		file("z.txt", "xyz")
	}
	must(t, tw.Close())
	return bytes.ReplaceAll(b.Bytes(), []byte("GNU_sparse."), []byte("GNU.sparse."))
}

func capabilityValue(rev uint32, n int) string {
	b := make([]byte, n)
	binary.LittleEndian.PutUint32(b, rev<<24|1)
	return string(b)
}

// TestFilesTheSnapshotterServesWrong: layers the snapshotter mounts lazily
// but where one file fails. verify warns, naming the file, and keeps the
// layer lazy, as the snapshotter does; convert reports the same warnings
// (one rule, ztoc.EntryWarnings).
func TestFilesTheSnapshotterServesWrong(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tar   []byte
		check Check
		file  string
		msg   string
	}{
		// The logical size (1 MiB) runs past the end of the tar stream: the
		// layer mounts and only "sp" fails to read (EIO).
		{"pax sparse file, last entry", paxSparseTar(t, 1<<20, false), CheckSparseFile, "sp", "sparse file"},
		{"pax sparse file within its data", paxSparseTar(t, 1000, true), CheckSparseFile, "sp", "sparse file"},
		{"empty xattr", makeTar(t, 1, fileSpec{name: "etc/x", size: 10}, fileSpec{name: "etc/conf", size: 100,
			pax: map[string]string{"SCHILY.xattr.user.empty": "", "SCHILY.xattr.user.k": "v"}}), CheckEmptyXattr, "etc/conf", "user.empty has an empty value"},
		{"8-byte v2 capability", makeTar(t, 2, fileSpec{name: "bin/ping", size: 1000,
			pax: map[string]string{"SCHILY.xattr.security.capability": capabilityValue(2, 8)}}), CheckCapability, "bin/ping", "8 bytes with revision 2 magic; revision 2 needs 20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layer := gzipBytes(t, tc.tar, gzip.BestSpeed, "")
			src := newStore(t)
			src.setRoot(src.addImage(amd64, gzLayer(layer)))
			out, crep, err := convert.Convert(context.Background(), src.index(), convert.WithMinLayerSize(0))
			must(t, err)
			_ = out
			if len(crep.Layers) != 1 || !containsAll(crep.Layers[0].Warnings, string(tc.check), strconv.Quote(tc.file)) {
				t.Errorf("convert warnings %q: want one naming %s and %q", crep.Layers[0].Warnings, tc.check, tc.file)
			}

			s := converted(t, src)
			rep, err := Verify(context.Background(), s.index())
			must(t, err)
			l := rep.Image.Platforms[0].Layers[0]
			if !rep.OK() || len(rep.Errors()) > 0 || !l.Lazy || l.NoZtoc != "" {
				t.Fatalf("want OK with the layer lazy, got OK=%v lazy=%v noZtoc=%q:\n%s", rep.OK(), l.Lazy, l.NoZtoc, dump(rep.Problems()))
			}
			ps := problemsOf(rep.Warnings(), tc.check)
			if len(ps) != 1 || ps[0].File != tc.file || ps[0].Layer != l.Digest.String() || !strings.Contains(ps[0].Message, tc.msg) {
				t.Fatalf("want one %s warning for %s containing %q:\n%s", tc.check, tc.file, tc.msg, dump(rep.Problems()))
			}
		})
	}
}

func containsAll(ws []string, subs ...string) bool {
	for _, w := range ws {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(w, s)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestSparseFileOverlap: when a sparse file's logical size runs into the next
// entry, the snapshotter's zTOC reader rejects the TOC (ErrInvalidTOCEntry)
// and the layer is pulled in full: an error, the layer not lazy.
func TestSparseFileOverlap(t *testing.T) {
	src := newStore(t)
	src.setRoot(src.addImage(amd64, gzLayer(gzipBytes(t, paxSparseTar(t, 1<<20, true), gzip.BestSpeed, ""))))
	rep, err := Verify(context.Background(), converted(t, src).index())
	must(t, err)
	l := rep.Image.Platforms[0].Layers[0]
	overlap := problemsOf(rep.Errors(), CheckTOCOverlap)
	if rep.OK() || l.Lazy || l.NoZtoc != ReasonInvalidZtoc || len(overlap) != 1 {
		t.Fatalf("want a toc-overlap error and the layer not lazy:\n%s", dump(rep.Problems()))
	}
	// The error names the sparse file as the cause, not only the entry it runs into.
	if msg := overlap[0].Message; !strings.Contains(msg, "sparse file") {
		t.Errorf("the overlap error does not name the sparse file as the cause: %s", msg)
	}
}
