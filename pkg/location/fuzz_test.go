package location

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// FuzzOCIArchive feeds arbitrary tar files to the oci-archive source: it
// must fail with an error or yield an image whose blobs read back, never
// panic or hang. Seeds are a valid archive and variants with a broken
// index.json and a blob member cut short.
func FuzzOCIArchive(f *testing.F) {
	dir := f.TempDir()
	img, err := random.Image(64, 1)
	if err != nil {
		f.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{Add: img})
	good := filepath.Join(dir, "good.tar")
	sink, err := NewSink(MustParseReference("oci-archive:" + good))
	if err != nil {
		f.Fatal(err)
	}
	if _, err := sink.Write(context.Background(), idx); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(bytes.Replace(b, []byte(`"schemaVersion":2`), []byte(`"schemaVersion":"x"`), 1))
	f.Add(tarOf(f, map[string]string{"oci-layout": `{"imageLayoutVersion":"1.0.0"}`, "index.json": `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":-5}]}`}))
	f.Add(tarOf(f, map[string]string{"index.json": `{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:` + string(bytes.Repeat([]byte("a"), 64)) + `","size":3}]}`}))

	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "in.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := Open(context.Background(), MustParseReference("oci-archive:"+p))
		if err != nil {
			return
		}
		defer src.Close()
		m, err := src.Index.IndexManifest()
		if err != nil {
			return
		}
		for _, d := range m.Manifests {
			if im, err := src.Index.Image(d.Digest); err == nil {
				readLayers(im)
			}
		}
	})
}

// readLayers reads every layer of im to its end, as the converter would.
func readLayers(im v1.Image) {
	ls, err := im.Layers()
	if err != nil {
		return
	}
	for _, l := range ls {
		if rc, err := l.Compressed(); err == nil {
			io.Copy(io.Discard, rc)
			rc.Close()
		}
	}
}

func tarOf(f *testing.F, files map[string]string) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			f.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return b.Bytes()
}
