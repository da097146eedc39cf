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
// the retrying transport of a Client built from opts and authenticate with its credentials. Unlike
// Client.RemoteOptions they share no Puller or Pusher (so options appended to them, such as
// remote.WithProgress, apply), and every call starts from a clean slate: a program that makes more
// than one call should build one Client and use its RemoteOptions.
func RemoteOptions(ctx context.Context, opts ...Option) ([]remote.Option, error) {
	c, err := NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return append(c.baseRemoteOptions(), remote.WithContext(ctx)), nil
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
