package verify

import (
	"compress/gzip"
	"context"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
)

// sharedLayerImage is a two-platform source whose platforms have identical
// layers, so the conversion writes one SOCI index (one digest) that the image
// index lists twice, once per platform.
func sharedLayerImage(t testing.TB) *store {
	src := newStore(t)
	big := gzLayer(gzipBytes(t, standardTar(t, 3), gzip.BestSpeed, ""))
	small := gzLayer(gzipBytes(t, makeTar(t, 9, fileSpec{name: "hello.txt", size: 100}), gzip.BestSpeed, ""))
	a := src.addImage(amd64, big, small)
	b := src.addImage(arm64, big, small)
	src.setRoot(a, b)
	return src
}

// sociDescriptors returns the indexes, in the top image index, of the SOCI
// descriptors of digest d.
func sociDescriptors(ix ocispec.Index, d digest.Digest) []int {
	var out []int
	for i, m := range ix.Manifests {
		if m.ArtifactType == ociindex.ArtifactTypeSociIndexV2 && m.Digest == d {
			out = append(out, i)
		}
	}
	return out
}

func TestSharedSociIndex(t *testing.T) {
	base := converted(t, sharedLayerImage(t))
	pa, pb := base.platform("amd64"), base.platform("arm64")
	if pa.soci == "" || pa.soci != pb.soci || pa.manifest == pb.manifest {
		t.Fatalf("precondition: want one SOCI index for two manifests, got %s %s for %s %s", pa.soci, pb.soci, pa.manifest, pb.manifest)
	}
	_, ix := base.topIndex()
	if got := sociDescriptors(ix, pa.soci); len(got) != 2 {
		t.Fatalf("precondition: want two descriptors of %s, got %d", pa.soci, len(got))
	}

	// setBack repoints the back-link of the SOCI descriptor of one platform.
	setBack := func(arch string, to digest.Digest) func(*ocispec.Index) {
		return func(ix *ocispec.Index) {
			for i := range ix.Manifests {
				m := &ix.Manifests[i]
				if m.ArtifactType == ociindex.ArtifactTypeSociIndexV2 && m.Platform != nil && m.Platform.Architecture == arch {
					m.Annotations[ociindex.AnnotationImageManifestDigest] = to.String()
				}
			}
		}
	}
	bogus := digest.FromString("no such manifest")
	cases := []struct {
		name string
		edit func(*ocispec.Index)
		// errPlatform is the platform of the one wrong back-link error, ""
		// for none.
		errPlatform string
		errNames    string // the wrong back-link the error quotes
		warnings    []string
	}{
		{name: "ok"},
		{
			name: "listed in reverse order",
			edit: func(ix *ocispec.Index) {
				ds := sociDescriptors(*ix, pa.soci)
				ix.Manifests[ds[0]], ix.Manifests[ds[1]] = ix.Manifests[ds[1]], ix.Manifests[ds[0]]
			},
		},
		{name: "arm64 descriptor names the amd64 manifest", edit: setBack("arm64", pa.manifest), errPlatform: "linux/arm64", errNames: pa.manifest.String()},
		{name: "amd64 descriptor names a missing manifest", edit: setBack("amd64", bogus), errPlatform: "linux/amd64", errNames: bogus.String()},
		{
			name: "platforms swapped, back-links right",
			edit: func(ix *ocispec.Index) {
				ds := sociDescriptors(*ix, pa.soci)
				a, b := ix.Manifests[ds[0]].Platform, ix.Manifests[ds[1]].Platform
				ix.Manifests[ds[0]].Platform, ix.Manifests[ds[1]].Platform = b, a
			},
			warnings: []string{"linux/amd64: the SOCI index descriptor's platform linux/arm64 differs", "linux/arm64: the SOCI index descriptor's platform linux/amd64 differs"},
		},
		{
			name: "a third descriptor for the amd64 manifest",
			edit: func(ix *ocispec.Index) {
				d := ix.Manifests[sociDescriptors(*ix, pa.soci)[0]]
				d.Platform = &ocispec.Platform{OS: "linux", Architecture: "riscv64"}
				ix.Manifests = append(ix.Manifests, d)
			},
			warnings: []string{"linux/amd64: SOCI index " + pa.soci.String() + " is listed more than once for this manifest (this descriptor has platform linux/riscv64)"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := base.clone()
			if tc.edit != nil {
				top, _ := s.topIndex()
				editJSON(s, top, tc.edit)
			}
			rep, err := Verify(context.Background(), s.index(), WithDeep(true))
			must(t, err)
			errs := rep.Errors()
			if tc.errPlatform == "" {
				if !rep.OK() || len(errs) > 0 {
					t.Fatalf("want OK:\n%s", dump(rep.Problems()))
				}
			} else {
				ps := problemsOf(errs, CheckSociDescriptor)
				if rep.OK() || len(errs) != 1 || len(ps) != 1 || platOf(ps[0]) != tc.errPlatform ||
					!strings.Contains(ps[0].Message, ociindex.AnnotationImageManifestDigest) || !strings.Contains(ps[0].Message, tc.errNames) {
					t.Fatalf("want one wrong back-link error on %s naming %s:\n%s", tc.errPlatform, tc.errNames, dump(rep.Problems()))
				}
			}
			warns := rep.Warnings()
			if len(warns) != len(tc.warnings) {
				t.Fatalf("want %d warnings:\n%s", len(tc.warnings), dump(rep.Problems()))
			}
			for i, w := range tc.warnings {
				plat, msg, _ := strings.Cut(w, ": ")
				if platOf(warns[i]) != plat || !strings.HasPrefix(warns[i].Message, msg) {
					t.Errorf("warning %d = %s, want %s", i, warns[i], w)
				}
			}
			// Both platforms are checked and lazily loaded from the shared
			// SOCI index; its zTOCs and the shared layers are checked once.
			if len(rep.Image.Platforms) != 2 {
				t.Fatalf("platforms %+v", rep.Image.Platforms)
			}
			for _, p := range rep.Image.Platforms {
				if !p.Lazy || p.SociIndex != pa.soci.String() || len(p.Layers) != 2 || !p.Layers[0].Lazy || !p.Layers[1].Lazy {
					t.Errorf("platform %+v", p)
				}
			}
			if rep.Stats.SociIndexes != 1 || rep.Stats.Ztocs != 2 || rep.Stats.LayersRead != 2 || rep.Stats.Rebuilt != 2 {
				t.Errorf("stats %+v", rep.Stats)
			}
		})
	}
}
