package ociindex

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParsePlatform(t *testing.T) {
	tests := []struct {
		in      string
		want    v1.Platform
		wantErr bool
	}{
		{in: "linux/amd64", want: v1.Platform{OS: "linux", Architecture: "amd64"}},
		{in: "linux/x86_64", want: v1.Platform{OS: "linux", Architecture: "amd64"}},
		{in: "Linux/AArch64", want: v1.Platform{OS: "linux", Architecture: "arm64"}},
		{in: "linux/arm64", want: v1.Platform{OS: "linux", Architecture: "arm64"}},
		{in: "linux/arm64/v8", want: v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{in: "linux/arm", want: v1.Platform{OS: "linux", Architecture: "arm"}},
		{in: "linux/arm/v7", want: v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{in: "linux/arm/6", want: v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		{in: "linux/amd64/v1", want: v1.Platform{OS: "linux", Architecture: "amd64"}},
		{in: "linux/amd64/v3", want: v1.Platform{OS: "linux", Architecture: "amd64", Variant: "v3"}},
		{in: "windows(10.0.20348)/amd64", want: v1.Platform{OS: "windows", OSVersion: "10.0.20348", Architecture: "amd64"}},
		{in: "windows/amd64:10.0.20348", want: v1.Platform{OS: "windows", OSVersion: "10.0.20348", Architecture: "amd64"}},
		{in: "windows/arm64/v8:10.0.1", want: v1.Platform{OS: "windows", OSVersion: "10.0.1", Architecture: "arm64", Variant: "v8"}},
		{in: "macos/arm64", want: v1.Platform{OS: "darwin", Architecture: "arm64"}},
		{in: "linux", wantErr: true},
		{in: "amd64", wantErr: true},
		{in: "linux/*", wantErr: true},
		{in: "linux//amd64", wantErr: true},
		{in: "linux/amd64/v1/x", wantErr: true},
		{in: "linux/am d64", wantErr: true},
		{in: "windows(10/amd64", wantErr: true},
		{in: "windows/amd64:", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePlatform(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMatchPlatform(t *testing.T) {
	p := func(os, arch, variant, version string) ocispec.Platform {
		return ocispec.Platform{OS: os, Architecture: arch, Variant: variant, OSVersion: version}
	}
	tests := []struct {
		name       string
		want, have ocispec.Platform
		match      bool
	}{
		{"same", p("linux", "amd64", "", ""), p("linux", "amd64", "", ""), true},
		{"arm64 v8 is arm64", p("linux", "arm64", "v8", ""), p("linux", "arm64", "", ""), true},
		{"arm is arm v7", p("linux", "arm", "", ""), p("linux", "arm", "v7", ""), true},
		{"arm v6 is not v7", p("linux", "arm", "v6", ""), p("linux", "arm", "v7", ""), false},
		{"other arch", p("linux", "amd64", "", ""), p("linux", "arm64", "", ""), false},
		{"other os", p("linux", "amd64", "", ""), p("windows", "amd64", "", ""), false},
		{"strict: variant matters", p("linux", "amd64", "", ""), p("linux", "amd64", "v3", ""), false},
		{"os version required when asked", p("windows", "amd64", "", "10.0.1"), p("windows", "amd64", "", ""), false},
		{"os version ignored when not asked", p("windows", "amd64", "", ""), p("windows", "amd64", "", "10.0.1"), true},
		{"os version equal", p("windows", "amd64", "", "10.0.1"), p("windows", "amd64", "", "10.0.1"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MatchPlatform(tc.want, tc.have); got != tc.match {
				t.Fatalf("MatchPlatform(%v, %v) = %v", tc.want, tc.have, got)
			}
		})
	}
}

func TestFormatPlatform(t *testing.T) {
	for _, tc := range []struct {
		p    ocispec.Platform
		want string
	}{
		{ocispec.Platform{OS: "linux", Architecture: "amd64"}, "linux/amd64"},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "linux/arm/v7"},
		{ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.1"}, "windows/amd64:10.0.1"},
	} {
		if got := FormatPlatform(tc.p); got != tc.want {
			t.Errorf("FormatPlatform(%+v) = %q, want %q", tc.p, got, tc.want)
		}
		if back, err := ParsePlatform(FormatPlatform(tc.p)); err != nil || !MatchPlatform(OCIPlatform(back), tc.p) {
			t.Errorf("round trip of %q: %+v, %v", tc.want, back, err)
		}
	}
}

func TestIsUnknownPlatform(t *testing.T) {
	for _, tc := range []struct {
		p    *ocispec.Platform
		want bool
	}{
		{nil, false},
		{&ocispec.Platform{OS: "unknown", Architecture: "unknown"}, true},
		{&ocispec.Platform{OS: "linux", Architecture: "unknown"}, true},
		{&ocispec.Platform{OS: "linux", Architecture: "amd64"}, false},
	} {
		if got := IsUnknownPlatform(tc.p); got != tc.want {
			t.Errorf("IsUnknownPlatform(%+v) = %v", tc.p, got)
		}
	}
}

// TestParsePlatforms: every value through the one parser, the first bad one named.
func TestParsePlatforms(t *testing.T) {
	ps, err := ParsePlatforms([]string{"linux/x86_64", "linux/arm64/v8"})
	if err != nil || len(ps) != 2 || ps[0].String() != "linux/amd64" || ps[1].String() != "linux/arm64/v8" {
		t.Errorf("%v, %v", ps, err)
	}
	if ps, err := ParsePlatforms(nil); err != nil || ps != nil {
		t.Errorf("none: %v, %v", ps, err)
	}
	if _, err := ParsePlatforms([]string{"linux/amd64", "linux"}); err == nil || !strings.Contains(err.Error(), `"linux"`) {
		t.Errorf("a lone OS: %v", err)
	}
}

// TestReportDescriptor: media type, digest and size only, whatever else d carries.
func TestReportDescriptor(t *testing.T) {
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x"), Size: 3,
		Annotations: map[string]string{"a": "b"}, Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}
	r := ReportDescriptor(d)
	if string(r.MediaType) != d.MediaType || r.Digest.String() != d.Digest.String() || r.Size != 3 || r.Annotations != nil || r.Platform != nil {
		t.Errorf("%+v", r)
	}
	// A digest go-containerregistry refuses keeps its text in the report.
	for _, bad := range []string{"sha256:xyz", "blake3:" + strings.Repeat("a", 64)} {
		r := ReportDescriptor(ocispec.Descriptor{Digest: digest.Digest(bad)})
		b, err := json.Marshal(r)
		if err != nil || r.Digest.String() != bad || !strings.Contains(string(b), `"digest":"`+bad+`"`) {
			t.Errorf("%s reported as %s (%v)", bad, b, err)
		}
	}
}

// A platform copied from any report (v1.Platform.String, which every report and
// message writes) is accepted back by --platform, and CheckPlatform gives a struct
// the parser's verdict.
func TestPlatformTextRoundTrips(t *testing.T) {
	for _, p := range []v1.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
		{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.2113"},
	} {
		back, err := ParsePlatform(p.String())
		if err != nil || back.String() != p.String() || FormatPlatform(OCIPlatform(p)) != p.String() {
			t.Errorf("%s: parsed back %+v, %v; FormatPlatform %q", p.String(), back, err, FormatPlatform(OCIPlatform(p)))
		}
		if c, err := CheckPlatform(p); err != nil || c.String() != p.String() {
			t.Errorf("CheckPlatform(%s) = %+v, %v", p.String(), c, err)
		}
	}
	for _, tc := range []struct {
		p    v1.Platform
		want string // "" = error
	}{
		{v1.Platform{OS: "Linux", Architecture: "x86_64"}, "linux/amd64"},
		{v1.Platform{OS: "linux", Architecture: "arm64"}, "linux/arm64"},
		{v1.Platform{OS: "", Architecture: "amd64"}, ""},
		{v1.Platform{OS: "linux", Architecture: "amd 64"}, ""},
	} {
		got, err := CheckPlatform(tc.p)
		if (tc.want == "") != (err != nil) || (err == nil && got.String() != tc.want) {
			t.Errorf("CheckPlatform(%+v) = %q, %v; want %q", tc.p, got.String(), err, tc.want)
		}
	}
}
