package main

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/urfave/cli/v2"

	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/registry"
)

func authCommand() *cli.Command {
	return &cli.Command{
		Name:  "auth",
		Usage: "registry credentials",
		Description: `socify finds registry credentials itself, in this order: --username with
--password-stdin (or $SOCIFY_PASSWORD) for the registries named on the
command line; Amazon ECR tokens from your AWS credentials (environment,
--aws-profile, SSO, web identity / GitHub OIDC, container and instance
roles); then ~/.docker/config.json and its credential helpers. The first that
applies wins.

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

type authReport struct {
	Reference string   `json:"reference"`
	Registry  string   `json:"registry"`
	Source    string   `json:"credentials"`
	Detail    string   `json:"detail"`
	Skipped   []string `json:"skipped,omitempty"`
	Pull      access   `json:"pull"`
	Push      *access  `json:"push,omitempty"`
}

type access struct {
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
	Hint    string `json:"hint,omitempty"`
}

func accessOf(err error) access {
	if err == nil {
		return access{OK: true}
	}
	var re *registry.Error
	if errors.As(err, &re) {
		return access{Message: re.Message, Hint: re.Hint}
	}
	return access{Message: err.Error()}
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
	tref, err := location.ParseReference(c.Args().First())
	if err != nil {
		return usageErrorf("REF: %v", err)
	}
	if tref.Kind != location.Registry {
		return usageErrorf("REF must name a registry image, not %s", tref)
	}
	ctx := c.Context
	acc, err := newRegistryAccess(c, s, tref)
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(tref.Ref, acc.nameOptions()...)
	if err != nil {
		return usageErrorf("REF: %v", err)
	}
	m, err := acc.chain.Explain(ctx, ref.Context())
	if err != nil {
		return withExitCode(exitAuth, fmt.Errorf("resolving credentials for %s: %w", ref.Context().RegistryStr(), err))
	}
	rep := authReport{
		Reference: ref.String(),
		Registry:  ref.Context().RegistryStr(),
		Source:    string(m.Source),
		Detail:    m.Detail,
		Skipped:   m.Skipped,
	}
	res := registry.CheckAccess(ctx, ref, acc.opts...)
	pullErr := res.Pull
	if notFound(pullErr) {
		// The registry accepted the credentials and looked: the image just
		// does not exist (yet), which is no access problem.
		msg := ref.String() + " does not exist"
		var re *registry.Error
		if errors.As(pullErr, &re) && re.Message != "" {
			// pkg/registry words it: with a HEAD, the tag or the whole repository may be missing.
			msg = re.Message
		}
		pullErr = nil
		rep.Pull = access{OK: true, Message: "credentials accepted; " + msg}
	} else {
		rep.Pull = accessOf(pullErr)
	}
	var pushErr error
	if !c.Bool("pull-only") {
		pushErr = res.Push
		a := accessOf(pushErr)
		rep.Push = &a
	}
	if err := s.emit(rep, func(t *textWriter) { printAuthText(t, rep) }); err != nil {
		return err
	}
	for _, e := range []error{pullErr, pushErr} {
		if e == nil {
			continue
		}
		code := exitFailure
		if c, ok := registryExitCode(e); ok {
			code = c
		}
		return reportedExit(code, fmt.Errorf("%s: access check failed", ref))
	}
	return nil
}

// notFound: a 404 for the manifest. A HEAD response has no body, so the
// registry cannot say whether the repository or the tag is missing.
func notFound(err error) bool {
	if err == nil {
		return false
	}
	if k := registry.KindOf(err); k == registry.KindManifestNotFound || k == registry.KindRepositoryNotFound {
		return true
	}
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

func printAuthText(t *textWriter, r authReport) {
	t.printf("registry     %s\n", r.Registry)
	t.printf("credentials  %s: %s\n", r.Source, r.Detail)
	for _, sk := range r.Skipped {
		t.printf("             (skipped %s)\n", sk)
	}
	line := func(what string, a *access) {
		switch {
		case a.OK && a.Message != "":
			t.printf("%-12s ok (%s)\n", what, a.Message)
		case a.OK:
			t.printf("%-12s ok\n", what)
		default:
			t.printf("%-12s FAILED: %s\n", what, a.Message)
			if a.Hint != "" {
				t.printf("%-12s hint: %s\n", "", a.Hint)
			}
		}
	}
	line("pull", &r.Pull)
	if r.Push != nil {
		line("push", r.Push)
	}
}
