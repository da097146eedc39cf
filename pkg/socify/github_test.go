package socify

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/socify/socify/pkg/convert"
)

// TestWrittenTags: the tags output names what was tagged, as references, and nothing for an
// image written by digest alone.
func TestWrittenTags(t *testing.T) {
	digest := "@sha256:" + strings.Repeat("ab", 32)
	child := []string{"localhost:5000/app:v1-soci-linux-amd64"}
	for _, c := range []struct {
		ref      string
		children []string
		want     string
	}{
		{"localhost:5000/app:v1-soci" + digest, child, `["localhost:5000/app:v1-soci","localhost:5000/app:v1-soci-linux-amd64"]`},
		{"localhost:5000/app" + digest, nil, `[]`},
		{"oci-archive:/tmp/out.tar:latest", nil, `["oci-archive:/tmp/out.tar:latest"]`},
		{"oci-archive:/tmp/out.tar", nil, `[]`},
		{"oci:/tmp/layout:v1", nil, `["oci:/tmp/layout:v1"]`},
		{"", nil, `[]`},
	} {
		b, err := json.Marshal(writtenTags(c.ref, c.children))
		if err != nil || string(b) != c.want {
			t.Errorf("writtenTags(%q, %v) = %s (%v), want %s", c.ref, c.children, b, err, c.want)
		}
	}
}

// TestWriteGitHubOutput: every output action.yml declares, and a dry run names the destination
// it would write.
func TestWriteGitHubOutput(t *testing.T) {
	d := func(c string) digest.Digest { return digest.Digest("sha256:" + strings.Repeat(c, 64)) }
	src, err := v1.NewHash(d("1").String())
	if err != nil {
		t.Fatal(err)
	}
	rep := &convert.Report{Source: v1.Descriptor{Digest: src}, Platforms: []convert.PlatformReport{
		{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Manifest: d("2"), SociIndex: d("3")},
		{Platform: v1.Platform{OS: "linux", Architecture: "arm64"}, Skipped: "not selected"},
	}}
	r := &Result{Destination: "localhost:5000/app:v1-soci", Reference: "localhost:5000/app:v1-soci@" + d("4").String(),
		Digest: d("4").String(), Changed: true, ChildTags: []string{"localhost:5000/app:v1-soci-linux-amd64"}, Conversion: rep}
	var b bytes.Buffer
	if err := r.WriteGitHubOutput(&b); err != nil {
		t.Fatal(err)
	}
	want := "digest=" + d("4").String() + "\nsource-digest=" + d("1").String() + "\nreference=" + r.Reference +
		"\nsoci-indexes=[{\"platform\":\"linux/amd64\",\"manifest\":\"" + d("2").String() + "\",\"sociIndex\":\"" + d("3").String() + "\"}]" +
		"\nchanged=true\nalready-soci=false\ndry-run=false\nchild-tags=[\"localhost:5000/app:v1-soci-linux-amd64\"]" +
		"\ntags=[\"localhost:5000/app:v1-soci\",\"localhost:5000/app:v1-soci-linux-amd64\"]\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	r.DryRun, r.Reference, r.ChildTags = true, "", nil
	b.Reset()
	if err := r.WriteGitHubOutput(&b); err != nil || !strings.Contains(b.String(), "\nreference=localhost:5000/app:v1-soci\n") || !strings.Contains(b.String(), "\ndry-run=true\n") {
		t.Errorf("dry run:\n%s (%v)", b.String(), err)
	}
}

// TestWriteSummary: --quiet prints the pinned reference of a registry result, the digest of any
// other.
func TestWriteSummary(t *testing.T) {
	d := "sha256:" + strings.Repeat("a", 64)
	for _, r := range []Result{{Reference: "r.example/app:v1@" + d, Digest: d}, {Reference: "oci-archive:out.tar", Digest: d}} {
		var b bytes.Buffer
		want := d + "\n"
		if strings.Contains(r.Reference, "@") {
			want = r.Reference + "\n"
		}
		if err := r.WriteSummary(&b); err != nil || b.String() != want {
			t.Errorf("%s: %q (%v), want %q", r.Reference, b.String(), err, want)
		}
	}
}
