package socify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One of soci v0.16.1's zTOC vectors (pkg/ztoc/testdata/vectors).
const (
	vectorLayer = "../ztoc/testdata/vectors/layers/a01-gogzip-l1.tar.gz"
	vectorZtoc  = "../ztoc/testdata/vectors/ztocs/82cfb3d482d22bda9fbddc620b8817075b916895682a4783ea230f54ff47188d.ztoc"
)

// TestBuildZtocFile: soci's bytes with soci's identifier, and every
// failure writes nothing and says why.
func TestBuildZtocFile(t *testing.T) {
	ctx := context.Background()
	var events []EventKind
	var buf bytes.Buffer
	rep, err := BuildZtocFile(ctx, vectorLayer, &buf, ZtocBuild{SpanSize: 65536, BuildToolIdentifier: "AWS SOCI CLI v0.2"},
		WithProgress(func(e Event) {
			if e.Name != vectorLayer {
				t.Errorf("event %s names %q", e.Kind, e.Name)
			}
			events = append(events, e.Kind)
		}))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(vectorZtoc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) || rep.Digest != fmt.Sprintf("sha256:%x", sha256.Sum256(want)) || rep.Size != int64(len(want)) {
		t.Errorf("zTOC differs from soci's: %d bytes, report %+v", buf.Len(), rep)
	}
	if rep.LayerDigest != "sha256:8e3c2149e731d89077dbb3c93b7bec99f8713853579e3731855547fc2087923b" || rep.LayerSize != 323956 || rep.SpanSize != 65536 || rep.Warnings == nil {
		t.Errorf("report %+v", rep)
	}
	if len(events) < 2 || events[0] != EventLayerStart || events[len(events)-1] != EventLayerDone {
		t.Errorf("events %v, want start ... done", events)
	}
	rep.Out = "-"
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil || !strings.HasPrefix(text.String(), "stdout: zTOC "+rep.Digest) {
		t.Errorf("text %q (%v)", text.String(), err)
	}

	dir := t.TempDir()
	notGzip := filepath.Join(dir, "layer.tar")
	if err := os.WriteFile(notGzip, []byte("plain tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, layer string
		b           ZtocBuild
		arg, msg    string
	}{
		{"span 0", vectorLayer, ZtocBuild{}, "span-size", "span size 0 is not between 1 and 1.0 GiB"},
		{"span too large", vectorLayer, ZtocBuild{SpanSize: 2 << 30}, "span-size", "not between 1 and"},
		{"directory", dir, ZtocBuild{SpanSize: 65536}, "LAYER", "is a directory"},
		{"not gzip", notGzip, ZtocBuild{SpanSize: 65536}, "", "does not start with the gzip magic bytes; for an uncompressed tar layer use --uncompressed"},
		{"missing", filepath.Join(dir, "nope"), ZtocBuild{SpanSize: 65536}, "", "no such file"},
	} {
		var out bytes.Buffer
		var failed bool
		_, err := BuildZtocFile(ctx, tc.layer, &out, tc.b, WithProgress(func(e Event) { failed = failed || e.Err != nil }))
		var ae *ArgError
		switch {
		case err == nil || !strings.Contains(err.Error(), tc.msg):
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.msg)
		case tc.arg != "" && (!errors.As(err, &ae) || ae.Arg != tc.arg):
			t.Errorf("%s: err %v is not an argument error about %s", tc.name, err, tc.arg)
		case out.Len() > 0:
			t.Errorf("%s: %d bytes written", tc.name, out.Len())
		case tc.name == "not gzip" && !failed:
			t.Errorf("%s: no failed layer event", tc.name)
		}
	}
}

// TestExtractFile: a file read through the zTOC, and a layer of another
// size refused before any byte is written.
func TestExtractFile(t *testing.T) {
	ctx := context.Background()
	z, _, err := ReadZtocFile(vectorZtoc, nil)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, e := range z.Entries() {
		if e.Type == "reg" && e.Size > 0 {
			name = e.Name
			break
		}
	}
	var buf bytes.Buffer
	rep, err := ExtractFile(ctx, z, "z", vectorLayer, "/"+name, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Name != name || rep.Path != "/"+name || rep.Size != int64(buf.Len()) || rep.Digest != fmt.Sprintf("sha256:%x", sha256.Sum256(buf.Bytes())) {
		t.Errorf("report %+v for %d bytes", rep, buf.Len())
	}
	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, []byte{0x1f, 0x8b}, 0o644); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if _, err := ExtractFile(ctx, z, "z", other, name, &buf); err == nil || !strings.Contains(err.Error(), "not the layer of this zTOC") || buf.Len() > 0 {
		t.Errorf("other layer: %v, %d bytes", err, buf.Len())
	}
}

// TestReadZtocFile: stdin, and what is not a zTOC says what it is.
func TestReadZtocFile(t *testing.T) {
	b, err := os.ReadFile(vectorZtoc)
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := ReadZtocFile("-", bytes.NewReader(b)); err != nil || !bytes.Equal(got, b) {
		t.Errorf("stdin: %v", err)
	}
	if _, _, err := ReadZtocFile(vectorLayer, nil); err == nil || !strings.Contains(err.Error(), vectorLayer+": not a zTOC") || !strings.Contains(err.Error(), "IMAGE LAYER") {
		t.Errorf("a layer: %v", err)
	}
}
