package convert

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/ztoc"
)

const (
	mtOCIGzip     = ocispec.MediaTypeImageLayerGzip
	mtDockerMan   = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerGzipT = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

func TestDecideLayer(t *testing.T) {
	tests := []struct {
		mt      string
		size    int64
		index   bool
		comp    ztoc.Compression
		skip    string
		ignore  bool
		wantErr error
	}{
		{mt: ocispec.MediaTypeImageLayerGzip, size: 10, index: true, comp: ztoc.Gzip},
		{mt: ocispec.MediaTypeImageLayer, size: 10, index: true, comp: ztoc.Uncompressed},
		{mt: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: 10, index: true, comp: ztoc.Gzip},
		{mt: "application/vnd.docker.image.rootfs.diff.tar", size: 10, index: true, comp: ztoc.Uncompressed},
		{mt: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", size: 10, index: true, comp: ztoc.Gzip},
		{mt: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", size: 10, index: true, comp: ztoc.Gzip},
		{mt: ocispec.MediaTypeImageLayerZstd, size: 10, skip: "zstd"},
		{mt: "application/vnd.docker.image.rootfs.diff.tar.zstd", size: 10, skip: "zstd"},
		{mt: "application/vnd.oci.image.layer.nondistributable.v1.tar", size: 10, skip: "not supported"},
		{mt: "application/vnd.oci.image.layer.v1.tar+gzip+encrypted", size: 10, skip: "encrypted"},
		{mt: "application/vnd.oci.image.layer.v1.tar+foo", size: 10, skip: "not supported"},
		{mt: ocispec.MediaTypeImageLayerGzip, size: 9, skip: "size 9 is less than min-layer-size 10"},
		{mt: ocispec.MediaTypeImageLayerZstd, size: 9, skip: "size 9 is less than"},
		{mt: "application/vnd.amazon.soci.prefetch.v1+json", size: 10, ignore: true},
		{mt: "application/octet-stream", size: 10, wantErr: ErrNotLayerType},
		{mt: "", size: 10, wantErr: ErrNotLayerType},
		{mt: ocispec.MediaTypeImageManifest, size: 10, wantErr: ErrNotLayerType},
		{mt: "application/vnd.oci.image.layer.", size: 10, wantErr: errors.New("could not determine layer compression")},
	}
	for _, tc := range tests {
		t.Run(tc.mt, func(t *testing.T) {
			got, err := decideLayer(ocispec.Descriptor{MediaType: tc.mt, Size: tc.size}, 10)
			if tc.wantErr != nil {
				if err == nil || (!errors.Is(err, tc.wantErr) && !strings.Contains(err.Error(), tc.wantErr.Error())) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.index != tc.index || got.compression != tc.comp || got.ignore != tc.ignore || !strings.Contains(got.skip, tc.skip) || (tc.skip == "" && got.skip != "") {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

type multiArch struct {
	idx              v1.ImageIndex
	shared, amd, arm *blob
	small            *blob
	amdDesc, armDesc ocispec.Descriptor
	attDesc          ocispec.Descriptor
}

// newMultiArch is a Docker manifest list with two platforms sharing a base
// layer, plus a buildx-style attestation manifest for amd64.
func newMultiArch(t *testing.T) multiArch {
	t.Helper()
	var m multiArch
	m.shared = newBlob(mtDockerGzipT, gz(t, tarFiles(t, "base/a", "base/b")))
	m.amd = newBlob(mtDockerGzipT, gz(t, tarFiles(t, "amd/x")))
	m.arm = newBlob(mtDockerGzipT, gz(t, tarFiles(t, "arm/y")))
	m.small = newBlob(mtDockerGzipT, gz(t, tarSized(t, 10, "tiny")))
	amdImg, amdDesc := makeImage(t, imageSpec{mt: mtDockerMan, os: "linux", arch: "amd64", layers: []*blob{m.shared, m.amd, m.small}})
	armImg, armDesc := makeImage(t, imageSpec{mt: mtDockerMan, os: "linux", arch: "arm64", layers: []*blob{m.shared, m.arm}})
	stmt := newBlob("application/vnd.in-toto+json", []byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`))
	attImg, attDesc := makeImage(t, imageSpec{os: "unknown", arch: "unknown", layers: []*blob{stmt}})
	m.amdDesc = withPlatform(amdDesc, "linux", "amd64")
	m.armDesc = withPlatform(armDesc, "linux", "arm64")
	m.attDesc = withPlatform(attDesc, "unknown", "unknown")
	m.attDesc.Annotations = map[string]string{
		ociindex.AnnotationDockerReferenceDigest: amdDesc.Digest.String(),
		ociindex.AnnotationDockerReferenceType:   "attestation-manifest",
	}
	m.amdDesc.Annotations = map[string]string{"dropped": "soci replaces descriptor annotations"}
	m.idx, _ = makeIndex(t, mtDockerList,
		entry{desc: m.amdDesc, img: amdImg}, entry{desc: m.armDesc, img: armImg}, entry{desc: m.attDesc, img: attImg})
	return m
}

func childByPlatform(t *testing.T, m *v1.IndexManifest, os, arch string, soci bool) v1.Descriptor {
	t.Helper()
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == os && d.Platform.Architecture == arch && (d.ArtifactType == ociindex.ArtifactTypeSociIndexV2) == soci {
			return d
		}
	}
	t.Fatalf("no child %s/%s soci=%v", os, arch, soci)
	return v1.Descriptor{}
}

func TestMultiArchDockerWithAttestation(t *testing.T) {
	m := newMultiArch(t)
	var mu sync.Mutex
	events := map[EventKind]int{}
	out, rep, err := Convert(context.Background(), m.idx,
		WithMinLayerSize(1000), WithImageName("example/app:1"),
		WithProgress(func(e Event) { mu.Lock(); events[e.Kind]++; mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	im, err := out.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != ocispec.MediaTypeImageIndex || len(im.Manifests) != 5 {
		t.Fatalf("index %+v", im)
	}

	// The shared layer was read once; the small one never.
	if n := m.shared.reads.Load(); n != 1 {
		t.Errorf("shared layer read %d times", n)
	}
	if n := m.small.reads.Load(); n != 0 {
		t.Errorf("small layer read %d times", n)
	}

	amd := childByPlatform(t, im, "linux", "amd64", false)
	amdSoci := childByPlatform(t, im, "linux", "amd64", true)
	armSoci := childByPlatform(t, im, "linux", "arm64", true)
	if amd.MediaType != ocispec.MediaTypeImageManifest || amd.Annotations[ociindex.AnnotationIndexDigest] != amdSoci.Digest.String() || amd.Annotations["dropped"] != "" {
		t.Errorf("amd64 descriptor %+v", amd)
	}
	if amdSoci.Annotations[ociindex.AnnotationImageManifestDigest] != amd.Digest.String() {
		t.Errorf("amd64 SOCI descriptor %+v", amdSoci)
	}
	// SOCI descriptors come last, in index order.
	if im.Manifests[3].Digest != amdSoci.Digest || im.Manifests[4].Digest != armSoci.Digest {
		t.Errorf("order: %+v", im.Manifests)
	}

	// The attestation follows its image.
	att := im.Manifests[2]
	if att.Annotations[ociindex.AnnotationDockerReferenceDigest] != amd.Digest.String() ||
		att.Annotations[ociindex.AnnotationDockerReferenceType] != "attestation-manifest" {
		t.Errorf("attestation descriptor %+v", att)
	}

	// The rewritten manifest is OCI, keeps Docker layer types, passes layers through.
	img, err := out.Image(amd.Digest)
	if err != nil {
		t.Fatal(err)
	}
	man, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if man.MediaType != ocispec.MediaTypeImageManifest || man.Config.MediaType != ocispec.MediaTypeImageConfig || man.Layers[0].MediaType != mtDockerGzipT {
		t.Errorf("manifest %+v", man)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	// Reading it reads the source blob: no copy in between.
	rc, err := ls[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if n := m.shared.reads.Load(); n != 2 {
		t.Errorf("layer did not come from the source (%d reads)", n)
	}
	m.shared.reads.Store(1)

	// The SOCI index lists zTOCs of the indexed layers in layer order.
	si, err := out.Image(amdSoci.Digest)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := si.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(sm.Layers) != 2 || sm.Layers[0].Annotations[ociindex.AnnotationImageLayerDigest] != m.shared.desc.Digest.String() ||
		sm.Layers[1].Annotations[ociindex.AnnotationImageLayerDigest] != m.amd.desc.Digest.String() ||
		sm.Annotations[ociindex.AnnotationBuildToolIdentifier] != DefaultBuildToolIdentifier {
		t.Errorf("SOCI index %+v", sm)
	}

	// Report.
	if rep.Image != "example/app:1" || rep.Result.Digest.String() != mustDigest(t, out).String() {
		t.Errorf("report header %+v", rep)
	}
	if len(rep.Platforms) != 3 || rep.Platforms[2].Skipped == "" || rep.Platforms[0].SociIndex.String() != amdSoci.Digest.String() {
		t.Errorf("platform reports %+v", rep.Platforms)
	}
	status := map[digest.Digest]string{}
	for _, l := range rep.Layers {
		status[digest.Digest(l.Digest.String())] = l.Status
	}
	if status[m.shared.desc.Digest] != LayerIndexed || status[m.small.desc.Digest] != LayerSkipped || len(rep.Layers) != 4 {
		t.Errorf("layer reports %+v", rep.Layers)
	}
	wantRead := m.shared.desc.Size + m.amd.desc.Size + m.arm.desc.Size
	if rep.BytesRead != wantRead {
		t.Errorf("bytes read %d, want %d", rep.BytesRead, wantRead)
	}
	if events[EventLayerDone] != 3 || events[EventLayerSkipped] != 1 || events[EventLayerStart] != 3 {
		t.Errorf("events %v", events)
	}

	// The result is writable as an OCI layout by go-containerregistry, and
	// the writer finds every blob.
	dir := t.TempDir()
	if _, err := layout.Write(dir, out); err != nil {
		t.Fatal(err)
	}
	top := mustDigest(t, out).String()
	for d := range collect(t, out) {
		if d.String() == top {
			continue // layout.Write makes it index.json
		}
		if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", d.Encoded())); err != nil {
			t.Errorf("layout lacks %s: %.200s", d, collect(t, out)[d])
		}
	}
	for _, b := range []*blob{m.shared, m.amd, m.arm, m.small} {
		if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", b.desc.Digest.Encoded())); err != nil {
			t.Errorf("layout lacks layer %s", b.desc.Digest)
		}
	}
}

func mustDigest(t *testing.T, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPlatformSelection(t *testing.T) {
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64v8 := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	t.Run("requested order and platform as given", func(t *testing.T) {
		m := newMultiArch(t)
		out, _, err := Convert(context.Background(), m.idx, WithMinLayerSize(0), WithPlatforms(arm64v8, amd64, amd64))
		if err != nil {
			t.Fatal(err)
		}
		im, _ := out.IndexManifest()
		if len(im.Manifests) != 5 || im.Manifests[3].Platform.Architecture != "arm64" || im.Manifests[3].Platform.Variant != "v8" ||
			im.Manifests[4].Platform.Architecture != "amd64" {
			t.Fatalf("%+v", im.Manifests)
		}
	})
	t.Run("one platform: the other is re-encoded, not converted", func(t *testing.T) {
		m := newMultiArch(t)
		out, rep, err := Convert(context.Background(), m.idx, WithMinLayerSize(0), WithPlatforms(arm64v8))
		if err != nil {
			t.Fatal(err)
		}
		im, _ := out.IndexManifest()
		amd := childByPlatform(t, im, "linux", "amd64", false)
		if len(im.Manifests) != 4 || amd.MediaType != ocispec.MediaTypeImageManifest || amd.Annotations[ociindex.AnnotationIndexDigest] != "" {
			t.Fatalf("%+v", im.Manifests)
		}
		if m.amd.reads.Load() != 0 || rep.Platforms[0].Skipped != "platform not selected" {
			t.Fatalf("amd64 was indexed: %+v", rep.Platforms[0])
		}
	})
	t.Run("missing platform", func(t *testing.T) {
		m := newMultiArch(t)
		_, _, err := Convert(context.Background(), m.idx, WithPlatforms(v1.Platform{OS: "linux", Architecture: "s390x"}))
		if !errors.Is(err, ErrPlatformNotFound) || !strings.Contains(err.Error(), "image manifest for linux/s390x: not found") ||
			!strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a platform with nothing to index is skipped", func(t *testing.T) {
		small := newBlob(mtOCIGzip, gz(t, tarSized(t, 10, "s")))
		big := newBlob(mtOCIGzip, gz(t, tarFiles(t, "b")))
		imgA, dA := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: []*blob{small}})
		imgB, dB := makeImage(t, imageSpec{os: "linux", arch: "arm64", layers: []*blob{big}})
		idx, _ := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(dA, "linux", "amd64"), img: imgA}, entry{desc: withPlatform(dB, "linux", "arm64"), img: imgB})
		_, rep, err := Convert(context.Background(), idx, WithMinLayerSize(1000))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Platforms[0].SociIndex != "" || rep.Platforms[0].Skipped != ErrEmptyIndex.Error() || rep.Platforms[1].SociIndex == "" {
			t.Fatalf("%+v", rep.Platforms)
		}
	})
}

func TestSingleImageConfigPlatform(t *testing.T) {
	l := newBlob(mtOCIGzip, gz(t, tarFiles(t, "a")))
	img, _ := makeImage(t, imageSpec{os: "linux", arch: "aarch64", layers: []*blob{l}})
	out, _, err := convertImage(t, img, WithMinLayerSize(0))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := out.IndexManifest()
	if len(im.Manifests) != 2 || im.Manifests[0].Platform.Architecture != "arm64" || im.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("%+v", im.Manifests)
	}
	if _, _, err := convertImage(t, img, WithPlatforms(v1.Platform{OS: "linux", Architecture: "amd64"})); !errors.Is(err, ErrPlatformNotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestNestedIndex(t *testing.T) {
	a := newBlob(mtOCIGzip, gz(t, tarFiles(t, "a")))
	b := newBlob(mtOCIGzip, gz(t, tarFiles(t, "b")))
	imgA, dA := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: []*blob{a}})
	imgB, dB := makeImage(t, imageSpec{os: "linux", arch: "arm64", layers: []*blob{b}})
	inner, dInner := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(dB, "linux", "arm64"), img: imgB})
	dInner.Annotations = map[string]string{"kept": "yes"}
	outer, _ := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(dA, "linux", "amd64"), img: imgA}, entry{desc: dInner, idx: inner})

	out, rep, err := Convert(context.Background(), outer, WithMinLayerSize(0))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := out.IndexManifest()
	if len(im.Manifests) != 3 || !im.Manifests[1].MediaType.IsIndex() || im.Manifests[1].Annotations["kept"] != "yes" {
		t.Fatalf("outer %+v", im.Manifests)
	}
	sub, err := out.ImageIndex(im.Manifests[1].Digest)
	if err != nil {
		t.Fatal(err)
	}
	sm, _ := sub.IndexManifest()
	if len(sm.Manifests) != 2 || sm.Manifests[1].ArtifactType != ociindex.ArtifactTypeSociIndexV2 || sm.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("inner %+v", sm.Manifests)
	}
	if len(rep.Platforms) != 2 || rep.Platforms[1].SociIndex == "" {
		t.Fatalf("%+v", rep.Platforms)
	}
	// Idempotent through the nesting too.
	again, _, err := Convert(context.Background(), out, WithMinLayerSize(0))
	if err != nil {
		t.Fatal(err)
	}
	if mustDigest(t, again) != mustDigest(t, out) {
		t.Fatal("re-conversion of a nested index changed it")
	}
	collect(t, out)
}

func TestLayerVerification(t *testing.T) {
	good := gz(t, tarFiles(t, "a", "b"))
	tests := []struct {
		name string
		mod  func(*blob)
		want error
	}{
		{"digest", func(b *blob) { b.desc.Digest = digest.FromString("other") }, ErrDigestMismatch},
		{"size", func(b *blob) { b.desc.Size++ }, ErrSizeMismatch},
		{"corrupt gzip", func(b *blob) {
			b.data = append([]byte{}, b.data...)
			b.data[20] ^= 0xff
			b.desc.Digest = digest.FromBytes(b.data)
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newBlob(mtOCIGzip, good)
			tc.mod(l)
			img, d := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: []*blob{l}})
			idx, _ := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(d, "linux", "amd64"), img: img})
			_, _, err := Convert(context.Background(), idx, WithMinLayerSize(0), WithImageName("reg/img:tag"))
			var le *LayerError
			if !errors.As(err, &le) || le.Layer != l.desc.Digest {
				t.Fatalf("err = %v, want a LayerError for %s", err, l.desc.Digest)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			for _, s := range []string{"reg/img:tag", "linux/amd64", l.desc.Digest.String()} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
		})
	}
}

func TestNotLayerTypeIsFatal(t *testing.T) {
	l := newBlob("application/octet-stream", []byte("x"))
	img, d := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: []*blob{l}})
	idx, _ := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(d, "linux", "amd64"), img: img})
	_, _, err := Convert(context.Background(), idx)
	if !errors.Is(err, ErrNotLayerType) {
		t.Fatalf("err = %v", err)
	}
}

func TestJobsBoundParallelism(t *testing.T) {
	for _, jobs := range []int{1, 3} {
		var layers []*blob
		for i := range 6 {
			layers = append(layers, newBlob(mtOCIGzip, gz(t, tarFiles(t, strings.Repeat("f", i+1)))))
		}
		// All blobs share the counters, to see concurrency across layers.
		for _, l := range layers[1:] {
			l.active, l.maxActive = layers[0].active, layers[0].maxActive
		}
		img, d := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: layers})
		idx, _ := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(d, "linux", "amd64"), img: img})
		if _, _, err := Convert(context.Background(), idx, WithMinLayerSize(0), WithJobs(jobs)); err != nil {
			t.Fatal(err)
		}
		if got := layers[0].maxActive.Load(); got > int32(jobs) || got < 1 {
			t.Errorf("jobs=%d: %d layers read at once", jobs, got)
		}
	}
}

func TestCancellation(t *testing.T) {
	l := newBlob(mtOCIGzip, gz(t, tarFiles(t, "a")))
	l.gate = make(chan struct{})
	img, d := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: []*blob{l}})
	idx, _ := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(d, "linux", "amd64"), img: img})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		cancel()
		close(l.gate)
	}()
	_, _, err := Convert(ctx, idx, WithMinLayerSize(0))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestCache(t *testing.T) {
	dir := t.TempDir()
	l := newBlob(mtOCIGzip, gz(t, tarFiles(t, "a", "b")))
	img, d := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: []*blob{l}})
	idx, _ := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(d, "linux", "amd64"), img: img})

	cold, rep, err := Convert(context.Background(), idx, WithMinLayerSize(0), WithCacheStore(NewDirCache(dir)))
	if err != nil {
		t.Fatal(err)
	}
	if l.reads.Load() != 1 || rep.Layers[0].Status != LayerIndexed {
		t.Fatalf("cold: reads %d, %+v", l.reads.Load(), rep.Layers[0])
	}
	warm, rep, err := Convert(context.Background(), idx, WithMinLayerSize(0), WithCacheStore(NewDirCache(dir)))
	if err != nil {
		t.Fatal(err)
	}
	if l.reads.Load() != 1 || rep.Layers[0].Status != LayerCached || rep.BytesRead != 0 {
		t.Fatalf("warm: reads %d, %+v", l.reads.Load(), rep.Layers[0])
	}
	if mustDigest(t, cold) != mustDigest(t, warm) {
		t.Fatal("cached conversion differs")
	}

	// Another span size or identifier is another entry.
	if _, rep, err = Convert(context.Background(), idx, WithMinLayerSize(0), WithCacheStore(NewDirCache(dir)), WithSpanSize(1<<16)); err != nil || rep.Layers[0].Status != LayerIndexed {
		t.Fatalf("other span: %v %+v", err, rep.Layers)
	}
	if _, rep, err = Convert(context.Background(), idx, WithMinLayerSize(0), WithCacheStore(NewDirCache(dir)), WithBuildToolIdentifier("x")); err != nil || rep.Layers[0].Status != LayerIndexed {
		t.Fatalf("other tool: %v %+v", err, rep.Layers)
	}

	// A damaged entry is rebuilt.
	var ztocs []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".ztoc") {
			ztocs = append(ztocs, p)
		}
		return nil
	})
	if len(ztocs) != 3 {
		t.Fatalf("%d cache entries", len(ztocs))
	}
	for _, p := range ztocs {
		if err := os.WriteFile(p, []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	again, rep, err := Convert(context.Background(), idx, WithMinLayerSize(0), WithCacheStore(NewDirCache(dir)))
	if err != nil || rep.Layers[0].Status != LayerIndexed || mustDigest(t, again) != mustDigest(t, cold) {
		t.Fatalf("damaged cache: %v %+v", err, rep.Layers)
	}
}

func TestCacheConcurrentRuns(t *testing.T) {
	dir := t.TempDir()
	l := newBlob(mtOCIGzip, gz(t, tarFiles(t, "a", "b", "c")))
	img, d := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: []*blob{l}})
	idx, _ := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(d, "linux", "amd64"), img: img})
	var wg sync.WaitGroup
	digests := make([]v1.Hash, 4)
	for i := range digests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, err := Convert(context.Background(), idx, WithMinLayerSize(0), WithCacheStore(NewDirCache(dir)))
			if err != nil {
				t.Error(err)
				return
			}
			digests[i], _ = out.Digest()
		}()
	}
	wg.Wait()
	for _, h := range digests[1:] {
		if h != digests[0] {
			t.Fatal("concurrent runs disagree")
		}
	}
	var tmp []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(e.Name(), ".tmp-") {
			tmp = append(tmp, p)
		}
		return nil
	})
	if len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
}

func TestMissingChildKept(t *testing.T) {
	l := newBlob(mtOCIGzip, gz(t, tarFiles(t, "a")))
	img, d := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: []*blob{l}})
	_, dMissing := makeImage(t, imageSpec{os: "linux", arch: "arm64"})
	dMissing = withPlatform(dMissing, "linux", "arm64")
	idx, _ := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(d, "linux", "amd64"), img: img}, entry{desc: dMissing})
	out, rep, err := Convert(context.Background(), idx, WithMinLayerSize(0))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := out.IndexManifest()
	if im.Manifests[1].Digest.String() != dMissing.Digest.String() || len(rep.Warnings) != 1 {
		t.Fatalf("%+v %v", im.Manifests, rep.Warnings)
	}
}

func TestReportJSON(t *testing.T) {
	m := newMultiArch(t)
	_, rep, err := Convert(context.Background(), m.idx, WithMinLayerSize(0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Result, rep.Result) || !reflect.DeepEqual(back.Platforms[0].Platform, rep.Platforms[0].Platform) || len(back.Layers) != len(rep.Layers) || back.Timings.Total != rep.Timings.Total || back.BytesWritten == 0 {
		t.Fatalf("round trip lost data: %s", b)
	}
	var sum int64
	for _, nb := range rep.NewBlobs {
		sum += nb.Size
	}
	if sum != rep.BytesWritten {
		t.Fatalf("bytes written %d, new blobs %d", rep.BytesWritten, sum)
	}
}

func TestDisableXattrs(t *testing.T) {
	plain := newBlob(mtOCIGzip, gz(t, tarFiles(t, "a")))
	xattr := newBlob(mtOCIGzip, gz(t, tarWithPAX(t, map[string]string{"SCHILY.xattr.user.a": "1"})))
	opaque := newBlob(mtOCIGzip, gz(t, tarNamed(t, "dir/.wh..wh..opq")))
	img, d := makeImage(t, imageSpec{os: "linux", arch: "amd64", layers: []*blob{plain, xattr, opaque}})
	idx, _ := makeIndex(t, ocispec.MediaTypeImageIndex, entry{desc: withPlatform(d, "linux", "amd64"), img: img})
	for _, on := range []bool{false, true} {
		out, rep, err := Convert(context.Background(), idx, WithMinLayerSize(0), WithDisableXattrs(on))
		if err != nil {
			t.Fatal(err)
		}
		si, err := out.Image(mustHash(t, rep.Platforms[0].SociIndex))
		if err != nil {
			t.Fatal(err)
		}
		m, _ := si.Manifest()
		got := []string{}
		for _, l := range m.Layers {
			got = append(got, l.Annotations[ociindex.AnnotationDisableXattrs])
		}
		want := []string{"", "", ""}
		if on {
			want[0] = "true"
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("disable=%v: %q, want %q", on, got, want)
		}
	}
}

func mustHash(t *testing.T, d digest.Digest) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(d.String())
	if err != nil {
		t.Fatal(err)
	}
	return h
}
