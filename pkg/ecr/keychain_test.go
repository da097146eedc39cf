package ecr_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	socifyecr "github.com/socify/socify/pkg/ecr"
	"github.com/socify/socify/pkg/ecr/ecrtest"
)

const (
	akid   = "AKIDSOCIFYTEST"
	secret = "socify-test-secret"
	host   = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
)

func isolateAWS(t *testing.T, withCreds bool) string {
	if withCreds {
		return ecrtest.IsolateAWS(t, akid, secret)
	}
	return ecrtest.IsolateAWS(t, "", "")
}

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

// fastRetries keeps the SDK's retry behaviour (which errors, how many attempts) without its
// real-time backoff.
func fastRetries(attempts int) socifyecr.Option {
	return socifyecr.WithECROptions(func(o *ecr.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
}

func repo(t *testing.T, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func authorize(t *testing.T, a authn.Authenticator) *authn.AuthConfig {
	t.Helper()
	cfg, err := authn.Authorization(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestKeychainPrivate(t *testing.T) {
	isolateAWS(t, true)
	s := ecrtest.New(t, ecrtest.WithCredentials(akid, secret))
	kc := socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL))

	a, err := kc.Resolve(repo(t, host+"/team/app"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := authorize(t, a)
	issued := s.Issued()
	if len(issued) != 1 || cfg.Username != "AWS" || cfg.Password != issued[0].Password {
		t.Fatalf("auth %q/%q, issued %+v", cfg.Username, cfg.Password, issued)
	}
	calls := s.Calls()
	if len(calls) != 1 || calls[0].Region != "eu-west-1" || calls[0].Service != "ecr" || calls[0].AccessKey != akid ||
		calls[0].Target != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" {
		t.Fatalf("calls %+v", calls)
	}
	if strings.Contains(a.(interface{ String() string }).String(), cfg.Password) {
		t.Fatal("authenticator String() leaks the token")
	}

	// Another account in the same region shares the token; another region gets its own.
	if _, err := kc.Resolve(repo(t, "210987654321.dkr.ecr.eu-west-1.amazonaws.com/other")); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Calls()); n != 1 {
		t.Fatalf("%d API calls for two registries in one region", n)
	}
	if _, err := kc.Resolve(repo(t, "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app")); err != nil {
		t.Fatal(err)
	}
	if calls := s.Calls(); len(calls) != 2 || calls[1].Region != "cn-north-1" {
		t.Fatalf("calls %+v", calls)
	}

	// Not ECR: anonymous, so that a chain moves on.
	a, err = kc.Resolve(repo(t, "registry.example.com/app"))
	if err != nil || a != authn.Anonymous {
		t.Fatalf("non-ECR host: %v, %v", a, err)
	}
}

func TestKeychainPublic(t *testing.T) {
	isolateAWS(t, true)
	s := ecrtest.New(t, ecrtest.WithCredentials(akid, secret))
	kc := socifyecr.NewKeychain(socifyecr.WithPublicEndpoint(s.URL), socifyecr.WithRegion("eu-central-1"))
	a, err := kc.Resolve(repo(t, "public.ecr.aws/team/app"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := authorize(t, a)
	calls := s.Calls()
	if len(calls) != 1 || calls[0].Target != "SpencerFrontendService.GetAuthorizationToken" || calls[0].Region != "us-east-1" || calls[0].Service != "ecr-public" {
		t.Fatalf("calls %+v", calls)
	}
	if cfg.Password != s.Issued()[0].Password {
		t.Fatal("wrong password")
	}

	// An identity without ecr-public permissions still pulls public images anonymously.
	s.Fail("AccessDeniedException", 400, "User is not authorized to perform: ecr-public:GetAuthorizationToken", 1)
	kc = socifyecr.NewKeychain(socifyecr.WithPublicEndpoint(s.URL))
	a, err = kc.Resolve(repo(t, "public.ecr.aws/team/app"))
	if err != nil || a != authn.Anonymous {
		t.Fatalf("denied public token: %v, %v", a, err)
	}
}

func TestKeychainProfiles(t *testing.T) {
	dir := isolateAWS(t, false)
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("[ci]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	s := ecrtest.New(t, ecrtest.WithCredentials("AKIDPROFILE", "profile-secret"))

	kc := socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL), socifyecr.WithProfile("ci"))
	a, err := kc.Resolve(repo(t, host+"/app"))
	if err != nil {
		t.Fatal(err)
	}
	authorize(t, a)
	if c := s.Calls(); len(c) != 1 || c[0].AccessKey != "AKIDPROFILE" {
		t.Fatalf("calls %+v", c)
	}

	// A named profile that does not exist is an error, not a silent fallback.
	kc = socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL), socifyecr.WithProfile("nope"))
	if _, err := kc.Resolve(repo(t, host+"/app")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing profile: err = %v", err)
	}

	// No credentials at all: the keychain steps aside.
	kc = socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL))
	a, err = kc.Resolve(repo(t, host+"/app"))
	if err != nil || a != authn.Anonymous {
		t.Fatalf("no credentials: %v, %v", a, err)
	}
}

