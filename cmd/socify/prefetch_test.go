package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/prefetch"
)

// TestConvertPrefetchFlags: --prefetch-file and --prefetch-files-json add
// soci prefetch artifacts; paths in no layer are warned about; bad JSON is
// a usage error.
func TestConvertPrefetchFlags(t *testing.T) {
	dir := t.TempDir()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, f := range []string{"etc/app.conf", "usr/bin/app, with comma"} {
		tw.WriteHeader(&tar.Header{Name: f, Typeflag: tar.TypeReg, Mode: 0o644, Size: 5})
		tw.Write([]byte("hello"))
	}
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tb.Bytes())
	zw.Close()
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), static.NewLayer(gz.Bytes(), types.OCILayer))
	must(t, err)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	must(t, err)
	src := filepath.Join(dir, "src")
	p, err := layout.Write(src, empty.Index)
	must(t, err)
	must(t, p.AppendImage(img))
	list := filepath.Join(dir, "list.json")
	must(t, os.WriteFile(list, []byte(`[" /etc/app.conf ", "", "missing/file"]`), 0o644))
	out := filepath.Join(dir, "out.tar")

	r := runCLI(t, "convert", "--min-layer-size", "0", "--no-cache", "--prefetch-file", "usr/bin/app, with comma",
		"--prefetch-files-json", list, "oci:"+src, "oci-archive:"+out)
	if r.code != 0 || !strings.Contains(r.stderr, "prefetch file missing/file is not in any layer") {
		t.Fatalf("%s", r)
	}
	s, err := location.Open(context.Background(), location.MustParseReference("oci-archive:"+out))
	must(t, err)
	defer s.Close()
	ix, err := s.Index.IndexManifest()
	must(t, err)
	var n int
	for _, d := range ix.Manifests {
		if d.ArtifactType != ociindex.ArtifactTypeSociIndexV2 {
			continue
		}
		si, err := s.Index.Image(d.Digest)
		must(t, err)
		raw, err := si.RawManifest()
		must(t, err)
		var m ocispec.Manifest
		must(t, json.Unmarshal(raw, &m))
		for _, l := range m.Layers {
			if l.MediaType == prefetch.MediaType {
				n++
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d prefetch artifacts, want 1 (both files are in the one layer)", n)
	}
	if r := runCLI(t, "verify", "oci-archive:"+out); r.code != 0 {
		t.Fatalf("verify: %s", r)
	}

	must(t, os.WriteFile(list, []byte(`{"paths": ["x"]}`), 0o644))
	if r := runCLI(t, "convert", "--prefetch-files-json", list, "oci:"+src, "oci-archive:"+out); r.code != 2 || !strings.Contains(r.stderr, "JSON array of strings") {
		t.Fatalf("bad JSON: %s", r)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
