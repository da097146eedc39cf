package convert_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/socify/socify/integration/registrytest"
	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/ociindex"
)

func gzipLayer(t *testing.T, seed uint64, mt types.MediaType) v1.Layer {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range 3 {
		body := make([]byte, 20000)
		for k := range body {
			body[k] = byte(rng.Uint32())
		}
		tw.WriteHeader(&tar.Header{Name: "dir/file" + string(rune('0'+i)), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(tb.Bytes())
	zw.Close()
	return static.NewLayer(zb.Bytes(), mt)
}

func image(t *testing.T, mt, configMT types.MediaType, os, arch string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: os, Architecture: arch, RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, mt), configMT)
	img, err = mutate.AppendLayers(img, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t *testing.T, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func pushIndex(t *testing.T, reg *registrytest.Registry, repo string, idx v1.ImageIndex) {
	t.Helper()
	ref, err := name.ParseReference(reg.BackendRef(repo))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
}

// TestDockerManifestList: a Docker manifest list of Docker manifests comes
// out as an OCI index of OCI manifests; layer media types stay Docker's.
func TestDockerManifestList(t *testing.T) {
	reg := registrytest.New(t)
	shared := gzipLayer(t, 1, types.DockerLayer)
	amd := image(t, types.DockerManifestSchema2, types.DockerConfigJSON, "linux", "amd64", shared, gzipLayer(t, 2, types.DockerLayer))
	arm := image(t, types.DockerManifestSchema2, types.DockerConfigJSON, "linux", "arm64", shared, gzipLayer(t, 3, types.DockerLayer))
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	), types.DockerManifestList)
	pushIndex(t, reg, "docker:v1", idx)
	reg.Proxy.Reset()

	rep, _ := convertRef(t, reg.Ref("docker:v1"), reg.Ref("docker:soci"), convert.WithMinLayerSize(0))
	if len(rep.Layers) != 3 || rep.Layers[0].Status != convert.LayerIndexed {
		t.Fatalf("layers %+v", rep.Layers)
	}
	if n := reg.Proxy.Stats(registrytest.BlobGet(digestOf(t, shared).String())); n.Requests != 1 {
		t.Fatalf("shared layer fetched %d times", n.Requests)
	}
	d := get(t, reg.Ref("docker:soci"))
	if d.MediaType != types.OCIImageIndex {
		t.Fatalf("index media type %s", d.MediaType)
	}
	m := indexManifest(t, d)
	images := childrenBy(m, func(d v1.Descriptor) bool { return !isSoci(d) })
	socis := childrenBy(m, isSoci)
	if len(images) != 2 || len(socis) != 2 {
		t.Fatalf("%+v", m.Manifests)
	}
	for _, c := range images {
		if c.MediaType != types.OCIManifestSchema1 || c.Annotations[ociindex.AnnotationIndexDigest] == "" {
			t.Fatalf("child %+v", c)
		}
		img, err := remote.Image(mustRef(t, reg.Ref("docker@"+c.Digest.String())))
		if err != nil {
			t.Fatal(err)
		}
		man, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if man.MediaType != types.OCIManifestSchema1 || man.Config.MediaType != types.OCIConfigJSON ||
			man.Layers[0].MediaType != types.DockerLayer || man.Annotations[ociindex.AnnotationIndexDigest] != c.Annotations[ociindex.AnnotationIndexDigest] {
			t.Fatalf("manifest %+v", man)
		}
	}
	// The SOCI indexes are pullable and canonical.
	for _, s := range socis {
		img, err := remote.Image(mustRef(t, reg.Ref("docker@"+s.Digest.String())))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := img.RawManifest()
		m, err := ociindex.ParseSociIndex(raw)
		if err != nil {
			t.Fatal(err)
		}
		re, _ := ociindex.Marshal(m)
		if !bytes.Equal(re, raw) {
			t.Fatal("SOCI index is not canonical JSON")
		}
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAttestations: buildx-style unknown/unknown attestation manifests are
// kept, with vnd.docker.reference.digest naming the converted manifest.
func TestAttestations(t *testing.T) {
	reg := registrytest.New(t)
	amd := image(t, types.OCIManifestSchema1, types.OCIConfigJSON, "linux", "amd64", gzipLayer(t, 4, types.OCILayer))
	arm := image(t, types.OCIManifestSchema1, types.OCIConfigJSON, "linux", "arm64", gzipLayer(t, 5, types.OCILayer))
	att := func(of v1.Image) mutate.IndexAddendum {
		a := image(t, types.OCIManifestSchema1, types.OCIConfigJSON, "unknown", "unknown",
			static.NewLayer([]byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`), "application/vnd.in-toto+json"))
		return mutate.IndexAddendum{Add: a, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				ociindex.AnnotationDockerReferenceDigest: digestOf(t, of).String(),
				ociindex.AnnotationDockerReferenceType:   "attestation-manifest",
			},
		}}
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		att(amd), att(arm),
	)
	pushIndex(t, reg, "buildx:v1", idx)

	rep, _ := convertRef(t, reg.Ref("buildx:v1"), reg.Ref("buildx:soci"), convert.WithMinLayerSize(0))
	m := indexManifest(t, get(t, reg.Ref("buildx:soci")))
	if len(m.Manifests) != 6 {
		t.Fatalf("%+v", m.Manifests)
	}
	newDigest := map[string]string{} // platform arch -> converted manifest
	for _, c := range m.Manifests[:2] {
		newDigest[c.Platform.Architecture] = c.Digest.String()
	}
	for i, arch := range []string{"amd64", "arm64"} {
		a := m.Manifests[2+i]
		if a.Platform.OS != "unknown" || a.Annotations[ociindex.AnnotationDockerReferenceType] != "attestation-manifest" ||
			a.Annotations[ociindex.AnnotationDockerReferenceDigest] != newDigest[arch] {
			t.Fatalf("attestation %d: %+v (want reference %s)", i, a, newDigest[arch])
		}
		if _, err := remote.Image(mustRef(t, reg.Ref("buildx@"+a.Digest.String()))); err != nil {
			t.Fatal(err)
		}
	}
	if rep.Platforms[2].Skipped == "" || rep.Platforms[2].SociIndex != "" {
		t.Fatalf("attestation converted: %+v", rep.Platforms[2])
	}
}

// TestNestedIndex: an index inside the index is converted in place, its SOCI
// indexes listed in it.
func TestNestedIndex(t *testing.T) {
	reg := registrytest.New(t)
	inner := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{
		Add:        image(t, types.OCIManifestSchema1, types.OCIConfigJSON, "linux", "arm64", gzipLayer(t, 6, types.OCILayer)),
		Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}},
	})
	outer := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{
			Add:        image(t, types.OCIManifestSchema1, types.OCIConfigJSON, "linux", "amd64", gzipLayer(t, 7, types.OCILayer)),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}},
		},
		mutate.IndexAddendum{Add: inner},
	)
	pushIndex(t, reg, "nested:v1", outer)
	rep, _ := convertRef(t, reg.Ref("nested:v1"), reg.Ref("nested:soci"), convert.WithMinLayerSize(0))
	if len(rep.Platforms) != 2 || rep.Platforms[1].SociIndex == "" {
		t.Fatalf("%+v", rep.Platforms)
	}
	m := indexManifest(t, get(t, reg.Ref("nested:soci")))
	if len(m.Manifests) != 3 || !m.Manifests[1].MediaType.IsIndex() || !isSoci(m.Manifests[2]) {
		t.Fatalf("outer %+v", m.Manifests)
	}
	sub := indexManifest(t, get(t, reg.Ref("nested@"+m.Manifests[1].Digest.String())))
	if len(sub.Manifests) != 2 || !isSoci(sub.Manifests[1]) || sub.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("inner %+v", sub.Manifests)
	}
}

// TestRegistryToLayoutAndBack: registry -> oci: layout -> registry gives the
// same image, and the layout holds every blob.
func TestRegistryToLayoutAndBack(t *testing.T) {
	reg := registrytest.New(t)
	push(t, reg, "a-img2-2platform", "app:v1")
	dir := filepath.Join(t.TempDir(), "layout")
	rep, res := convertRef(t, reg.Ref("app:v1"), "oci:"+dir+":app-soci", sociOpts()...)
	if res.BlobsWritten == 0 || rep.Result.Digest.String() != img2Converted {
		t.Fatalf("%+v", res)
	}
	rep2, _ := convertRef(t, "oci:"+dir+":app-soci", reg.Ref("app:from-layout"), sociOpts()...)
	if rep2.Result.Digest.String() != img2Converted {
		t.Fatal(rep2.Result.Digest)
	}
	if d := get(t, reg.Ref("app:from-layout")); d.Digest.String() != img2Converted {
		t.Fatal(d.Digest)
	}
	// In place: the layout gets the image converted with other options.
	src := open(t, "oci:"+dir+":app-soci")
	out, _ := convertSource(t, src, convert.WithMinLayerSize(0), convert.WithPlatforms(v1.Platform{OS: "linux", Architecture: "arm64"}))
	sink, err := src.InPlaceSink()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	back := open(t, "oci:"+dir+":app-soci")
	m, _ := back.Index.IndexManifest()
	// amd64 keeps soci's SOCI index; arm64 got socify's.
	if len(m.Manifests) != 4 || m.Manifests[2].Digest.String() != "sha256:d1cf1f9496f1e53cd3f7e3ed8024dc179dfadfd61723d6612bccb7009ef37327" ||
		m.Manifests[3].Digest.String() == "sha256:aba6be831b7702ff3c4d3a1dcc569b348daee8fc3fc08c7709561ccf0abe8300" {
		t.Fatalf("%+v", m.Manifests)
	}
}
