package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/urfave/cli/v2"

	"github.com/socify/socify/pkg/ecr"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/registry"
)

// registryFlags are the flags of every command that talks to registries.
func registryFlags() []cli.Flag {
	const cat = "Registry access:"
	return []cli.Flag{
		&cli.StringFlag{
			Name:     "username",
			Category: cat,
			Usage:    "registry user name for the registries named on the command line; the password comes from --password-stdin or $SOCIFY_PASSWORD",
			EnvVars:  envs("username"),
		},
		&cli.BoolFlag{
			Name:     "password-stdin",
			Category: cat,
			Usage:    "read the registry password (or token) from stdin",
			EnvVars:  envs("password-stdin"),
		},
		&cli.StringFlag{
			Name:     "aws-profile",
			Category: cat,
			Usage:    "AWS shared-config or SSO profile for Amazon ECR (default: the SDK's chain: environment, web identity, container and instance roles)",
			EnvVars:  envs("aws-profile"),
		},
		&cli.StringFlag{
			Name:     "aws-region",
			Category: cat,
			Usage:    "AWS region for the credential chain (ECR tokens are always requested in the registry's own region)",
			EnvVars:  envs("aws-region"),
		},
		&cli.BoolFlag{
			Name:     "insecure",
			Category: cat,
			Usage:    "skip TLS certificate verification for the registries named on the command line",
			EnvVars:  envs("insecure"),
		},
		&cli.BoolFlag{
			Name:     "plain-http",
			Category: cat,
			Usage:    "use plain HTTP for the registries named on the command line",
			EnvVars:  envs("plain-http"),
		},
	}
}

// registryAccess is how a command reaches registries: one credential chain
// (explicit --username first, then Amazon ECR, then the docker
// configuration and credential helpers) and the retrying, resuming
// transport, shared by the source and the destination.
type registryAccess struct {
	hosts     []string // registries named on the command line
	plainHTTP bool
	chain     *ecr.Chain
	opts      []registry.Option
}

// newRegistryAccess reads the registry flags. refs are the references named
// on the command line: --insecure, --plain-http and explicit credentials
// apply to their registries only.
func newRegistryAccess(c *cli.Context, s *session, refs ...location.Reference) (*registryAccess, error) {
	a := &registryAccess{plainHTTP: c.Bool("plain-http")}
	for _, r := range refs {
		if r.Kind != location.Registry || r.Ref == "" {
			continue
		}
		ref, err := name.ParseReference(r.Ref)
		if err != nil {
			return nil, usageErrorf("%s: %v", r, err)
		}
		a.hosts = append(a.hosts, ref.Context().RegistryStr())
	}

	var explicit authn.Keychain
	user := c.String("username")
	switch {
	case c.Bool("password-stdin") && user == "":
		return nil, usageErrorf("--password-stdin needs --username")
	case user != "":
		pw, err := readPassword(c, s.stdin)
		if err != nil {
			return nil, err
		}
		explicit = ecr.Explicit(user, pw, a.hosts...)
	}

	var ecrOpts []ecr.Option
	if p := c.String("aws-profile"); p != "" {
		ecrOpts = append(ecrOpts, ecr.WithProfile(p))
	}
	if r := c.String("aws-region"); r != "" {
		ecrOpts = append(ecrOpts, ecr.WithRegion(r))
	}
	ecrOpts = append(ecrOpts, ecr.WithOnToken(func(e ecr.TokenEvent) {
		if e.Err != nil {
			s.log.Warn("ECR token request failed", "registry", e.Host, "region", e.Region, "err", e.Err)
			return
		}
		s.log.Debug("ECR token", "registry", e.Host, "region", e.Region, "refresh", e.Refresh, "expires", e.ExpiresAt)
	}))
	// Explicit credentials come first: a user who types them means them,
	// whatever ~/.docker/config.json holds for the same registry.
	a.chain = ecr.NewChain(
		ecr.Link{Source: ecr.SourceExplicit, Keychain: explicit},
		ecr.Link{Source: ecr.SourceECR, Keychain: ecr.NewKeychain(ecrOpts...)},
		ecr.Link{Source: ecr.SourceDocker, Keychain: authn.DefaultKeychain},
	)

	a.opts = []registry.Option{
		registry.WithKeychain(a.chain),
		registry.WithUserAgent("socify/" + currentBuildInfo().Version),
		registry.WithOnRetry(func(e registry.RetryEvent) {
			args := []any{"attempt", e.Attempt, "method", e.Method, "url", e.URL, "wait", e.Wait}
			if e.Status != 0 {
				args = append(args, "status", e.Status)
			}
			if e.Err != nil {
				args = append(args, "err", e.Err)
			}
			s.log.Warn("registry request failed, retrying", args...)
		}),
		registry.WithOnResume(func(e registry.ResumeEvent) {
			s.log.Warn("blob download broke, resuming", "blob", e.Digest, "offset", e.Offset, "resume", e.Resume, "err", e.Err)
		}),
	}
	if c.Bool("insecure") {
		a.opts = append(a.opts, registry.WithInsecureHosts(a.hosts...))
	}
	return a, nil
}

