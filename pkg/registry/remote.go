package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// RemoteOptions returns go-containerregistry remote options that route every request through
// NewTransport(opts...) and authenticate with WithAuth or WithKeychain.
//
// go-containerregistry retries on its own too. Its per-request retries are switched off (this
// package's transport does them, honouring Retry-After), but its restart of a whole blob upload
// stays: an upload streams its body, which a transport cannot replay. Errors the transport already
// retried to exhaustion (*RetryError) are not retried again.
func RemoteOptions(ctx context.Context, opts ...Option) ([]remote.Option, error) {
	o := makeOptions(opts)
	ro := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(newTransport(o)),
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(uploadRetryable),
	}
	switch {
	case o.auth != nil && o.keychain != nil:
		return nil, errors.New("registry: both WithAuth and WithKeychain given")
	case o.auth != nil:
		ro = append(ro, remote.WithAuth(o.auth))
	case o.keychain != nil:
		ro = append(ro, remote.WithAuthFromKeychain(o.keychain))
	}
	if o.remoteJobs > 0 {
		ro = append(ro, remote.WithJobs(o.remoteJobs))
	}
	return ro, nil
}

// uploadRetryable mirrors go-containerregistry's default predicate minus what the transport has
// already retried.
func uploadRetryable(err error) bool {
	var rerr *RetryError
	if err == nil || errors.As(err, &rerr) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		if terr.Request != nil && terr.Request.Context().Value(exhaustedKey{}) != nil {
			return false
		}
		return terr.Temporary()
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// ParseReference parses s and, when its registry is one of plainHTTP ("host:port" matches that
// port only, "host" any port), marks it name.Insecure so that go-containerregistry may speak plain
// HTTP to it. Other registries keep HTTPS. (TLS verification is a transport matter: see
// WithInsecureHosts.)
func ParseReference(s string, plainHTTP []string, opts ...name.Option) (name.Reference, error) {
	ref, err := name.ParseReference(s, opts...)
	if err != nil {
		return nil, fmt.Errorf("parsing reference %q: %w", s, err)
	}
	if !hostListed(ref.Context().RegistryStr(), plainHTTP) {
		return ref, nil
	}
	ref, err = name.ParseReference(s, append(append([]name.Option(nil), opts...), name.Insecure)...)
	if err != nil {
		return nil, fmt.Errorf("parsing reference %q: %w", s, err)
	}
	return ref, nil
}

func hostListed(registry string, hosts []string) bool {
	hostname := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		hostname = h
	}
	for _, h := range hosts {
		if h == registry || h == hostname {
			return true
		}
	}
	return false
}
