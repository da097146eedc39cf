package convert_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
)

func gzTar(t *testing.T, name string, size int) []byte {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg})
	tw.Write(bytes.Repeat([]byte(name), size/len(name)+1)[:size])
	tw.Close()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(tb.Bytes())
	zw.Close()
	return b.Bytes()
}

// TestForeignLayerAbsent: a Windows-style image whose non-distributable base
// layer is not in the layout converts (soci fails): the foreign layer gets no
// zTOC, with the reason, the other layer is indexed, and the archive sink
// leaves the absent blob out with a warning.
func TestForeignLayerAbsent(t *testing.T) {
	ctx := context.Background()
	mk := func(b []byte, mt types.MediaType) v1.Layer {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, tarball.WithMediaType(mt))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	foreign := mk(gzTar(t, "base", 4096), types.OCIRestrictedLayer)
	app := mk(gzTar(t, "app", 4096), types.OCILayer)
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: foreign, URLs: []string{"https://example.invalid/base.tar.gz"}, MediaType: types.OCIRestrictedLayer},
		mutate.Addendum{Layer: app, MediaType: types.OCILayer})
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "windows", "amd64"
	img, _ = mutate.ConfigFile(img, cf)

	dir := t.TempDir()
	if _, err := layout.Write(dir, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})); err != nil {
		t.Fatal(err)
	}
	fd, _ := foreign.Digest()
	os.Remove(filepath.Join(dir, "blobs", fd.Algorithm, fd.Hex)) // as in a mirror that may not carry it

	src, err := location.Open(ctx, location.MustParseReference("oci:"+dir))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out, rep, err := convert.Convert(ctx, src.Index, convert.WithMinLayerSize(0))
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	ad, _ := app.Digest()
	for _, l := range rep.Layers {
		switch l.Digest.String() {
		case fd.String():
			if l.Status != convert.LayerSkipped || !strings.Contains(l.Reason, "non-distributable") {
				t.Errorf("foreign layer: %s %q", l.Status, l.Reason)
			}
		case ad.String():
			if l.Status != convert.LayerIndexed {
				t.Errorf("app layer: %s %q", l.Status, l.Reason)
			}
		}
	}
	if len(rep.Platforms) != 1 || rep.Platforms[0].SociIndex == "" {
		t.Fatalf("platform not converted: %+v", rep.Platforms)
	}
	sink, _ := location.NewSink(location.MustParseReference("oci-archive:" + filepath.Join(t.TempDir(), "out.tar")))
	wr, err := sink.Write(ctx, out)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	if len(wr.Warnings) == 0 || !strings.Contains(strings.Join(wr.Warnings, " "), "non-distributable") {
		t.Errorf("sink warnings: %v", wr.Warnings)
	}
}
