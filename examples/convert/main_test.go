package main

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/socify"
	"github.com/socify/socify/pkg/ztoc"
)

// TestRun runs the example on an image soci converted, with soci's
// identifier, and expects soci's index.
func TestRun(t *testing.T) {
	const vec = "../../testdata/images/a-img1-single"
	out := filepath.Join(t.TempDir(), "out.tar")
	err := run(context.Background(), "oci-archive:"+vec+"/IN.tar", "oci-archive:"+out,
		socify.WithConvertOptions(convert.WithMinLayerSize(0), convert.WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier)),
		socify.WithArchiveOrder(location.OrderSoci)) // soci's exact file

	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(vec + "/expected/defaultspan/index.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no index.json in the output: %v", err)
		}
		if h.Name == "index.json" {
			got, _ := io.ReadAll(tr)
			if string(got) != string(want) {
				t.Errorf("index.json %s, soci wrote %s", got, want)
			}
			return
		}
	}
}

// TestRunDefaultsSkipSmallLayers: with the defaults the vector's small
// layers do not qualify, and the error says so.
func TestRunDefaultsSkipSmallLayers(t *testing.T) {
	err := run(context.Background(), "oci-archive:../../testdata/images/a-img1-single/IN.tar", "oci-archive:"+filepath.Join(t.TempDir(), "o.tar"))
	if !errors.Is(err, convert.ErrEmptyIndex) || !strings.Contains(err.Error(), "10485760") {
		t.Fatalf("want ErrEmptyIndex naming the minimum size, got %v", err)
	}
}
