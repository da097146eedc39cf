package socify

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/ztoc"
)

const single = "../../testdata/images/a-img1-single"

// sociOpts make socify write exactly what soci v0.16.1 wrote for the
// vector's defaultspan case.
var sociOpts = WithConvertOptions(convert.WithMinLayerSize(0), convert.WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier))

const singleDigest = "sha256:e2de7985b1203dfce20bb14f56ebcd08a766e911a78ce562677c67c2c6d5fca5"

func TestPlanDestination(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, dst string
		opts     []Option
		wantDst  string // the planned destination, before tag naming
		wantArg  string // the ArgError's Arg, "" for success
	}{
		{"archive to archive", "oci-archive:a.tar", "oci-archive:b.tar", nil, "oci-archive:b.tar", ""},
		{"registry into its own repository", "reg.example.com/app:1.0", "", nil, "docker://", ""},
		{"archive needs a destination", "oci-archive:a.tar", "", nil, "", "DST"},
		{"dry run needs none", "oci-archive:a.tar", "", []Option{WithDryRun(true)}, "", ""},
		{"in place", "oci:dir", "", []Option{WithInPlace(true)}, "oci:dir", ""},
		{"in place repeating SRC", "oci:dir", "oci:dir", []Option{WithInPlace(true)}, "oci:dir", ""},
		{"in place elsewhere", "oci:dir", "oci:other", []Option{WithInPlace(true)}, "", "in-place"},
		{"in place on an archive", "oci-archive:a.tar", "", []Option{WithInPlace(true)}, "", "in-place"},
		{"docker-archive destination", "oci-archive:a.tar", "docker-archive:b.tar", nil, "", "DST"},
		{"child tags in a file", "oci-archive:a.tar", "oci-archive:b.tar", []Option{WithTagChildren(true)}, "", "tag-children"},
		{"bad source", "ftp://x", "oci-archive:b.tar", nil, "", "SRC"},
		{"bad destination", "oci-archive:a.tar", "oci-archive:", nil, "", "DST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := makeOptions(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			p, err := planDestination(tc.src, tc.dst, o)
			var ae *ArgError
			switch {
			case tc.wantArg != "":
				if !errors.As(err, &ae) || ae.Arg != tc.wantArg {
					t.Fatalf("want an ArgError for %s, got %v", tc.wantArg, err)
				}
			case err != nil:
				t.Fatal(err)
			case tc.wantDst == "" && p.dst.Kind != "":
				t.Errorf("planned %s, want no destination", p.dst)
			case tc.wantDst != "" && p.dst.String() != tc.wantDst:
				t.Errorf("planned %s, want %s", p.dst, tc.wantDst)
			}
		})
	}
}

