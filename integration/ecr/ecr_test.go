// Package ecr_test runs socify's ECR login end to end: the ECR API stand-in (pkg/ecr/ecrtest)
// issues tokens that a real distribution registry with htpasswd auth (user AWS) accepts, and
// go-containerregistry pushes and pulls with the keychain, while tokens expire and rotate.
package ecr_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/integration/registrytest"
	socifyecr "github.com/socify/socify/pkg/ecr"
	"github.com/socify/socify/pkg/ecr/ecrtest"
	"github.com/socify/socify/pkg/registry"
)

const (
	akid    = "AKIDINTEGRATION"
	secret  = "integration-secret"
	account = "123456789012"
	region  = "eu-west-1"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a registry that only accepts the password of the ECR stand-in's latest token, as if ECR
// and its registry shared a backend, and a keychain that treats the registry as an ECR registry.
type env struct {
	reg   *registrytest.Registry
	api   *ecrtest.Server
	clock *clock
	kc    *socifyecr.Keychain
	// kcOpts built kc; registry.WithDefaultKeychain(kcOpts...) builds the same keychain.
	kcOpts []socifyecr.Option
}

func setup(t *testing.T, ttl time.Duration, kcOpts ...socifyecr.Option) *env {
	t.Helper()
	ecrtest.IsolateAWS(t, akid, secret)
	e := &env{clock: newClock()}
	// The registry starts with a password nobody has: only tokens from the stand-in open it.
	e.reg = registrytest.New(t, registrytest.WithUser("AWS", "not-yet-issued"))
	e.api = ecrtest.New(t, ecrtest.WithCredentials(akid, secret), ecrtest.WithTTL(ttl), ecrtest.WithClock(e.clock.Now))
	e.api.OnIssue(func(tok ecrtest.Token) { e.reg.SetPassword("AWS", tok.Password) })
	opts := append([]socifyecr.Option{
		socifyecr.WithEndpoint(e.api.URL),
		socifyecr.WithHost(e.reg.Addr, account, region),
		socifyecr.WithClock(e.clock.Now),
		socifyecr.WithECROptions(func(o *ecr.Options) {
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = 4
				so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			})
		}),
	}, kcOpts...)
	e.kc = socifyecr.NewKeychain(opts...)
	e.kcOpts = opts
	return e
}

