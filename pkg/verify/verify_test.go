package verify

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/ztoc"
)

// TestSociVectorsVerify: images converted by soci v0.16.1 itself verify OK,
// including the --deep rebuild, and the report describes them.
func TestSociVectorsVerify(t *testing.T) {
	cases := []struct {
		image, label string
		lazy         map[string]bool // platform -> lazily loaded
		spanSize     int64
	}{
		{"a-img1-single", "defaultspan", map[string]bool{"linux/amd64": true}, 4194304},
		{"a-img1-single", "span64k", map[string]bool{"linux/amd64": true}, 65536},
		{"a-img2-2platform", "allplatforms-span64k", map[string]bool{"linux/amd64": true, "linux/arm64": true}, 65536},
		// soci converts only the host platform of an index by default.
		{"a-img2-2platform", "hostplatform-span64k", map[string]bool{"linux/amd64": true, "linux/arm64": false}, 65536},
	}
	for _, tc := range cases {
		t.Run(tc.image+"/"+tc.label, func(t *testing.T) {
			s := vectorStore(t, tc.image, tc.label)
			rep, err := Verify(context.Background(), s.index(), WithDeep(true))
			must(t, err)
			if !rep.OK() || len(rep.Errors()) > 0 {
				t.Fatalf("not OK:\n%s", dump(rep.Problems()))
			}
			if len(rep.Image.Platforms) != len(tc.lazy) {
				t.Fatalf("%d platforms, want %d", len(rep.Image.Platforms), len(tc.lazy))
			}
			for _, p := range rep.Image.Platforms {
				if p.Lazy != tc.lazy[p.Platform.String()] {
					t.Errorf("platform %s lazy=%v, want %v", p.Platform, p.Lazy, tc.lazy[p.Platform.String()])
				}
				if !p.Lazy {
					if ws := problemsOf(rep.Warnings(), CheckPlatform); len(ws) != 1 || platOf(ws[0]) != p.Platform.String() {
						t.Errorf("want one platform warning for %s:\n%s", p.Platform, dump(rep.Problems()))
					}
					continue
				}
				for _, l := range p.Layers {
					if l.Ztoc == nil || !l.Lazy || l.Ztoc.SpanSize != tc.spanSize || l.Ztoc.Files == 0 || l.Ztoc.Spans < 1 {
						t.Errorf("layer %s: %+v %+v", l.Digest, l, l.Ztoc)
					}
				}
			}
			if rep.Stats.Rebuilt != rep.Stats.Ztocs || rep.Stats.SpansChecked == 0 {
				t.Errorf("stats %+v", rep.Stats)
			}
		})
	}
}

// baseImage is a two-platform source: each platform has a large layer of its
// own and both share a small one.
func baseImage(t testing.TB) *store {
	src := newStore(t)
	shared := gzLayer(gzipBytes(t, makeTar(t, 9, fileSpec{name: "hello.txt", size: 100}), gzip.BestSpeed, ""))
	a := src.addImage(amd64, gzLayer(gzipBytes(t, standardTar(t, 1), gzip.BestSpeed, "")), shared)
	b := src.addImage(arm64, gzLayer(gzipBytes(t, standardTar(t, 2), gzip.DefaultCompression, "")), shared)
	src.setRoot(a, b)
	return src
}

