package registrytest_test

// Tests of github.com/socify/socify/pkg/registry against the real registry through the fault
// proxy (the main module cannot depend on distribution).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/integration/registrytest"
	"github.com/socify/socify/pkg/registry"
	"github.com/socify/socify/pkg/ztoc"
)

// recorder collects waits instead of sleeping, so retry tests run fast yet can check the delays.
type recorder struct {
	mu      sync.Mutex
	waits   []time.Duration
	retries []registry.RetryEvent
	resumes []registry.ResumeEvent
}

func (r *recorder) opts() []registry.Option {
	return []registry.Option{
		registry.WithSleep(func(ctx context.Context, d time.Duration) error {
			r.mu.Lock()
			r.waits = append(r.waits, d)
			r.mu.Unlock()
			return ctx.Err()
		}),
		registry.WithOnRetry(func(e registry.RetryEvent) { r.mu.Lock(); r.retries = append(r.retries, e); r.mu.Unlock() }),
		registry.WithOnResume(func(e registry.ResumeEvent) { r.mu.Lock(); r.resumes = append(r.resumes, e); r.mu.Unlock() }),
	}
}

// seed pushes a one-layer image of about size bytes straight to the registry (no proxy) and
// returns the layer's digest and compressed bytes.
func seed(t *testing.T, reg *registrytest.Registry, repoTag string, size int64) (v1.Image, v1.Hash, []byte) {
	t.Helper()
	img, err := random.Image(size, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(reg.BackendRef(repoTag))
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	d, _ := ls[0].Digest()
	rc, _ := ls[0].Compressed()
	b, _ := io.ReadAll(rc)
	rc.Close()
	return img, d, b
}

func digestRef(t *testing.T, reg *registrytest.Registry, repo string, d v1.Hash) name.Digest {
	t.Helper()
	ref, err := name.NewDigest(reg.Ref(repo) + "@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestOpenBlobResumesMidLayer(t *testing.T) {
	reg := registrytest.New(t)
	_, d, want := seed(t, reg, "app:v1", 1<<20)
	size := int64(len(want))

	// The first two downloads break; each resume must start where the last one stopped.
	reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Cut(size/3), 1)
	reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Cut(size/4), 1)
	rec := &recorder{}
	br, err := registry.OpenBlob(context.Background(), digestRef(t, reg, "app", d), append(rec.opts(), registry.WithSize(size))...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	br.Close()
	if !bytes.Equal(got, want) {
		t.Fatalf("content differs (%d bytes, want %d)", len(got), len(want))
	}
	if br.Resumes() != 2 || len(rec.resumes) != 2 {
		t.Fatalf("resumes = %d (%v)", br.Resumes(), rec.resumes)
	}
	if rec.resumes[0].Offset != size/3 || rec.resumes[1].Offset != size/3+size/4 {
		t.Fatalf("resume offsets %d, %d", rec.resumes[0].Offset, rec.resumes[1].Offset)
	}
	var ranges []string
	var out int64
	for _, r := range reg.Proxy.Records() {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/blobs/") {
			ranges = append(ranges, r.Range)
			out += r.BytesOut
		}
	}
	wantRanges := []string{"", fmt.Sprintf("bytes=%d-", size/3), fmt.Sprintf("bytes=%d-", size/3+size/4)}
	if fmt.Sprint(ranges) != fmt.Sprint(wantRanges) {
		t.Fatalf("blob requests had ranges %q, want %q", ranges, wantRanges)
	}
	if out != size {
		t.Fatalf("%d blob bytes crossed the wire for a %d-byte blob: something restarted", out, size)
	}
}

func TestOpenBlobRangeIgnored(t *testing.T) {
	reg := registrytest.New(t)
	_, d, want := seed(t, reg, "app:v1", 256<<10)
	size := int64(len(want))
	reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Cut(size/2), 1)
	reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.IgnoreRange(), 1)
	rec := &recorder{}
	br, err := registry.OpenBlob(context.Background(), digestRef(t, reg, "app", d), rec.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(br)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
	if len(rec.resumes) != 2 || !rec.resumes[1].Restarted {
		t.Fatalf("resume events %+v, want a restart reported", rec.resumes)
	}
}

