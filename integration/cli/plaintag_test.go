package cli_test

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/socify/socify/integration/registrytest"
)

// TestPlainTagKeepsTheOriginalImage is the documented recipe for images that must stay single
// manifests under their tag (AWS Lambda container images, Amazon Inspector, Terraform's
// aws_ecr_image break when the tag names an image index): converting REPO:TAG with no DST leaves
// TAG on the original manifest, byte for byte, and adds TAG-soci for Fargate in the same run. With
// --tag-children the converted platform manifest gets a single-manifest tag of its own too.
func TestPlainTagKeepsTheOriginalImage(t *testing.T) {
	reg := registrytest.New(t)
	img, err := random.Image(1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture = "linux", "arm64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.BackendRef("team/fn:1.0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	orig, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}

	r := mustSucceed(t, "", args("convert", reg.Ref("team/fn:1.0"), "--min-layer-size", "0", "--tag-children", "--output", "json")...)
	out := parseConvert(t, r)

	mediaType := func(tag string) types.MediaType {
		t.Helper()
		r, err := name.ParseReference(reg.BackendRef(tag))
		if err != nil {
			t.Fatal(err)
		}
		d, err := remote.Head(r)
		if err != nil {
			t.Fatalf("HEAD %s: %v", tag, err)
		}
		return d.MediaType
	}
	if d := head(t, reg, "team/fn:1.0"); d != orig.String() {
		t.Errorf("team/fn:1.0 moved to %s, want the original manifest %s", d, orig)
	}
	if mt := mediaType("team/fn:1.0"); !mt.IsImage() {
		t.Errorf("team/fn:1.0 is a %s, want an image manifest", mt)
	}
	if d := head(t, reg, "team/fn:1.0-soci"); d != out.Digest {
		t.Errorf("team/fn:1.0-soci is %q, want the converted index %s", d, out.Digest)
	}
	if mt := mediaType("team/fn:1.0-soci"); !mt.IsIndex() {
		t.Errorf("team/fn:1.0-soci is a %s, want the SOCI-enabled image index", mt)
	}
	if len(out.ChildTags) != 1 {
		t.Fatalf("child tags %v, want one for the image's only platform", out.ChildTags)
	}
	child, err := name.ParseReference(out.ChildTags[0])
	if err != nil {
		t.Fatal(err)
	}
	if mt := mediaType(child.Context().RepositoryStr() + ":" + child.Identifier()); !mt.IsImage() {
		t.Errorf("child tag %s is a %s, want an image manifest", out.ChildTags[0], mt)
	}
}

// TestTagChildrenWithoutPlatform: an image whose config names no os/arch converts and is tagged;
// --tag-children leaves its manifest untagged with a warning instead of failing after the push.
func TestTagChildrenWithoutPlatform(t *testing.T) {
	reg := registrytest.New(t)
	img, err := random.Image(1<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.BackendRef("team/noplat:1.0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	r := mustSucceed(t, "", args("convert", reg.Ref("team/noplat:1.0"), "--min-layer-size", "0", "--tag-children", "--output", "json")...)
	out := parseConvert(t, r)
	if d := head(t, reg, "team/noplat:1.0-soci"); d == "" || d != out.Digest {
		t.Errorf("team/noplat:1.0-soci is %q, want %s", d, out.Digest)
	}
	if len(out.ChildTags) != 0 {
		t.Errorf("child tags %v for a manifest without platform", out.ChildTags)
	}
	if !strings.Contains(r.stderr, "not tagged") {
		t.Errorf("no warning about the untagged manifest:\n%s", r.stderr)
	}
}