func TestConvertedImageVerifies(t *testing.T) {
	s := converted(t, baseImage(t))
	for _, deep := range []bool{false, true} {
		rep, err := Verify(context.Background(), s.index(), WithDeep(deep), WithConcurrency(2))
		must(t, err)
		if !rep.OK() || len(rep.Problems()) > 0 {
			t.Fatalf("deep=%v:\n%s", deep, dump(rep.Problems()))
		}
		// The shared layer is read once for both platforms.
		if rep.Stats.LayersRead != 3 || rep.Stats.Ztocs != 3 || rep.Stats.SociIndexes != 2 {
			t.Errorf("stats %+v", rep.Stats)
		}
		if deep && rep.Stats.Rebuilt != 3 {
			t.Errorf("rebuilt %d", rep.Stats.Rebuilt)
		}
		var text, js bytes.Buffer
		must(t, rep.WriteText(&text))
		must(t, rep.WriteJSON(&js))
		if !strings.Contains(text.String(), "OK: the image will be lazily loaded") {
			t.Errorf("text:\n%s", text.String())
		}
		var back struct {
			OK    bool          `json:"ok"`
			Image InspectReport `json:"image"`
		}
		must(t, json.Unmarshal(js.Bytes(), &back))
		if !back.OK || len(back.Image.Platforms) != 2 || back.Image.Platforms[1].Platform.String() != "linux/arm64" {
			t.Errorf("json: %s", js.String())
		}
	}
}

func unmarshalZtoc(t *testing.T, b []byte) *ztoc.Ztoc {
	t.Helper()
	z, err := ztoc.Unmarshal(b)
	must(t, err)
	return z
}

// editZtoc rewrites the zTOC of layer i of the amd64 platform.
func editZtoc(t *testing.T, s *store, i int, f func(z *ztoc.Ztoc, layer []byte)) {
	t.Helper()
	pb := s.platform("amd64")
	zd := pb.ztocs[i].Digest
	z := unmarshalZtoc(t, s.blobs[zd])
	f(z, s.blobs[pb.layers[i].Digest])
	b, err := ztoc.Marshal(z)
	must(t, err)
	s.replace(zd, b)
}

func spanDigest(b []byte) string { return digest.FromBytes(b).String() }

