package registry

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/socify/socify/pkg/ecr"
)

// Client is one run's access to registries. It holds one retrying HTTP transport, so TCP and
// TLS connections are reused by manifests, blob reads and uploads alike, and caches per registry,
// repository and scope the authenticated transport go-containerregistry builds (a /v2/ ping and,
// for token registries, a token exchange), so the handshakes of a conversion do not grow with its
// number of layers. Its go-containerregistry options (RemoteOptions) share the transport and a
// remote.Puller and remote.Pusher, which cache their own handshakes per repository.
//
// A Client is safe for concurrent use. Build one per run with NewClient and pass it everywhere.
type Client struct {
	o     *options
	rt    http.RoundTripper // retries + user agent over the one base transport
	chain *ecr.Chain        // WithDefaultKeychain / WithCredentials, else nil
	// ecrKeychain is the chain's ECR keychain: it knows registries aliased with ecr.WithHost.
	ecrKeychain *ecr.Keychain
	puller      *remote.Puller
	pusher      *remote.Pusher

	mu    sync.Mutex
	auths map[authKey]*authEntry
}

type authKey struct {
	registry string // name.Registry.String() plus scheme: an insecure reference pings differently
	scopes   string
}

type authEntry struct {
	once sync.Once
	rt   http.RoundTripper
	err  error
}

// NewClient builds a Client. Options validate their arguments and NewClient returns the first
// error. Credentials: WithDefaultKeychain (socify's chain, see CredentialOrder) with optional
// WithCredentials, or WithKeychain, or WithAuth; anonymous otherwise.
func NewClient(opts ...Option) (*Client, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{o: o, rt: newPingCache(newTransport(o)), auths: map[authKey]*authEntry{}}
	c.chain, c.ecrKeychain = o.chain()
	base := c.baseRemoteOptions()
	if c.puller, err = remote.NewPuller(base...); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if c.pusher, err = remote.NewPusher(base...); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return c, nil
}

// keychain is the keychain credentials are resolved with, nil with WithAuth or anonymous.
func (c *Client) keychain() authn.Keychain {
	if c.chain != nil {
		return c.chain
	}
	return c.o.keychain
}

// Transport is the client's retrying transport (unauthenticated), for requests this package does
// not make itself. Reusing it reuses the client's connections.
func (c *Client) Transport() http.RoundTripper { return c.rt }

// baseRemoteOptions route go-containerregistry through the client's transport. Its per-request
// retries are switched off (the client's transport does them, honouring Retry-After), but its
// restart of a whole blob upload stays: an upload streams its body, which a transport cannot
// replay. Errors the transport already retried to exhaustion (*RetryError) are not retried again.
func (c *Client) baseRemoteOptions() []remote.Option {
	ro := []remote.Option{
		remote.WithTransport(c.rt),
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(uploadRetryable),
	}
	switch kc := c.keychain(); {
	case c.o.auth != nil:
		ro = append(ro, remote.WithAuth(c.o.auth))
	case kc != nil:
		ro = append(ro, remote.WithAuthFromKeychain(kc))
	}
	if c.o.remoteJobs > 0 {
		ro = append(ro, remote.WithJobs(c.o.remoteJobs))
	}
	return ro
}

// RemoteOptions returns go-containerregistry options that use the client's transport,
// credentials and its shared remote.Puller and remote.Pusher (remote.Reuse), so remote.Image,
// remote.Index, remote.Write and friends skip the handshakes this client already did.
//
// remote.Reuse makes go-containerregistry ignore most other options of a call, so options given
// in extra (remote.WithProgress, remote.WithJobs...) get a Pusher of their own, built from the
// client's options plus extra; reads keep the shared Puller.
func (c *Client) RemoteOptions(ctx context.Context, extra ...remote.Option) []remote.Option {
	ro := append(c.baseRemoteOptions(), remote.WithContext(ctx), remote.Reuse(c.puller))
	if len(extra) == 0 {
		return append(ro, remote.Reuse(c.pusher))
	}
	p, err := remote.NewPusher(append(c.baseRemoteOptions(), extra...)...)
	if err != nil {
		// An invalid extra option: let go-containerregistry report it on the call.
		return append(ro, extra...)
	}
	return append(append(ro, extra...), remote.Reuse(p))
}

// httpClient returns an HTTP client authenticated for repo with scopes (transport.PullScope,
// PushScope...; more repositories through extra scope strings), from the cache when this client
// has talked to that repository with those scopes before.
func (c *Client) httpClient(ctx context.Context, repo name.Repository, actions ...string) (*http.Client, error) {
	scopes := []string{repo.Scope(strings.Join(actions, ","))}
	return c.scopedClient(ctx, repo, scopes)
}

func (c *Client) scopedClient(ctx context.Context, repo name.Repository, scopes []string) (*http.Client, error) {
	sorted := append([]string(nil), scopes...)
	sort.Strings(sorted)
	key := authKey{registry: repo.Registry.Scheme() + "://" + repo.RegistryStr(), scopes: strings.Join(sorted, " ")}
	if c.o.auth == nil && c.keychain() != nil {
		// Keychains may answer per repository (docker credential helpers can); one entry each.
		key.registry += "/" + repo.RepositoryStr()
	}
	c.mu.Lock()
	e, ok := c.auths[key]
	if !ok {
		e = &authEntry{}
		c.auths[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		var auth authn.Authenticator
		auth, e.err = c.resolveAuth(ctx, repo)
		if e.err != nil {
			e.err = fmt.Errorf("resolving credentials for %s: %w", repo, e.err)
			return
		}
		e.rt, e.err = transport.NewWithContext(ctx, repo.Registry, auth, c.rt, scopes)
		if e.err != nil {
			e.err = fmt.Errorf("connecting to %s: %w", repo.RegistryStr(), e.err)
		}
	})
	if e.err != nil {
		// Failures are not cached: the next caller tries again (the context may have ended, or a
		// token service may have been down for a moment).
		c.mu.Lock()
		if c.auths[key] == e {
			delete(c.auths, key)
		}
		c.mu.Unlock()
		return nil, e.err
	}
	return &http.Client{Transport: e.rt, CheckRedirect: checkRedirect}, nil
}

func (c *Client) resolveAuth(ctx context.Context, repo name.Repository) (authn.Authenticator, error) {
	switch kc := c.keychain(); {
	case c.o.auth != nil:
		return c.o.auth, nil
	case kc != nil:
		return authn.Resolve(ctx, kc, repo)
	}
	return authn.Anonymous, nil
}
