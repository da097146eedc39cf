package socify

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

func TestCurrentBuild(t *testing.T) {
	b := CurrentBuild("v1.2.3", "0123456789abcdef", "2026-01-02T03:04:05Z")
	if b.BuildToolIdentifier() != "socify v1.2.3" || b.String() != "v1.2.3 (0123456789ab)" || b.GoVersion != runtime.Version() || b.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("%+v: %q %q", b, b.BuildToolIdentifier(), b)
	}
	var w bytes.Buffer
	if err := b.WriteText(&w); err != nil || w.String() != "socify v1.2.3\ncommit:   0123456789abcdef\nbuilt:    2026-01-02T03:04:05Z\ngo:       "+runtime.Version()+"\nplatform: "+b.Platform+"\n" {
		t.Errorf("text %q (%v)", w.String(), err)
	}
	// A test binary has no module version: the version is never empty.
	if b := CurrentBuild("", "", ""); b.Version == "" || !strings.HasPrefix(b.BuildToolIdentifier(), "socify ") || b.BuildToolIdentifier() == "socify " {
		t.Errorf("%+v", b)
	}
}