// TestCorruptions corrupts a converted image one way at a time and checks
// that exactly that is reported, on the right platform and layer.
func TestCorruptions(t *testing.T) {
	base := converted(t, baseImage(t))
	pb := base.platform("amd64")
	layer0 := pb.layers[0].Digest.String()
	cases := []struct {
		name   string
		mutate func(t *testing.T, s *store)
		opts   []Option
		check  Check
		sev    Severity
		layer  string // "" when the problem is not about a layer
		msg    string // substring
		ok     bool   // expected OK()
		// where: span/file/offset must be set
		span, file, offset bool
	}{
		{name: "wrong span digest", check: CheckSpanDigest, sev: SeverityError, layer: layer0, msg: "ErrIncorrectSpanDigest", span: true, file: true, offset: true,
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, _ []byte) { z.SpanDigests[1] = spanDigest([]byte("x")) })
			}},
		{name: "corrupt layer byte", check: CheckLayerBlob, sev: SeverityError, layer: layer0, msg: "has digest",
			mutate: func(t *testing.T, s *store) {
				b := bytes.Clone(s.blobs[pb.layers[0].Digest])
				b[len(b)/2] ^= 0xff
				s.blobs[pb.layers[0].Digest] = b
			}},
		{name: "missing index-digest annotation", check: CheckPlatform, sev: SeverityWarning, msg: "not SOCI-enabled", ok: true,
			mutate: func(t *testing.T, s *store) {
				editJSON(s, pb.manifest, func(m *ocispec.Manifest) { delete(m.Annotations, ociindex.AnnotationIndexDigest) })
			}},
		{name: "missing index-digest annotation, platform required", check: CheckPlatform, sev: SeverityError, msg: "not SOCI-enabled",
			opts: []Option{WithPlatforms(v1.Platform{OS: "linux", Architecture: "amd64"})},
			mutate: func(t *testing.T, s *store) {
				editJSON(s, pb.manifest, func(m *ocispec.Manifest) { delete(m.Annotations, ociindex.AnnotationIndexDigest) })
			}},
		{name: "invalid index-digest annotation", check: CheckIndexDigest, sev: SeverityError, msg: "not a valid digest",
			mutate: func(t *testing.T, s *store) {
				editJSON(s, pb.manifest, func(m *ocispec.Manifest) { m.Annotations[ociindex.AnnotationIndexDigest] = "sha256:nope" })
			}},
		{name: "non-canonical whitespace", check: CheckCanonicalJSON, sev: SeverityError, msg: "whitespace",
			mutate: func(t *testing.T, s *store) {
				var out bytes.Buffer
				must(t, json.Indent(&out, s.blobs[pb.soci], "", " "))
				s.replace(pb.soci, out.Bytes())
			}},
		{name: "artifactType in SOCI index", check: CheckCanonicalJSON, sev: SeverityError, msg: "artifactType",
			mutate: func(t *testing.T, s *store) {
				b := bytes.Replace(s.blobs[pb.soci], []byte(`"config"`), []byte(`"artifactType":"application/vnd.amazon.soci.index.v2+json","config"`), 1)
				s.replace(pb.soci, b)
			}},
		{name: "unknown index version", check: CheckSociIndex, sev: SeverityError, msg: "unknown index version",
			mutate: func(t *testing.T, s *store) {
				editJSON(s, pb.soci, func(m *ocispec.Manifest) { m.Config.MediaType = "application/vnd.example+json" })
			}},
		{name: "SOCI index bytes do not match digest", check: CheckSociIndex, sev: SeverityError, msg: "bytes have digest",
			mutate: func(t *testing.T, s *store) {
				s.blobs[pb.soci] = append(bytes.Clone(s.blobs[pb.soci]), ' ')
			}},
		{name: "SOCI index not listed", check: CheckSociDescriptor, sev: SeverityError, msg: "not listed",
			mutate: func(t *testing.T, s *store) {
				d, _ := s.topIndex()
				editJSON(s, d, func(ix *ocispec.Index) {
					var keep []ocispec.Descriptor
					for _, m := range ix.Manifests {
						if m.Digest != pb.soci {
							keep = append(keep, m)
						}
					}
					ix.Manifests = keep
				})
			}},
		{name: "SOCI descriptor without artifactType", check: CheckSociDescriptor, sev: SeverityWarning, msg: `has artifactType ""`, ok: true,
			mutate: func(t *testing.T, s *store) {
				d, _ := s.topIndex()
				editJSON(s, d, func(ix *ocispec.Index) {
					for i := range ix.Manifests {
						if ix.Manifests[i].Digest == pb.soci {
							ix.Manifests[i].ArtifactType = ""
						}
					}
				})
			}},
		{name: "SOCI descriptor back-link wrong", check: CheckSociDescriptor, sev: SeverityError, msg: "one-way",
			mutate: func(t *testing.T, s *store) {
				d, _ := s.topIndex()
				other := s.platform("arm64").manifest
				editJSON(s, d, func(ix *ocispec.Index) {
					for i := range ix.Manifests {
						if ix.Manifests[i].Digest == pb.soci {
							ix.Manifests[i].Annotations[ociindex.AnnotationImageManifestDigest] = other.String()
						}
					}
				})
			}},
		{name: "missing zTOC blob", check: CheckZtocBlob, sev: SeverityError, layer: layer0, msg: "gives up on SOCI for this platform",
			mutate: func(t *testing.T, s *store) { delete(s.blobs, pb.ztocs[0].Digest) }},
		{name: "zTOC does not unmarshal", check: CheckZtocFormat, sev: SeverityError, layer: layer0, msg: "does not unmarshal",
			mutate: func(t *testing.T, s *store) {
				s.replace(pb.ztocs[0].Digest, []byte("not a flatbuffer at all"))
			}},
		{name: "overlapping TOC", check: CheckTOCOverlap, sev: SeverityError, layer: layer0, msg: "overlaps",
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, _ []byte) {
					for i := range z.TOC {
						if z.TOC[i].Name == "usr/share/doc.txt" {
							z.TOC[i].UncompressedOffset -= 4096 // into usr/bin/tool's data
						}
					}
				})
			}},
		{name: "max_span_id mismatch", check: CheckMaxSpanID, sev: SeverityError, layer: layer0, msg: "ErrIncorrectMaxSpanID",
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, _ []byte) { z.MaxSpanID++ })
			}},
		{name: "span digest count mismatch", check: CheckMaxSpanID, sev: SeverityError, layer: layer0, msg: "span digests",
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, _ []byte) { z.SpanDigests = z.SpanDigests[1:] })
			}},
		{name: "checkpoint 0 after the header", check: CheckGzipHeader, sev: SeverityError, layer: layer0, msg: "gzip header ends at 10", offset: true,
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, layer []byte) {
					binary.LittleEndian.PutUint64(z.Checkpoints[12:], 12)
					cps, err := z.GzipCheckpoints()
					must(t, err)
					z.SpanDigests[0] = spanDigest(layer[12:cps[1].In])
				})
			}},
		{name: "checkpoint 0 inside the header", check: CheckGzipHeader, sev: SeverityError, layer: layer0, msg: "inside the 10-byte gzip header", offset: true,
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, layer []byte) {
					binary.LittleEndian.PutUint64(z.Checkpoints[12:], 4)
					cps, err := z.GzipCheckpoints()
					must(t, err)
					z.SpanDigests[0] = spanDigest(layer[4:cps[1].In])
				})
			}},
		{name: "duplicate zero checkpoint", check: CheckZeroCheckpoints, sev: SeverityError, layer: layer0, msg: "ErrNonMonotonicCheckpoints", span: true, offset: true,
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, layer []byte) {
					// Checkpoint 1 moved to out=0 as an empty first gzip member would put it.
					binary.LittleEndian.PutUint64(z.Checkpoints[12+32785+8:], 0)
				})
			}},
		{name: "compressed size mismatch", check: CheckZtocFormat, sev: SeverityError, layer: layer0, msg: "compressed_archive_size",
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, _ []byte) { z.CompressedArchiveSize += 10 })
			}},
		{name: "zTOC marked uncompressed for a gzip layer", check: CheckCompression, sev: SeverityError, layer: layer0, msg: "gzip",
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, _ []byte) { z.Compression = ztoc.Uncompressed })
			}},
		{name: "disable-xattrs on a layer with xattrs", check: CheckZtocDescriptor, sev: SeverityError, layer: layer0, msg: "hides them", file: true,
			mutate: func(t *testing.T, s *store) {
				editJSON(s, pb.soci, func(m *ocispec.Manifest) { m.Layers[0].Annotations[ociindex.AnnotationDisableXattrs] = "true" })
			}},
		{name: "dangling hard link", check: CheckTOC, sev: SeverityError, layer: layer0, msg: "hard link", file: true,
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, _ []byte) {
					for i := range z.TOC {
						if z.TOC[i].Type == "hardlink" {
							z.TOC[i].Linkname = "usr/bin/missing"
						}
					}
				})
			}},
		{name: "sparse file", check: CheckSparseFile, sev: SeverityWarning, layer: layer0, msg: "sparse", ok: true, file: true, offset: true,
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, _ []byte) {
					z.TOC[2].PAXHeaders = map[string]string{"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
				})
			}},
		{name: "wrong checkpoint window (deep)", check: CheckRebuild, sev: SeverityError, layer: layer0, msg: "window of checkpoint 1", span: true, offset: true,
			opts: []Option{WithDeep(true)},
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, _ []byte) { z.Checkpoints[12+32785+17+100] ^= 1 })
			}},
		{name: "wrong file mode (deep)", check: CheckRebuild, sev: SeverityError, layer: layer0, msg: "mode", file: true,
			opts: []Option{WithDeep(true)},
			mutate: func(t *testing.T, s *store) {
				editZtoc(t, s, 0, func(z *ztoc.Ztoc, _ []byte) { z.TOC[1].Mode = 0o777 })
			}},
		{name: "span-size annotation wrong", check: CheckZtocDescriptor, sev: SeverityWarning, layer: layer0, msg: "span size", ok: true,
			mutate: func(t *testing.T, s *store) {
				editJSON(s, pb.soci, func(m *ocispec.Manifest) { m.Layers[0].Annotations[ociindex.AnnotationSpanSize] = "4194304" })
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := base.clone()
			tc.mutate(t, s)
			rep, err := Verify(context.Background(), s.index(), tc.opts...)
			must(t, err)
			if rep.OK() != tc.ok {
				t.Errorf("OK() = %v, want %v", rep.OK(), tc.ok)
			}
			found := problemsOf(rep.Problems(), tc.check)
			var hit *Problem
			for i := range found {
				if found[i].Severity == tc.sev && strings.Contains(found[i].Message, tc.msg) {
					hit = &found[i]
					break
				}
			}
			if hit == nil {
				t.Fatalf("no %s %s problem containing %q:\n%s", tc.sev, tc.check, tc.msg, dump(rep.Problems()))
			}
			if platOf(*hit) != "linux/amd64" || hit.Layer != tc.layer {
				t.Errorf("problem placed at platform %q layer %q, want linux/amd64 %q: %s", platOf(*hit), hit.Layer, tc.layer, hit)
			}
			if (hit.Span != nil) != tc.span || (hit.File != "") != tc.file || (hit.Offset != nil) != tc.offset {
				t.Errorf("span/file/offset = %v/%q/%v, want %v/%v/%v: %s", hit.Span, hit.File, hit.Offset, tc.span, tc.file, tc.offset, hit)
			}
			// The other platform is untouched.
			for _, p := range rep.Errors() {
				if platOf(p) == "linux/arm64" {
					t.Errorf("unexpected error on the other platform: %s", p)
				}
			}
		})
	}
}

