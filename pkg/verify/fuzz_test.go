package verify

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/convert"
)

// Fuzz targets for the manifest, index and zTOC parsing of the verifier. Run
// one at a time, e.g.
//
//	go test ./pkg/verify -run '^$' -fuzz '^FuzzSociIndex$' -fuzztime 60s
//
// Crashers are kept in testdata/fuzz/<FuzzName>/ and replayed by `go test`.

// FuzzSociIndex: decoding a SOCI index never panics, and an index judged
// usable is exactly the canonical encoding the snapshotter writes back.
func FuzzSociIndex(f *testing.F) {
	for _, seed := range sociIndexSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, fs, ok := checkSociIndex(raw)
		for _, x := range fs {
			if x.msg == "" || (x.sev != SeverityError && x.sev != SeverityWarning) {
				t.Fatalf("malformed finding %+v", x)
			}
			if x.sev == SeverityError && ok {
				t.Fatalf("usable index with error %+v", x)
			}
		}
		if !ok {
			return
		}
		canon, err := canonicalSociIndex(m)
		if err != nil || !bytes.Equal(canon, raw) {
			t.Fatalf("usable but not canonical: %q vs %q (%v)", raw, canon, err)
		}
	})
}

var sociIndexSeeds = []string{
	`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.amazon.soci.index.v2+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/octet-stream","digest":"sha256:f7a043603647fb5ae5f0529686a603ed30394c6eaebb59b67b3d1f0044e9de67","size":177864,"annotations":{"com.amazon.soci.image-layer-digest":"sha256:94a99e92b55691efe71f43c1a93ea035a7056ddc91ad5cd14914704319e302d0","com.amazon.soci.image-layer-mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","com.amazon.soci.span-size":"65536"}}],"annotations":{"com.amazon.soci.build-tool-identifier":"AWS SOCI CLI v0.2"}}`,
	`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.amazon.soci.index.v2+json","config":{"mediaType":"application/vnd.amazon.soci.index.v2+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`,
	`{"schemaVersion":2, "config":{"mediaType":"application/vnd.amazon.soci.index.v1+json"},"subject":{"mediaType":"x","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":1}}`,
	`{"layers":[{"digest":"md5:x","size":-1,"data":"AAAA","urls":["a&b"]}]}`,
	`[]`,
}

// FuzzZtocAnalysis: the static zTOC checks never panic, and the spans they
// hand to the streaming verifier are in the order it relies on.
func FuzzZtocAnalysis(f *testing.F) {
	tarball := makeTar(f, 1, fileSpec{name: "a", size: 70000, random: true}, fileSpec{name: "b", size: 3000})
	for _, b := range [][]byte{
		builtZtoc(f, gzipBytes(f, tarball, gzip.BestSpeed, ""), 16384, false),
		builtZtoc(f, tarball, 16384, true),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := analyzeZtoc(digest.FromBytes(raw).String(), raw)
		if s.z == nil && !s.fatal {
			t.Fatal("undecodable zTOC not fatal")
		}
		for i := 1; i < len(s.spans); i++ {
			a, b := s.spans[i-1], s.spans[i]
			if a.start > a.end || b.start < a.start || b.start < a.end-1 {
				t.Fatalf("spans %d,%d out of order: %+v %+v", i-1, i, a, b)
			}
		}
		if len(s.spans) > 0 && len(s.spans) != len(s.z.SpanDigests) {
			t.Fatalf("%d spans for %d digests", len(s.spans), len(s.z.SpanDigests))
		}
		if s.z != nil {
			_ = fileAt(s.z, 0, 1<<20)
			_, _ = s.z.XattrEntry()
		}
	})
}

// FuzzGzipHeader: the header parsers never panic, and when Go's reader
// accepts a header the verifier's own parser finds the same length.
func FuzzGzipHeader(f *testing.F) {
	f.Add(gzipBytes(f, []byte("x"), gzip.BestSpeed, "")[:20])
	f.Add(gzipBytes(f, []byte("x"), gzip.BestSpeed, "name.tar")[:30])
	f.Add([]byte("\x1f\x8b\x08\x1e\x00\x00\x00\x00\x00\xff\x02\x00ab" + "n\x00c\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, goErr := goGzipHeaderLen(b)
		h, err := parseGzipHeader(b)
		_ = h.explainGoReject()
		if goErr == nil && err == nil && n != h.length {
			t.Fatalf("Go reads a %d-byte header, parser says %d", n, h.length)
		}
		if goErr == nil && err != nil {
			t.Fatalf("Go accepts the header, parser fails: %v", err)
		}
	})
}

// FuzzVerifyIndex: Inspect and Verify on an arbitrary index.json over a real
// converted image never panic and always produce a consistent report.
func FuzzVerifyIndex(f *testing.F) {
	src := newStore(f)
	src.setRoot(src.addImage(amd64, gzLayer(gzipBytes(f, makeTar(f, 2, fileSpec{name: "f", size: 20000, random: true}), gzip.BestSpeed, ""))))
	s := converted(f, src)
	dir := s.write()
	top, ix := s.topIndex()
	inner, err := json.Marshal(ix)
	must(f, err)
	f.Add(s.root, false)
	f.Add(inner, true)
	f.Add(s.blobs[top], false)
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"`+top.String()+`","size":1}]}`), false)
	f.Add([]byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+ix.Manifests[1].Digest.String()+`","size":5,"platform":{"os":"linux","architecture":"amd64"}}]}`), false)
	f.Fuzz(func(t *testing.T, indexJSON []byte, deep bool) {
		if err := os.WriteFile(filepath.Join(dir, "index.json"), indexJSON, 0o644); err != nil {
			t.Fatal(err)
		}
		idx, err := layout.ImageIndexFromPath(dir)
		if err != nil {
			return
		}
		if _, err := Inspect(context.Background(), idx); err != nil {
			return
		}
		rep, err := Verify(context.Background(), idx, WithDeep(deep))
		if err != nil {
			t.Fatalf("Verify failed after Inspect succeeded: %v", err)
		}
		if rep.OK() && len(rep.Errors()) > 0 {
			t.Fatal("OK with errors")
		}
		for _, p := range rep.Image.Platforms {
			for _, l := range p.Layers {
				if l.Lazy && (l.Ztoc == nil || !p.SociEnabled) {
					t.Fatalf("lazy layer without zTOC: %+v", l)
				}
			}
		}
		if err := rep.WriteText(io.Discard); err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(rep); err != nil {
			t.Fatal(err)
		}
	})
}

func builtZtoc(tb testing.TB, layer []byte, span int64, uncompressed bool) []byte {
	tb.Helper()
	src := newStore(tb)
	mt := ocispec.MediaTypeImageLayerGzip
	if uncompressed {
		mt = ocispec.MediaTypeImageLayer
	}
	src.setRoot(src.addImage(amd64, layerBlob{mediaType: mt, data: layer}))
	s := converted(tb, src, convert.WithSpanSize(span))
	return s.blobs[s.platform("amd64").ztocs[0].Digest]
}