func TestKeychainSignatureChecked(t *testing.T) {
	isolateAWS(t, true)
	s := ecrtest.New(t, ecrtest.WithCredentials(akid, "another-secret"))
	kc := socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL), fastRetries(1))
	_, err := kc.Resolve(repo(t, host+"/app"))
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" {
		t.Fatalf("err = %v", err)
	}
}

func TestKeychainRefresh(t *testing.T) {
	tests := []struct {
		name      string
		ttl       time.Duration
		quiet     time.Duration // still served from cache
		renewed   time.Duration // renewed by then
		refreshed int
	}{
		{name: "12h token renews 15m before expiry", ttl: 12 * time.Hour, quiet: 11*time.Hour + 44*time.Minute, renewed: 11*time.Hour + 46*time.Minute},
		{name: "short token renews at half-life", ttl: 10 * time.Second, quiet: 4 * time.Second, renewed: 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWS(t, true)
			clk := newClock()
			s := ecrtest.New(t, ecrtest.WithTTL(tt.ttl), ecrtest.WithClock(clk.Now))
			var events []socifyecr.TokenEvent
			kc := socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL), socifyecr.WithClock(clk.Now),
				socifyecr.WithOnToken(func(e socifyecr.TokenEvent) { events = append(events, e) }))
			a, err := kc.Resolve(repo(t, host+"/app"))
			if err != nil {
				t.Fatal(err)
			}
			first := authorize(t, a).Password

			clk.Advance(tt.quiet)
			if got := authorize(t, a).Password; got != first || len(s.Issued()) != 1 {
				t.Fatalf("renewed too early (%d tokens)", len(s.Issued()))
			}
			clk.Advance(tt.renewed - tt.quiet)
			second := authorize(t, a).Password
			if second == first || len(s.Issued()) != 2 {
				t.Fatalf("not renewed: %d tokens", len(s.Issued()))
			}
			if len(events) != 2 || events[0].Refresh || !events[1].Refresh || !events[1].ExpiresAt.Equal(clk.Now().Add(tt.ttl).Truncate(time.Millisecond)) {
				t.Fatalf("events %+v", events)
			}
			// A fresh Resolve reuses the renewed token.
			a2, _ := kc.Resolve(repo(t, host+"/other"))
			if authorize(t, a2).Password != second || len(s.Issued()) != 2 {
				t.Fatal("second resolve did not share the cache")
			}
		})
	}
}

func TestKeychainThrottling(t *testing.T) {
	isolateAWS(t, true)
	s := ecrtest.New(t, ecrtest.WithCredentials(akid, secret))

	// The SDK retries throttling by itself.
	s.Fail("ThrottlingException", 400, "Rate exceeded", 2)
	kc := socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL), fastRetries(3))
	a, err := kc.Resolve(repo(t, host+"/app"))
	if err != nil {
		t.Fatal(err)
	}
	authorize(t, a)
	if c := s.Calls(); len(c) != 3 || c[0].ErrorCode != "ThrottlingException" || c[2].Status != 200 {
		t.Fatalf("calls %+v", c)
	}

	// When throttling outlasts the retries, the error says so.
	s.Fail("ThrottlingException", 400, "Rate exceeded", 10)
	kc = socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL), fastRetries(3))
	_, err = kc.Resolve(repo(t, host+"/app"))
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" || !strings.Contains(err.Error(), host) {
		t.Fatalf("err = %v", err)
	}
}