// TestLayerProblemsFromRealLayers uses layers that soci (and socify) index
// faithfully but that the snapshotter cannot serve.
func TestLayerProblemsFromRealLayers(t *testing.T) {
	tarball := standardTar(t, 3)
	emptyMember := gzipBytes(t, nil, gzip.BestSpeed, "")
	cases := []struct {
		name  string
		layer []byte
		check Check
		msg   string
	}{
		// An empty first gzip member puts a second checkpoint at out=0.
		{"empty first gzip member", append(bytes.Clone(emptyMember), gzipBytes(t, tarball, gzip.BestSpeed, "")...), CheckZeroCheckpoints, "both at uncompressed offset 0"},
		// A 600-byte FNAME (which Go's gzip reader, used by the snapshotter's
		// header check, refuses) no longer converts at all, as with soci: the
		// header check itself is covered in unit_test.go.
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := newStore(t)
			src.setRoot(src.addImage(amd64, gzLayer(tc.layer)))
			s := converted(t, src)
			rep, err := Verify(context.Background(), s.index())
			must(t, err)
			if rep.OK() {
				t.Fatalf("OK, want failure:\n%s", dump(rep.Problems()))
			}
			ps := problemsOf(rep.Errors(), tc.check)
			if len(ps) == 0 || !strings.Contains(ps[0].Message, tc.msg) || ps[0].Layer != digest.FromBytes(tc.layer).String() || ps[0].Offset == nil {
				t.Fatalf("want %s error with %q:\n%s", tc.check, tc.msg, dump(rep.Problems()))
			}
		})
	}
}

