package socify

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/pkg/ecr"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/registry"
)

var stubDigest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}

// access is how one call reaches registries: one registry client (one
// transport, one credential chain) shared by the source and the destination.
type access struct {
	o         *options
	plainHTTP bool
	client    *registry.Client
}

// newAccess prepares registry access for refs; WithInsecure, WithPlainHTTP
// and WithCredentials apply to their registries only. A client given with
// WithRegistryClient is used as it is.
func newAccess(o *options, refs ...location.Reference) (*access, error) {
	a := &access{o: o, plainHTTP: o.plainHTTP, client: o.client}
	if a.client != nil {
		return a, nil
	}
	var hosts []string
	for _, r := range refs {
		if r.Kind != location.Registry || r.Ref == "" {
			continue
		}
		ref, err := name.ParseReference(r.Ref)
		if err != nil {
			return nil, &ArgError{Arg: r.String(), Err: err}
		}
		hosts = append(hosts, ref.Context().RegistryStr())
	}
	log := o.log
	ropts := []registry.Option{
		registry.WithOnRetry(func(e registry.RetryEvent) {
			args := []any{"attempt", e.Attempt, "method", e.Method, "url", e.URL, "wait", e.Wait}
			if e.Status != 0 {
				args = append(args, "status", e.Status)
			}
			if e.Err != nil {
				args = append(args, "err", e.Err)
			}
			log.Warn("registry request failed, retrying", args...)
		}),
		registry.WithOnResume(func(e registry.ResumeEvent) {
			log.Warn("blob download broke, resuming", "blob", e.Digest, "offset", e.Offset, "resume", e.Resume, "err", e.Err)
		}),
	}
	if o.keychain != nil {
		ropts = append(ropts, registry.WithKeychain(o.keychain))
	} else {
		ecrOpts := append([]ecr.Option{ecr.WithOnToken(func(e ecr.TokenEvent) {
			if e.Err != nil {
				log.Warn("ECR token request failed", "registry", e.Host, "region", e.Region, "err", e.Err)
				return
			}
			log.Debug("ECR token", "registry", e.Host, "region", e.Region, "refresh", e.Refresh, "expires", e.ExpiresAt)
		})}, o.ecr...)
		ropts = append(ropts, registry.WithDefaultKeychain(ecrOpts...))
		if o.haveCreds && len(hosts) > 0 {
			ropts = append(ropts, registry.WithCredentials(o.user, o.password, hosts...))
		}
	}
	if o.insecure && len(hosts) > 0 {
		ropts = append(ropts, registry.WithInsecureHosts(hosts...))
	}
	// The caller's options come last so that they override the defaults.
	c, err := registry.NewClient(append(ropts, o.registry...)...)
	if err != nil {
		return nil, &ArgError{Arg: "registry", Err: err}
	}
	a.client = c
	return a, nil
}

func (a *access) nameOptions() []name.Option {
	if a.plainHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

func (a *access) remoteOptions(ctx context.Context, extra ...remote.Option) []remote.Option {
	return append(a.client.RemoteOptions(ctx, extra...), remote.WithContext(ctx))
}

func (a *access) locationOptions(ctx context.Context, extra ...remote.Option) []location.Option {
	return append([]location.Option{
		location.WithRemoteOptions(a.remoteOptions(ctx, extra...)...),
		location.WithNameOptions(a.nameOptions()...),
		location.WithLogger(a.o.log),
		location.WithUploads(a.uploads()),
	}, a.o.location...)
}

// uploads lets registry sinks upload the conversion's layers through the
// client, resuming a broken upload from the source: a Range read of a
// registry source (OpenAt), the layer's file or tar member of a local one.
func (a *access) uploads() location.Uploads {
	c := a.client
	return location.Uploads{
		Exists: c.Exists,
		Upload: func(ctx context.Context, repo name.Repository, desc v1.Descriptor, body io.Reader, reopen func(context.Context, int64) (io.ReadCloser, error)) error {
			return c.Upload(ctx, repo, desc, body, reopen)
		},
		OpenAt: func(ctx context.Context, ref name.Digest, off int64) (io.ReadCloser, error) {
			return c.OpenBlob(ctx, ref, registry.BlobOffset(off), registry.VerifyDigest(false))
		},
	}
}

// open opens a source; a registry image's layers are read through the
// client, so that a broken download resumes with a Range request instead of
// failing. hashes says whether the consumer hashes each layer itself (the
// converter does), which spares the reader its own digest pass.
func (a *access) open(ctx context.Context, ref location.Reference, hashes bool) (*location.Source, error) {
	src, err := location.Open(ctx, ref, a.locationOptions(ctx)...)
	if err != nil {
		return nil, a.mapError(err, registry.OpPull, ref)
	}
	if ref.Kind == location.Registry {
		r, err := name.ParseReference(ref.Ref, a.nameOptions()...)
		if err != nil {
			src.Close()
			return nil, &ArgError{Arg: "SRC", Err: err}
		}
		src.Index = a.client.WrapIndex(ctx, src.Index, r.Context(), registry.VerifyDigest(!hashes))
	}
	return src, nil
}

// mapError turns registry errors into plain messages with hints.
func (a *access) mapError(err error, op registry.Op, ref location.Reference) error {
	if ref.Kind != location.Registry || err == nil {
		return err
	}
	var ae *ArgError
	if errors.As(err, &ae) {
		return err
	}
	return registry.MapError(err, op, ref.Ref)
}
