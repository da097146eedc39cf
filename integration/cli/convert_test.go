package cli_test

import (
	"encoding/json"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/socify/socify/integration/registrytest"
)

// TestConvertRegistryToRegistry converts an image in the registry into another tag of the same
// repository and checks the result against soci's bytes, what crossed the wire, and that the
// source is untouched; then verify and inspect read the result.
func TestConvertRegistryToRegistry(t *testing.T) {
	want := loadExpected(t)
	reg := registrytest.New(t)
	srcDigest := pushVector(t, reg, "app:v1")
	reg.Proxy.Reset()

	r := mustSucceed(t, "", args("convert", reg.Ref("app:v1"), reg.Ref("app:v1-soci"), sociFlags, "--output", "json")...)
	out := parseConvert(t, r)
	if out.Digest != want.top {
		t.Fatalf("converted to %s, soci made %s", out.Digest, want.top)
	}
	if wantRef := reg.Ref("app@" + want.top); out.Reference != wantRef {
		t.Errorf("reference %q, want %q", out.Reference, wantRef)
	}
	// The report names each platform's new manifest and SOCI index.
	got := map[string][2]string{}
	for _, p := range out.Conversion.Platforms {
		got[p.Platform.String()] = [2]string{p.Manifest, p.SociIndex}
	}
	for pl, m := range want.manifests {
		if g := got[pl]; g != [2]string{m, want.sociIndex[pl]} {
			t.Errorf("%s: report says manifest %s, SOCI index %s; want %s, %s", pl, g[0], g[1], m, want.sociIndex[pl])
		}
	}

	// The registry serves soci's image under the new tag, and the source tag did not move.
	if d := head(t, reg, "app:v1-soci"); d != want.top {
		t.Errorf("app:v1-soci is %s, want %s", d, want.top)
	}
	if d := head(t, reg, "app:v1"); d != srcDigest {
		t.Errorf("the source tag moved: app:v1 is %s, was %s", d, srcDigest)
	}

	// Only the new blobs were uploaded (zTOCs and the SOCI index config: no layer, no image
	// config), and every manifest PUT is one of the result's manifests or the destination tag,
	// which comes last.
	if up := sorted(reg.Proxy.UploadedBlobs()); !slices.Equal(up, want.uploads) {
		t.Errorf("uploaded blobs %v, want the zTOCs and the SOCI config %v", up, want.uploads)
	}
	ws := writes(reg.Proxy.Records())
	if len(ws) == 0 {
		t.Fatal("no write requests recorded")
	}
	for _, w := range ws {
		switch {
		case strings.Contains(w.Path, "/blobs/uploads/"):
		case strings.Contains(w.Path, "/manifests/"):
			ref := path.Base(w.Path)
			if w.Method != http.MethodPut || (ref != "v1-soci" && !slices.Contains(want.manifestsD, ref)) {
				t.Errorf("unexpected manifest write %s %s", w.Method, w.Path)
			}
		default:
			t.Errorf("unexpected write %s %s", w.Method, w.Path)
		}
	}
	if last := ws[len(ws)-1]; last.Method != http.MethodPut || !strings.HasSuffix(last.Path, "/manifests/v1-soci") {
		t.Errorf("the tag was not written last: last write %s %s", last.Method, last.Path)
	}

	t.Run("verify", func(t *testing.T) {
		mustSucceed(t, "", "verify", reg.Ref("app:v1-soci"))
		r := mustSucceed(t, "", "verify", "--output", "json", reg.Ref("app:v1-soci"))
		var v struct {
			OK    bool `json:"ok"`
			Image struct {
				Digest string `json:"digest"`
			} `json:"image"`
			Stats struct {
				Ztocs        int `json:"ztocs"`
				SpansChecked int `json:"spansChecked"`
			} `json:"stats"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("verify --output json: %v\n%s", err, r)
		}
		if !v.OK || v.Image.Digest != want.top || v.Stats.Ztocs != 4 || v.Stats.SpansChecked == 0 {
			t.Errorf("verify report: %+v", v)
		}
	})

	t.Run("inspect", func(t *testing.T) {
		r := mustSucceed(t, "", "inspect", "--output", "json", reg.Ref("app:v1-soci"))
		var in struct {
			Digest    string `json:"digest"`
			Platforms []struct {
				Platform v1.Platform `json:"platform"`
				Manifest struct {
					Digest string `json:"digest"`
				} `json:"manifest"`
				SociEnabled bool   `json:"sociEnabled"`
				SociIndex   string `json:"sociIndex"`
				Lazy        bool   `json:"lazy"`
			} `json:"platforms"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &in); err != nil {
			t.Fatalf("inspect --output json: %v\n%s", err, r)
		}
		if in.Digest != want.top {
			t.Errorf("inspected %s, want %s", in.Digest, want.top)
		}
		enabled := map[string]string{}
		for _, p := range in.Platforms {
			if p.SociEnabled && p.Lazy && p.Manifest.Digest == want.manifests[p.Platform.String()] {
				enabled[p.Platform.String()] = p.SociIndex
			}
		}
		for pl, si := range want.sociIndex {
			if enabled[pl] != si {
				t.Errorf("%s: not shown SOCI-enabled and lazy with SOCI index %s:\n%s", pl, si, r.stdout)
			}
		}
	})

	t.Run("verify unconverted source", func(t *testing.T) {
		r := socify(t, "", "verify", reg.Ref("app:v1"))
		if r.code != 3 {
			t.Fatalf("verify of the unconverted image: want exit 3\n%s", r)
		}
		if !strings.Contains(r.stderr, "will not be lazily loaded") {
			t.Errorf("stderr does not say why:\n%s", r.stderr)
		}
	})

	t.Run("tag template onto the source tag is refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			argv []string
		}{
			{"no DST", args("convert", reg.Ref("app:v1"), "--tag-template", "{tag}", sociFlags)},
			{"DST repository", args("convert", reg.Ref("app:v1"), reg.Ref("app"), "--tag-template", "{tag}", sociFlags)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				reg.Proxy.Reset()
				r := socify(t, "", tc.argv...)
				// docs/usage.md: 2 is a usage error, a bad value; the refusal is one.
				if r.code != 2 {
					t.Fatalf("want exit 2\n%s", r)
				}
				if !strings.Contains(r.stderr, "would overwrite the source tag") {
					t.Errorf("stderr does not say why:\n%s", r.stderr)
				}
				if ws := writes(reg.Proxy.Records()); len(ws) != 0 {
					t.Errorf("refused, yet %d write requests reached the registry: %+v", len(ws), ws)
				}
				if d := head(t, reg, "app:v1"); d != srcDigest {
					t.Errorf("the source tag moved to %s", d)
				}
			})
		}
	})
}