func TestUncompressedLayer(t *testing.T) {
	src := newStore(t)
	src.setRoot(src.addImage(amd64, layerBlob{mediaType: ocispec.MediaTypeImageLayer, data: standardTar(t, 4)}))
	s := converted(t, src)
	rep, err := Verify(context.Background(), s.index(), WithDeep(true))
	must(t, err)
	if !rep.OK() || len(rep.Problems()) > 0 {
		t.Fatalf("%s", dump(rep.Problems()))
	}
	l := rep.Image.Platforms[0].Layers[0]
	if l.Compression != "uncompressed" || l.Ztoc.Compression != "uncompressed" || l.Ztoc.Spans < 5 {
		t.Errorf("%+v %+v", l, l.Ztoc)
	}

	// The zTOC of a tar layer says where spans end; a wrong size shifts them.
	pb := s.platform("amd64")
	editZtocAt(t, s, pb.ztocs[0].Digest, func(z *ztoc.Ztoc) { z.Compression = ztoc.Gzip })
	rep, err = Verify(context.Background(), s.index())
	must(t, err)
	if ps := problemsOf(rep.Errors(), CheckCompression); len(ps) == 0 {
		t.Fatalf("want compression error:\n%s", dump(rep.Problems()))
	}
}

func editZtocAt(t *testing.T, s *store, d digest.Digest, f func(z *ztoc.Ztoc)) {
	t.Helper()
	z := unmarshalZtoc(t, s.blobs[d])
	f(z)
	b, err := ztoc.Marshal(z)
	must(t, err)
	s.replace(d, b)
}

