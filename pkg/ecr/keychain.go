package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/google/go-containerregistry/pkg/authn"
)

// Option configures a Keychain.
type Option func(*options)

type options struct {
	profile        string
	region         string
	awsConfig      *aws.Config
	endpoint       string
	publicEndpoint string
	hosts          map[string]Registry
	now            func() time.Time
	refreshBefore  time.Duration
	retryFailed    time.Duration
	ecrOpts        []func(*ecr.Options)
	publicOpts     []func(*ecrpublic.Options)
	loadOpts       []func(*config.LoadOptions) error
	onToken        func(TokenEvent)
}

// WithProfile selects a shared config / SSO profile (--aws-profile). With a profile, failing to
// get its credentials is an error rather than a reason to try the next keychain. "" is the SDK's
// default chain, as without the option.
func WithProfile(name string) Option { return func(o *options) { o.profile = name } }

// WithRegion sets the default region of the AWS configuration (--aws-region). Tokens are always
// requested in the registry's own region, which the host name carries; this matters for hosts
// given with WithHost without a region, and for STS calls the credential chain makes. "" leaves
// the SDK's default.
func WithRegion(region string) Option { return func(o *options) { o.region = region } }

// WithAWSConfig uses cfg instead of config.LoadDefaultConfig.
func WithAWSConfig(cfg aws.Config) Option { return func(o *options) { o.awsConfig = &cfg } }

// WithLoadOptions adds options to config.LoadDefaultConfig.
func WithLoadOptions(opts ...func(*config.LoadOptions) error) Option {
	return func(o *options) { o.loadOpts = append(o.loadOpts, opts...) }
}

// WithEndpoint sends ECR API calls (private registries) to url instead of the regional endpoint,
// e.g. an interface VPC endpoint, or a local stand-in in tests.
func WithEndpoint(url string) Option { return func(o *options) { o.endpoint = url } }

// WithPublicEndpoint does the same for the ECR Public API.
func WithPublicEndpoint(url string) Option { return func(o *options) { o.publicEndpoint = url } }

// WithHost treats host ("host" or "host:port") as the private ECR registry of account in region:
// for registries reached under another name (a DNS alias, a proxy, a local test registry).
func WithHost(host, account, region string) Option {
	return func(o *options) {
		if o.hosts == nil {
			o.hosts = map[string]Registry{}
		}
		o.hosts[strings.ToLower(host)] = Registry{Host: host, Account: account, Region: region}
	}
}

// WithClock replaces time.Now for token expiry decisions (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithRefreshBefore sets how long before expiry a token is renewed (default 15 minutes, and never
// more than half the token's lifetime, so that short-lived tokens are not renewed on every use).
func WithRefreshBefore(d time.Duration) Option { return func(o *options) { o.refreshBefore = d } }

// WithECROptions adjusts the ECR API client (retryer, HTTP client...).
func WithECROptions(fns ...func(*ecr.Options)) Option {
	return func(o *options) { o.ecrOpts = append(o.ecrOpts, fns...) }
}

// WithECRPublicOptions adjusts the ECR Public API client.
func WithECRPublicOptions(fns ...func(*ecrpublic.Options)) Option {
	return func(o *options) { o.publicOpts = append(o.publicOpts, fns...) }
}

// WithOnToken is called after every token request, successful or not. It must not block.
func WithOnToken(f func(TokenEvent)) Option { return func(o *options) { o.onToken = f } }

// TokenEvent reports a token request.
type TokenEvent struct {
	Host      string
	Region    string
	Public    bool
	Refresh   bool      // a cached token was being renewed
	ExpiresAt time.Time // of the new token
	Err       error
}

// Token is a registry credential from GetAuthorizationToken.
type Token struct {
	Username  string // always "AWS" in practice
	Password  string
	ExpiresAt time.Time
	FetchedAt time.Time
}

// Keychain is an authn.Keychain for Amazon ECR. For other registries it returns authn.Anonymous,
// which makes go-containerregistry's keychain chains try the next keychain. It is safe for
// concurrent use; tokens are shared by every authenticator it returns.
type Keychain struct {
	o options

	mu     sync.Mutex
	cfg    *aws.Config
	caches map[cacheKey]*tokenCache
}

// A token is good for every registry the caller may access in its region and partition, so one
// token serves all accounts there (cross-account pulls included).
type cacheKey struct {
	public bool
	region string
	fips   bool
}

// NewKeychain returns an ECR keychain. The AWS configuration is loaded on first use.
func NewKeychain(opts ...Option) *Keychain {
	o := options{
		now:           time.Now,
		refreshBefore: 15 * time.Minute,
		retryFailed:   30 * time.Second,
	}
	for _, f := range opts {
		f(&o)
	}
	return &Keychain{o: o, caches: map[cacheKey]*tokenCache{}}
}

