package convert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/ztoc"
)

const vectorsDir = "../../testdata/images"

type parityCase struct {
	name, label string
	opts        []Option
}

func parityCases() []parityCase {
	soci := []Option{WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier), WithMinLayerSize(0)}
	return []parityCase{
		{"a-img1-single", "defaultspan", soci},
		{"a-img1-single", "span64k", append(soci, WithSpanSize(65536))},
		{"a-img2-2platform", "allplatforms-span64k", append(soci, WithSpanSize(65536))},
		// soci picked the host platform; the vectors were made on linux/amd64.
		{"a-img2-2platform", "hostplatform-span64k", append(soci, WithSpanSize(65536),
			WithPlatforms(v1.Platform{OS: "linux", Architecture: "amd64"}))},
	}
}

// openVector resolves IN.tar the way soci standalone does: index.json has one
// entry, which is the image.
func openVector(t *testing.T, name string) (v1.ImageIndex, v1.Image) {
	t.Helper()
	dir := extractTar(t, filepath.Join(vectorsDir, name, "IN.tar"))
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("%s: %d entries in index.json", name, len(m.Manifests))
	}
	d := m.Manifests[0]
	if d.MediaType.IsIndex() {
		idx, err := root.ImageIndex(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		return idx, nil
	}
	img, err := root.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return nil, img
}

func convertVector(t *testing.T, name string, opts ...Option) (v1.ImageIndex, *Report, error) {
	t.Helper()
	idx, img := openVector(t, name)
	if idx != nil {
		return Convert(context.Background(), idx, opts...)
	}
	return convertImage(t, img, opts...)
}

func expectedBlobs(t *testing.T, name, label string) (top digest.Digest, blobs map[digest.Digest][]byte) {
	t.Helper()
	dir := filepath.Join(vectorsDir, name, "expected", label)
	ij, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var li ocispec.Index
	if err := json.Unmarshal(ij, &li); err != nil {
		t.Fatal(err)
	}
	blobs = map[digest.Digest][]byte{}
	es, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		blobs[digest.FromBytes(b)] = b
	}
	return li.Manifests[0].Digest, blobs
}

// TestParityWithSoci converts the test vectors and compares every document
// and zTOC with what soci v0.16.1 wrote, byte for byte, both ways: nothing
// expected is missing and nothing new is unexpected.
func TestParityWithSoci(t *testing.T) {
	for _, tc := range parityCases() {
		t.Run(tc.name+"/"+tc.label, func(t *testing.T) {
			out, rep, err := convertVector(t, tc.name, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			top, want := expectedBlobs(t, tc.name, tc.label)
			got := collect(t, out)
			h, _ := out.Digest()
			if h.String() != top.String() || rep.Result.Digest.String() != top.String() {
				raw, _ := out.RawManifest()
				t.Errorf("top index %s (report %s), want %s:\n%s\nwant:\n%s", h, rep.Result.Digest, top, raw, want[top])
			}
			for d, b := range want {
				g, ok := got[d]
				if !ok {
					t.Errorf("expected blob %s (%d bytes) not produced", d, len(b))
					continue
				}
				if !bytes.Equal(g, b) {
					t.Errorf("blob %s differs", d)
				}
			}
			for d := range got {
				if _, ok := want[d]; !ok {
					t.Errorf("unexpected blob %s:\n%.300s", d, got[d])
				}
			}
			// Every new blob in the report is among soci's new blobs.
			for _, b := range rep.NewBlobs {
				if _, ok := want[digest.Digest(b.Digest.String())]; !ok {
					t.Errorf("report lists new blob %s (%s) that soci did not write", b.Digest, b.Kind)
				}
			}
		})
	}
}

func TestAllLayersTooSmall(t *testing.T) {
	_, rep, err := convertVector(t, "a-img3-allsmall")
	if !errors.Is(err, ErrEmptyIndex) {
		t.Fatalf("err = %v, want ErrEmptyIndex", err)
	}
	for _, want := range []string{
		"no ztocs created, all layers either skipped or produced errors",
		"size 213 is less than min-layer-size 10485760",
		"size 211 is less than min-layer-size 10485760",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(rep.Layers) != 2 || rep.Layers[0].Status != LayerSkipped || rep.Layers[1].Status != LayerSkipped {
		t.Fatalf("layers %+v", rep.Layers)
	}

	out, rep, err := convertVector(t, "a-img3-allsmall", WithAllowEmpty(true))
	if err != nil {
		t.Fatal(err)
	}
	m, err := out.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].ArtifactType != "" || m.Manifests[0].Annotations[ociindex.AnnotationIndexDigest] != "" {
		t.Fatalf("allow-empty result %+v", m.Manifests)
	}
	if m.Manifests[0].Platform == nil || m.Manifests[0].Platform.Architecture != "amd64" {
		t.Fatalf("wrapped descriptor lacks the config platform: %+v", m.Manifests[0])
	}
	if rep.Platforms[0].SociIndex != "" || rep.Platforms[0].Skipped == "" {
		t.Fatalf("platform report %+v", rep.Platforms[0])
	}
}

// TestReconvertIsIdempotent: converting the result again changes nothing, and
// converting it again for one platform keeps the other's SOCI index.
func TestReconvertIsIdempotent(t *testing.T) {
	opts := []Option{WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier), WithMinLayerSize(0), WithSpanSize(65536)}
	first, _, err := convertVector(t, "a-img2-2platform", opts...)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := first.Digest()
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"all platforms", opts},
		{"amd64 only", append(opts, WithPlatforms(v1.Platform{OS: "linux", Architecture: "amd64"}))},
		{"arm64 only", append(opts, WithPlatforms(v1.Platform{OS: "linux", Architecture: "arm64"}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			again, rep, err := Convert(context.Background(), first, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			d2, _ := again.Digest()
			if d1 != d2 {
				a, _ := first.RawManifest()
				b, _ := again.RawManifest()
				t.Fatalf("re-conversion changed the index:\n%s\n%s", a, b)
			}
			if len(rep.NewBlobs) != 0 && tc.name != "all platforms" {
				for _, b := range rep.NewBlobs {
					if b.Kind == "manifest" || b.Kind == "index" {
						t.Errorf("re-conversion made a new %s %s", b.Kind, b.Digest)
					}
				}
			}
		})
	}
}
