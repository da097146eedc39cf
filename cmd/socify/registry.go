package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/socify/socify/pkg/ecr"
	"github.com/socify/socify/pkg/registry"
	"github.com/socify/socify/pkg/socify"
)

// registryFlags are the flags of every command that talks to registries.
func registryFlags() []cli.Flag {
	const cat = "Registry access:"
	return []cli.Flag{
		stringFlag("username", cat, "", "registry user name for the registries named on the command line, first in the credential chain ('socify auth --help' gives the order); the password comes from --password-stdin or $SOCIFY_PASSWORD"),
		boolFlag("password-stdin", cat, "read the registry password (or token) from stdin"),
		stringFlag("aws-profile", cat, "", "AWS shared-config or SSO profile for Amazon ECR (default: the SDK's chain: environment, web identity, container and instance roles)"),
		stringFlag("aws-region", cat, "", "AWS region for the credential chain (ECR tokens are always requested in the registry's own region)"),
		boolFlag("insecure", cat, "skip TLS certificate verification for the registries named on the command line"),
		boolFlag("plain-http", cat, "use plain HTTP for the registries named on the command line"),
	}
}

// registryOptions maps the registry flags to library options: the default
// credential chain (explicit --username first, then Amazon ECR, then the
// docker configuration and credential helpers) and per-registry TLS.
func registryOptions(c *cli.Context, s *session) ([]socify.Option, error) {
	opts := []socify.Option{
		socify.WithLogger(s.libLogger()),
		socify.WithInsecure(c.Bool("insecure")),
		socify.WithPlainHTTP(c.Bool("plain-http")),
		socify.WithRegistryOptions(registry.WithUserAgent("socify/" + currentBuild().Version)),
	}
	user := c.String("username")
	switch {
	case c.Bool("password-stdin") && user == "":
		return nil, usageErrorf("--password-stdin needs --username")
	case user != "":
		pw, err := readPassword(c, s.stdin)
		if err != nil {
			return nil, err
		}
		opts = append(opts, socify.WithCredentials(user, pw))
	}
	return append(opts, socify.WithDefaultKeychain(ecr.WithProfile(c.String("aws-profile")), ecr.WithRegion(c.String("aws-region")))), nil
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