// TestConvertTagTemplate converts without DST: the tag comes from --tag-template, and
// --tag-children tags each converted platform manifest.
func TestConvertTagTemplate(t *testing.T) {
	want := loadExpected(t)
	reg := registrytest.New(t)
	srcDigest := pushVector(t, reg, "team/app:v1")
	if d := head(t, reg, "team/app:v1-soci"); d != "" {
		t.Fatalf("team/app:v1-soci exists before the conversion: %s", d)
	}

	r := mustSucceed(t, "", args("convert", reg.Ref("team/app:v1"), "--tag-template", "{tag}-soci", "--tag-children", sociFlags, "--output", "json")...)
	out := parseConvert(t, r)
	if out.Digest != want.top || out.Destination != "docker://"+reg.Ref("team/app:v1-soci") && out.Destination != reg.Ref("team/app:v1-soci") {
		t.Errorf("converted %s to %q; want %s to %s", out.Digest, out.Destination, want.top, reg.Ref("team/app:v1-soci"))
	}
	if d := head(t, reg, "team/app:v1-soci"); d != want.top {
		t.Errorf("team/app:v1-soci is %q, want %s", d, want.top)
	}
	if d := head(t, reg, "team/app:v1"); d != srcDigest {
		t.Errorf("the source tag moved: %s, was %s", d, srcDigest)
	}
	wantTags := []string{reg.Ref("team/app:v1-soci-linux-amd64"), reg.Ref("team/app:v1-soci-linux-arm64")}
	if got := sorted(out.ChildTags); !slices.Equal(got, wantTags) {
		t.Errorf("child tags %v, want %v", got, wantTags)
	}
	for _, pl := range []string{"linux/amd64", "linux/arm64"} {
		tag := "team/app:v1-soci-" + strings.ReplaceAll(pl, "/", "-")
		if d := head(t, reg, tag); d != want.manifests[pl] {
			t.Errorf("%s is %q, want the converted %s manifest %s", tag, d, pl, want.manifests[pl])
		}
	}

	// The text report lists the child tags too, and --quiet prints the pinned reference alone.
	r = mustSucceed(t, "", args("convert", reg.Ref("team/app:v1"), "--tag-children", "--quiet", sociFlags)...)
	if got, wantRef := strings.TrimSpace(r.stdout), reg.Ref("team/app@"+want.top); got != wantRef {
		t.Errorf("--quiet printed %q, want %q", got, wantRef)
	}
}
