package location_test

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/ztoc"
)

const vectorsDir = "../../testdata/images"

type vector struct {
	name, label string
	opts        []convert.Option
}

func vectors() []vector {
	soci := []convert.Option{convert.WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier), convert.WithMinLayerSize(0)}
	span := convert.WithSpanSize(65536)
	return []vector{
		{"a-img1-single", "defaultspan", soci},
		{"a-img1-single", "span64k", append(soci, span)},
		{"a-img2-2platform", "allplatforms-span64k", append(soci, span)},
		{"a-img2-2platform", "hostplatform-span64k", append(soci, span, convert.WithPlatforms(v1.Platform{OS: "linux", Architecture: "amd64"}))},
	}
}

func (v vector) record(t *testing.T) (tarSHA string, size int64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, v.name, "expected", v.label, "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		SHA  string `json:"output_tar_sha256"`
		Size int64  `json:"output_tar_size"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r.SHA, r.Size
}

func open(t *testing.T, ref string) *location.Source {
	t.Helper()
	src, err := location.Open(context.Background(), location.MustParseReference(ref))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// wrapped returns the lone manifest a source wraps, failing unless the source
// is a wrapped one.
func wrapped(t *testing.T, src *location.Source) v1.Image {
	t.Helper()
	if !src.Wrapped {
		t.Fatal("source is not a wrapped manifest")
	}
	m, err := src.Index.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("wrapped index: %v %+v", err, m)
	}
	if m.Manifests[0].Digest != src.Descriptor.Digest {
		t.Fatalf("wrapped %s, descriptor %s", m.Manifests[0].Digest, src.Descriptor.Digest)
	}
	img, err := src.Index.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func convertSource(t *testing.T, src *location.Source, opts ...convert.Option) (v1.ImageIndex, *convert.Report) {
	t.Helper()
	out, rep, err := convert.Convert(context.Background(), src.Index, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return out, rep
}

func write(t *testing.T, ref string, idx v1.ImageIndex, opts ...location.Option) *location.WriteResult {
	t.Helper()
	sink, err := location.NewSink(location.MustParseReference(ref), opts...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sink.Write(context.Background(), idx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func fileSHA(t *testing.T, p string) (string, int64) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n
}

// TestArchiveParityWithSoci: oci-archive in, oci-archive out, and with
// OrderSoci the output tar is the very file soci wrote (same sha256).
func TestArchiveParityWithSoci(t *testing.T) {
	for _, v := range vectors() {
		t.Run(v.name+"/"+v.label, func(t *testing.T) {
			src := open(t, "oci-archive:"+filepath.Join(vectorsDir, v.name, "IN.tar"))
			out, rep := convertSource(t, src, v.opts...)
			dst := filepath.Join(t.TempDir(), "OUT.tar")
			res := write(t, "oci-archive:"+dst, out, location.WithArchiveOrder(location.OrderSoci))
			want, wantSize := v.record(t)
			got, size := fileSHA(t, dst)
			if got != want || size != wantSize {
				t.Fatalf("output tar %s (%d bytes), soci wrote %s (%d bytes)", got, size, want, wantSize)
			}
			if res.BytesWritten != size || res.Descriptor.Digest.String() != rep.Result.Digest.String() {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

// TestRoundTrips: archive -> layout -> archive and layout -> layout give the
// same image, and a layout destination hard-links layers from a layout source.
func TestRoundTrips(t *testing.T) {
	v := vectors()[2]
	want, _ := v.record(t)
	tmp := t.TempDir()

	// archive -> layout (converted).
	src := open(t, "oci-archive:"+filepath.Join(vectorsDir, v.name, "IN.tar"))
	out, rep := convertSource(t, src, v.opts...)
	dir := filepath.Join(tmp, "layout")
	res := write(t, "oci:"+dir, out)
	if res.BlobsWritten == 0 || res.BlobsLinked != 0 {
		t.Fatalf("archive -> layout: %+v", res)
	}
	ij, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	wantIJ, _ := os.ReadFile(filepath.Join(vectorsDir, v.name, "expected", v.label, "index.json"))
	if string(ij) != string(wantIJ) {
		t.Fatalf("index.json %s, soci %s", ij, wantIJ)
	}

	// layout -> archive (already converted: converting again is a no-op).
	lsrc := open(t, "oci:"+dir)
	if lsrc.Index == nil || lsrc.Descriptor.Digest.String() != rep.Result.Digest.String() {
		t.Fatalf("layout source %+v", lsrc.Descriptor)
	}
	again, _ := convertSource(t, lsrc, v.opts...)
	arch := filepath.Join(tmp, "again.tar")
	write(t, "oci-archive:"+arch, again, location.WithArchiveOrder(location.OrderSoci))
	if got, _ := fileSHA(t, arch); got != want {
		t.Fatalf("layout -> archive: %s, want %s", got, want)
	}

	// layout -> layout: layers are hard links.
	dir2 := filepath.Join(tmp, "layout2")
	res = write(t, "oci:"+dir2+":v2", again)
	if res.BlobsLinked == 0 {
		t.Fatalf("no hard links: %+v", res)
	}
	layer := "blobs/sha256/94a99e92b55691efe71f43c1a93ea035a7056ddc91ad5cd14914704319e302d0"
	a, _ := os.Stat(filepath.Join(dir, layer))
	b, _ := os.Stat(filepath.Join(dir2, layer))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Fatal("layer not hard-linked")
	}
	// ... unless asked not to.
	dir3 := filepath.Join(tmp, "layout3")
	res = write(t, "oci:"+dir3, again, location.WithoutHardLinks())
	if res.BlobsLinked != 0 {
		t.Fatalf("linked despite WithoutHardLinks: %+v", res)
	}
	c, _ := os.Stat(filepath.Join(dir3, layer))
	if c == nil || os.SameFile(a, c) {
		t.Fatal("layer not copied")
	}

	// The named destination is found by its name.
	named := open(t, "oci:"+dir2+":v2")
	if named.Descriptor.Digest.String() != rep.Result.Digest.String() {
		t.Fatalf("oci:%s:v2 is %s", dir2, named.Descriptor.Digest)
	}
}

// TestLayoutSinkAddsToExistingLayout: writing another name keeps the others;
// writing the same name replaces it.
func TestLayoutSinkAddsToExistingLayout(t *testing.T) {
	v := vectors()[0]
	src := open(t, "oci-archive:"+filepath.Join(vectorsDir, v.name, "IN.tar"))
	out, _ := convertSource(t, src, v.opts...)
	out2, _ := convertSource(t, src, vectors()[1].opts...)
	dir := t.TempDir()
	write(t, "oci:"+dir+":a", out)
	write(t, "oci:"+dir+":b", out)
	res := write(t, "oci:"+dir+":a", out2)
	if res.BlobsExisting == 0 {
		t.Fatalf("nothing reused: %+v", res)
	}
	var top ocispec.Index
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, d := range top.Manifests {
		names[d.Annotations[ocispec.AnnotationRefName]] = d.Digest.String()
	}
	if len(top.Manifests) != 2 || names["a"] != res.Descriptor.Digest.String() || names["b"] == names["a"] {
		t.Fatalf("index.json %s", b)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func extract(t *testing.T, archive, dir string) {
	t.Helper()
	src := open(t, "oci-archive:"+archive)
	_ = src
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		b, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func countBlobs(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func TestInPlace(t *testing.T) {
	v := vectors()[2]
	dir := t.TempDir()
	extract(t, filepath.Join(vectorsDir, v.name, "IN.tar"), dir)
	before := countBlobs(t, dir)

	src := open(t, "oci:"+dir)
	out, rep := convertSource(t, src, v.opts...)
	sink, err := src.InPlaceSink()
	if err != nil {
		t.Fatal(err)
	}
	res, err := sink.Write(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsWritten != len(rep.NewBlobs) || res.BlobsLinked != 0 {
		t.Fatalf("wrote %d blobs, the conversion made %d new ones: %+v", res.BlobsWritten, len(rep.NewBlobs), res)
	}
	if got := countBlobs(t, dir); got != before+len(rep.NewBlobs) {
		t.Fatalf("%d blobs, want %d", got, before+len(rep.NewBlobs))
	}
	var top ocispec.Index
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(b, &top)
	if len(top.Manifests) != 1 || top.Manifests[0].Digest.String() != rep.Result.Digest.String() ||
		top.Manifests[0].Annotations[ocispec.AnnotationRefName] != "vectors/a2:latest" {
		t.Fatalf("index.json %s", b)
	}
	// The ref name still finds it.
	named := open(t, "oci:"+dir+":vectors/a2:latest")
	if named.Descriptor.Digest.String() != rep.Result.Digest.String() {
		t.Fatal("ref name lost")
	}
	if _, err := open(t, "oci-archive:"+filepath.Join(vectorsDir, v.name, "IN.tar")).InPlaceSink(); !errors.Is(err, location.ErrNotLayout) {
		t.Fatalf("in place on an archive: %v", err)
	}
}

// TestPartialLayout: manifests missing from a layout are left out, as soci
// standalone does; with one platform left, that manifest is the image.
func TestPartialLayout(t *testing.T) {
	v := vectors()[2]
	dir := t.TempDir()
	extract(t, filepath.Join(vectorsDir, v.name, "IN.tar"), dir)
	// The arm64 manifest of a-img2.
	if err := os.Remove(filepath.Join(dir, "blobs/sha256/0446a80386261777ef38bdb7b27c6694cd3766604bf04f11e6e30cd5d9d13eb1")); err != nil {
		t.Fatal(err)
	}
	src := open(t, "oci:"+dir)
	if !src.Wrapped || len(src.Warnings) != 1 || !strings.Contains(src.Warnings[0], "linux/arm64") {
		t.Fatalf("source %+v", src)
	}
	out, rep := convertSource(t, src, v.opts...)
	if len(rep.Platforms) != 1 || rep.Platforms[0].Platform.String() != "linux/amd64" {
		t.Fatalf("%+v", rep.Platforms)
	}
	write(t, "oci-archive:"+filepath.Join(t.TempDir(), "o.tar"), out)
}

// TestIndexJSONAsImage: several entries in index.json (crane's layout) make
// index.json itself the image index.
func TestIndexJSONAsImage(t *testing.T) {
	v := vectors()[2]
	dir := t.TempDir()
	extract(t, filepath.Join(vectorsDir, v.name, "IN.tar"), dir)
	nested, err := os.ReadFile(filepath.Join(dir, "blobs/sha256/a4f96ce0dc3f583572436a1e10fbd920436c7a400eec768797a550f5af6aa80d"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), nested, 0o644); err != nil {
		t.Fatal(err)
	}
	src := open(t, "oci:"+dir)
	if src.Index == nil {
		t.Fatal("not an index")
	}
	out, _ := convertSource(t, src, v.opts...)
	// Same content as the nested index of the vector: same result.
	if h, _ := out.Digest(); h.String() != "sha256:13536361c3cd4655085a1ce8b3c88a0afa9982ce69e75c079b470183ec83f2ce" {
		t.Fatalf("digest %s", h)
	}
	// @N picks one entry.
	one := open(t, "oci:"+dir+":@1")
	if wrapped(t, one) == nil || one.Descriptor.Platform == nil || one.Descriptor.Platform.Architecture != "arm64" {
		t.Fatalf("@1: %+v", one.Descriptor)
	}
}

func TestArchiveSinkCleansUpOnFailure(t *testing.T) {
	v := vectors()[0]
	dir := t.TempDir()
	extract(t, filepath.Join(vectorsDir, v.name, "IN.tar"), dir)
	src := open(t, "oci:"+dir)
	out, _ := convertSource(t, src, v.opts...)
	// Damage the small layer, which the conversion did not read.
	layer := filepath.Join(dir, "blobs/sha256/0005176c4a49f8566f0859dd6a5e04aa01465d9af8f69ba1887abaa6b504fdef")
	b, _ := os.ReadFile(layer)
	b[len(b)-1] ^= 1
	os.WriteFile(layer, b, 0o644)

	outDir := t.TempDir()
	sink, _ := location.NewSink(location.MustParseReference("oci-archive:" + filepath.Join(outDir, "o.tar")))
	_, err := sink.Write(context.Background(), out)
	if err == nil || !strings.Contains(err.Error(), "0005176c4a49") {
		t.Fatalf("err = %v", err)
	}
	if es, _ := os.ReadDir(outDir); len(es) != 0 {
		t.Fatalf("left behind: %v", es)
	}
	// A copying layout sink refuses the blob as well and leaves no index.json
	// (hard links share the source's bytes as they are).
	lsink, _ := location.NewSink(location.MustParseReference("oci:"+filepath.Join(outDir, "l")), location.WithoutHardLinks())
	if _, err := lsink.Write(context.Background(), out); err == nil {
		t.Fatal("layout sink accepted a damaged blob")
	}
	if _, err := os.Stat(filepath.Join(outDir, "l", "index.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("index.json written for a failed write")
	}
}

func TestSourceErrors(t *testing.T) {
	dir := t.TempDir()
	gzTar := filepath.Join(dir, "x.tar.gz")
	os.WriteFile(gzTar, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0}, 0o644)
	tests := []struct{ ref, want string }{
		{"oci:" + filepath.Join(dir, "nope"), "no such file"},
		{"oci:" + gzTar, "not a directory"},
		{"oci-archive:" + gzTar, "gzip-compressed"},
		{"oci:" + dir, "not an OCI layout"},
		{"oci-archive:" + filepath.Join(vectorsDir, "a-img1-single", "IN.tar") + ":nope", `no image named "nope"`},
		{"oci-archive:" + filepath.Join(vectorsDir, "a-img1-single", "IN.tar") + ":@3", "no @3"},
		{"docker-archive:" + filepath.Join(vectorsDir, "a-img1-single", "IN.tar"), "not a docker archive"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			_, err := location.Open(context.Background(), location.MustParseReference(tc.ref))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := location.NewSink(location.MustParseReference("docker-archive:x.tar")); err == nil {
		t.Fatal("docker-archive sink accepted")
	}
}
