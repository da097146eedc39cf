package location_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/ociindex"
)

func layerTar(t *testing.T, seed uint64, files int) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range files {
		body := make([]byte, 3000+i*100)
		for k := range body {
			body[k] = byte(rng.Uint32())
		}
		tw.WriteHeader(&tar.Header{Name: "f" + string(rune('a'+i)), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	return buf.Bytes()
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

type member struct {
	name string
	data []byte
}

func writeTar(t *testing.T, p string, ms []member) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(m.data)
	}
	tw.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// classicSave writes what `docker save` (before Docker 25) writes: an
// uncompressed layer.tar per layer, <id>.json config, manifest.json.
func classicSave(t *testing.T, p string, images map[string][][]byte) {
	t.Helper()
	var ms []member
	var man []map[string]any
	for tag, layers := range images {
		var diffIDs []string
		var paths []string
		for i, l := range layers {
			diffIDs = append(diffIDs, "sha256:"+sha(l))
			dir := sha([]byte(tag + string(rune(i))))
			paths = append(paths, "./"+dir+"/layer.tar")
			ms = append(ms, member{dir + "/layer.tar", l})
		}
		cfg, _ := json.Marshal(map[string]any{"architecture": "arm64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
		ms = append(ms, member{sha(cfg) + ".json", cfg})
		man = append(man, map[string]any{"Config": sha(cfg) + ".json", "RepoTags": []string{tag}, "Layers": paths})
	}
	mb, _ := json.Marshal(man)
	ms = append(ms, member{"manifest.json", mb})
	writeTar(t, p, ms)
}

func TestDockerArchiveUncompressed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "save.tar")
	l1, l2 := layerTar(t, 1, 3), layerTar(t, 2, 2)
	classicSave(t, p, map[string][][]byte{"example/app:1": {l1, l2}})

	src := open(t, "docker-archive:"+p)
	m, err := wrapped(t, src).Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 2 ||
		m.Layers[0].MediaType != types.OCIUncompressedLayer || m.Layers[0].Digest.Hex != sha(l1) || m.Layers[1].Size != int64(len(l2)) {
		t.Fatalf("manifest %+v", m)
	}
	out, rep := convertSource(t, src, convert.WithMinLayerSize(0))
	if rep.Platforms[0].Platform.String() != "linux/arm64" || len(rep.Layers) != 2 || rep.Layers[0].Status != convert.LayerIndexed {
		t.Fatalf("report %+v", rep)
	}
	dst := filepath.Join(t.TempDir(), "out.tar")
	write(t, "oci-archive:"+dst+":example/app:1-soci", out)

	back := open(t, "oci-archive:"+dst+":example/app:1-soci")
	if back.Index == nil || back.Descriptor.Digest.String() != rep.Result.Digest.String() {
		t.Fatalf("reopened %+v", back.Descriptor)
	}
	// The layers in the archive are the saved bytes.
	img, err := back.Index.Image(mustManifestDigest(t, back.Index, 0))
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	rc, _ := ls[0].Compressed()
	b := new(bytes.Buffer)
	b.ReadFrom(rc)
	rc.Close()
	if !bytes.Equal(b.Bytes(), l1) {
		t.Fatal("layer bytes changed")
	}
}

func mustManifestDigest(t *testing.T, idx v1.ImageIndex, i int) v1.Hash {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return m.Manifests[i].Digest
}

func TestDockerArchiveSelection(t *testing.T) {
	p := filepath.Join(t.TempDir(), "save.tar")
	classicSave(t, p, map[string][][]byte{"example/a:1": {layerTar(t, 3, 1)}, "docker.io/library/b:2": {layerTar(t, 4, 1)}})
	if _, err := location.Open(context.Background(), location.MustParseReference("docker-archive:"+p)); err == nil || !strings.Contains(err.Error(), "holds 2 images") {
		t.Fatalf("err = %v", err)
	}
	a := open(t, "docker-archive:"+p+":example/a:1")
	b := open(t, "docker-archive:"+p+":b:2") // normalized like docker does
	if a.Descriptor.Digest == b.Descriptor.Digest {
		t.Fatal("same image for both tags")
	}
	if _, err := location.Open(context.Background(), location.MustParseReference("docker-archive:"+p+":c:3")); err == nil || !strings.Contains(err.Error(), `no image tagged "c:3"`) {
		t.Fatalf("err = %v", err)
	}
	wrapped(t, open(t, "docker-archive:"+p+":@1"))
}

// TestDockerArchiveFromGoContainerRegistry reads go-containerregistry's
// tarball.Write output: gzip layers under legacy names (hashed to find their
// digest) with Docker media types, presented as OCI.
func TestDockerArchiveFromGoContainerRegistry(t *testing.T) {
	raw := layerTar(t, 5, 4)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(raw)
	zw.Close()
	l := static.NewLayer(zb.Bytes(), types.DockerLayer)
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{{Algorithm: "sha256", Hex: sha(raw)}}}})
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("example/ggcr:1")
	p := filepath.Join(t.TempDir(), "ggcr.tar")
	if err := tarball.WriteToFile(p, tag, img); err != nil {
		t.Fatal(err)
	}
	src := open(t, "docker-archive:"+p)
	m, _ := wrapped(t, src).Manifest()
	if m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip || m.Layers[0].Digest.Hex != sha(zb.Bytes()) {
		t.Fatalf("layer %+v", m.Layers[0])
	}
	out, rep := convertSource(t, src, convert.WithMinLayerSize(0))
	if rep.Layers[0].Status != convert.LayerIndexed {
		t.Fatalf("%+v", rep.Layers)
	}
	im, _ := out.IndexManifest()
	if len(im.Manifests) != 2 || im.Manifests[1].ArtifactType != ociindex.ArtifactTypeSociIndexV2 || im.Manifests[0].Platform.Architecture != "amd64" {
		t.Fatalf("%+v", im.Manifests)
	}
	// Docker 25+ stores blobs content-addressed; those names give the digest.
	p2 := filepath.Join(t.TempDir(), "d25.tar")
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + sha(raw)}}})
	mj, _ := json.Marshal([]map[string]any{{"Config": "blobs/sha256/" + sha(cfg), "RepoTags": []string{"x:1"}, "Layers": []string{"blobs/sha256/" + sha(zb.Bytes())}}})
	writeTar(t, p2, []member{{"blobs/sha256/" + sha(cfg), cfg}, {"blobs/sha256/" + sha(zb.Bytes()), zb.Bytes()}, {"manifest.json", mj}})
	d25 := open(t, "docker-archive:"+p2)
	m2, _ := wrapped(t, d25).Manifest()
	if m2.Layers[0].Digest.Hex != sha(zb.Bytes()) {
		t.Fatalf("%+v", m2.Layers[0])
	}
}
