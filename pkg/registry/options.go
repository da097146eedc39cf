// Package registry is socify's registry client on top of go-containerregistry: one Client per
// run holds one retrying HTTP transport (429, 5xx, connection resets; Retry-After honoured;
// bounded; context-aware) whose connections are reused for manifests and blobs alike, and caches
// the authenticated transport (ping, token exchange) of each repository and scope, so a
// conversion costs the same handshakes for 2 layers as for 200. Blob reads resume with HTTP Range
// requests after a mid-body failure and read large blobs over several connections at once; blob
// uploads stream and resume at the offset the registry committed. The package also holds
// destination tag templates and plain-language errors for what registries (ECR above all) answer.
//
// Typical use:
//
//	c, err := registry.NewClient(registry.WithDefaultKeychain(), registry.WithUserAgent("tool/1.0"))
//	idx, err := remote.Index(ref, c.RemoteOptions(ctx)...)
//	idx = c.WrapIndex(ctx, idx, ref.Context()) // layers resume on failure, read in parallel
//
// The package-level functions (RemoteOptions, OpenBlob, WrapIndex, CheckAccess...) build a
// throw-away Client from their options on every call; they stay for callers that make one call.
package registry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/socify/socify/pkg/ecr"
)

// Option configures a Client (and the package-level helpers). Options validate their arguments:
// NewClient returns the first error.
type Option func(*options) error

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
	// Credentials for the default chain: explicit ones, and whether ECR and docker config follow.
	explicit     []authn.Keychain
	defaultChain bool
	ecrOpts      []ecr.Option

	maxResumes int
	onResume   func(ResumeEvent)
	verify     bool
	size       int64
	transport  http.RoundTripper // fully built, skips NewTransport
	remoteJobs int

	parallel      int   // concurrent Range requests per large blob; 1 = one stream
	chunk         int64 // bytes per Range request
	parallelAbove int64 // blobs at least this big are read in parallel

	uploadDigest bool // Upload hashes what it sends and refuses to commit a mismatch
}

// Defaults for parallel blob reads. Registries that serve blobs from object storage (ECR redirects
// to S3) give about 100 MB/s per connection, less than one core inflates (and indexes) a layer.
// 4 connections of 2 MiB requests give 2-3 times that: a request costs a round trip before its
// first byte (10-30 ms to S3), which a 2 MiB chunk (20 ms at 100 MB/s) half amortises, and 4 of
// them in flight hide the rest. Memory is what decides the chunk size: at most 4 × 2 MiB = 8 MiB
// per blob in flight, so two big layers indexed side by side stay well inside convert's memory
// budget. Blobs under 64 MiB are read in one stream: their whole transfer takes under a second,
// and the layers of an image are read side by side anyway (convert's jobs).
const (
	DefaultParallelReads = 4
	DefaultReadChunk     = 2 << 20
	DefaultParallelAbove = 64 << 20
)

func defaultOptions() *options {
	return &options{
		maxAttempts:   6,
		backoffBase:   500 * time.Millisecond,
		backoffMax:    30 * time.Second,
		maxRetryAfter: 2 * time.Minute,
		sleep:         sleepCtx,
		jitter:        rand.Int64N,
		maxResumes:    64,
		verify:        true,
		size:          -1,
		parallel:      DefaultParallelReads,
		chunk:         DefaultReadChunk,
		parallelAbove: DefaultParallelAbove,
	}
}

func buildOptions(opts []Option) (*options, error) {
	o := defaultOptions()
	for _, f := range opts {
		if f == nil {
			continue
		}
		if err := f(o); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	n := 0
	if o.auth != nil {
		n++
	}
	if o.keychain != nil {
		n++
	}
	if o.defaultChain || len(o.explicit) > 0 {
		n++
	}
	if n > 1 {
		return nil, errors.New("registry: give one of WithAuth, WithKeychain, or WithDefaultKeychain/WithCredentials")
	}
	return o, nil
}

// makeOptions is buildOptions for code paths that cannot return an error (tests of the backoff).
func makeOptions(opts []Option) *options {
	o, err := buildOptions(opts)
	if err != nil {
		return defaultOptions()
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
// remote.DefaultTransport that keeps up to 32 idle connections per host, so that parallel layer
// and Range reads reuse their connections). WithInsecureHosts has no effect on a base transport
// given here.
func WithBaseTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return errors.New("WithBaseTransport: nil transport")
		}
		o.base = rt
		return nil
	}
}

// WithTransport uses rt as is for every request, bypassing NewTransport (no retries added). For
// callers that have built their transport with NewTransport already and share it.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return errors.New("WithTransport: nil transport")
		}
		o.transport = rt
		return nil
	}
}

// WithInsecureHosts skips TLS certificate verification for these registries ("host" or
// "host:port") and only these; every other host is verified as usual. For plain HTTP use
// name.Insecure (ParseReference).
func WithInsecureHosts(hosts ...string) Option {
	return func(o *options) error {
		if o.insecureHosts == nil {
			o.insecureHosts = map[string]bool{}
		}
		for _, h := range hosts {
			if h == "" {
				return errors.New("WithInsecureHosts: empty host")
			}
			o.insecureHosts[h] = true
		}
		return nil
	}
}