func TestOpenBlobFailures(t *testing.T) {
	reg := registrytest.New(t)
	_, d, want := seed(t, reg, "app:v1", 64<<10)
	size := int64(len(want))
	ref := digestRef(t, reg, "app", d)
	ctx := context.Background()

	t.Run("wrong content", func(t *testing.T) {
		bad := bytes.Repeat([]byte{'x'}, len(want))
		inj := reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Respond(200, http.Header{"Content-Type": {"application/octet-stream"}}, string(bad)), 1)
		defer inj.Remove()
		br, err := registry.OpenBlob(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(br)
		if err == nil || !strings.Contains(err.Error(), "content digest is") {
			t.Fatalf("err = %v, want a digest mismatch", err)
		}
		// Without its own check, the reader still enforces the size...
		inj2 := reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Respond(200, nil, string(bad[:10])), 0)
		defer inj2.Remove()
		br, err = registry.OpenBlob(ctx, ref, registry.WithDigestCheck(false), registry.WithSize(size))
		if err == nil {
			_, err = io.ReadAll(br)
		}
		if err == nil || !strings.Contains(err.Error(), "expected") {
			t.Fatalf("short body: err = %v", err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		other, _ := v1.NewHash("sha256:" + strings.Repeat("0", 64))
		_, err := registry.OpenBlob(ctx, digestRef(t, reg, "app", other))
		if err == nil || !strings.Contains(err.Error(), "BLOB_UNKNOWN") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("reset then 503 then 429 on open", func(t *testing.T) {
		reset := reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Reset(), 1)
		reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Fail(503), 1)
		reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Throttle(3*time.Second), 1)
		rec := &recorder{}
		br, err := registry.OpenBlob(ctx, ref, rec.opts()...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(br)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read: %v", err)
		}
		// Go's transport may replay a request itself when a reused connection resets before any
		// response, so the reset is not always one of our retries.
		n := len(rec.retries)
		if reset.Hits() != 1 || n < 2 || rec.retries[n-1].Status != 429 || rec.waits[n-1] != 3*time.Second || rec.retries[n-2].Status != 503 {
			t.Fatalf("retries %+v waits %v", rec.retries, rec.waits)
		}
	})
	t.Run("gives up", func(t *testing.T) {
		inj := reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Cut(100), 0)
		defer inj.Remove()
		rec := &recorder{}
		br, err := registry.OpenBlob(ctx, ref, append(rec.opts(), registry.WithMaxResumes(5))...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(br)
		if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v", err)
		}
		if br.Resumes() != 5 {
			t.Fatalf("resumes = %d, want 5", br.Resumes())
		}
	})
	t.Run("slow body and cancel", func(t *testing.T) {
		inj := reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Slow(1024, 50*time.Millisecond), 0)
		defer inj.Remove()
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		br, err := registry.OpenBlob(cctx, ref)
		if err == nil {
			_, err = io.ReadAll(br)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("cancel took %s", el)
		}
	})
}

func TestWrapIndexResumesThroughRemote(t *testing.T) {
	reg := registrytest.New(t)
	img, d, want := seed(t, reg, "app:v1", 512<<10)
	ref, _ := name.ParseReference(reg.Ref("app:v1"))
	rec := &recorder{}
	ctx := context.Background()
	ropts, err := registry.RemoteOptions(ctx, rec.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	// The manifest fetch is throttled and fails once; the retry transport absorbs both.
	reg.Proxy.Inject(registrytest.AnyManifest, registrytest.Throttle(2*time.Second), 1)
	reg.Proxy.Inject(registrytest.AnyManifest, registrytest.Fail(500), 1)
	got, err := remote.Image(ref, ropts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.retries) != 2 || rec.waits[0] != 2*time.Second {
		t.Fatalf("retries %+v waits %v", rec.retries, rec.waits)
	}
	wrapped := registry.WrapImage(ctx, got, ref.Context(), rec.opts()...)
	wd, _ := wrapped.Digest()
	id, _ := img.Digest()
	if wd != id {
		t.Fatalf("wrapped digest %s, want %s", wd, id)
	}

	reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Cut(int64(len(want))/2), 1)
	l, err := wrapped.LayerByDigest(d)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil || n != int64(len(want)) || "sha256:"+hex.EncodeToString(h.Sum(nil)) != d.String() {
		t.Fatalf("layer read: n=%d err=%v", n, err)
	}
	if len(rec.resumes) != 1 {
		t.Fatalf("resumes %+v", rec.resumes)
	}
	if _, ok := l.(*remote.MountableLayer); !ok {
		t.Fatalf("wrapped layer %T is no longer mountable", l)
	}

	// The wrapped image can be written elsewhere; its layer bytes come through the resuming reader.
	reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Cut(1000), 1)
	dst, _ := name.ParseReference(reg.Ref("copy:v1"))
	if err := remote.Write(dst, wrapped, ropts...); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(dst, ropts...); err != nil {
		t.Fatal(err)
	}
}

