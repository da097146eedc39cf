package ecr

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Source names where a registry's credentials came from.
type Source string

const (
	SourceECR       Source = "ecr"           // Keychain: a token from the ECR API
	SourceDocker    Source = "docker-config" // authn.DefaultKeychain: docker/podman config, credential helpers
	SourceExplicit  Source = "explicit"      // --username / --password-stdin
	SourceAnonymous Source = "anonymous"     // nothing applied
)

// Link is one keychain of a Chain.
type Link struct {
	Source   Source
	Keychain authn.Keychain
}

// Chain tries keychains in order; the first that returns something other than authn.Anonymous
// wins. An error from a keychain stops the search (it means the keychain applies but failed, e.g.
// AWS credentials without ecr:GetAuthorizationToken) rather than silently using other credentials.
type Chain struct {
	links []Link
}

// NewChain chains links in order. Nil keychains are skipped.
func NewChain(links ...Link) *Chain {
	c := &Chain{}
	for _, l := range links {
		if l.Keychain != nil {
			c.links = append(c.links, l)
		}
	}
	return c
}

// DefaultChain is socify's order (registry.CredentialOrder states it for users): explicit
// credentials (nil when none were given), then the ECR keychain (nil to leave it out), then the
// docker configuration and credential helpers (authn.DefaultKeychain). Explicit credentials come
// first because a user who types them means them, whatever ~/.docker/config.json holds for the
// same registry. registry.WithDefaultKeychain builds this chain.
func DefaultChain(ecrKeychain *Keychain, explicit authn.Keychain) *Chain {
	var ek authn.Keychain
	if ecrKeychain != nil {
		ek = ecrKeychain
	}
	return NewChain(
		Link{Source: SourceExplicit, Keychain: explicit},
		Link{Source: SourceECR, Keychain: ek},
		Link{Source: SourceDocker, Keychain: authn.DefaultKeychain},
	)
}

// Resolve implements authn.Keychain.
func (c *Chain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	return c.ResolveContext(context.Background(), target)
}

// ResolveContext implements authn.ContextKeychain.
func (c *Chain) ResolveContext(ctx context.Context, target authn.Resource) (authn.Authenticator, error) {
	m, err := c.Explain(ctx, target)
	if err != nil {
		return nil, err
	}
	return m.Auth, nil
}

// Match says which keychain served a registry.
type Match struct {
	Source Source
	Auth   authn.Authenticator
	// Detail describes the credentials without revealing them, e.g. "Amazon ECR token for account
	// 123456789012, region eu-west-1, valid until ...", or "user ci-bot".
	Detail string
	// Skipped says, in order, why each earlier keychain did not apply.
	Skipped []string
}

// Explain resolves target like ResolveContext and also reports which keychain matched and why the
// ones before it did not.
func (c *Chain) Explain(ctx context.Context, target authn.Resource) (Match, error) {
	var skipped []string
	for _, l := range c.links {
		var (
			a      authn.Authenticator
			detail string
			err    error
		)
		if e, ok := l.Keychain.(explainer); ok {
			a, detail, err = e.explain(ctx, target)
		} else {
			a, err = authn.Resolve(ctx, l.Keychain, target)
		}
		if err != nil {
			return Match{Source: l.Source, Skipped: skipped}, fmt.Errorf("%s credentials for %s: %w", l.Source, target.RegistryStr(), err)
		}
		if a == nil || a == authn.Anonymous {
			if detail == "" {
				detail = "no credentials for " + target.RegistryStr()
			}
			skipped = append(skipped, string(l.Source)+": "+detail)
			continue
		}
		if detail == "" {
			detail = describe(ctx, a)
		}
		return Match{Source: l.Source, Auth: a, Detail: detail, Skipped: skipped}, nil
	}
	return Match{Source: SourceAnonymous, Auth: authn.Anonymous, Detail: "anonymous access", Skipped: skipped}, nil
}

type explainer interface {
	explain(ctx context.Context, target authn.Resource) (authn.Authenticator, string, error)
}

// describe names the kind of credential without printing secrets.
func describe(ctx context.Context, a authn.Authenticator) string {
	cfg, err := authn.Authorization(ctx, a)
	if err != nil {
		return fmt.Sprintf("credentials that fail to load: %v", err)
	}
	switch {
	case cfg.IdentityToken != "":
		return "an identity token"
	case cfg.RegistryToken != "":
		return "a registry token"
	case cfg.Username != "":
		return "user " + cfg.Username
	case cfg.Auth != "":
		return "a stored auth string"
	}
	return "empty credentials"
}

// Explicit returns a keychain with fixed credentials (--username / --password-stdin) for the given
// registries ("host" or "host:port"), or for every registry when hosts is empty.
func Explicit(username, password string, hosts ...string) authn.Keychain {
	return &explicitKeychain{
		auth:  authn.FromConfig(authn.AuthConfig{Username: username, Password: password}),
		user:  username,
		hosts: hosts,
	}
}

type explicitKeychain struct {
	auth  authn.Authenticator
	user  string
	hosts []string
}

func (e *explicitKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	a, _, err := e.explain(context.Background(), target)
	return a, err
}

func (e *explicitKeychain) explain(_ context.Context, target authn.Resource) (authn.Authenticator, string, error) {
	if len(e.hosts) == 0 {
		return e.auth, "user " + e.user, nil
	}
	reg := strings.ToLower(target.RegistryStr())
	for _, h := range e.hosts {
		h = strings.ToLower(h)
		if h == reg || (!strings.Contains(h, ":") && strings.HasPrefix(reg, h+":")) {
			return e.auth, "user " + e.user, nil
		}
	}
	return authn.Anonymous, "given for other registries", nil
}
