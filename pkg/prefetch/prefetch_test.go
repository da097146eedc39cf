package prefetch

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/ztoc"
)

type entry struct {
	name string
	size int
	typ  byte
}

// layer writes a tar of random (incompressible) files and returns it with
// its zTOC at the given span size.
func layer(t testing.TB, seed uint64, comp ztoc.Compression, span int64, es ...entry) (Layer, *ztoc.Ztoc) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, e := range es {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644}
		if typ == tar.TypeReg {
			h.Size = int64(e.size)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, h.Size)
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	blob := buf.Bytes()
	if comp == ztoc.Gzip {
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
		zw.Write(blob)
		zw.Close()
		blob = gz.Bytes()
	}
	z, err := ztoc.Build(context.Background(), bytes.NewReader(blob), ztoc.WithSpanSize(span), ztoc.WithCompression(comp))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ztoc.Marshal(z)
	if err != nil {
		t.Fatal(err)
	}
	return Layer{Digest: digest.FromBytes(blob), Ztoc: b}, z
}

func find(t *testing.T, z *ztoc.Ztoc, name string) ztoc.FileMetadata {
	for _, e := range z.TOC {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no %s in the TOC", name)
	return ztoc.FileMetadata{}
}

func TestBuildTar(t *testing.T) {
	const span = 4096
	lower, lz := layer(t, 1, ztoc.Uncompressed, span,
		entry{name: "etc/", typ: tar.TypeDir},
		entry{name: "etc/a", size: 10000},    // spans 0-2
		entry{name: "etc/b", size: 100},      // span 2
		entry{name: "usr/lib/c", size: 9000}, // spans 3-5
		entry{name: "./dot/file", size: 20000},
		entry{name: "opt", typ: tar.TypeDir},
		entry{name: "far", size: 30000},
		entry{name: "last", size: 10})
	upper, uz := layer(t, 2, ztoc.Uncompressed, span, entry{name: "etc/a", size: 20000}, entry{name: "only-upper", size: 10})
	small := Layer{Digest: digest.FromString("small")} // no zTOC

	ids := func(z *ztoc.Ztoc, name string) Span {
		e := find(t, z, name)
		return Span{StartSpan: int32(e.UncompressedOffset / span), EndSpan: int32((e.UncompressedOffset + e.UncompressedSize) / span)}
	}
	res, err := Build([]Layer{lower, small, upper}, []string{
		"/etc/a",             // upper wins
		"etc/b", "usr/lib/c", // adjacent spans: merged
		"//usr/../etc/b",         // cleaned to etc/b again
		"dot/file", "./dot/file", // raw name is "./dot/file": cleaned paths never match it
		"etc/", "etc", // the directory is "etc/" in the tar: no match
		"opt", // a directory written without slash matches
		"missing",
		"last",
	})
	if err != nil {
		t.Fatal(err)
	}
	wantNotFound := []string{"dot/file", "dot/file", "etc", "etc", "missing"}
	if strings.Join(res.NotFound, ",") != strings.Join(wantNotFound, ",") {
		t.Errorf("not found %q, want %q", res.NotFound, wantNotFound)
	}
	if len(res.Blobs) != 2 {
		t.Fatalf("%d blobs, want one per layer with matches", len(res.Blobs))
	}
	// Manifest order: lower first.
	b := res.Blobs[0]
	if b.Descriptor.Annotations[ociindex.AnnotationImageLayerDigest] != lower.Digest.String() || b.Descriptor.MediaType != MediaType ||
		b.Descriptor.Digest != digest.FromBytes(b.Bytes) || b.Descriptor.Size != int64(len(b.Bytes)) || len(b.Descriptor.Annotations) != 1 {
		t.Errorf("descriptor %+v", b.Descriptor)
	}
	a, err := Parse(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	eb, ec, opt, last := ids(lz, "etc/b"), ids(lz, "usr/lib/c"), ids(lz, "opt"), ids(lz, "last")
	want := []Span{{StartSpan: eb.StartSpan, EndSpan: ec.EndSpan}, opt, last}
	if eb.EndSpan+1 < ec.StartSpan || opt.StartSpan <= ec.EndSpan+1 || last.StartSpan <= opt.EndSpan+1 {
		t.Fatalf("test layout: want etc/b %+v to touch usr/lib/c %+v, and opt %+v and last %+v apart", eb, ec, opt, last)
	}
	if !equalSpans(a.PrefetchSpans, want) {
		t.Errorf("lower spans %+v, want %+v", a.PrefetchSpans, want)
	}
	a, _ = Parse(res.Blobs[1].Bytes)
	if !equalSpans(a.PrefetchSpans, []Span{ids(uz, "etc/a")}) {
		t.Errorf("upper spans %+v, want %+v", a.PrefetchSpans, ids(uz, "etc/a"))
	}
	if !strings.HasPrefix(string(res.Blobs[1].Bytes), `{"version":"1.0","prefetch_spans":[{"start_span":0,"end_span":`) {
		t.Errorf("bytes %s", res.Blobs[1].Bytes)
	}

	// A layer listed twice gets its artifact twice; the top one is searched.
	res, err = Build([]Layer{upper, lower, upper}, []string{"etc/a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blobs) != 2 || !bytes.Equal(res.Blobs[0].Bytes, res.Blobs[1].Bytes) || res.Blobs[0].Descriptor.Annotations[ociindex.AnnotationImageLayerDigest] != upper.Digest.String() {
		t.Errorf("duplicate layer: %+v", res.Blobs)
	}
	if res, _ := Build([]Layer{lower}, nil); len(res.Blobs) != 0 || len(res.NotFound) != 0 {
		t.Errorf("no paths: %+v", res)
	}
}

// TestBuildGzip: the span of an offset is the last checkpoint at or before it.
func TestBuildGzip(t *testing.T) {
	l, z := layer(t, 3, ztoc.Gzip, 65536, entry{name: "a", size: 100}, entry{name: "big", size: 400000}, entry{name: "z", size: 10})
	cps, err := z.GzipCheckpoints()
	if err != nil || len(cps) < 3 {
		t.Fatalf("%d checkpoints, %v", len(cps), err)
	}
	last := func(off int64) int32 {
		var id int32
		for i, c := range cps {
			if c.Out <= off {
				id = int32(i)
			}
		}
		return id
	}
	res, err := Build([]Layer{l}, []string{"big"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse(res.Blobs[0].Bytes)
	if err != nil {
		t.Fatal(err)
	}
	e := find(t, z, "big")
	want := Span{StartSpan: last(e.UncompressedOffset), EndSpan: last(e.UncompressedOffset + e.UncompressedSize)}
	if !equalSpans(a.PrefetchSpans, []Span{want}) || want.EndSpan <= want.StartSpan {
		t.Errorf("spans %+v, want %+v", a.PrefetchSpans, want)
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want []Span }{
		{[]Span{{5, 6, 0}}, []Span{{5, 6, 0}}},
		{[]Span{{5, 6, 0}, {0, 1, 0}}, []Span{{0, 1, 0}, {5, 6, 0}}},
		{[]Span{{0, 1, 0}, {2, 3, 0}}, []Span{{0, 3, 0}}},            // adjacent
		{[]Span{{0, 4, 0}, {1, 2, 0}}, []Span{{0, 4, 0}}},            // contained
		{[]Span{{3, 3, 0}, {0, 3, 0}, {3, 9, 0}}, []Span{{0, 9, 0}}}, // overlapping
		{[]Span{{0, 0, 0}, {2, 2, 0}}, []Span{{0, 0, 0}, {2, 2, 0}}}, // a gap of one span
	} {
		if got := normalize(append([]Span(nil), tc.in...)); !equalSpans(got, tc.want) {
			t.Errorf("normalize(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		`{"version":"1.0","prefetch_spans":[{"start_span":0,"end_span":1}]}`: "",
		`{"version":"1.1","prefetch_spans":[{"start_span":0,"end_span":1}]}`: "unsupported version",
		`{"version":"1.0","prefetch_spans":[]}`:                              "empty",
		`{"version":"1.0",}`:                                                 "invalid character",
	} {
		_, err := Parse([]byte(in))
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("Parse(%s) = %v, want %q", in, err, want)
		}
	}
	if _, err := Marshal(&Artifact{Version: Version}); !errors.Is(err, ErrEmpty) {
		t.Errorf("Marshal of an empty artifact: %v", err)
	}
}

func equalSpans(a, b []Span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParsePathsJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{`[" etc/os-release ", "", "usr/bin/env"]`, []string{"etc/os-release", "usr/bin/env"}, ""},
		{`[]`, nil, ""},
		{`["  ", ""]`, nil, "every entry is empty"},
		{`{"paths": []}`, nil, "want a JSON array of strings"},
	} {
		got, err := ParsePathsJSON([]byte(tc.in))
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}
