package location_test

import (
	"context"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/socify/socify/pkg/convert"
)

// TestSourceIsAlwaysAnIndex: a lone manifest is wrapped the way soci wraps
// it, an index of the source is kept as it is, even with one manifest and
// annotations, and both convert through the one entry point.
func TestSourceIsAlwaysAnIndex(t *testing.T) {
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "linux", "aarch64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	one := mutate.Annotations(mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img}), map[string]string{"kept": "yes"}).(v1.ImageIndex)

	lone, nested := t.TempDir(), t.TempDir()
	if _, err := layout.Write(lone, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})); err != nil {
		t.Fatal(err)
	}
	if _, err := layout.Write(nested, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: one})); err != nil {
		t.Fatal(err)
	}

	src := open(t, "oci:"+lone)
	md, _ := img.Digest()
	if !src.Wrapped || src.Descriptor.Digest != md {
		t.Fatalf("lone manifest: wrapped %v, descriptor %s", src.Wrapped, src.Descriptor.Digest)
	}
	m, _ := src.Index.IndexManifest()
	if len(m.Manifests) != 1 || m.Manifests[0].Platform == nil || m.Manifests[0].Platform.Architecture != "arm64" {
		t.Fatalf("wrapped index %+v (the platform comes from the config, normalized)", m.Manifests)
	}
	_, rep, err := convert.Convert(context.Background(), src.Index, convert.WithMinLayerSize(0))
	if err != nil || !rep.Wrapped || rep.Source.Digest.String() != md.String() {
		t.Fatalf("convert lone: %v %+v", err, rep)
	}

	src = open(t, "oci:"+nested)
	od, _ := one.Digest()
	if src.Wrapped || src.Descriptor.Digest != od {
		t.Fatalf("index of one manifest: wrapped %v, descriptor %s, want %s", src.Wrapped, src.Descriptor.Digest, od)
	}
	if h, _ := src.Index.Digest(); h != od {
		t.Fatalf("index %s, want %s", h, od)
	}
	out, rep, err := convert.Convert(context.Background(), src.Index, convert.WithMinLayerSize(0))
	if err != nil || rep.Wrapped {
		t.Fatalf("convert index: %v", err)
	}
	om, _ := out.IndexManifest()
	if om.Annotations["kept"] != "yes" {
		t.Fatalf("annotations lost: %+v", om.Annotations)
	}
}
