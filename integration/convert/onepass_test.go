package convert_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/socify/socify/integration/registrytest"
	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/registry"
)

// The one-pass tests measure what the source registry serves with a
// byte-counting proxy in front of it (registrytest), for a two-platform
// image: per platform one layer of its own and one shared layer of 3 MiB
// (indexed) and a 64 KiB layer below the minimum size (copied, not indexed).

const onePassMinLayer = 1 << 20

// pushOnePassImage pushes the image to src (bypassing the proxy) and
// returns the sum of its unique blob sizes: layers, configs, manifests and
// the index.
func pushOnePassImage(t *testing.T, src *registrytest.Registry, repo string) int64 {
	t.Helper()
	idx := onePassIndex(t)
	ref, err := name.ParseReference(src.BackendRef(repo))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	return uniqueBlobBytes(t, idx)
}

// onePassIndex is the two-platform image of the one-pass tests.
func onePassIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	shared, err := random.Layer(3<<20, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	idx := v1.ImageIndex(empty.Index)
	for _, arch := range []string{"amd64", "arm64"} {
		own, err := random.Layer(3<<20, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		small, err := random.Layer(64<<10, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(empty.Image, shared, own, small)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf.OS, cf.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(mutate.MediaType(img, types.OCIManifestSchema1), cf); err != nil {
			t.Fatal(err)
		}
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return mutate.IndexMediaType(idx, types.OCIImageIndex)
}

func uniqueBlobBytes(t *testing.T, idx v1.ImageIndex) int64 {
	t.Helper()
	var sum int64
	for _, n := range blobSizes(t, idx) {
		sum += n
	}
	return sum
}

// blobSizes maps every blob of idx (the index, its manifests, their configs
// and layers) to its size.
func blobSizes(t *testing.T, idx v1.ImageIndex) map[v1.Hash]int64 {
	t.Helper()
	seen := map[v1.Hash]int64{}
	raw, _ := idx.RawManifest()
	h, _ := idx.Digest()
	seen[h] = int64(len(raw))
	m, _ := idx.IndexManifest()
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		seen[d.Digest] = d.Size
		mf, _ := img.Manifest()
		seen[mf.Config.Digest] = mf.Config.Size
		for _, l := range mf.Layers {
			seen[l.Digest] = l.Size
		}
	}
	return seen
}

// onePassConvert converts src into dst as pkg/socify does: one registry
// client, resumable layer reads without the reader's own digest check (the
// indexer hashes), and, with tee, the sink taking layers in the same pass.
func onePassConvert(t *testing.T, src, dst string, tee bool, opts []convert.Option, sopts ...location.Option) (*convert.Report, *location.WriteResult) {
	t.Helper()
	client, err := registry.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	return onePassConvertVia(t, client, src, dst, tee, opts, sopts...)
}

func onePassConvertVia(t *testing.T, client *registry.Client, src, dst string, tee bool, opts []convert.Option, sopts ...location.Option) (*convert.Report, *location.WriteResult) {
	t.Helper()
	rep, res, err := tryOnePassConvert(t, client, src, dst, tee, opts, sopts...)
	if err != nil {
		t.Fatal(err)
	}
	return rep, res
}

// tryOnePassConvert is onePassConvertVia returning the conversion's or the
// sink's error; the setup's errors fail the test.
func tryOnePassConvert(t *testing.T, client *registry.Client, src, dst string, tee bool, opts []convert.Option, sopts ...location.Option) (*convert.Report, *location.WriteResult, error) {
	t.Helper()
	ctx := context.Background()
	lopts := []location.Option{location.WithRemoteOptions(client.RemoteOptions(ctx)...), uploadsOf(client)}
	s, err := location.Open(ctx, location.MustParseReference(src), lopts...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Ref.Kind == location.Registry {
		r, _ := name.ParseReference(s.Ref.Ref)
		s.Index = client.WrapIndex(ctx, s.Index, r.Context(), registry.VerifyDigest(false))
	}
	sink, err := location.NewSink(location.MustParseReference(dst), append(lopts, sopts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if tee {
		lt, err := location.NewLayerTee(ctx, s, sink)
		if err != nil || lt == nil {
			t.Fatalf("no tee for %s: %v", dst, err)
		}
		defer lt.Close()
		opts = append(opts, convert.WithLayerTee(lt))
	}
	out, rep, err := convert.Convert(ctx, s.Index, opts...)
	if err != nil {
		return nil, nil, err
	}
	res, err := sink.Write(ctx, out)
	return rep, res, err
}

// uploadsOf is how pkg/socify lets sinks upload through its client.
func uploadsOf(c *registry.Client) location.Option {
	return location.WithUploads(location.Uploads{
		Exists: c.Exists,
		Upload: func(ctx context.Context, repo name.Repository, desc v1.Descriptor, body io.Reader, reopen func(context.Context, int64) (io.ReadCloser, error)) error {
			return c.Upload(ctx, repo, desc, body, reopen)
		},
		OpenAt: func(ctx context.Context, ref name.Digest, off int64) (io.ReadCloser, error) {
			return c.OpenBlob(ctx, ref, registry.BlobOffset(off), registry.VerifyDigest(false))
		},
	})
}

func onePassOpts() []convert.Option {
	return []convert.Option{convert.WithMinLayerSize(onePassMinLayer)}
}

// TestSourceServesEachBlobOnce: registry -> another registry, -> oci-archive:
// and -> oci:, the source registry serves at most 1.01 times the bytes of the
// image's unique blobs. Without the tee (the two-pass path, and OrderSoci)
// the indexed layers are served twice, which shows the proxy counts what the
// test claims.
func TestSourceServesEachBlobOnce(t *testing.T) {
	src := registrytest.New(t)
	dst := registrytest.New(t)
	// The two-pass case needs a destination that has none of the layers (dst
	// would mount them from the first case's repository).
	dst2 := registrytest.New(t)
	unique := pushOnePassImage(t, src, "app:v1")
	srcRef := "docker://" + src.Ref("app:v1")
	tmp := t.TempDir()
	cases := []struct {
		name string
		dst  string
		tee  bool
		max  float64 // ratio bound
		min  float64
		opts []location.Option
	}{
		{"registry", "docker://" + dst.Ref("app:v1-soci"), true, 1.01, 0, nil},
		{"oci-archive", "oci-archive:" + filepath.Join(tmp, "out.tar"), true, 1.01, 0, nil},
		{"oci", "oci:" + filepath.Join(tmp, "layout"), true, 1.01, 0, nil},
		{"oci-archive soci order", "oci-archive:" + filepath.Join(tmp, "soci.tar"), false, 2.5, 1.5, []location.Option{location.WithArchiveOrder(location.OrderSoci)}},
		{"registry two passes", "docker://" + dst2.Ref("app:v1-soci"), false, 2.5, 1.5, nil},
	}
	var digest v1.Hash
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src.Proxy.Reset()
			rep, res := onePassConvert(t, srcRef, tc.dst, tc.tee, onePassOpts(), tc.opts...)
			served := src.Proxy.Stats(registrytest.Any).BytesOut
			ratio := float64(served) / float64(unique)
			t.Logf("%s: source served %d bytes for %d bytes of unique blobs: ratio %.4f", tc.name, served, unique, ratio)
			if ratio > tc.max || ratio < tc.min {
				t.Fatalf("ratio %.4f, want between %.2f and %.2f", ratio, tc.min, tc.max)
			}
			if digest.Hex == "" {
				digest = res.Descriptor.Digest
			} else if res.Descriptor.Digest != digest {
				t.Fatalf("result %s, other destinations got %s", res.Descriptor.Digest, digest)
			}
			if rep.Result.Digest.String() != digest.String() {
				t.Fatalf("report %s, wrote %s", rep.Result.Digest, digest)
			}
		})
	}
	// What the destinations hold is the image: every blob checked.
	for _, ref := range []string{"oci-archive:" + filepath.Join(tmp, "out.tar"), "oci:" + filepath.Join(tmp, "layout")} {
		back := open(t, ref)
		if back.Descriptor.Digest != digest {
			t.Fatalf("%s holds %s", ref, back.Descriptor.Digest)
		}
		if err := validate.Index(back.Index, validate.Fast); err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
	}
	validateRemote(t, dst.Ref("app:v1-soci"), digest)
}

func validateRemote(t *testing.T, ref string, want v1.Hash) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := idx.Digest(); h != want {
		t.Fatalf("%s is %s, want %s", ref, h, want)
	}
	// validate reads every blob and checks its digest and size.
	if err := validate.Index(idx); err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
}

// TestWarmCacheMovesNoLayers: a second conversion with the zTOC cache warm
// into a destination that has the layers neither downloads nor uploads a
// layer byte.
func TestWarmCacheMovesNoLayers(t *testing.T) {
	src := registrytest.New(t)
	dst := registrytest.New(t)
	pushOnePassImage(t, src, "app:v1")
	cache := convert.WithCacheStore(convert.NewDirCache(t.TempDir()))
	opts := append(onePassOpts(), cache)
	srcRef := "docker://" + src.Ref("app:v1")
	rep1, res1 := onePassConvert(t, srcRef, "docker://"+dst.Ref("app:v1-soci"), true, opts)

	src.Proxy.Reset()
	dst.Proxy.Reset()
	rep2, res2 := onePassConvert(t, srcRef, "docker://"+dst.Ref("app:again"), true, opts)
	if res2.Descriptor.Digest != res1.Descriptor.Digest {
		t.Fatalf("second conversion %s, first %s", res2.Descriptor.Digest, res1.Descriptor.Digest)
	}
	for _, l := range rep2.Layers {
		if l.Status == convert.LayerIndexed {
			t.Fatalf("layer %s indexed again", l.Digest)
		}
	}
	layers := map[string]bool{}
	for _, l := range rep1.Layers {
		layers[l.Digest.String()] = true
	}
	for _, rec := range src.Proxy.Records() {
		if i := strings.LastIndex(rec.Path, "/blobs/"); i >= 0 && layers[rec.Path[i+len("/blobs/"):]] && rec.BytesOut > 0 {
			t.Errorf("source served %d bytes of layer %s", rec.BytesOut, rec.Path)
		}
	}
	if s := dst.Proxy.Stats(registrytest.AnyUpload); s.BytesIn > 0 {
		t.Errorf("destination received %d bytes of uploads", s.BytesIn)
	}
	if up := dst.Proxy.UploadedBlobs(); len(up) != 0 {
		t.Errorf("uploaded %v", up)
	}
}

// TestUploadFailureMidStream: the destination breaks the first layer upload
// half way. The conversion goes on while the upload resumes from what the
// registry committed, reading only the rest of the layer again from the
// source (Range); the image is complete and correct, and the tag moves after
// every blob.
func TestUploadFailureMidStream(t *testing.T) {
	for _, fault := range []struct {
		name   string
		action registrytest.Action
		// extra bounds what the source serves beyond the unique blobs: the
		// part of the layer the registry lost, read again with Range.
		extra int64
	}{
		{"cut upload", registrytest.CutUpload(1 << 20), 2<<20 + 64<<10},
		{"reset", registrytest.Reset(), 3<<20 + 64<<10},
		{"server error", registrytest.Fail(500), 3<<20 + 64<<10},
	} {
		t.Run(fault.name, func(t *testing.T) {
			src := registrytest.New(t)
			dst := registrytest.New(t)
			unique := pushOnePassImage(t, src, "app:v1")
			inj := dst.Proxy.Inject(registrytest.Match{Method: "PATCH"}, fault.action, 1)
			_, res := onePassConvert(t, "docker://"+src.Ref("app:v1"), "docker://"+dst.Ref("app:v1-soci"), true, onePassOpts())
			if inj.Hits() != 1 {
				t.Fatalf("fault applied %d times", inj.Hits())
			}
			extra := src.Proxy.Stats(registrytest.Any).BytesOut - unique
			t.Logf("%s: the source served %d bytes beyond the unique blobs (%d)", fault.name, extra, unique)
			if extra > fault.extra {
				t.Fatalf("the source served %d bytes more than the blobs, want at most %d", extra, fault.extra)
			}
			_, ref := onePassConvert(t, "docker://"+src.Ref("app:v1"), "oci:"+filepath.Join(t.TempDir(), "ref"), false, onePassOpts())
			if res.Descriptor.Digest != ref.Descriptor.Digest {
				t.Fatalf("pushed %s, want %s", res.Descriptor.Digest, ref.Descriptor.Digest)
			}
			assertTagLast(t, dst, "app", "v1-soci")
			validateRemote(t, dst.Ref("app:v1-soci"), ref.Descriptor.Digest)
		})
	}
}

// TestUploadFailureMidStreamLocalSource: as TestUploadFailureMidStream, from
// an oci: layout, an oci-archive: and a docker-archive: source. The upload
// resumes from the offset the registry committed, reading the rest of the
// layer from its file or tar member: the destination receives every byte it
// lacks exactly once (for the broken layer, its size less what the registry
// kept), the image is the one the conversion made and validates, and the
// tag moves after every blob.
func TestUploadFailureMidStreamLocalSource(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	idx := onePassIndex(t)
	sources := map[string]string{
		"oci":            "oci:" + filepath.Join(dir, "layout"),
		"oci-archive":    "oci-archive:" + filepath.Join(dir, "image.tar"),
		"docker-archive": "docker-archive:" + filepath.Join(dir, "docker.tar"),
	}
	for _, kind := range []string{"oci", "oci-archive"} {
		sink, err := location.NewSink(location.MustParseReference(sources[kind]))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sink.Write(ctx, idx); err != nil {
			t.Fatal(err)
		}
	}
	// docker save holds one image; its layers are stored gzip members
	// (<hex>.tar.gz), which the source serves as they are.
	m, _ := idx.IndexManifest()
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(filepath.Join(dir, "docker.tar"), name.MustParseReference("app:v1"), img); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"oci", "oci-archive", "docker-archive"} {
		srcRef := sources[kind]
		// The conversion's own result, with no registry in the way.
		_, want := onePassConvert(t, srcRef, "oci:"+filepath.Join(t.TempDir(), "ref"), false, onePassOpts())
		for _, fault := range []struct {
			name   string
			action registrytest.Action
			kept   int64 // bytes of the broken PATCH the registry keeps
		}{
			{"cut upload", registrytest.CutUpload(1 << 20), 1 << 20},
			{"reset", registrytest.Reset(), 0},
			{"server error", registrytest.Fail(500), 0},
		} {
			t.Run(kind+"/"+fault.name, func(t *testing.T) {
				dst := registrytest.New(t)
				inj := dst.Proxy.Inject(registrytest.Match{Method: "PATCH"}, fault.action, 1)
				var resumes []registry.ResumeEvent
				client, err := registry.NewClient(registry.WithOnResume(func(e registry.ResumeEvent) { resumes = append(resumes, e) }))
				if err != nil {
					t.Fatal(err)
				}
				_, res := onePassConvertVia(t, client, srcRef, "docker://"+dst.Ref("app:v1-soci"), true, onePassOpts())
				if inj.Hits() != 1 {
					t.Fatalf("fault applied %d times", inj.Hits())
				}
				if res.Descriptor.Digest != want.Descriptor.Digest {
					t.Fatalf("pushed %s, the conversion makes %s", res.Descriptor.Digest, want.Descriptor.Digest)
				}
				assertTagLast(t, dst, "app", "v1-soci")
				validateRemote(t, dst.Ref("app:v1-soci"), want.Descriptor.Digest)
				// One resume, in the conversion's pass, from what the registry kept.
				if len(resumes) != 1 || !resumes[0].Upload || resumes[0].Offset != fault.kept {
					t.Fatalf("resumes %+v, want one upload resume at offset %d", resumes, fault.kept)
				}
				kept := map[v1.Hash]int64{}
				h, err := v1.NewHash(resumes[0].Digest)
				if err != nil {
					t.Fatal(err)
				}
				kept[h] = fault.kept
				sent := uploadedBytes(t, dst)
				r, err := name.ParseReference(dst.Ref("app:v1-soci"))
				if err != nil {
					t.Fatal(err)
				}
				pushed, err := remote.Index(r)
				if err != nil {
					t.Fatal(err)
				}
				sizes := blobSizes(t, pushed)
				if _, ok := sent[h]; !ok {
					t.Fatalf("the broken layer %s was not uploaded through the proxy", h)
				}
				for d, n := range sent {
					size, ok := sizes[d]
					if !ok {
						t.Fatalf("uploaded %s, which the image does not hold", d)
					}
					if n != size-kept[d] {
						t.Errorf("blob %s (%d bytes): %d bytes sent after the fault, want %d", d, size, n, size-kept[d])
					}
				}
				t.Logf("%s, %s: broken layer %s resumed at %d, %d bytes sent again", kind, fault.name, h, fault.kept, sent[h])
			})
		}
	}
}