func (e *env) remoteOpts(t *testing.T, extra ...registry.Option) []remote.Option {
	t.Helper()
	ro, err := registry.RemoteOptions(context.Background(), append([]registry.Option{
		registry.WithKeychain(socifyecr.DefaultChain(e.kc, nil)),
		registry.WithBackoff(time.Millisecond, 10*time.Millisecond),
	}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	// One request at a time: the registry accepts one password only, so a request already holding
	// the old token would fail after a rotation (real ECR keeps old tokens valid until they expire).
	return append(ro, remote.WithJobs(1))
}

func TestPushPullWithECRTokens(t *testing.T) {
	e := setup(t, 12*time.Hour)
	ref, _ := name.ParseReference(e.reg.Ref("team/app:v1"))
	img, _ := random.Image(64<<10, 3)
	if err := remote.Write(ref, img, e.remoteOpts(t)...); err != nil {
		t.Fatal(registry.MapError(err, registry.OpPush, ref.String()))
	}
	got, err := remote.Image(ref, e.remoteOpts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	gd, _ := got.Digest()
	wd, _ := img.Digest()
	if gd != wd {
		t.Fatalf("pulled %s, pushed %s", gd, wd)
	}
	if n := len(e.api.Issued()); n != 1 {
		t.Fatalf("%d tokens issued for one push and one pull", n)
	}
	// Without the keychain the registry refuses.
	if _, err := remote.Image(ref); registry.KindOf(registry.MapError(err, registry.OpPull, ref.String())) != registry.KindUnauthorized {
		t.Fatalf("anonymous pull: %v", err)
	}

	// socify auth check: which keychain, and whether pull and push work.
	m, err := socifyecr.DefaultChain(e.kc, nil).Explain(context.Background(), ref.Context())
	if err != nil || m.Source != socifyecr.SourceECR || !strings.Contains(m.Detail, "account "+account) {
		t.Fatalf("explain: %+v, %v", m, err)
	}
	a := registry.CheckAccess(context.Background(), ref, registry.WithKeychain(socifyecr.DefaultChain(e.kc, nil)))
	if a.Pull != nil || a.Push != nil {
		t.Fatalf("access %+v", a)
	}
}

// The token expires in the middle of a push: the authenticator renews it on the next request,
// the registry rotates to the new password, and the push completes.
func TestTokenRotatesMidPush(t *testing.T) {
	e := setup(t, time.Hour)
	ref, _ := name.ParseReference(e.reg.Ref("team/app:v1"))
	img, _ := random.Image(32<<10, 6)

	// After the third layer upload has started, time jumps past the renewal point (the Match
	// only watches; it never injects anything).
	var uploads atomic.Int32
	e.reg.Proxy.Inject(registrytest.Match{Method: http.MethodPost, Path: registrytest.UploadPath, Func: func(*http.Request) bool {
		if uploads.Add(1) == 3 {
			e.clock.Advance(55 * time.Minute)
		}
		return false
	}}, registrytest.Fail(500), 0)

	if err := remote.Write(ref, img, e.remoteOpts(t)...); err != nil {
		t.Fatal(registry.MapError(err, registry.OpPush, ref.String()))
	}
	issued := e.api.Issued()
	if len(issued) != 2 {
		t.Fatalf("%d tokens issued, want a renewal mid-push", len(issued))
	}
	if issued[0].Password == issued[1].Password {
		t.Fatal("renewal returned the same password")
	}
	for _, r := range e.reg.Proxy.Records() {
		if r.Status == http.StatusUnauthorized && r.Path != "/v2/" {
			t.Fatalf("a request was refused mid-push: %+v", r)
		}
	}
	if _, err := remote.Head(ref, e.remoteOpts(t)...); err != nil {
		t.Fatal(err)
	}

	// Control: credentials frozen at the first token no longer work after the rotation, so the
	// renewal above is what kept the push alive.
	stale := authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: issued[0].Password})
	_, err := remote.Head(ref, remote.WithAuth(stale))
	if registry.KindOf(registry.MapError(err, registry.OpPull, ref.String())) != registry.KindUnauthorized {
		t.Fatalf("stale token: err = %v", err)
	}
}

// A layer download breaks after the token has expired: the resumed Range request carries a renewed
// token, and the consumer sees the layer whole.
func TestResumeAfterTokenRenewal(t *testing.T) {
	e := setup(t, 10*time.Minute)
	ref, _ := name.ParseReference(e.reg.Ref("team/app:v1"))
	img, _ := random.Image(512<<10, 1)
	if err := remote.Write(ref, img, e.remoteOpts(t)...); err != nil {
		t.Fatal(err)
	}
	l, _ := img.Layers()
	d, _ := l[0].Digest()
	size, _ := l[0].Size()
	rc, _ := l[0].Compressed()
	want, _ := io.ReadAll(rc)

	e.reg.Proxy.Inject(registrytest.BlobGet(d.String()), registrytest.Cut(size/2), 1)
	var resumes []registry.ResumeEvent
	br, err := registry.OpenBlob(context.Background(), ref.Context().Digest(d.String()),
		registry.WithKeychain(socifyecr.DefaultChain(e.kc, nil)), registry.WithSize(size),
		registry.WithOnResume(func(ev registry.ResumeEvent) {
			resumes = append(resumes, ev)
			e.clock.Advance(8 * time.Minute) // past half-life: the next request renews the token
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	got, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || len(resumes) != 1 {
		t.Fatalf("read %d of %d bytes, %d resumes", len(got), len(want), len(resumes))
	}
	if n := len(e.api.Issued()); n != 2 {
		t.Fatalf("%d tokens issued, want a renewal before the resume", n)
	}
	recs := e.reg.Proxy.Records()
	last := recs[len(recs)-1]
	if last.Range != "bytes="+strconv.FormatInt(size/2, 10)+"-" || last.Status != http.StatusPartialContent {
		t.Fatalf("resume request %+v", last)
	}
}

// Renewal is throttled: the SDK's retries absorb it and the push goes on.
func TestThrottledRenewal(t *testing.T) {
	e := setup(t, time.Hour)
	ref, _ := name.ParseReference(e.reg.Ref("team/app:v1"))
	if err := remote.Write(ref, mustImage(t), e.remoteOpts(t)...); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(50 * time.Minute)
	e.api.Fail("ThrottlingException", 400, "Rate exceeded", 2)
	ref2, _ := name.ParseReference(e.reg.Ref("team/app:v2"))
	if err := remote.Write(ref2, mustImage(t), e.remoteOpts(t)...); err != nil {
		t.Fatal(registry.MapError(err, registry.OpPush, ref2.String()))
	}
	var throttled int
	for _, c := range e.api.Calls() {
		if c.ErrorCode == "ThrottlingException" {
			throttled++
		}
	}
	if throttled != 2 || len(e.api.Issued()) != 2 {
		t.Fatalf("%d throttled calls, %d tokens", throttled, len(e.api.Issued()))
	}
}

// The token expires and the API keeps failing: the push stops with an error naming the cause,
// not a bare 401.
func TestExpiredTokenWithoutRenewal(t *testing.T) {
	e := setup(t, time.Hour)
	ref, _ := name.ParseReference(e.reg.Ref("team/app:v1"))
	ro := e.remoteOpts(t, registry.WithMaxAttempts(1))
	if err := remote.Write(ref, mustImage(t), ro...); err != nil {
		t.Fatal(err)
	}
	e.api.Fail("AccessDeniedException", 400, "User: arn:aws:sts::123456789012:assumed-role/ci/x is not authorized to perform: ecr:GetAuthorizationToken", 100)
	e.clock.Advance(61 * time.Minute)
	ref2, _ := name.ParseReference(e.reg.Ref("team/app:v2"))
	err := remote.Write(ref2, mustImage(t), ro...)
	if err == nil || !strings.Contains(err.Error(), "ecr:GetAuthorizationToken") {
		t.Fatalf("err = %v", err)
	}
	if registry.KindOf(registry.MapError(err, registry.OpPush, ref2.String())) != registry.KindAccessDenied {
		t.Fatalf("kind %v for %v", registry.KindOf(registry.MapError(err, registry.OpPush, ref2.String())), err)
	}
}

func mustImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// One registry.Client with the default chain for a whole run: the ECR token is fetched once for
// the push, the pull and the blob reads, Explain names ECR, and when the token nears expiry in the
// middle of an upload that broke, the resumed requests carry the renewed token.
func TestClientDefaultChainOneTokenPerRun(t *testing.T) {
	e := setup(t, 10*time.Minute)
	ctx := context.Background()
	c, err := registry.NewClient(registry.WithDefaultKeychain(e.kcOpts...), registry.WithBackoff(time.Millisecond, 10*time.Millisecond), registry.WithJobs(1))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(e.reg.Ref("team/app:v1"))
	m, err := c.Explain(ctx, ref.Context())
	if err != nil || m.Source != socifyecr.SourceECR || len(m.Skipped) != 0 {
		t.Fatalf("explain %+v, %v: an ECR host is served by the ECR keychain, nothing before it applies", m, err)
	}
	if err := c.CheckPush(ctx, ref); err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(64<<10, 3)
	if err := remote.Write(ref, img, c.RemoteOptions(ctx)...); err != nil {
		t.Fatal(registry.MapError(err, registry.OpPush, ref.String()))
	}
	got, err := remote.Image(ref, c.RemoteOptions(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := c.WrapImage(ctx, got, ref.Context()).Layers()
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	if n := len(e.api.Issued()); n != 1 {
		t.Fatalf("%d tokens issued for one run", n)
	}

	// An upload breaks; before it starts over, the token passes its renewal point. ECR cannot
	// take a second PATCH in a session, so the upload starts a new session from byte 0 instead of
	// asking where the broken one stands.
	data := bytes.Repeat([]byte("socify"), 300_000)
	h, size, _ := v1.SHA256(bytes.NewReader(data))
	e.reg.Proxy.Reset()
	e.reg.Proxy.Inject(registrytest.Match{Method: http.MethodPatch, Path: registrytest.UploadPath}, registrytest.CutUpload(size/2), 1)
	e.reg.Proxy.Inject(registrytest.Match{Method: http.MethodDelete, Path: registrytest.UploadPath, Func: func(*http.Request) bool {
		e.clock.Advance(8 * time.Minute)
		return false
	}}, registrytest.Fail(500), 0)
	var reopens []int64
	reopen := func(_ context.Context, off int64) (io.ReadCloser, error) {
		reopens = append(reopens, off)
		return io.NopCloser(bytes.NewReader(data[off:])), nil
	}
	if err := c.Upload(ctx, ref.Context(), v1.Descriptor{Digest: h, Size: size}, bytes.NewReader(data), reopen); err != nil {
		t.Fatal(registry.MapError(err, registry.OpPush, ref.String()))
	}
	var methods []string
	for _, r := range e.reg.Proxy.Records() {
		if strings.Contains(r.Path, "/blobs/uploads/") {
			methods = append(methods, r.Method)
		}
	}
	if fmt.Sprint(methods) != "[POST PATCH DELETE POST PATCH PUT]" || fmt.Sprint(reopens) != "[0]" {
		t.Fatalf("upload requests %v, reopens %v: want a new session from byte 0", methods, reopens)
	}
	if n := len(e.api.Issued()); n != 2 {
		t.Fatalf("%d tokens issued, want one renewal", n)
	}
	if ok, err := c.Exists(ctx, ref.Context(), h); err != nil || !ok {
		t.Fatalf("uploaded blob: %v %v", ok, err)
	}
}