func TestKeychainRefreshFailures(t *testing.T) {
	isolateAWS(t, true)
	clk := newClock()
	s := ecrtest.New(t, ecrtest.WithTTL(time.Hour), ecrtest.WithClock(clk.Now))
	kc := socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL), socifyecr.WithClock(clk.Now), fastRetries(1))
	a, err := kc.Resolve(repo(t, host+"/app"))
	if err != nil {
		t.Fatal(err)
	}
	first := authorize(t, a).Password

	// Renewal fails while the token is still valid: keep using it, and do not call the API again
	// on every request.
	s.Fail("ServerException", 500, "internal error", 100)
	clk.Advance(50 * time.Minute)
	for range 5 {
		if got := authorize(t, a).Password; got != first {
			t.Fatal("token changed")
		}
	}
	if n := len(s.Calls()); n != 2 {
		t.Fatalf("%d calls, want one failed renewal", n)
	}
	// Expired and still failing: an error.
	clk.Advance(11 * time.Minute)
	if _, err := authn.Authorization(context.Background(), a); err == nil || !strings.Contains(err.Error(), "ServerException") {
		t.Fatalf("err = %v", err)
	}
	// The API recovers.
	s2 := ecrtest.New(t, ecrtest.WithClock(clk.Now))
	kc = socifyecr.NewKeychain(socifyecr.WithEndpoint(s2.URL), socifyecr.WithClock(clk.Now))
	a, _ = kc.Resolve(repo(t, host+"/app"))
	authorize(t, a)

	// Access denied when resolving is an error (the identity lacks ecr:GetAuthorizationToken).
	s2.Fail("AccessDeniedException", 400, "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetAuthorizationToken", 1)
	kc = socifyecr.NewKeychain(socifyecr.WithEndpoint(s2.URL))
	if _, err := kc.Resolve(repo(t, host+"/app")); err == nil || !strings.Contains(err.Error(), "ecr:GetAuthorizationToken") {
		t.Fatalf("err = %v", err)
	}
}

func TestKeychainConcurrentRenewal(t *testing.T) {
	isolateAWS(t, true)
	clk := newClock()
	s := ecrtest.New(t, ecrtest.WithTTL(time.Hour), ecrtest.WithClock(clk.Now))
	kc := socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL), socifyecr.WithClock(clk.Now))
	a, err := kc.Resolve(repo(t, host+"/app"))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(55 * time.Minute)
	var wg sync.WaitGroup
	pw := make([]string, 16)
	for i := range pw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg, err := a.Authorization()
			if err == nil {
				pw[i] = cfg.Password
			}
		}()
	}
	wg.Wait()
	if n := len(s.Issued()); n != 2 {
		t.Fatalf("%d tokens issued, want one renewal for all callers", n)
	}
	for _, p := range pw {
		if p != s.Issued()[1].Password {
			t.Fatal("a caller got a stale or no token")
		}
	}
}

func TestWithHost(t *testing.T) {
	isolateAWS(t, true)
	s := ecrtest.New(t)
	kc := socifyecr.NewKeychain(socifyecr.WithEndpoint(s.URL), socifyecr.WithHost("registry.internal:5000", "123456789012", "ap-southeast-2"))
	a, err := kc.Resolve(repo(t, "registry.internal:5000/app"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := authorize(t, a)
	want, _ := base64.StdEncoding.DecodeString(s.Issued()[0].Authorization)
	if "AWS:"+cfg.Password != string(want) || s.Calls()[0].Region != "ap-southeast-2" {
		t.Fatalf("auth %+v calls %+v", cfg, s.Calls())
	}
}