func TestWrapIndex(t *testing.T) {
	reg := registrytest.New(t)
	src, err := random.Index(256<<10, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(reg.Ref("multi:v1"))
	if err := remote.WriteIndex(ref, src); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec := &recorder{}
	ropts, _ := registry.RemoteOptions(ctx, rec.opts()...)
	idx, err := remote.Index(ref, ropts...)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := registry.WrapIndex(ctx, idx, ref.Context(), rec.opts()...)
	im, err := wrapped.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	reg.Proxy.Inject(registrytest.AnyBlobGet, registrytest.Cut(10_000), 2)
	for _, desc := range im.Manifests {
		img, err := wrapped.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := img.Layers()
		for _, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			size, _ := l.Size()
			if err != nil || n != size {
				t.Fatalf("layer: %d of %d bytes, %v", n, size, err)
			}
		}
	}
	if len(rec.resumes) != 2 {
		t.Fatalf("resumes %+v, want one per broken layer", rec.resumes)
	}
	wd, _ := wrapped.Digest()
	sd, _ := src.Digest()
	if wd != sd {
		t.Fatalf("index digest changed: %s vs %s", wd, sd)
	}
}

func TestRemoteOptionsPushRetries(t *testing.T) {
	reg := registrytest.New(t)
	rec := &recorder{}
	ctx := context.Background()
	ropts, err := registry.RemoteOptions(ctx, rec.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(32<<10, 2)
	reg.Proxy.Inject(registrytest.Match{Method: http.MethodPost, Path: registrytest.UploadPath}, registrytest.Fail(503), 1)
	reg.Proxy.Inject(registrytest.AnyManifestPut, registrytest.Throttle(time.Second), 1)
	reg.Proxy.Inject(registrytest.AnyManifestPut, registrytest.Reset(), 1)
	ref, _ := name.ParseReference(reg.Ref("push:v1"))
	if err := remote.Write(ref, img, ropts...); err != nil {
		t.Fatal(err)
	}
	if len(rec.retries) != 3 {
		t.Fatalf("retries %+v", rec.retries)
	}
	if up := reg.Proxy.UploadedBlobs(); len(up) != 3 {
		t.Fatalf("uploaded %v, want 2 layers + config once each", up)
	}
}

func TestMapErrorAgainstRegistry(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithUser("AWS", "pw"))
	auth := authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: "pw"})
	ctx := context.Background()
	ropts, err := registry.RemoteOptions(ctx, registry.WithAuth(auth), registry.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(1024, 1)
	ref, _ := name.ParseReference(reg.Ref("team/app:v1"))
	if err := remote.Write(ref, img, ropts...); err != nil {
		t.Fatal(err)
	}

	t.Run("immutable tag", func(t *testing.T) {
		body := `{"errors":[{"code":"TAG_INVALID","message":"The image tag 'v1' already exists in the 'team/app' repository and cannot be overwritten because the repository is immutable."}]}`
		inj := reg.Proxy.Inject(registrytest.ManifestPut("team/app", "v1"), registrytest.Respond(400, http.Header{"Content-Type": {"application/json"}}, body), 0)
		defer inj.Remove()
		other, _ := random.Image(1024, 1)
		err := registry.MapError(remote.Write(ref, other, ropts...), registry.OpPush, ref.String())
		if !registry.IsTagImmutable(err) || !strings.Contains(err.Error(), "pick another destination tag") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown manifest", func(t *testing.T) {
		missing, _ := name.ParseReference(reg.Ref("team/app:nope"))
		_, err := remote.Image(missing, ropts...)
		if k := registry.KindOf(registry.MapError(err, registry.OpPull, missing.String())); k != registry.KindManifestNotFound {
			t.Fatalf("kind %v for %v", k, err)
		}
	})
	t.Run("unknown repository", func(t *testing.T) {
		missing, _ := name.ParseReference(reg.Ref("team/nothing:v1"))
		_, err := remote.Image(missing, ropts...)
		k := registry.KindOf(registry.MapError(err, registry.OpPull, missing.String()))
		if k != registry.KindRepositoryNotFound && k != registry.KindManifestNotFound {
			t.Fatalf("kind %v for %v", k, err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		bad, _ := registry.RemoteOptions(ctx, registry.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: "old"})))
		_, err := remote.Image(ref, bad...)
		if k := registry.KindOf(registry.MapError(err, registry.OpPull, ref.String())); k != registry.KindUnauthorized {
			t.Fatalf("kind %v for %v", k, err)
		}
	})
	t.Run("denied", func(t *testing.T) {
		body := `{"errors":[{"code":"DENIED","message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:InitiateLayerUpload"}]}`
		inj := reg.Proxy.Inject(registrytest.Match{Method: http.MethodPost, Path: registrytest.UploadPath}, registrytest.Respond(403, http.Header{"Content-Type": {"application/json"}}, body), 0)
		defer inj.Remove()
		other, _ := random.Image(1024, 1)
		dst, _ := name.ParseReference(reg.Ref("team/app:v2"))
		err := registry.MapError(remote.Write(dst, other, ropts...), registry.OpPush, dst.String())
		if registry.KindOf(err) != registry.KindAccessDenied || !strings.Contains(err.Error(), "access denied pushing") {
			t.Fatalf("err = %v", err)
		}
	})
}