func TestRegistryDestination(t *testing.T) {
	h := stubDigest
	for _, tc := range []struct {
		src, dst, tmpl, want string
	}{
		{"reg.example.com/app:1.0", "", "{tag}-soci", "reg.example.com/app:1.0-soci"},
		{"reg.example.com/app:1.0", "reg.example.com/other", "{tag}-soci", "reg.example.com/other:1.0-soci"},
		{"reg.example.com/app:1.0", "reg.example.com/other:x", "{tag}-soci", "reg.example.com/other:x"},
		{"oci-archive:a.tar:latest", "reg.example.com/app", "{tag}-soci", "reg.example.com/app:latest-soci"},
		{"oci-archive:a.tar", "reg.example.com/app", "d-{digest}", "reg.example.com/app:d-sha256-" + h.Hex},
		{"oci-archive:a.tar", "reg.example.com:5000/app:v1", "{tag}", "reg.example.com:5000/app:v1"},
	} {
		t.Run(tc.src+" "+tc.dst, func(t *testing.T) {
			o, err := makeOptions([]Option{WithTagTemplate(tc.tmpl)})
			if err != nil {
				t.Fatal(err)
			}
			dst := tc.dst
			if dst != "" {
				dst = "docker://" + dst
			}
			p, err := planDestination(tc.src, dst, o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.registryDestination(o, h, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.Ref != tc.want {
				t.Errorf("destination %s, want %s", got.Ref, tc.want)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Option
	}{
		{"bad tag template", WithTagTemplate("{nope}")},
		{"empty tag template", WithTagTemplate("")},
		{"empty user", WithCredentials("", "pw")},
		{"empty password", WithCredentials("ci", "")},
		{"nil keychain", WithKeychain(nil)},
		{"nil logger", WithLogger(nil)},
		{"nil progress", WithProgress(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The option fails the call before the source is even opened.
			_, err := Convert(context.Background(), "oci-archive:/nonexistent.tar", "oci-archive:/nonexistent-out.tar", tc.opt)
			if err == nil || strings.Contains(err.Error(), "nonexistent") {
				t.Fatalf("want the option's error, got %v", err)
			}
		})
	}
}

// TestConvertArchiveToArchive: soci's exact result, reported, with progress
// for every layer and the write.
func TestConvertArchiveToArchive(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.tar")
	var mu sync.Mutex
	kinds := map[EventKind]int{}
	res, err := Convert(context.Background(), "oci-archive:"+single+"/IN.tar", "oci-archive:"+out, sociOpts,
		WithProgress(func(e Event) {
			mu.Lock()
			kinds[e.Kind]++
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	// The archive keeps the source's ref name.
	if res.Digest != singleDigest || res.Reference != "oci-archive:"+out+":vectors/a1:latest" || res.AlreadySoci || !res.Changed {
		t.Errorf("result %+v", res)
	}
	if res.Write == nil || res.Write.BlobsWritten == 0 || res.Write.BytesWritten == 0 {
		t.Errorf("write report %+v", res.Write)
	}
	if kinds[EventLayerStart] != 2 || kinds[EventLayerDone] != 2 || kinds[EventWriteStart] != 1 || kinds[EventWriteDone] != 1 {
		t.Errorf("events %v", kinds)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}

// TestConvertDryRunWritesNothing: a dry run needs no destination and
// reports the result digest.
func TestConvertDryRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	res, err := Convert(context.Background(), "oci-archive:"+single+"/IN.tar", "", sociOpts, WithDryRun(true))
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != singleDigest || !res.DryRun || res.Write != nil || res.Reference != "" {
		t.Errorf("result %+v", res)
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("dry run wrote %v", names)
	}
}

// TestConvertInPlaceAgainIsAlreadySoci: converting a layout in place, then
// again, says the second time that the image was SOCI-enabled already and
// changes nothing.
func TestConvertInPlaceAgainIsAlreadySoci(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	// An unconverted layout: no layer qualifies, the image is written as is.
	unconverted := WithConvertOptions(convert.WithMinLayerSize(1<<40), convert.WithAllowEmpty(true))
	if _, err := Convert(context.Background(), "oci-archive:"+single+"/IN.tar", "oci:"+dir, unconverted); err != nil {
		t.Fatal(err)
	}
	first, err := Convert(context.Background(), "oci:"+dir, "", sociOpts, WithInPlace(true))
	if err != nil {
		t.Fatal(err)
	}
	if first.AlreadySoci || !first.Changed {
		t.Errorf("first in-place conversion: %+v", first)
	}
	again, err := Convert(context.Background(), "oci:"+dir, "", sociOpts, WithInPlace(true))
	if err != nil {
		t.Fatal(err)
	}
	if !again.AlreadySoci || again.Changed || again.Digest != first.Digest {
		t.Errorf("second in-place conversion: %+v (first %s)", again, first.Digest)
	}
}

func TestInspectAndVerify(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.tar")
	if _, err := Convert(context.Background(), "oci-archive:"+single+"/IN.tar", "oci-archive:"+out, sociOpts); err != nil {
		t.Fatal(err)
	}
	ins, err := Inspect(context.Background(), "oci-archive:"+out)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins.Platforms) != 1 || !ins.Platforms[0].SociEnabled {
		t.Errorf("inspect: %+v", ins)
	}
	rep, err := Verify(context.Background(), "oci-archive:"+out)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("verify: %v", rep.Errors())
	}
	if _, err := Verify(context.Background(), "oci-archive:"); err == nil {
		t.Error("a bad reference verified")
	}
}

// TestLayoutTestdata: testdata/layout, the examples' source, is
// testdata/images/a-img3-allsmall/IN.tar extracted; regenerate it with
//
//	rm -r pkg/socify/testdata/layout && mkdir pkg/socify/testdata/layout &&
//	tar -xf testdata/images/a-img3-allsmall/IN.tar -C pkg/socify/testdata/layout
func TestLayoutTestdata(t *testing.T) {
	f, err := os.Open("../../testdata/images/a-img3-allsmall/IN.tar")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		want, _ := io.ReadAll(tr)
		got, err := os.ReadFile(filepath.Join("testdata/layout", h.Name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("testdata/layout/%s differs from the archive's (%v)", h.Name, err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("empty archive")
	}
}
