package verify

import (
	"context"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/prefetch"
)

// TestPrefetchArtifacts: an image converted with prefetch files verifies
// clean; each way an artifact can be useless to the snapshotter is a
// prefetch warning on that platform, and the image stays lazily loaded.
func TestPrefetchArtifacts(t *testing.T) {
	s := converted(t, baseImage(t), convert.WithPrefetchFiles("/usr/bin/tool", "etc/os-release", "hello.txt", "no/such/file"))
	pb := s.platform("amd64")
	var pf []ocispec.Descriptor
	for i, d := range pb.ztocs {
		if d.MediaType == prefetch.MediaType {
			pf = append(pf, d)
		} else if len(pf) > 0 {
			t.Fatalf("zTOC descriptor %d after a prefetch artifact: soci lists prefetch artifacts last", i)
		}
	}
	// usr/bin/tool and etc/os-release are in layer 0, hello.txt in layer 1.
	if len(pf) != 2 || pf[0].Annotations[ociindex.AnnotationImageLayerDigest] != pb.layers[0].Digest.String() ||
		pf[1].Annotations[ociindex.AnnotationImageLayerDigest] != pb.layers[1].Digest.String() {
		t.Fatalf("prefetch descriptors %+v", pf)
	}
	rep, err := Verify(context.Background(), s.index(), WithDeep(true))
	must(t, err)
	if !rep.OK() || len(rep.Problems()) > 0 {
		t.Fatalf("%s", dump(rep.Problems()))
	}
	for i, l := range rep.Image.Platforms[0].Layers {
		if l.Prefetch == nil || l.Prefetch.Digest.String() != pf[i].Digest.String() || l.Prefetch.Ranges < 1 || l.Prefetch.Spans < l.Prefetch.Ranges {
			t.Errorf("layer %d prefetch %+v, want %s", i, l.Prefetch, pf[i].Digest)
		}
	}
	var text strings.Builder
	must(t, rep.WriteText(&text))
	if !strings.Contains(text.String(), ", prefetch "+pf[0].Digest.String()+": ") {
		t.Errorf("text report lacks the prefetch artifact:\n%s", text.String())
	}

	cases := []struct {
		name string
		edit func(s *store)
		msg  string
	}{
		{"version", func(s *store) {
			s.replace(pf[0].Digest, []byte(`{"version":"1.1","prefetch_spans":[{"start_span":0,"end_span":0}]}`))
		}, `unsupported version "1.1"`},
		{"empty", func(s *store) { s.replace(pf[0].Digest, []byte(`{"version":"1.0","prefetch_spans":[]}`)) }, "empty"},
		{"not json", func(s *store) { s.replace(pf[0].Digest, []byte(`{"version":"1.0",}`)) }, "invalid character"},
		{"span past the zTOC", func(s *store) {
			s.replace(pf[0].Digest, []byte(`{"version":"1.0","prefetch_spans":[{"start_span":0,"end_span":100000}]}`))
		}, "outside the zTOC's spans"},
		{"reversed range", func(s *store) {
			s.replace(pf[0].Digest, []byte(`{"version":"1.0","prefetch_spans":[{"start_span":2,"end_span":1}]}`))
		}, "reversed"},
		{"unknown layer", func(s *store) {
			editJSON(s, pb.soci, func(m *ocispec.Manifest) {
				for i := range m.Layers {
					if m.Layers[i].Digest == pf[0].Digest {
						m.Layers[i].Annotations[ociindex.AnnotationImageLayerDigest] = digest.FromString("other").String()
					}
				}
			})
		}, "which has no zTOC in this SOCI index"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := s.clone()
			tc.edit(c)
			rep, err := Verify(context.Background(), c.index())
			must(t, err)
			ps := problemsOf(rep.Warnings(), CheckPrefetch)
			if !rep.OK() || len(rep.Errors()) > 0 || len(ps) != 1 || platOf(ps[0]) != "linux/amd64" || !strings.Contains(ps[0].Message, tc.msg) {
				t.Fatalf("want OK and one prefetch warning on linux/amd64 containing %q:\n%s", tc.msg, dump(rep.Problems()))
			}
		})
	}
}

// TestPrefetchOptionValidates: an empty path is refused before any work.
func TestPrefetchOptionValidates(t *testing.T) {
	_, _, err := convert.Convert(context.Background(), baseImage(t).index(), convert.WithPrefetchFiles("etc/x", " "))
	if err == nil || !strings.Contains(err.Error(), "prefetch file: empty path") {
		t.Fatalf("err = %v", err)
	}
}

// TestPrefetchMissingPath: a path no layer with a zTOC holds is a warning
// naming it, as soci logs it; with no path found there is no artifact.
func TestPrefetchMissingPath(t *testing.T) {
	_, rep, err := convert.Convert(context.Background(), baseImage(t).index(), convert.WithMinLayerSize(0), convert.WithPrefetchFiles("./etc/os-release/../missing"))
	must(t, err)
	if len(rep.Warnings) != 2 || !strings.Contains(rep.Warnings[0], "prefetch file etc/missing is not in any layer with a zTOC") {
		t.Fatalf("warnings %q (want one per platform)", rep.Warnings)
	}
	for _, b := range rep.NewBlobs {
		if b.Kind == "prefetch" {
			t.Fatalf("prefetch blob %v without any match", b)
		}
	}
}
