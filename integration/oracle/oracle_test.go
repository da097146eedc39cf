package oracle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	soci "github.com/awslabs/soci-snapshotter/ztoc"

	"github.com/socify/socify/integration/corpus"
	"github.com/socify/socify/pkg/ztoc"
)

// soci formats mod_time in the local zone; the reference bytes are soci's
// under TZ=UTC.
func TestMain(m *testing.M) {
	os.Setenv("TZ", "UTC")
	time.Local = time.UTC
	os.Exit(m.Run())
}

var genCorpus = sync.OnceValues(func() ([]corpus.Layer, error) {
	return corpus.Generate(context.Background(), corpus.Options{Large: !testing.Short()})
})

func layers(t *testing.T) []corpus.Layer {
	t.Helper()
	ls, err := genCorpus()
	if err != nil {
		t.Fatalf("generate corpus: %v", err)
	}
	return ls
}

// timing accumulates build times, to log how our single pass compares.
var timing struct {
	sync.Mutex
	soci, ours time.Duration
}

func addTiming(s, o time.Duration) {
	timing.Lock()
	timing.soci += s
	timing.ours += o
	timing.Unlock()
}

// sociBuild is the reference: soci's own builder on a file, then Marshal.
func sociBuild(path string, span int64, comp string) ([]byte, *soci.Ztoc, error) {
	z, err := soci.NewBuilder(ztoc.SociBuildToolIdentifier).BuildZtoc(path, span, soci.WithCompression(comp))
	if err != nil {
		return nil, nil, err
	}
	r, _, err := soci.Marshal(z)
	if err != nil {
		return nil, nil, fmt.Errorf("soci Marshal: %w", err)
	}
	b, err := io.ReadAll(r)
	return b, z, err
}

// streamOnly hides every interface but io.Reader: our builder must work on
// a plain stream (a registry response body), no Seek, ReadAt or Stat.
type streamOnly struct{ r io.Reader }

func (s streamOnly) Read(p []byte) (int, error) { return s.r.Read(p) }

func ourBuild(r io.Reader, span int64, comp string) (*ztoc.Ztoc, []byte, error) {
	z, err := ztoc.Build(context.Background(), r, ztoc.WithSpanSize(span),
		ztoc.WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier), ztoc.WithCompression(ztoc.Compression(comp)))
	if err != nil {
		return nil, nil, err
	}
	b, err := ztoc.Marshal(z)
	return z, b, err
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// TestDifferential runs every corpus layer at each of its span sizes
// through soci's builder and ours and requires the same decision (both
// accept or both reject) and, when accepted, the same bytes; then extracts
// files through both readers.
func TestDifferential(t *testing.T) {
	t.Cleanup(func() {
		t.Logf("build time over the corpus: soci %v, ours %v", timing.soci.Round(time.Millisecond), timing.ours.Round(time.Millisecond))
	})
	for _, l := range layers(t) {
		t.Run(l.Name, func(t *testing.T) {
			t.Parallel()
			checkLayer(t, l)
		})
	}
}

// TestRealLayer: a tar of the Go source tree (about 40 MB), gzip -6.
func TestRealLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("the 40 MB real-content layer runs without -short")
	}
	ctx := context.Background()
	root, err := corpus.GoRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l, err := corpus.GoSourceLayer(ctx, filepath.Join(root, "src"), 40<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("layer: %d bytes of tar, %d compressed", len(l.Tar), len(l.Blob))
	checkLayer(t, l)
}