// TestLocalSourceChangedDuringResume: a layout's layer file changes after
// the conversion indexed it and while its upload is broken, so that only the
// resumed upload reads the new bytes. The registry refuses the blob (it
// checks every upload's digest), the conversion fails with an error naming
// the layer, the tag is never written and no blob is stored under the
// layer's digest.
func TestLocalSourceChangedDuringResume(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	layer, err := random.Layer(3<<20, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img}), types.OCIImageIndex)
	sink, err := location.NewSink(location.MustParseReference("oci:" + dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(ctx, idx); err != nil {
		t.Fatal(err)
	}
	h, _ := layer.Digest()
	size, _ := layer.Size()
	indexed := make(chan struct{})
	var once sync.Once
	progress := convert.WithProgress(func(e convert.Event) {
		if e.Kind == convert.EventLayerProgress && e.Read == size {
			once.Do(func() { close(indexed) })
		}
	})
	dst := registrytest.New(t)
	dst.Proxy.Inject(registrytest.Match{Method: "PATCH"}, registrytest.CutUpload(1<<20), 1)
	var changed sync.Once
	// The upload asks the registry where the session stands before it resumes. Hold that request
	// until the indexer has read the whole layer, then change a byte past the committed offset.
	dst.Proxy.Inject(registrytest.Match{Method: "GET", Path: registrytest.UploadPath, Func: func(*http.Request) bool {
		changed.Do(func() {
			select {
			case <-indexed:
			case <-time.After(30 * time.Second):
				t.Error("the layer was not indexed while its upload waited")
			}
			f, err := os.OpenFile(filepath.Join(dir, "blobs", h.Algorithm, h.Hex), os.O_RDWR, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			var b [1]byte
			f.ReadAt(b[:], 1<<20+10)
			b[0] ^= 0xff
			f.WriteAt(b[:], 1<<20+10)
		})
		return false
	}}, registrytest.Fail(500), 0) // never applied: Func only observes
	client, err := registry.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = tryOnePassConvert(t, client, "oci:"+dir, "docker://"+dst.Ref("app:v1-soci"), true, append(onePassOpts(), progress))
	if err == nil {
		t.Fatal("a conversion whose source changed under it succeeded")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), h.Hex) {
		t.Fatalf("error %q does not name the changed layer %s", err, h)
	}
	// Child manifests may be pushed by digest before the failing blob is reached; nothing names
	// the image until the tag, which comes last.
	for _, r := range dst.Proxy.Records() {
		if r.Method == "PUT" && strings.HasSuffix(r.Path, "/manifests/v1-soci") {
			t.Fatalf("tag written (%d) by a failed conversion", r.Status)
		}
	}
	repo, err := name.NewRepository(dst.Ref("app"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := client.Exists(ctx, repo, h); err != nil || ok {
		t.Fatalf("the registry holds a blob under %s (%v)", h, err)
	}
}

// uploadedBytes sums, per committed blob, the body bytes of the PATCH
// requests of its upload session that passed the proxy untouched. A digest
// committed twice fails the test.
func uploadedBytes(t *testing.T, reg *registrytest.Registry) map[v1.Hash]int64 {
	t.Helper()
	recs := reg.Proxy.Records()
	session := map[string]v1.Hash{}
	for _, r := range recs {
		if r.Method != "PUT" || r.Status != 201 || r.Query.Get("digest") == "" || !strings.Contains(r.Path, "/blobs/uploads/") {
			continue
		}
		h, err := v1.NewHash(r.Query.Get("digest"))
		if err != nil {
			t.Fatal(err)
		}
		for p, o := range session {
			if o == h {
				t.Fatalf("blob %s committed twice (%s, %s)", h, p, r.Path)
			}
		}
		session[r.Path] = h
	}
	out := map[v1.Hash]int64{}
	for _, r := range recs {
		if r.Method != "PATCH" || r.Fault != "" {
			continue
		}
		if h, ok := session[r.Path]; ok {
			out[h] += r.BytesIn
		}
	}
	for _, h := range session {
		if _, ok := out[h]; !ok {
			out[h] = 0
		}
	}
	return out
}

// assertTagLast checks that nothing was uploaded after the tag was written
// and that the tag was written once.
func assertTagLast(t *testing.T, reg *registrytest.Registry, repo, tag string) {
	t.Helper()
	recs := reg.Proxy.Records()
	tagPath := fmt.Sprintf("/v2/%s/manifests/%s", repo, tag)
	at := -1
	for i, r := range recs {
		if r.Method == "PUT" && r.Path == tagPath {
			if at >= 0 {
				t.Fatalf("tag written twice")
			}
			at = i
		}
	}
	if at < 0 {
		t.Fatal("tag not written")
	}
	for _, r := range recs[at+1:] {
		if r.Method == "PUT" || r.Method == "PATCH" || r.Method == "POST" {
			t.Fatalf("%s %s after the tag", r.Method, r.Path)
		}
	}
}