// A zTOC built from a stream that broke and resumed twice is byte-identical to one built from the
// undisturbed layer: the indexer never notices the resumes.
func TestZtocIdenticalAfterResume(t *testing.T) {
	reg := registrytest.New(t)
	_, d, want := seed(t, reg, "app:v1", 1<<20)
	ctx := context.Background()
	build := func(r io.Reader) []byte {
		t.Helper()
		z, err := ztoc.Build(ctx, r, ztoc.WithSpanSize(64<<10))
		if err != nil {
			t.Fatal(err)
		}
		if z.BlobDigest != d.String() {
			t.Fatalf("zTOC saw digest %s, want %s", z.BlobDigest, d)
		}
		b, err := ztoc.Marshal(z)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	clean := build(bytes.NewReader(want))

	size := int64(len(want))
	reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Cut(size/5), 1)
	reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Cut(size/3), 1)
	rec := &recorder{}
	// The indexer hashes the stream itself, so the reader's own digest check is off.
	br, err := registry.OpenBlob(ctx, digestRef(t, reg, "app", d), append(rec.opts(), registry.WithDigestCheck(false), registry.WithSize(size))...)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	resumed := build(br)
	if br.Resumes() != 2 {
		t.Fatalf("resumes = %d", br.Resumes())
	}
	if !bytes.Equal(clean, resumed) {
		t.Fatal("zTOC differs after resumes")
	}
}

func TestCheckAccess(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithUser("AWS", "pw"))
	good := registry.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: "pw"}))
	ctx := context.Background()
	ref, _ := name.ParseReference(reg.Ref("team/app:v1"))
	ro, _ := registry.RemoteOptions(ctx, good)
	img, _ := random.Image(1024, 1)
	if err := remote.Write(ref, img, ro...); err != nil {
		t.Fatal(err)
	}

	if a := registry.CheckAccess(ctx, ref, good); a.Pull != nil || a.Push != nil {
		t.Fatalf("good credentials: %+v", a)
	}
	reg.Proxy.Reset()
	a := registry.CheckAccess(ctx, ref, registry.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: "bad"})), registry.WithMaxAttempts(1))
	if registry.KindOf(a.Pull) != registry.KindUnauthorized || registry.KindOf(a.Push) != registry.KindUnauthorized {
		t.Fatalf("bad credentials: %+v", a)
	}
	body := `{"errors":[{"code":"DENIED","message":"not authorized to perform: ecr:InitiateLayerUpload"}]}`
	reg.Proxy.Inject(registrytest.Match{Method: http.MethodPost, Path: registrytest.UploadPath}, registrytest.Respond(403, http.Header{"Content-Type": {"application/json"}}, body), 0)
	a = registry.CheckAccess(ctx, ref, good)
	if a.Pull != nil || registry.KindOf(a.Push) != registry.KindAccessDenied {
		t.Fatalf("read-only credentials: %+v", a)
	}
	reg.Proxy.ClearFaults()
	reg.Proxy.Reset()
	if a := registry.CheckAccess(ctx, ref, good); a.Push != nil {
		t.Fatal(a.Push)
	}
	// The upload session opened by the check is cancelled.
	var deleted bool
	for _, r := range reg.Proxy.Records() {
		if r.Method == http.MethodDelete && strings.Contains(r.Path, "/blobs/uploads/") && r.Status == http.StatusNoContent {
			deleted = true
		}
	}
	if !deleted {
		t.Fatalf("upload session not cancelled: %+v", reg.Proxy.Records())
	}
	if up := reg.Proxy.UploadedBlobs(); len(up) != 0 {
		t.Fatalf("check uploaded %v", up)
	}
}
