// Package registry holds what socify adds to go-containerregistry's remote access: a retrying
// HTTP transport (429, 5xx, connection resets; Retry-After honoured; bounded; context-aware), blob
// reads that resume with HTTP Range requests after a mid-body failure, destination tag templates,
// per-registry insecure access, and plain-language errors for what registries (ECR above all)
// answer.
//
// Typical use:
//
//	opts := []registry.Option{registry.WithKeychain(kc), registry.WithInsecureHosts(cli.Insecure...)}
//	img, err := remote.Index(ref, registry.RemoteOptions(ctx, opts...)...)
//	idx := registry.WrapIndex(ctx, img, ref.Context(), opts...) // layers resume on failure
package registry

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Option configures the transport, blob reads and remote options of this package.
type Option func(*options)

type options struct {
	base          http.RoundTripper
	insecureHosts map[string]bool
	userAgent     string

	maxAttempts   int
	backoffBase   time.Duration
	backoffMax    time.Duration
	maxRetryAfter time.Duration
	onRetry       func(RetryEvent)
	sleep         func(context.Context, time.Duration) error
	jitter        func(n int64) int64

	auth     authn.Authenticator
	keychain authn.Keychain

	maxResumes int
	onResume   func(ResumeEvent)
	verify     bool
	size       int64
	transport  http.RoundTripper // fully built, skips NewTransport
	remoteJobs int
}

func makeOptions(opts []Option) *options {
	o := &options{
		maxAttempts:   6,
		backoffBase:   500 * time.Millisecond,
		backoffMax:    30 * time.Second,
		maxRetryAfter: 2 * time.Minute,
		sleep:         sleepCtx,
		jitter:        rand.Int64N,
		maxResumes:    64,
		verify:        true,
		size:          -1,
	}
	for _, f := range opts {
		f(o)
	}
	if o.maxAttempts < 1 {
		o.maxAttempts = 1
	}
	return o
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WithBaseTransport sets the transport the retries wrap (default: a clone of
// remote.DefaultTransport). WithInsecureHosts has no effect on a base transport given here.
func WithBaseTransport(rt http.RoundTripper) Option { return func(o *options) { o.base = rt } }

// WithTransport uses rt as is for every request, bypassing NewTransport (no retries added). For
// callers that have built their transport with NewTransport already and share it.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// WithInsecureHosts skips TLS certificate verification for these registries ("host" or
// "host:port") and only these; every other host is verified as usual. For plain HTTP use
// NameOptions.
func WithInsecureHosts(hosts ...string) Option {
	return func(o *options) {
		if o.insecureHosts == nil {
			o.insecureHosts = map[string]bool{}
		}
		for _, h := range hosts {
			o.insecureHosts[h] = true
		}
	}
}

// WithUserAgent prefixes the User-Agent header, e.g. "socify/1.2.3".
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// WithMaxAttempts bounds the attempts per request (first try included; default 6). 1 disables
// retries.
func WithMaxAttempts(n int) Option { return func(o *options) { o.maxAttempts = n } }

// WithBackoff sets the exponential backoff: the n-th retry waits a random time between half and
// all of min(max, base*2^(n-1)). Defaults: 500ms, 30s.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) { o.backoffBase, o.backoffMax = base, max }
}

// WithMaxRetryAfter caps how long a server's Retry-After may make a request wait (default 2m).
func WithMaxRetryAfter(d time.Duration) Option { return func(o *options) { o.maxRetryAfter = d } }

// WithOnRetry is called before each wait, e.g. to log or count retries. It must not block.
func WithOnRetry(f func(RetryEvent)) Option { return func(o *options) { o.onRetry = f } }

// WithSleep replaces the wait between attempts (tests use it to record waits instead of
// sleeping). It must return ctx.Err() when ctx ends first.
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) { o.sleep = f }
}

// WithAuth authenticates with a fixed authenticator. Mutually exclusive with WithKeychain.
func WithAuth(a authn.Authenticator) Option { return func(o *options) { o.auth = a } }

// WithKeychain resolves credentials per registry. Mutually exclusive with WithAuth.
func WithKeychain(kc authn.Keychain) Option { return func(o *options) { o.keychain = kc } }

// WithMaxResumes bounds how many times one blob read may resume (default 64). Consecutive
// failures without progress are bounded by WithMaxAttempts.
func WithMaxResumes(n int) Option { return func(o *options) { o.maxResumes = n } }

// WithOnResume is called each time a blob read resumes. It must not block.
func WithOnResume(f func(ResumeEvent)) Option { return func(o *options) { o.onResume = f } }

// WithDigestCheck turns the blob reader's own digest check on (default) or off. Turn it off only
// when the consumer hashes the stream itself (the zTOC builder does), to save a second pass; the
// size is checked either way.
func WithDigestCheck(on bool) Option { return func(o *options) { o.verify = on } }

// WithSize tells the blob reader the expected size (from the descriptor). A body that ends short of
// it resumes; one that runs past it fails.
func WithSize(n int64) Option { return func(o *options) { o.size = n } }

// WithJobs sets go-containerregistry's parallelism for RemoteOptions (default: its own, 4).
func WithJobs(n int) Option { return func(o *options) { o.remoteJobs = n } }