// readPassword takes the password from stdin (--password-stdin) or from
// $SOCIFY_PASSWORD, never from a flag: command lines end up in process
// listings and CI logs.
func readPassword(c *cli.Context, stdin io.Reader) (string, error) {
	if c.Bool("password-stdin") {
		b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
		if err != nil {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", usageErrorf("--password-stdin: stdin is empty")
		}
		return pw, nil
	}
	if pw, ok := os.LookupEnv(envName("password")); ok {
		return pw, nil
	}
	return "", usageErrorf("--username needs a password: pipe it to --password-stdin or set %s", envName("password"))
}

// nameOptions make references to the named registries speak plain HTTP
// when --plain-http is given.
func (a *registryAccess) nameOptions() []name.Option {
	if a.plainHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

// remoteOptions are go-containerregistry options with socify's transport
// (retries, Retry-After, per-host TLS) and credential chain.
func (a *registryAccess) remoteOptions(ctx context.Context, extra ...registry.Option) ([]remote.Option, error) {
	return registry.RemoteOptions(ctx, append(append([]registry.Option{}, a.opts...), extra...)...)
}

// transportOptions configure pkg/location sources and sinks.
func (a *registryAccess) transportOptions(ctx context.Context, s *session, extra ...remote.Option) ([]location.Option, error) {
	ro, err := a.remoteOptions(ctx)
	if err != nil {
		return nil, err
	}
	return []location.Option{
		location.WithRemoteOptions(append(ro, extra...)...),
		location.WithNameOptions(a.nameOptions()...),
		location.WithLogger(s.libLogger()),
	}, nil
}

// openSource opens SRC; a registry image's layers are wrapped so that a
// broken download resumes with a Range request instead of failing.
func (a *registryAccess) openSource(ctx context.Context, s *session, ref location.Reference) (*location.Source, error) {
	topts, err := a.transportOptions(ctx, s)
	if err != nil {
		return nil, err
	}
	src, err := location.Open(ctx, ref, topts...)
	if err != nil {
		return nil, a.mapError(err, registry.OpPull, ref)
	}
	if ref.Kind == location.Registry {
		r, err := name.ParseReference(ref.Ref, a.nameOptions()...)
		if err != nil {
			src.Close()
			return nil, err
		}
		if src.Index != nil {
			src.Index = registry.WrapIndex(ctx, src.Index, r.Context(), a.opts...)
		}
		if src.Image != nil {
			src.Image = registry.WrapImage(ctx, src.Image, r.Context(), a.opts...)
		}
	}
	return src, nil
}

// mapError turns registry errors into plain messages with hints; other
// errors pass unchanged.
func (a *registryAccess) mapError(err error, op registry.Op, ref location.Reference) error {
	if ref.Kind != location.Registry {
		return err
	}
	return registry.MapError(err, op, ref.Ref)
}

// registryExitCode maps the registry errors users act on differently.
func registryExitCode(err error) (int, bool) {
	var re *registry.Error
	if !errors.As(err, &re) {
		return 0, false
	}
	switch re.Kind {
	case registry.KindUnauthorized, registry.KindAccessDenied, registry.KindTokenExpired:
		return exitAuth, true
	}
	return 0, false
}