// TestLayersWithoutZtoc: layers soci skips are reported with their reason,
// as warnings.
func TestLayersWithoutZtoc(t *testing.T) {
	src := newStore(t)
	big := gzLayer(gzipBytes(t, standardTar(t, 5), gzip.BestSpeed, ""))
	small := gzLayer(gzipBytes(t, makeTar(t, 6, fileSpec{name: "a", size: 10}), gzip.BestSpeed, ""))
	zstd := layerBlob{mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", data: []byte("(\xb5/\xfd not really zstd")}
	src.setRoot(src.addImage(amd64, big, small, zstd))
	s := converted(t, src, convert.WithMinLayerSize(1000))

	rep, err := Inspect(context.Background(), s.index(), WithMinLayerSize(1000))
	must(t, err)
	ls := rep.Platforms[0].Layers
	if ls[0].Ztoc == nil || !ls[0].Lazy || ls[1].NoZtoc != ReasonBelowMinSize || ls[2].NoZtoc != ReasonZstd || ls[2].Compression != "zstd" {
		t.Fatalf("layers: %+v", ls)
	}
	if ws := problemsOf(rep.Problems, CheckLayerNotIndexed); len(ws) != 2 || ws[0].Layer != ls[1].Digest.String() || ws[1].Layer != ls[2].Digest.String() || ws[0].Severity != SeverityWarning {
		t.Fatalf("warnings:\n%s", dump(rep.Problems))
	}
	var text bytes.Buffer
	must(t, rep.WriteText(&text))
	for _, want := range []string{"platform linux/amd64", "below-min-size", "zstd", "spans of 64.0 KiB"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}

	// With a larger threshold than the converter's, the small layer is
	// reported as a layer that could have been indexed.
	vrep, err := Verify(context.Background(), s.index(), WithMinLayerSize(1))
	must(t, err)
	if !vrep.OK() || vrep.Image.Platforms[0].Layers[1].NoZtoc != ReasonNotIndexed {
		t.Fatalf("%+v\n%s", vrep.Image.Platforms[0].Layers[1], dump(vrep.Problems()))
	}
}

func TestTagIsManifest(t *testing.T) {
	s := converted(t, baseImage(t))
	pb := s.platform("amd64")
	idx := s.index()
	top, err := idx.ImageIndex(mustHash(t, s.topDigest()))
	must(t, err)
	img, err := top.Image(mustHash(t, pb.manifest))
	must(t, err)

	// The reference names the manifest: the source wraps it in an index.
	wrapped := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
	rep, err := Verify(context.Background(), wrapped, WithWrapped(true))
	must(t, err)
	if rep.OK() || len(problemsOf(rep.Warnings(), CheckImage)) != 1 || len(problemsOf(rep.Errors(), CheckSociIndex)) != 1 {
		t.Fatalf("without a fetcher:\n%s", dump(rep.Problems()))
	}
	fetch := func(ctx context.Context, h v1.Hash) (v1.Image, error) { return top.Image(h) }
	rep, err = Verify(context.Background(), wrapped, WithWrapped(true), WithManifestFetcher(fetch), WithDeep(true))
	must(t, err)
	if !rep.OK() || len(rep.Errors()) > 0 || rep.Image.Index || len(problemsOf(rep.Warnings(), CheckImage)) != 1 {
		t.Fatalf("with a fetcher:\n%s", dump(rep.Problems()))
	}
	if rep.Stats.LayersRead != 2 || rep.Stats.Rebuilt != 2 {
		t.Errorf("stats %+v", rep.Stats)
	}
}

func (s *store) topDigest() digest.Digest {
	d, _ := s.topIndex()
	return d
}

func mustHash(t *testing.T, d digest.Digest) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(d.String())
	must(t, err)
	return h
}

func TestPlatformSelection(t *testing.T) {
	s := converted(t, baseImage(t))
	rep, err := Verify(context.Background(), s.index(), WithPlatforms(v1.Platform{OS: "linux", Architecture: "arm64"}))
	must(t, err)
	if !rep.OK() || len(rep.Image.Platforms) != 1 || rep.Image.Platforms[0].Platform.String() != "linux/arm64" {
		t.Fatalf("%+v\n%s", rep.Image.Platforms, dump(rep.Problems()))
	}
	// A platform the image lacks is an error that lists the image's.
	_, err = Verify(context.Background(), s.index(), WithPlatforms(v1.Platform{OS: "linux", Architecture: "s390x"}))
	if !errors.Is(err, ErrPlatformNotFound) || !strings.Contains(err.Error(), "linux/s390x is not in the image, which has linux/amd64, linux/arm64") {
		t.Fatalf("want ErrPlatformNotFound listing the platforms, got %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	s := converted(t, baseImage(t))
	for _, o := range []Option{WithMinLayerSize(-1), WithConcurrency(-2), WithPlatforms(v1.Platform{OS: "linux"})} {
		if _, err := Inspect(context.Background(), s.index(), o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("Inspect: want ErrInvalidOption, got %v", err)
		}
		if _, err := Verify(context.Background(), s.index(), o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("Verify: want ErrInvalidOption, got %v", err)
		}
	}
}

// TestUnconvertedImage: nothing SOCI-enabled, nothing lazy.
func TestUnconvertedImage(t *testing.T) {
	src := baseImage(t)
	rep, err := Verify(context.Background(), src.index())
	must(t, err)
	if rep.OK() || len(rep.Errors()) > 0 || len(problemsOf(rep.Warnings(), CheckPlatform)) != 2 {
		t.Fatalf("%s", dump(rep.Problems()))
	}
	var text bytes.Buffer
	must(t, rep.WriteText(&text))
	if !strings.Contains(text.String(), "FAIL") || !strings.Contains(text.String(), "not SOCI-enabled") {
		t.Errorf("%s", text.String())
	}
}

func TestCancelled(t *testing.T) {
	s := converted(t, baseImage(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, s.index(), WithDeep(true)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// TestMissingLayerBlob: a partial layout (layer blob absent) cannot be
// verified, and says which layer.
func TestMissingLayerBlob(t *testing.T) {
	s := converted(t, baseImage(t))
	pb := s.platform("arm64")
	delete(s.blobs, pb.layers[0].Digest)
	rep, err := Verify(context.Background(), s.index())
	must(t, err)
	ps := problemsOf(rep.Errors(), CheckLayerBlob)
	if rep.OK() || len(ps) != 1 || platOf(ps[0]) != "linux/arm64" || ps[0].Layer != pb.layers[0].Digest.String() {
		t.Fatalf("%s", dump(rep.Problems()))
	}
}
