package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Access is the outcome of CheckAccess; nil means allowed. Errors are mapped with MapError.
type Access struct {
	Pull error
	Push error
}

// CheckAccess tries what a conversion will do with ref, without changing anything: pull reads the
// manifest (HEAD), push opens a blob upload session in ref's repository and cancels it (the only
// portable way to learn whether a push would be allowed). Both use the credentials from opts
// (WithAuth or WithKeychain) and NewTransport.
func CheckAccess(ctx context.Context, ref name.Reference, opts ...Option) Access {
	c, err := NewClient(opts...)
	if err != nil {
		return Access{Pull: err, Push: err}
	}
	return c.CheckAccess(ctx, ref)
}

// CheckAccess is the package-level CheckAccess with the client's transport and credentials.
func (c *Client) CheckAccess(ctx context.Context, ref name.Reference) Access {
	var a Access
	if _, err := remote.Head(ref, c.RemoteOptions(ctx)...); err != nil {
		a.Pull = headError(err, ref.String())
	}
	if err := c.tryPush(ctx, ref.Context()); err != nil {
		a.Push = MapError(err, OpPush, ref.String())
	}
	return a
}

// headError maps the error of a manifest HEAD. A HEAD response has no body, so a 404 carries
// neither MANIFEST_UNKNOWN nor NAME_UNKNOWN: the registry cannot say whether the tag or the whole
// repository is missing. It is classified as KindManifestNotFound (the image does not exist, which
// is true either way) with a message that leaves both possibilities open, rather than passed on
// as an unexplained "404 Not Found".
func headError(err error, ref string) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound && len(te.Errors) == 0 {
		_, repo := splitRef(ref)
		return &Error{
			Kind:    KindManifestNotFound,
			Op:      OpPull,
			Ref:     ref,
			Message: fmt.Sprintf("image %s does not exist: no such tag or digest, or no such repository %q", ref, repo),
			Hint:    "check the repository and the tag; `crane ls REPOSITORY` or `aws ecr list-images` lists what exists",
			Err:     err,
		}
	}
	return MapError(err, OpPull, ref)
}

// tryPush opens a blob upload session in repo and cancels it.
func (c *Client) tryPush(ctx context.Context, repo name.Repository) error {
	client, err := c.httpClient(ctx, repo, transport.PushScope)
	if err != nil {
		return err
	}
	u := url.URL{Scheme: repo.Registry.Scheme(), Host: repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/blobs/uploads/", repo.RepositoryStr())}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusAccepted); err != nil {
		return err
	}
	// Cancelling frees the session at once; registries also expire abandoned ones, so a failure
	// here is not worth reporting.
	if loc, err := resp.Location(); err == nil {
		if del, err := http.NewRequestWithContext(ctx, http.MethodDelete, loc.String(), nil); err == nil {
			if r, err := client.Do(del); err == nil {
				r.Body.Close()
			}
		}
	}
	return nil
}

// CheckPush answers, before any work, whether a push to ref can succeed: the registry is
// reachable, accepts the client's credentials and allows pushing to ref's repository (it opens a
// blob upload session there and cancels it). An unreachable registry is reported within about
// two seconds, in one line naming the host and the cause, instead of after the transport's
// retries of "connection refused" over HTTPS and then HTTP. Other errors are mapped with MapError.
func (c *Client) CheckPush(ctx context.Context, ref name.Reference) error {
	repo := ref.Context()
	if c.o.base == nil && c.o.transport == nil {
		// A transport given by the caller may reach the registry in ways a dial cannot see.
		if err := probe(ctx, repo.Registry); err != nil {
			return err
		}
	}
	if err := c.tryPush(ctx, repo); err != nil {
		return MapError(err, OpPush, ref.String())
	}
	return nil
}

// probeTimeout bounds the TCP connect of CheckPush. A registry that takes longer than this to
// accept a connection is not one a conversion should start against.
const probeTimeout = 1500 * time.Millisecond

// probe dials the registry's port(s), or the HTTP proxy the environment names for it: HTTPS, and
// for registries go-containerregistry may reach over plain HTTP (name.Insecure, localhost,
// private addresses) HTTP too. One answering is enough.
func probe(ctx context.Context, reg name.Registry) error {
	host := reg.RegistryStr()
	schemes := []string{"https"}
	if reg.Scheme() == "http" {
		schemes = append(schemes, "http")
	}
	var addrs []string
	for _, sch := range schemes {
		u := &url.URL{Scheme: sch, Host: host, Path: "/v2/"}
		if pu, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err == nil && pu != nil {
			u = pu
		}
		a := u.Host
		if _, _, err := net.SplitHostPort(a); err != nil {
			port := "443"
			if u.Scheme == "http" {
				port = "80"
			}
			a = net.JoinHostPort(a, port)
		}
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	var first error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, "tcp", a)
		if err == nil {
			conn.Close()
			return nil
		}
		if first == nil {
			first = err
		}
	}
	var ne net.Error
	if errors.As(first, &ne) && ne.Timeout() {
		return fmt.Errorf("registry %s unreachable: no answer within %s", host, probeTimeout)
	}
	return fmt.Errorf("registry %s unreachable: %w", host, first)
}
