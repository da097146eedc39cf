package socify

import (
	"context"
	"errors"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/pkg/ecr"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/registry"
)

var stubDigest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}

// access is how one call reaches registries: one credential chain and one
// set of registry options, shared by the source and the destination.
type access struct {
	o         *options
	hosts     []string // registries the source and destination name
	plainHTTP bool
	chain     *ecr.Chain // nil when WithKeychain replaced it
	opts      []registry.Option
}

// newAccess prepares registry access for refs; WithInsecure, WithPlainHTTP
// and WithCredentials apply to their registries only.
func newAccess(o *options, refs ...location.Reference) (*access, error) {
	a := &access{o: o, plainHTTP: o.plainHTTP}
	for _, r := range refs {
		if r.Kind != location.Registry || r.Ref == "" {
			continue
		}
		ref, err := name.ParseReference(r.Ref)
		if err != nil {
			return nil, &ArgError{Arg: r.String(), Err: err}
		}
		a.hosts = append(a.hosts, ref.Context().RegistryStr())
	}
	kc := o.keychain
	if kc == nil {
		a.chain = defaultKeychain(o, a.hosts)
		kc = a.chain
	}
	log := o.log
	a.opts = []registry.Option{
		registry.WithKeychain(kc),
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
	if o.insecure {
		a.opts = append(a.opts, registry.WithInsecureHosts(a.hosts...))
	}
	// The caller's options come last so that they override the defaults.
	a.opts = append(a.opts, o.registry...)
	return a, nil
}

// defaultKeychain is the default credential chain, in its one order:
// explicit credentials, Amazon ECR, then the docker configuration and
// credential helpers. Explicit credentials come first: a user who types them
// means them, whatever ~/.docker/config.json holds for the same registry.
func defaultKeychain(o *options, hosts []string) *ecr.Chain {
	var explicit authn.Keychain
	if o.haveCreds {
		explicit = ecr.Explicit(o.user, o.password, hosts...)
	}
	log := o.log
	ecrOpts := append([]ecr.Option{ecr.WithOnToken(func(e ecr.TokenEvent) {
		if e.Err != nil {
			log.Warn("ECR token request failed", "registry", e.Host, "region", e.Region, "err", e.Err)
			return
		}
		log.Debug("ECR token", "registry", e.Host, "region", e.Region, "refresh", e.Refresh, "expires", e.ExpiresAt)
	})}, o.ecr...)
	return ecr.NewChain(
		ecr.Link{Source: ecr.SourceExplicit, Keychain: explicit},
		ecr.Link{Source: ecr.SourceECR, Keychain: ecr.NewKeychain(ecrOpts...)},
		ecr.Link{Source: ecr.SourceDocker, Keychain: authn.DefaultKeychain},
	)
}

func (a *access) nameOptions() []name.Option {
	if a.plainHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

func (a *access) remoteOptions(ctx context.Context) ([]remote.Option, error) {
	ro, err := registry.RemoteOptions(ctx, a.opts...)
	if err != nil {
		return nil, err
	}
	return append(ro, remote.WithContext(ctx)), nil
}

func (a *access) locationOptions(ctx context.Context, extra ...remote.Option) ([]location.Option, error) {
	ro, err := a.remoteOptions(ctx)
	if err != nil {
		return nil, err
	}
	return append([]location.Option{
		location.WithRemoteOptions(append(ro, extra...)...),
		location.WithNameOptions(a.nameOptions()...),
		location.WithLogger(a.o.log),
	}, a.o.location...), nil
}

// open opens a source; a registry image's layers are wrapped so that a
// broken download resumes with a Range request instead of failing.
func (a *access) open(ctx context.Context, ref location.Reference) (*location.Source, error) {
	lopts, err := a.locationOptions(ctx)
	if err != nil {
		return nil, err
	}
	src, err := location.Open(ctx, ref, lopts...)
	if err != nil {
		return nil, a.mapError(err, registry.OpPull, ref)
	}
	if ref.Kind == location.Registry {
		r, err := name.ParseReference(ref.Ref, a.nameOptions()...)
		if err != nil {
			src.Close()
			return nil, &ArgError{Arg: "SRC", Err: err}
		}
		src.Index = registry.WrapIndex(ctx, src.Index, r.Context(), a.opts...)
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
