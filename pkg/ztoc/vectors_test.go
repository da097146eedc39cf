package ztoc_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/socify/socify/pkg/ztoc"
)

// The vectors under testdata/vectors were produced by soci v0.16.1
// (`TZ=UTC soci convert`, cross-checked against its ztoc library); see
// testdata/vectors/SOURCE.md. Each case is a layer, a span size and the
// exact zTOC bytes soci wrote.

const vectorDir = "testdata/vectors"

type vectorCase struct {
	Case                string `json:"case"`
	LayerFile           string `json:"layer_file"`
	LayerDigest         string `json:"layer_digest"`
	LayerSize           int64  `json:"layer_size"`
	LayerMediaType      string `json:"layer_mediaType"`
	SpanSize            int64  `json:"span_size"`
	BuildToolIdentifier string `json:"build_tool_identifier"`
	Expect              string `json:"expect"`
	ZtocDigest          string `json:"ztoc_digest"`
	ZtocSize            int    `json:"ztoc_size"`
	ZtocFile            string `json:"ztoc_file"`
	Summary             struct {
		CompressionAlgorithm    string `json:"compression_algorithm"`
		UncompressedArchiveSize int64  `json:"uncompressed_archive_size"`
		MaxSpanID               int32  `json:"max_span_id"`
		NumFiles                int    `json:"num_files"`
	} `json:"summary"`
}

func (c vectorCase) name() string { return fmt.Sprintf("%s@%d", c.Case, c.SpanSize) }

func (c vectorCase) compression() ztoc.Compression {
	if strings.HasSuffix(c.LayerMediaType, ".tar") {
		return ztoc.Uncompressed
	}
	return ztoc.Gzip
}

func loadVectorCases(t *testing.T) []vectorCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectorDir, "cases", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []vectorCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c vectorCase
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if c.Expect != "ok" {
			t.Fatalf("%s: unexpected expectation %q", f, c.Expect)
		}
		cases = append(cases, c)
	}
	// 8 layers x 2 spans; fewer means testdata was not copied completely.
	if len(cases) != 16 {
		t.Fatalf("found %d vector cases in %s, want 16", len(cases), vectorDir)
	}
	return cases
}