func checkLayer(t *testing.T, l corpus.Layer) {
	path := filepath.Join(t.TempDir(), "layer")
	if err := os.WriteFile(path, l.Blob, 0o600); err != nil {
		t.Fatal(err)
	}
	files := tarFiles(t, l)
	for _, span := range l.Spans {
		t.Run(strconv.FormatInt(span, 10), func(t *testing.T) {
			t0 := time.Now()
			sb, sz, serr := sociBuild(path, span, l.Compression)
			t1 := time.Now()
			oz, ob, oerr := ourBuild(streamOnly{bytes.NewReader(l.Blob)}, span, l.Compression)
			addTiming(t1.Sub(t0), time.Since(t1))
			// The CLI and convert use BuildEncoded: the same decision and bytes.
			enc, eerr := ztoc.BuildEncoded(context.Background(), streamOnly{bytes.NewReader(l.Blob)}, ztoc.WithSpanSize(span),
				ztoc.WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier), ztoc.WithCompression(ztoc.Compression(l.Compression)))
			if (eerr == nil) != (oerr == nil) || (eerr == nil && !bytes.Equal(enc.Bytes, ob)) {
				t.Fatalf("BuildEncoded disagrees with Build + Marshal: error %v vs %v", eerr, oerr)
			}

			if (serr != nil) != l.WantError {
				t.Errorf("corpus expectation is wrong: WantError=%v but soci says %v", l.WantError, serr)
			}
			switch {
			case serr != nil && oerr == nil:
				t.Fatalf("soci rejects the layer (%v) but we accepted it", serr)
			case serr != nil:
				var fe *ztoc.FormatError
				if !errors.As(oerr, &fe) {
					t.Errorf("our error is not a *ztoc.FormatError naming the offset: %v", oerr)
				}
				t.Logf("both reject.\n  soci: %v\n  ours: %v", serr, oerr)
				return
			case oerr != nil:
				t.Fatalf("soci accepts the layer, we fail: %v", oerr)
			}

			if !bytes.Equal(sb, ob) {
				dump(t, l, span, sb, ob)
				t.Fatalf("zTOC differs from soci's: got %s (%d bytes), soci %s (%d bytes)\n%s", sha(ob), len(ob), sha(sb), len(sb), ztoc.Diff(sb, ob))
			}
			if oz.BlobDigest != sha(l.Blob) || oz.CompressedArchiveSize != int64(len(l.Blob)) {
				t.Errorf("BlobDigest %s, CompressedArchiveSize %d; want %s, %d", oz.BlobDigest, oz.CompressedArchiveSize, sha(l.Blob), len(l.Blob))
			}
			checkWarnings(t, sz, oz)
			for _, w := range oz.Warnings {
				t.Logf("warning: %v", w)
			}
			if span == 65536 && len(l.Blob) < 400<<10 {
				checkReadPatterns(t, l, span, sb)
			}
			// Every regular file at small spans; a sample where each soci
			// extraction would copy many checkpoints or inflate a long span.
			limit := 25
			if span <= 65536 {
				limit = 150
				if len(l.Tar) < 8<<20 {
					limit = len(files.names)
				}
			}
			checkSociExtract(t, l, sb, files, limit)
			checkOurExtract(t, l, oz, files, limit, span <= 65536)
		})
	}
}

// dump writes the layer and both zTOCs under $ORACLE_DUMP for offline
// comparison.
func dump(t *testing.T, l corpus.Layer, span int64, sociBytes, ours []byte) {
	dir := os.Getenv("ORACLE_DUMP")
	if dir == "" {
		t.Log("set ORACLE_DUMP=<dir> to keep the layer and both zTOCs")
		return
	}
	d := filepath.Join(dir, strings.ReplaceAll(l.Name, "/", "_"))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"layer": l.Blob, fmt.Sprintf("soci-%d.ztoc", span): sociBytes, fmt.Sprintf("ours-%d.ztoc", span): ours} {
		if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("dumped to %s", d)
}

// checkWarnings derives from soci's zTOC the conditions our builder must
// report: several checkpoints at out 0, and sparse entries.
func checkWarnings(t *testing.T, sz *soci.Ztoc, oz *ztoc.Ztoc) {
	has := map[ztoc.WarningKind]bool{}
	for _, w := range oz.Warnings {
		has[w.Kind] = true
	}
	zeroOuts := 0
	if sz.CompressionAlgorithm == "gzip" {
		cps, err := gzipOuts(sz.Checkpoints)
		if err != nil {
			t.Fatal(err)
		}
		for _, out := range cps {
			if out == 0 {
				zeroOuts++
			}
		}
	}
	if want := zeroOuts > 1; has[ztoc.WarnDuplicateZeroCheckpoints] != want {
		t.Errorf("%d checkpoints at out 0: duplicate-zero warning present=%v, want %v (warnings %v)", zeroOuts, !want, want, oz.Warnings)
	}
	sparse := false
	for _, e := range sz.TOC.FileMetadata {
		for k := range e.PAXHeaders {
			sparse = sparse || strings.HasPrefix(k, "GNU.sparse.")
		}
	}
	if has[ztoc.WarnSparseFile] != sparse {
		t.Errorf("sparse entries: %v, sparse warning present=%v (warnings %v)", sparse, has[ztoc.WarnSparseFile], oz.Warnings)
	}
}