// Lookup reports whether host is an ECR registry this keychain serves (ParseHost or WithHost).
func (k *Keychain) Lookup(host string) (Registry, bool) {
	if r, ok := k.o.hosts[strings.ToLower(host)]; ok {
		if r.Region == "" {
			r.Region = k.o.region
		}
		return r, true
	}
	return ParseHost(host)
}

// Resolve implements authn.Keychain.
func (k *Keychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), target)
}

// ResolveContext implements authn.ContextKeychain. For an ECR host it fetches (or reuses) a token
// right away, so that missing permissions surface here; the returned authenticator renews it when
// it nears expiry. Without AWS credentials (and without WithProfile) it returns authn.Anonymous so
// that the next keychain is tried.
func (k *Keychain) ResolveContext(ctx context.Context, target authn.Resource) (authn.Authenticator, error) {
	a, _, err := k.explain(ctx, target)
	return a, err
}

// explain is ResolveContext plus a line saying what happened, for Chain.Explain.
func (k *Keychain) explain(ctx context.Context, target authn.Resource) (authn.Authenticator, string, error) {
	host := target.RegistryStr()
	reg, ok := k.Lookup(host)
	if !ok {
		return authn.Anonymous, "not an Amazon ECR registry", nil
	}
	if reg.Region == "" {
		return nil, "", fmt.Errorf("ECR registry %s: no region known (give one with --aws-region)", host)
	}
	cfg, err := k.awsConfig(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("ECR registry %s: %w", host, err)
	}
	if cfg.Credentials == nil {
		return authn.Anonymous, "no AWS credentials configured", nil
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if k.o.profile != "" || ctx.Err() != nil {
			return nil, "", fmt.Errorf("ECR registry %s: AWS credentials of profile %q: %w", host, k.o.profile, err)
		}
		return authn.Anonymous, fmt.Sprintf("no usable AWS credentials (%v)", err), nil
	}
	c := k.cache(reg)
	tok, err := c.get(ctx)
	if err != nil {
		if reg.Public && ctx.Err() == nil {
			// Public images pull anonymously; an identity without ecr-public permissions must not
			// break that. A push will fail later with the registry's own 401.
			return authn.Anonymous, fmt.Sprintf("no ECR Public token (%v); anonymous", err), nil
		}
		return nil, "", fmt.Errorf("ECR registry %s: %w", host, err)
	}
	detail := fmt.Sprintf("Amazon ECR token for region %s, valid until %s", reg.Region, tok.ExpiresAt.UTC().Format(time.RFC3339))
	if reg.Public {
		detail = fmt.Sprintf("Amazon ECR Public token, valid until %s", tok.ExpiresAt.UTC().Format(time.RFC3339))
	} else if reg.Account != "" {
		detail = fmt.Sprintf("Amazon ECR token for account %s, region %s, valid until %s", reg.Account, reg.Region, tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return &authenticator{c: c, host: host}, detail, nil
}

func (k *Keychain) awsConfig(ctx context.Context) (aws.Config, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cfg != nil {
		return *k.cfg, nil
	}
	var cfg aws.Config
	if k.o.awsConfig != nil {
		cfg = k.o.awsConfig.Copy()
		if k.o.region != "" {
			cfg.Region = k.o.region
		}
	} else {
		var lo []func(*config.LoadOptions) error
		if k.o.profile != "" {
			lo = append(lo, config.WithSharedConfigProfile(k.o.profile))
		}
		if k.o.region != "" {
			lo = append(lo, config.WithRegion(k.o.region))
		}
		lo = append(lo, k.o.loadOpts...)
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx, lo...); err != nil {
			if k.o.profile != "" {
				return aws.Config{}, fmt.Errorf("loading AWS configuration for profile %q: %w", k.o.profile, err)
			}
			return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
		}
	}
	k.cfg = &cfg
	return cfg, nil
}

func (k *Keychain) cache(reg Registry) *tokenCache {
	key := cacheKey{public: reg.Public, region: reg.Region, fips: reg.FIPS}
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.caches[key]
	if !ok {
		c = &tokenCache{k: k, key: key, host: reg.Host}
		k.caches[key] = c
	}
	return c
}

// fetch asks the ECR (or ECR Public) API for a token.
func (k *Keychain) fetch(ctx context.Context, key cacheKey) (*Token, error) {
	cfg, err := k.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	var (
		raw     *string
		expires *time.Time
	)
	if key.public {
		cl := ecrpublic.NewFromConfig(cfg, func(o *ecrpublic.Options) {
			o.Region = PublicRegion
			if k.o.publicEndpoint != "" {
				o.BaseEndpoint = aws.String(k.o.publicEndpoint)
			}
		}, func(o *ecrpublic.Options) {
			for _, f := range k.o.publicOpts {
				f(o)
			}
		})
		out, err := cl.GetAuthorizationToken(ctx, &ecrpublic.GetAuthorizationTokenInput{})
		if err != nil {
			return nil, fmt.Errorf("ecr-public GetAuthorizationToken: %w", err)
		}
		if out.AuthorizationData == nil {
			return nil, errors.New("ecr-public GetAuthorizationToken: no authorization data in the answer")
		}
		raw, expires = out.AuthorizationData.AuthorizationToken, out.AuthorizationData.ExpiresAt
	} else {
		cl := ecr.NewFromConfig(cfg, func(o *ecr.Options) {
			o.Region = key.region
			// A custom endpoint is taken as given: the SDK refuses FIPS together with one.
			if k.o.endpoint != "" {
				o.BaseEndpoint = aws.String(k.o.endpoint)
			} else if key.fips {
				o.EndpointOptions.UseFIPSEndpoint = aws.FIPSEndpointStateEnabled
			}
		}, func(o *ecr.Options) {
			for _, f := range k.o.ecrOpts {
				f(o)
			}
		})
		out, err := cl.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
		if err != nil {
			return nil, fmt.Errorf("ecr GetAuthorizationToken in %s: %w", key.region, err)
		}
		if len(out.AuthorizationData) == 0 {
			return nil, fmt.Errorf("ecr GetAuthorizationToken in %s: no authorization data in the answer", key.region)
		}
		raw, expires = out.AuthorizationData[0].AuthorizationToken, out.AuthorizationData[0].ExpiresAt
	}
	now := k.o.now()
	tok, err := decodeToken(aws.ToString(raw))
	if err != nil {
		return nil, err
	}
	tok.FetchedAt = now
	if expires != nil && !expires.IsZero() {
		tok.ExpiresAt = *expires
	} else {
		// ECR always sends expiresAt; if it ever does not, assume far less than the documented 12
		// hours rather than trusting a token for too long.
		tok.ExpiresAt = now.Add(time.Hour)
	}
	return tok, nil
}

// decodeToken splits base64("user:password").
func decodeToken(s string) (*Token, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("decoding ECR authorization token: %w", err)
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok || user == "" || pass == "" {
		return nil, errors.New("decoding ECR authorization token: not of the form user:password")
	}
	return &Token{Username: user, Password: pass}, nil
}

// tokenCache holds the token of one region and renews it; one fetch at a time.
type tokenCache struct {
	k    *Keychain
	key  cacheKey
	host string

	mu       sync.Mutex
	tok      *Token
	lastFail time.Time
}

func (c *tokenCache) refreshAt(t *Token) time.Time {
	window := c.k.o.refreshBefore
	if life := t.ExpiresAt.Sub(t.FetchedAt); life > 0 && window > life/2 {
		window = life / 2
	}
	return t.ExpiresAt.Add(-window)
}

func (c *tokenCache) get(ctx context.Context) (*Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.k.o.now()
	if c.tok != nil {
		if now.Before(c.refreshAt(c.tok)) {
			return c.tok, nil
		}
		// Still valid but due for renewal, and the last attempt failed recently: keep using it
		// rather than calling a throttled or failing API on every request.
		if now.Before(c.tok.ExpiresAt) && !c.lastFail.IsZero() && now.Sub(c.lastFail) < c.k.o.retryFailed {
			return c.tok, nil
		}
	}
	refresh := c.tok != nil
	tok, err := c.k.fetch(ctx, c.key)
	if f := c.k.o.onToken; f != nil {
		ev := TokenEvent{Host: c.host, Region: c.key.region, Public: c.key.public, Refresh: refresh, Err: err}
		if tok != nil {
			ev.ExpiresAt = tok.ExpiresAt
		}
		f(ev)
	}
	if err != nil {
		c.lastFail = now
		if c.tok != nil && now.Before(c.tok.ExpiresAt) {
			return c.tok, nil
		}
		return nil, err
	}
	c.tok, c.lastFail = tok, time.Time{}
	return tok, nil
}

// authenticator asks the cache on every call, so a long conversion gets a renewed token without
// resolving again: go-containerregistry calls Authorization on each request to a registry that
// uses basic auth, as ECR does.
type authenticator struct {
	c    *tokenCache
	host string
}

func (a *authenticator) Authorization() (*authn.AuthConfig, error) {
	return a.AuthorizationContext(context.Background())
}

func (a *authenticator) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	t, err := a.c.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("renewing the ECR token for %s: %w", a.host, err)
	}
	return &authn.AuthConfig{Username: t.Username, Password: t.Password}, nil
}

// String keeps tokens out of logs.
func (a *authenticator) String() string { return "ecr-token(" + a.host + ")" }