func readVector(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha256Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// expectedZtoc returns soci's bytes for the case, checking the file against
// the digest the case records.
func expectedZtoc(t *testing.T, c vectorCase) []byte {
	t.Helper()
	want := readVector(t, c.ZtocFile)
	if d := sha256Digest(want); d != c.ZtocDigest || len(want) != c.ZtocSize {
		t.Fatalf("testdata %s is %s (%d bytes), the case says %s (%d bytes)", c.ZtocFile, d, len(want), c.ZtocDigest, c.ZtocSize)
	}
	return want
}

// plainReader hides every interface but io.Reader, so Build cannot seek,
// stat or ReadAt: it gets a stream, as from a registry.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

func buildVector(t *testing.T, c vectorCase, r io.Reader) (*ztoc.Ztoc, []byte) {
	t.Helper()
	opts := []ztoc.Option{ztoc.WithSpanSize(c.SpanSize),
		ztoc.WithBuildToolIdentifier(c.BuildToolIdentifier),
		ztoc.WithCompression(c.compression())}
	var copied bytes.Buffer
	z, err := ztoc.Build(context.Background(), io.TeeReader(r, &copied), opts...)
	if err == nil {
		checkEncoded(t, &copied, opts, z, err)
	}
	if err != nil {
		t.Fatalf("Build(%s, span %d): %v", c.LayerFile, c.SpanSize, err)
	}
	got, err := ztoc.Marshal(z)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return z, got
}

// TestVectors: Build + Marshal over each soci vector layer gives exactly the
// zTOC soci wrote.
func TestVectors(t *testing.T) {
	for _, c := range loadVectorCases(t) {
		t.Run(c.name(), func(t *testing.T) {
			t.Parallel()
			want := expectedZtoc(t, c)
			layer := readVector(t, c.LayerFile)
			z, got := buildVector(t, c, plainReader{bytes.NewReader(layer)})
			if d := sha256Digest(got); d != c.ZtocDigest {
				t.Errorf("zTOC %s (%d bytes), want %s (%d bytes)\n%s", d, len(got), c.ZtocDigest, len(want), ztoc.Diff(want, got))
			}
			if z.BlobDigest != c.LayerDigest {
				t.Errorf("BlobDigest = %s, want the layer digest %s", z.BlobDigest, c.LayerDigest)
			}
			if z.CompressedArchiveSize != c.LayerSize || z.UncompressedArchiveSize != c.Summary.UncompressedArchiveSize {
				t.Errorf("sizes = %d/%d, want %d/%d", z.CompressedArchiveSize, z.UncompressedArchiveSize, c.LayerSize, c.Summary.UncompressedArchiveSize)
			}
			if z.MaxSpanID != c.Summary.MaxSpanID || len(z.TOC) != c.Summary.NumFiles || string(z.Compression) != c.Summary.CompressionAlgorithm {
				t.Errorf("max span %d, %d files, %q; want %d, %d, %q", z.MaxSpanID, len(z.TOC), z.Compression,
					c.Summary.MaxSpanID, c.Summary.NumFiles, c.Summary.CompressionAlgorithm)
			}
			// Ordinary layers: nothing for the caller to act on, except the
			// vectors' 8-byte security.capability (v2 magic, 20 bytes
			// needed) on ./usr/bin/ping-like, which the kernel refuses.
			for _, w := range z.Warnings {
				if w.Kind != ztoc.WarnMalformedCapability || w.Name != "./usr/bin/ping-like" {
					t.Errorf("unexpected warning: %v", w)
				}
			}
		})
	}
}

// TestVectorsReadPatterns: the result does not depend on how the stream is
// cut into reads.
func TestVectorsReadPatterns(t *testing.T) {
	for _, c := range loadVectorCases(t) {
		if c.SpanSize != 65536 {
			continue
		}
		t.Run(c.name(), func(t *testing.T) {
			t.Parallel()
			want := expectedZtoc(t, c)
			layer := readVector(t, c.LayerFile)
			for _, p := range []struct {
				name string
				r    io.Reader
			}{
				{"one-byte", iotest.OneByteReader(bytes.NewReader(layer))},
				{"half", iotest.HalfReader(bytes.NewReader(layer))},
				{"data-err", iotest.DataErrReader(bytes.NewReader(layer))},
				{"odd-chunks", &chunkReader{data: layer, sizes: []int{1, 7, 16383, 16385, 3, 65536, 100000}}},
			} {
				_, got := buildVector(t, c, p.r)
				if !bytes.Equal(got, want) {
					t.Errorf("%s reads: zTOC differs\n%s", p.name, ztoc.Diff(want, got))
				}
			}
		})
	}
}

// chunkReader returns reads of the given sizes in turn.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.sizes[c.i%len(c.sizes)], len(c.data))
	c.i++
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// TestVectorsRoundTrip: Unmarshal then Marshal reproduces soci's bytes.
func TestVectorsRoundTrip(t *testing.T) {
	for _, c := range loadVectorCases(t) {
		t.Run(c.name(), func(t *testing.T) {
			want := expectedZtoc(t, c)
			z, err := ztoc.Unmarshal(want)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if z.Version != ztoc.Version09 || z.BuildToolIdentifier != ztoc.SociBuildToolIdentifier || len(z.TOC) != c.Summary.NumFiles ||
				z.MaxSpanID != c.Summary.MaxSpanID || len(z.SpanDigests) != int(z.MaxSpanID)+1 || string(z.Compression) != c.Summary.CompressionAlgorithm {
				t.Errorf("decoded %s %q, %d files, max span %d, %d digests, %q", z.Version, z.BuildToolIdentifier, len(z.TOC), z.MaxSpanID, len(z.SpanDigests), z.Compression)
			}
			got, err := ztoc.Marshal(z)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("round trip differs\n%s", ztoc.Diff(want, got))
			}
		})
	}
}

// TestVectorsExtract: every regular file, read through the zTOC soci wrote
// (so the reader is checked against soci's checkpoints, not only ours),
// equals the file in the tar.
func TestVectorsExtract(t *testing.T) {
	for _, c := range loadVectorCases(t) {
		t.Run(c.name(), func(t *testing.T) {
			t.Parallel()
			layer := readVector(t, c.LayerFile)
			z, err := ztoc.Unmarshal(expectedZtoc(t, c))
			if err != nil {
				t.Fatal(err)
			}
			files := vectorTarFiles(t, layer, c.compression())
			r, err := ztoc.NewReader(z, bytes.NewReader(layer))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for name, want := range files {
				var got bytes.Buffer
				if err := r.ExtractFile(context.Background(), name, &got); err != nil {
					t.Errorf("ExtractFile(%q): %v", name, err)
					continue
				}
				if !bytes.Equal(got.Bytes(), want) {
					t.Errorf("ExtractFile(%q): %d bytes (sha %s), want %d bytes (sha %s)", name, got.Len(), sha256Digest(got.Bytes()), len(want), sha256Digest(want))
				}
				n++
			}
			if n < 30 {
				t.Errorf("only %d regular files checked", n)
			}
			for id := 0; id <= int(z.MaxSpanID); id++ {
				if err := r.ReadSpan(context.Background(), id, io.Discard); err != nil {
					t.Errorf("ReadSpan(%d): %v", id, err)
				}
			}
		})
	}
}

// vectorTarFiles maps each regular file name to the content of its last
// occurrence in the tar (a later entry replaces an earlier one on extraction).
func vectorTarFiles(t *testing.T, layer []byte, comp ztoc.Compression) map[string][]byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(layer)
	if comp == ztoc.Gzip {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
	return files
}