// WithUserAgent prefixes the User-Agent header, e.g. "socify/1.2.3".
func WithUserAgent(ua string) Option { return func(o *options) error { o.userAgent = ua; return nil } }

// WithMaxAttempts bounds the attempts per request (first try included; default 6). 1 disables
// retries.
func WithMaxAttempts(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("WithMaxAttempts(%d): at least 1 attempt", n)
		}
		o.maxAttempts = n
		return nil
	}
}

// WithBackoff sets the exponential backoff: the n-th retry waits a random time between half and
// all of min(max, base*2^(n-1)). Defaults: 500ms, 30s.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) error {
		if base < 0 || max < base {
			return fmt.Errorf("WithBackoff(%s, %s): need 0 <= base <= max", base, max)
		}
		o.backoffBase, o.backoffMax = base, max
		return nil
	}
}

// WithMaxRetryAfter caps how long a server's Retry-After may make a request wait (default 2m).
func WithMaxRetryAfter(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("WithMaxRetryAfter(%s): negative", d)
		}
		o.maxRetryAfter = d
		return nil
	}
}

// WithOnRetry is called before each wait, e.g. to log or count retries. It must not block.
func WithOnRetry(f func(RetryEvent)) Option {
	return func(o *options) error { o.onRetry = f; return nil }
}

// WithSleep replaces the wait between attempts (tests use it to record waits instead of
// sleeping). It must return ctx.Err() when ctx ends first.
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("WithSleep: nil function")
		}
		o.sleep = f
		return nil
	}
}

// WithAuth authenticates every registry with a fixed authenticator. Exclusive with WithKeychain
// and WithDefaultKeychain.
func WithAuth(a authn.Authenticator) Option {
	return func(o *options) error {
		if a == nil {
			return errors.New("WithAuth: nil authenticator")
		}
		o.auth = a
		return nil
	}
}

// WithKeychain resolves credentials per registry with kc. Exclusive with WithAuth and
// WithDefaultKeychain.
func WithKeychain(kc authn.Keychain) Option {
	return func(o *options) error {
		if kc == nil {
			return errors.New("WithKeychain: nil keychain")
		}
		o.keychain = kc
		return nil
	}
}

// WithMaxResumes bounds how many times one blob read may resume (default 64). Consecutive
// failures without progress are bounded by WithMaxAttempts.
func WithMaxResumes(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("WithMaxResumes(%d): negative", n)
		}
		o.maxResumes = n
		return nil
	}
}

// WithOnResume is called each time a blob read or upload resumes. It must not block.
func WithOnResume(f func(ResumeEvent)) Option {
	return func(o *options) error { o.onResume = f; return nil }
}

// WithDigestCheck sets the default of the blob reader's own digest check (on unless turned off).
// Turn it off only when every consumer of the stream hashes it itself (the zTOC builder does), to
// save a pass over the bytes; the size is checked either way. VerifyDigest overrides it per read.
func WithDigestCheck(on bool) Option { return func(o *options) error { o.verify = on; return nil } }

// WithSize tells the package-level OpenBlob the expected size (from the descriptor). A body that
// ends short of it resumes; one that runs past it fails. Client.OpenBlob takes BlobSize instead.
func WithSize(n int64) Option {
	return func(o *options) error {
		if n < -1 {
			return fmt.Errorf("WithSize(%d): negative", n)
		}
		o.size = n
		return nil
	}
}

// WithJobs sets go-containerregistry's parallelism for RemoteOptions (default: its own, 4).
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("WithJobs(%d): negative", n)
		}
		o.remoteJobs = n
		return nil
	}
}

// WithParallelReads reads each blob of at least above bytes (and of known size) with n concurrent
// Range requests of chunk bytes each, handed to the reader in order. Memory per blob is at most
// n × chunk. n = 1 reads every blob in one stream. Defaults: DefaultParallelReads,
// DefaultReadChunk, DefaultParallelAbove. A server that ignores Range is read in one stream.
func WithParallelReads(n int, chunk, above int64) Option {
	return func(o *options) error {
		switch {
		case n < 1 || n > 64:
			return fmt.Errorf("WithParallelReads: %d connections, want 1 to 64", n)
		case chunk < 64<<10 || chunk > 256<<20:
			return fmt.Errorf("WithParallelReads: chunk of %d bytes, want 64 KiB to 256 MiB", chunk)
		case above < 0:
			return fmt.Errorf("WithParallelReads: negative threshold %d", above)
		}
		o.parallel, o.chunk, o.parallelAbove = n, chunk, above
		return nil
	}
}

// WithUploadDigestCheck makes Upload compute the sha256 of the bytes it sends and refuse to commit
// a blob whose digest differs from the descriptor's (the session is cancelled instead). Off by
// default: the registry verifies the digest given with the final PUT (the distribution spec
// requires it and ECR does), and socify's pipeline has already verified each layer it tees. Turn
// it on when the body comes from a source nobody else verifies.
func WithUploadDigestCheck(on bool) Option {
	return func(o *options) error { o.uploadDigest = on; return nil }
}
