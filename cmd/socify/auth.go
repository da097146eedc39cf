package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/socify/socify/pkg/registry"
	"github.com/socify/socify/pkg/socify"
)

func authCommand() *cli.Command {
	return &cli.Command{
		Name:  "auth",
		Usage: "registry credentials",
		Description: registry.CredentialOrder + `

Explicit credentials apply to the registries named on the command line (the
password from --password-stdin or $SOCIFY_PASSWORD). The AWS credentials come
from the SDK's chain: environment, --aws-profile, SSO, web identity / GitHub
OIDC, container and instance roles. The docker configuration is
$DOCKER_CONFIG/config.json or ~/.docker/config.json.

EXAMPLES:
   socify auth check 123456789012.dkr.ecr.us-east-1.amazonaws.com/app`,
		Flags: commonFlags(),
		Subcommands: []*cli.Command{
			authCheckCommand(),
		},
	}
}

func authCheckCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "say which credentials socify uses for a repository and whether pull and push work",
		ArgsUsage: "REF",
		Description: `Resolves the credentials for the registry of REF (a registry reference,
with or without docker://), says where they came from and why earlier sources
did not apply, then tries a pull (HEAD of the manifest) and a push (opens a
blob upload and cancels it: nothing is written). Exit code 0 when both work
(or pull alone with --pull-only), 5 when the registry refuses the
credentials, 1 for other failures.

EXAMPLES:
   socify auth check 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0
   socify auth check --aws-profile prod --output json 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app
   echo "$TOKEN" | socify auth check --username ci --password-stdin registry.example.com/team/app`,
		Flags: withCommon(append([]cli.Flag{
			&cli.BoolFlag{
				Name:    "pull-only",
				Usage:   "check pull access only",
				EnvVars: envs("pull-only"),
			},
		}, registryFlags()...)...),
		Action: authCheck,
	}
}

func authCheck(c *cli.Context) error {
	s, err := setup(c)
	if err != nil {
		return err
	}
	defer s.close()
	if c.NArg() != 1 {
		return usageErrorf("auth check takes one REF argument, got %d", c.NArg())
	}
	opts, err := registryOptions(c, s)
	if err != nil {
		return err
	}
	rep, err := socify.CheckAccess(c.Context, c.Args().First(), c.Bool("pull-only"), opts...)
	if err != nil {
		var ae *socify.ArgError
		if errors.As(err, &ae) {
			return err
		}
		return withExitCode(exitAuth, err)
	}
	if err := s.emit(rep, rep.WriteText); err != nil {
		return err
	}
	if e := rep.Err(); e != nil {
		code := exitFailure
		if registry.IsAuth(e) {
			code = exitAuth
		}
		return reportedExit(code, fmt.Errorf("%s: access check failed", rep.Reference))
	}
	return nil
}
