package registry

import (
	"context"
	"errors"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/socify/socify/pkg/ecr"
)

// CredentialOrder is the one statement of the default credential chain; the CLI's --help
// (socify auth), docs/usage.md, docs/ecr.md and the godoc of WithDefaultKeychain here and in
// pkg/socify quote it word for word (cmd/socify's docs tests check every one).
const CredentialOrder = "Credentials are tried in this order: explicit credentials (--username with --password-stdin, or WithCredentials), then Amazon ECR (a GetAuthorizationToken token from the AWS credential chain, for ECR hosts only), then the docker configuration and its credential helpers; the first that has credentials for a registry is used, otherwise access is anonymous."

// WithDefaultKeychain authenticates with socify's default credential chain (CredentialOrder).
// Credentials are tried in this order: explicit credentials (--username with --password-stdin,
// or WithCredentials), then Amazon ECR (a GetAuthorizationToken token from the AWS credential
// chain, for ECR hosts only), then the docker configuration and its credential helpers; the
// first that has credentials for a registry is used, otherwise access is anonymous. The ECR link
// is an ecr.Keychain built with ecrOpts (profile, region, endpoints, token events), the docker
// one authn.DefaultKeychain. A keychain that applies but
// fails (AWS credentials without ecr:GetAuthorizationToken) stops the search rather than silently
// falling back to other credentials. Exclusive with WithAuth and WithKeychain.
func WithDefaultKeychain(ecrOpts ...ecr.Option) Option {
	return func(o *options) error {
		o.defaultChain = true
		o.ecrOpts = append(o.ecrOpts, ecrOpts...)
		return nil
	}
}

// WithCredentials puts a user name and password (or token) first in the credential chain, for
// the registries hosts ("host" or "host:port"; none: every registry). With WithDefaultKeychain
// the chain continues with Amazon ECR and the docker configuration; alone, other registries are
// accessed anonymously. Repeat it for other hosts.
func WithCredentials(user, password string, hosts ...string) Option {
	return func(o *options) error {
		if user == "" {
			return errors.New("WithCredentials: empty user name")
		}
		if password == "" {
			return errors.New("WithCredentials: empty password")
		}
		for _, h := range hosts {
			if h == "" {
				return errors.New("WithCredentials: empty host")
			}
		}
		o.explicit = append(o.explicit, ecr.Explicit(user, password, hosts...))
		return nil
	}
}

// chain builds the keychain of WithDefaultKeychain/WithCredentials, nil when neither was given,
// and its ECR keychain (nil without WithDefaultKeychain).
func (o *options) chain() (*ecr.Chain, *ecr.Keychain) {
	if !o.defaultChain && len(o.explicit) == 0 {
		return nil, nil
	}
	var links []ecr.Link
	for _, e := range o.explicit {
		links = append(links, ecr.Link{Source: ecr.SourceExplicit, Keychain: e})
	}
	var kc *ecr.Keychain
	if o.defaultChain {
		kc = ecr.NewKeychain(o.ecrOpts...)
		links = append(links,
			ecr.Link{Source: ecr.SourceECR, Keychain: kc},
			ecr.Link{Source: ecr.SourceDocker, Keychain: authn.DefaultKeychain},
		)
	}
	return ecr.NewChain(links...), kc
}

// isECR tells Amazon ECR registries, by host name or as the ECR keychain was told (ecr.WithHost).
func (c *Client) isECR(host string) bool {
	if _, ok := ecr.ParseHost(host); ok {
		return true
	}
	if c.ecrKeychain != nil {
		_, ok := c.ecrKeychain.Lookup(host)
		return ok
	}
	return false
}

// Explain says which credentials the client uses for target and why earlier ones in the chain did
// not apply (`socify auth check`). With WithAuth or WithKeychain it reports that source alone.
func (c *Client) Explain(ctx context.Context, target authn.Resource) (ecr.Match, error) {
	switch {
	case c.chain != nil:
		return c.chain.Explain(ctx, target)
	case c.o.auth != nil:
		return ecr.Match{Source: ecr.SourceExplicit, Auth: c.o.auth, Detail: "the authenticator given with WithAuth"}, nil
	case c.o.keychain != nil:
		a, err := authn.Resolve(ctx, c.o.keychain, target)
		if err != nil {
			return ecr.Match{}, err
		}
		return ecr.Match{Source: "keychain", Auth: a, Detail: "the keychain given with WithKeychain"}, nil
	}
	return ecr.Match{Source: ecr.SourceAnonymous, Auth: authn.Anonymous, Detail: "anonymous access"}, nil
}