func gzipOuts(blob []byte) ([]int64, error) {
	const rec = 8 + 8 + 1 + 32768
	if len(blob) < 12 {
		return nil, fmt.Errorf("zinfo of %d bytes", len(blob))
	}
	n := int(int32(binary.LittleEndian.Uint32(blob)))
	if n < 0 || len(blob) != 12+n*rec {
		return nil, fmt.Errorf("zinfo of %d bytes for %d checkpoints", len(blob), n)
	}
	outs := make([]int64, n)
	for i := range outs {
		outs[i] = int64(binary.LittleEndian.Uint64(blob[12+i*rec+8:]))
	}
	return outs, nil
}

// checkReadPatterns: the bytes do not depend on how the stream is cut into
// reads.
func checkReadPatterns(t *testing.T, l corpus.Layer, span int64, want []byte) {
	for _, p := range []struct {
		name string
		r    io.Reader
	}{
		{"one-byte", iotest.OneByteReader(bytes.NewReader(l.Blob))},
		{"half", iotest.HalfReader(bytes.NewReader(l.Blob))},
		{"data-err", iotest.DataErrReader(bytes.NewReader(l.Blob))},
	} {
		_, got, err := ourBuild(p.r, span, l.Compression)
		if err != nil {
			t.Errorf("%s reads: %v", p.name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s reads: zTOC differs\n%s", p.name, ztoc.Diff(want, got))
		}
	}
}

type tarFile struct {
	first, last []byte // contents of the first and the last entry of that name
	sparse      bool
}

type fileSet struct {
	names  []string // regular files, sorted
	byName map[string]*tarFile
}

func tarFiles(t *testing.T, l corpus.Layer) fileSet {
	fs := fileSet{byName: map[string]*tarFile{}}
	if l.WantError || l.Tar == nil {
		return fs
	}
	tr := tar.NewReader(bytes.NewReader(l.Tar))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("corpus tar: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		sparse := false
		for k := range h.PAXRecords {
			sparse = sparse || strings.HasPrefix(k, "GNU.sparse.")
		}
		f := fs.byName[h.Name]
		if f == nil {
			f = &tarFile{first: b}
			fs.byName[h.Name] = f
			fs.names = append(fs.names, h.Name)
		}
		f.last = b
		f.sparse = f.sparse || sparse
	}
	sort.Strings(fs.names)
	return fs
}

// sample picks up to n names spread over the sorted list, always including
// the largest file.
func (fs fileSet) sample(n int) []string {
	if len(fs.names) <= n {
		return fs.names
	}
	var out []string
	largest, size := "", -1
	for _, name := range fs.names {
		if s := len(fs.byName[name].last); s > size {
			largest, size = name, s
		}
	}
	for i := 0; i < n-1; i++ {
		out = append(out, fs.names[i*len(fs.names)/(n-1)])
	}
	return append(out, largest)
}

// checkSociExtract reads files through soci's own extraction code from our
// bytes (they equal soci's here, but this is the path the snapshotter uses).
func checkSociExtract(t *testing.T, l corpus.Layer, ours []byte, fs fileSet, limit int) {
	sz, err := soci.Unmarshal(bytes.NewReader(ours))
	if err != nil {
		if errors.Is(err, soci.ErrInvalidTOCEntry) {
			t.Logf("soci's reader rejects this TOC (%v), as it would soci's own bytes: no extraction", err)
			return
		}
		t.Fatalf("soci Unmarshal of our bytes: %v", err)
	}
	sr := io.NewSectionReader(bytes.NewReader(l.Blob), 0, int64(len(l.Blob)))
	for _, name := range fs.sample(limit) {
		f := fs.byName[name]
		if f.sparse {
			continue
		}
		got, err := sz.ExtractFile(sr, name)
		if err != nil {
			t.Errorf("soci ExtractFile(%q): %v", name, err)
			continue
		}
		if !bytes.Equal(got, f.first) {
			t.Errorf("soci ExtractFile(%q) from our zTOC: %d bytes (%s), want %d bytes (%s)", name, len(got), sha(got), len(f.first), sha(f.first))
		}
	}
}

// checkOurExtract reads files through our Reader and, when allSpans, every
// span, whose concatenation must be the tar stream.
func checkOurExtract(t *testing.T, l corpus.Layer, oz *ztoc.Ztoc, fs fileSet, limit int, allSpans bool) {
	r, err := ztoc.NewReader(oz, bytes.NewReader(l.Blob))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	ctx := context.Background()
	for _, name := range fs.sample(limit) {
		f := fs.byName[name]
		if f.sparse {
			continue
		}
		var got bytes.Buffer
		if err := r.ExtractFile(ctx, name, &got); err != nil {
			t.Errorf("our ExtractFile(%q): %v", name, err)
			continue
		}
		if !bytes.Equal(got.Bytes(), f.last) {
			t.Errorf("our ExtractFile(%q): %d bytes (%s), want %d bytes (%s)", name, got.Len(), sha(got.Bytes()), len(f.last), sha(f.last))
		}
	}
	if !allSpans {
		return
	}
	want := l.Tar
	if l.Compression == corpus.Gzip {
		if oz.UncompressedArchiveSize > int64(len(want)) {
			t.Fatalf("UncompressedArchiveSize %d > tar length %d", oz.UncompressedArchiveSize, len(want))
		}
		want = want[:oz.UncompressedArchiveSize]
		outs, err := gzipOuts(oz.Checkpoints)
		if err != nil {
			t.Fatal(err)
		}
		if outs[len(outs)-1] > oz.UncompressedArchiveSize {
			t.Logf("checkpoints past the archive end (%d > %d): spans do not tile the archive", outs[len(outs)-1], oz.UncompressedArchiveSize)
			return
		}
	}
	var all bytes.Buffer
	for id := 0; id <= int(oz.MaxSpanID); id++ {
		if err := r.ReadSpan(ctx, id, &all); err != nil {
			t.Fatalf("ReadSpan(%d): %v", id, err)
		}
	}
	if !bytes.Equal(all.Bytes(), want) {
		i := 0
		for i < all.Len() && i < len(want) && all.Bytes()[i] == want[i] {
			i++
		}
		t.Errorf("spans 0..%d concatenated: %d bytes, want the %d-byte stream; first difference at %d", oz.MaxSpanID, all.Len(), len(want), i)
	}
}

// TestOracleReproducesVectors guards the oracle itself: soci's library,
// run here, gives the zTOCs of the recorded vectors (so TZ and the soci
// version are right).
func TestOracleReproducesVectors(t *testing.T) {
	dir := filepath.Join("..", "..", "pkg", "ztoc", "testdata", "vectors")
	cases, err := filepath.Glob(filepath.Join(dir, "cases", "*.json"))
	if err != nil || len(cases) != 16 {
		t.Fatalf("vector cases: %d, %v", len(cases), err)
	}
	for _, c := range cases {
		base := strings.TrimSuffix(filepath.Base(c), ".json")
		name, spanStr, _ := strings.Cut(base, "@")
		span, _ := strconv.ParseInt(spanStr, 10, 64)
		layer := filepath.Join(dir, "layers", name+".tar.gz")
		comp := corpus.Gzip
		if _, err := os.Stat(layer); err != nil {
			layer, comp = filepath.Join(dir, "layers", name+".tar"), corpus.Uncompressed
		}
		b, _, err := sociBuild(layer, span, comp)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		want := strings.TrimPrefix(sha(b), "sha256:")
		if _, err := os.Stat(filepath.Join(dir, "ztocs", want+".ztoc")); err != nil {
			t.Errorf("%s: soci here gives %s, not one of the recorded vectors", base, want)
		}
	}
}
