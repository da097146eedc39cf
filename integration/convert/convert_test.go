// Package convert_test runs conversions against a real registry
// (distribution v3 on 127.0.0.1, see registrytest): registry to registry in the
// same and in another repository, multi-platform images with attestations,
// Docker media types, single manifests, nested indexes, pushes by digest, and
// what exactly gets uploaded.
package convert_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/integration/registrytest"
	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/ztoc"
)

const vectorsDir = "../../testdata/images"

// soci's options for the a-img2 vector (allplatforms-span64k).
func sociOpts() []convert.Option {
	return []convert.Option{
		convert.WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier),
		convert.WithMinLayerSize(0),
		convert.WithSpanSize(65536),
	}
}

const (
	img2Converted = "sha256:13536361c3cd4655085a1ce8b3c88a0afa9982ce69e75c079b470183ec83f2ce"
	img1Converted = "sha256:0af21bdca4dd929ce65a49531f4408b8426bcf0352e3044b440ffcd7bbe80e8c" // span64k
)

func open(t *testing.T, ref string) *location.Source {
	t.Helper()
	src, err := location.Open(context.Background(), location.MustParseReference(ref))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// push stores a test vector in the registry, bypassing the counting proxy.
func push(t *testing.T, reg *registrytest.Registry, vector, repo string) *location.Source {
	t.Helper()
	src := open(t, "oci-archive:"+filepath.Join(vectorsDir, vector, "IN.tar"))
	ref, err := name.ParseReference(reg.BackendRef(repo))
	if err != nil {
		t.Fatal(err)
	}
	if src.Wrapped {
		// The source is the lone manifest, not the index wrapped around it.
		var img v1.Image
		if img, err = src.Index.Image(src.Descriptor.Digest); err == nil {
			err = remote.Write(ref, img)
		}
	} else {
		err = remote.WriteIndex(ref, src.Index)
	}
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func convertSource(t *testing.T, src *location.Source, opts ...convert.Option) (v1.ImageIndex, *convert.Report) {
	t.Helper()
	out, rep, err := convert.Convert(context.Background(), src.Index, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return out, rep
}

// convertRef converts src into dst (transport references), as the CLI does.
func convertRef(t *testing.T, src, dst string, opts ...convert.Option) (*convert.Report, *location.WriteResult) {
	t.Helper()
	return convertRefTo(t, src, dst, nil, opts...)
}

// convertRefTo is convertRef with sink options. The destination takes the
// layers in the conversion's pass.
func convertRefTo(t *testing.T, src, dst string, sopts []location.Option, opts ...convert.Option) (*convert.Report, *location.WriteResult) {
	t.Helper()
	s := open(t, src)
	sink, err := location.NewSink(location.MustParseReference(dst), sopts...)
	if err != nil {
		t.Fatal(err)
	}
	tee, err := location.NewLayerTee(context.Background(), s, sink)
	if err != nil {
		t.Fatal(err)
	}
	if tee != nil {
		defer tee.Close()
		opts = append(opts, convert.WithLayerTee(tee))
	}
	out, rep := convertSource(t, s, opts...)
	res, err := sink.Write(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	return rep, res
}

func get(t *testing.T, ref string) *remote.Descriptor {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newBlobDigests are the blobs a conversion creates that are uploaded as
// blobs (manifests and indexes are PUT as manifests).
func newBlobDigests(rep *convert.Report) []string {
	var out []string
	for _, b := range rep.NewBlobs {
		if b.Kind == "ztoc" || b.Kind == "soci-config" {
			out = append(out, b.Digest.String())
		}
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func TestRegistryToSameRepository(t *testing.T) {
	reg := registrytest.New(t)
	src := push(t, reg, "a-img2-2platform", "app:v1")
	reg.Proxy.Reset()

	rep, res := convertRef(t, "docker://"+reg.Ref("app:v1"), "docker://"+reg.Ref("app:v1-soci"), sociOpts()...)
	if rep.Result.Digest.String() != img2Converted || res.Descriptor.Digest.String() != img2Converted {
		t.Fatalf("converted %s, soci made %s", rep.Result.Digest, img2Converted)
	}
	// Only the zTOCs and the {} config were uploaded as blobs; layers and
	// configs were already there.
	if got, want := sorted(reg.Proxy.UploadedBlobs()), newBlobDigests(rep); !slices.Equal(got, want) {
		t.Fatalf("uploaded %v, want %v", got, want)
	}
	// Layer bytes were read once each (by the indexer), never uploaded.
	var layerBytes int64
	for _, l := range rep.Layers {
		layerBytes += l.Size
	}
	if s := reg.Proxy.Stats(registrytest.AnyBlobGet); s.BytesOut > layerBytes+4096 {
		t.Fatalf("downloaded %d blob bytes for %d bytes of layers", s.BytesOut, layerBytes)
	}
	if s := reg.Proxy.Stats(registrytest.Match{Method: "PATCH"}); s.BytesIn > rep.BytesWritten {
		t.Fatalf("uploaded %d bytes, the conversion made %d", s.BytesIn, rep.BytesWritten)
	}
	// The tag was written last.
	recs := reg.Proxy.Records()
	last := recs[len(recs)-1]
	if last.Method != "PUT" || !strings.HasSuffix(last.Path, "/manifests/v1-soci") {
		t.Fatalf("last request %s %s", last.Method, last.Path)
	}

	// Pulled back, the image is what soci wrote, byte for byte.
	d := get(t, reg.Ref("app:v1-soci"))
	if d.Digest.String() != img2Converted {
		t.Fatalf("registry serves %s", d.Digest)
	}
	// registry -> oci-archive equals soci's output file.
	dst := filepath.Join(t.TempDir(), "out.tar")
	convertRefTo(t, "docker://"+reg.Ref("app:v1"), "oci-archive:"+dst, []location.Option{location.WithArchiveOrder(location.OrderSoci)}, sociOpts()...)
	if got := fileSHA(t, dst); got != "sha256:71f2df214578082e0a573ac84bc88ef576fa38a90c7cdef5062492949295e99a" {
		t.Fatalf("archive %s", got)
	}
	_ = src

	// Converting the converted image again uploads nothing and changes nothing.
	reg.Proxy.Reset()
	rep2, _ := convertRef(t, "docker://"+reg.Ref("app:v1-soci"), "docker://"+reg.Ref("app:v1-soci"), sociOpts()...)
	if rep2.Result.Digest.String() != img2Converted || len(reg.Proxy.UploadedBlobs()) != 0 {
		t.Fatalf("re-conversion: %s, uploads %v", rep2.Result.Digest, reg.Proxy.UploadedBlobs())
	}
	// ... even for one platform only: the other keeps its SOCI index.
	rep3, _ := convertRef(t, "docker://"+reg.Ref("app:v1-soci"), "docker://"+reg.Ref("app:v1-soci"),
		append(sociOpts(), convert.WithPlatforms(v1.Platform{OS: "linux", Architecture: "arm64"}))...)
	if rep3.Result.Digest.String() != img2Converted {
		t.Fatalf("one-platform re-conversion changed the image: %s", rep3.Result.Digest)
	}
}

func TestRegistryToOtherRepositoryMountsLayers(t *testing.T) {
	reg := registrytest.New(t)
	push(t, reg, "a-img2-2platform", "team/app:v1")
	reg.Proxy.Reset()

	rep, _ := convertRef(t, "docker://"+reg.Ref("team/app:v1"), "docker://"+reg.Ref("other/app:soci"), sociOpts()...)
	uploaded := sorted(reg.Proxy.UploadedBlobs())
	if want := newBlobDigests(rep); !slices.Equal(uploaded, want) {
		t.Fatalf("uploaded %v, want only the new blobs %v", uploaded, want)
	}
	mounted := 0
	for _, r := range reg.Proxy.Records() {
		if r.Query.Get("mount") != "" && r.Status == 201 {
			mounted++
		}
	}
	// 4 layers + 2 configs.
	if mounted != 6 {
		t.Fatalf("%d blobs mounted, want 6", mounted)
	}
	if d := get(t, reg.Ref("other/app:soci")); d.Digest.String() != img2Converted {
		t.Fatalf("digest %s", d.Digest)
	}
}

func TestRegistryToOtherRegistryCopies(t *testing.T) {
	a, b := registrytest.New(t), registrytest.New(t)
	push(t, a, "a-img2-2platform", "app:v1")
	rep, _ := convertRef(t, "docker://"+a.Ref("app:v1"), "docker://"+b.Ref("app:v1"), sociOpts()...)
	if rep.Result.Digest.String() != img2Converted {
		t.Fatal(rep.Result.Digest)
	}
	// Everything went to b: layers, configs and the new blobs.
	if n := len(b.Proxy.UploadedBlobs()); n != 6+len(newBlobDigests(rep)) {
		t.Fatalf("%d uploads to the other registry", n)
	}
	if d := get(t, b.Ref("app:v1")); d.Digest.String() != img2Converted {
		t.Fatalf("digest %s", d.Digest)
	}
}

func TestSingleManifestFromRegistry(t *testing.T) {
	reg := registrytest.New(t)
	push(t, reg, "a-img1-single", "single:v1")
	rep, _ := convertRef(t, reg.Ref("single:v1"), reg.Ref("single:v1-soci"), sociOpts()...)
	if rep.Result.Digest.String() != img1Converted {
		t.Fatalf("converted %s, soci made %s", rep.Result.Digest, img1Converted)
	}
	d := get(t, reg.Ref("single:v1-soci"))
	if !d.MediaType.IsIndex() {
		t.Fatalf("media type %s", d.MediaType)
	}
}

func TestPushByDigest(t *testing.T) {
	reg := registrytest.New(t)
	push(t, reg, "a-img2-2platform", "app:v1")
	rep, res := convertRef(t, "docker://"+reg.Ref("app:v1"), "docker://"+reg.Ref("app@"+img2Converted), sociOpts()...)
	if rep.Result.Digest.String() != img2Converted || !strings.HasSuffix(res.Reference, "@"+img2Converted) {
		t.Fatalf("%+v", res)
	}
	get(t, reg.Ref("app@"+img2Converted))

	// A digest that is not the result's is refused before anything is written.
	s := open(t, "docker://"+reg.Ref("app:v1"))
	out, _ := convertSource(t, s, convert.WithMinLayerSize(0)) // socify's identifier: another digest
	sink, err := location.NewSink(location.MustParseReference("docker://" + reg.Ref("app@"+img2Converted)))
	if err != nil {
		t.Fatal(err)
	}
	reg.Proxy.Reset()
	if _, err := sink.Write(context.Background(), out); err == nil || !strings.Contains(err.Error(), "push it by tag") {
		t.Fatalf("err = %v", err)
	}
	if len(reg.Proxy.Records()) != 0 {
		t.Fatalf("%d requests for a refused push", len(reg.Proxy.Records()))
	}
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func indexManifest(t *testing.T, d *remote.Descriptor) *v1.IndexManifest {
	t.Helper()
	var m v1.IndexManifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func childrenBy(m *v1.IndexManifest, f func(v1.Descriptor) bool) []v1.Descriptor {
	var out []v1.Descriptor
	for _, d := range m.Manifests {
		if f(d) {
			out = append(out, d)
		}
	}
	return out
}

func isSoci(d v1.Descriptor) bool { return d.ArtifactType == ociindex.ArtifactTypeSociIndexV2 }
