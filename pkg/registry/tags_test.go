package registry

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var testDigest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}

func TestExpandTag(t *testing.T) {
	amd := &v1.Platform{OS: "linux", Architecture: "amd64"}
	armv7 := &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	tests := []struct {
		tmpl    string
		vars    TagVars
		want    string
		wantErr string
	}{
		{tmpl: "{tag}-soci", vars: TagVars{Tag: "v1.2"}, want: "v1.2-soci"},
		{tmpl: "soci-{digest}", vars: TagVars{Digest: testDigest}, want: "soci-sha256-" + testDigest.Hex},
		{tmpl: "{tag}-{platform}", vars: TagVars{Tag: "v1", Platform: amd}, want: "v1-linux-amd64"},
		{tmpl: "{tag}-{platform}", vars: TagVars{Tag: "v1", Platform: armv7}, want: "v1-linux-arm-v7"},
		{tmpl: "{tag}-{os}-{arch}{variant}", vars: TagVars{Tag: "v1", Platform: armv7}, want: "v1-linux-armv7"},
		{tmpl: "fixed", want: "fixed"},
		{tmpl: "{tag}-soci", vars: TagVars{}, wantErr: "named by digest"},
		{tmpl: "{digest}", vars: TagVars{Tag: "x"}, wantErr: "digest is not known"},
		{tmpl: "{tag}-{platform}", vars: TagVars{Tag: "v1"}, wantErr: "per-platform"},
		{tmpl: "{tag}-{nope}", vars: TagVars{Tag: "v1"}, wantErr: "unknown placeholder {nope}"},
		{tmpl: "{tag", vars: TagVars{Tag: "v1"}, wantErr: "unclosed"},
		{tmpl: "tag}", vars: TagVars{Tag: "v1"}, wantErr: "unmatched"},
		{tmpl: "", wantErr: "empty"},
		{tmpl: "-{tag}", vars: TagVars{Tag: "v1"}, wantErr: "not a valid tag"},
		{tmpl: "{tag}/x", vars: TagVars{Tag: "v1"}, wantErr: "not a valid tag"},
		{tmpl: "{tag}-{digest}", vars: TagVars{Tag: strings.Repeat("a", 60), Digest: testDigest}, wantErr: "not a valid tag"}, // 60+1+71 > 128
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			got, err := ExpandTag(tt.tmpl, tt.vars)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ExpandTag(%q) = %q, %v; want error containing %q", tt.tmpl, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ExpandTag(%q) = %q, %v; want %q", tt.tmpl, got, err, tt.want)
			}
		})
	}
}

func TestChildTags(t *testing.T) {
	got, err := ChildTags("v1", []v1.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
		{OS: "linux", Architecture: "arm", Variant: "v6"},
		{OS: "linux", Architecture: "arm", Variant: "v7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"v1-linux-amd64", "v1-linux-arm64-v8", "v1-linux-arm-v6", "v1-linux-arm-v7"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v, want %v", got, want)
	}
	_, err = ChildTags("v1", []v1.Platform{
		{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1"},
		{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.1"},
	})
	if err == nil || !strings.Contains(err.Error(), "would both be tagged") {
		t.Fatalf("colliding platforms: err = %v", err)
	}
}

func TestDestination(t *testing.T) {
	src := func(s string) name.Reference {
		r, err := name.ParseReference(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	const ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	tests := []struct {
		name    string
		src     string
		dst     string
		tmpl    string
		vars    TagVars
		want    string
		wantErr string
	}{
		{name: "default template", src: ecr + "/app:v1", want: ecr + "/app:v1-soci"},
		{name: "implicit latest", src: ecr + "/app", want: ecr + "/app:latest-soci"},
		{name: "custom template", src: ecr + "/app:v1", tmpl: "{tag}-lazy", want: ecr + "/app:v1-lazy"},
		{name: "other repository", src: ecr + "/app:v1", dst: ecr + "/app-soci", want: ecr + "/app-soci:v1-soci"},
		{name: "explicit tag", src: ecr + "/app:v1", dst: ecr + "/app:v2", want: ecr + "/app:v2"},
		{name: "explicit source tag", src: ecr + "/app:v1", dst: ecr + "/app:v1", want: ecr + "/app:v1"},
		{name: "registry port is not a tag", src: "localhost:5000/app:v1", dst: "localhost:5000/other", want: "localhost:5000/other:v1-soci"},
		{name: "template lands on source", src: ecr + "/app:v1", tmpl: "{tag}", wantErr: "would overwrite the source tag"},
		{name: "template lands on source tag in another repo is fine", src: ecr + "/app:v1", dst: ecr + "/copy", tmpl: "{tag}", want: ecr + "/copy:v1"},
		{name: "digest source needs tag", src: ecr + "/app@sha256:" + testDigest.Hex, wantErr: "named by digest"},
		{name: "digest source with digest template", src: ecr + "/app@sha256:" + testDigest.Hex, tmpl: "soci-{digest}", vars: TagVars{Digest: testDigest}, want: ecr + "/app:soci-sha256-" + testDigest.Hex},
		{name: "digest destination", src: ecr + "/app:v1", dst: ecr + "/app@sha256:" + testDigest.Hex, wantErr: "not a digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Destination(src(tt.src), tt.dst, tt.tmpl, tt.vars)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
