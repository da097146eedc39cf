package main

import (
	"fmt"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/socify/socify/pkg/socify"
	"github.com/socify/socify/pkg/verify"
)

func checkFlags() []cli.Flag {
	return []cli.Flag{
		listFlag("platform", []string{"p"}, "", "check only this `PLATFORM`, os/arch[/variant], and require it to be SOCI-enabled (repeatable or comma-separated; default: every platform)"),
		&cli.Int64Flag{
			Name:    "min-layer-size",
			Value:   verify.DefaultMinLayerSize,
			Usage:   "the --min-layer-size the image was converted with: smaller layers without zTOC are expected",
			EnvVars: envs("min-layer-size"),
		},
	}
}

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show whether an image is SOCI-enabled: per platform its SOCI index, per layer its zTOC or why not",
		ArgsUsage: "REF",
		Description: `Reads the image's manifests, SOCI indexes and zTOCs (never layer data)
and prints, per platform, whether it is SOCI-enabled and which SOCI index it
uses, and per layer its size, media type, and zTOC (span and file counts) or
why it has none (too small, zstd, ...). Problems that need no layer bytes to
find are listed too; "socify verify" checks everything.

` + transportsHelp + `

EXAMPLES:
   socify inspect oci-archive:image-soci.tar
   socify inspect --output json 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0 | jq '.platforms[] | {platform, lazy}'`,
		Flags:  withCommon(append(checkFlags(), registryFlags()...)...),
		Action: func(c *cli.Context) error { return checkAction(c, false) },
	}
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check that the SOCI snapshotter will lazily load an image (exit code 3 if not)",
		ArgsUsage: "REF",
		Description: `Runs every check the SOCI snapshotter makes when it pulls a SOCI index
manifest v2 image, and more: manifest <-> SOCI index links in both directions,
canonical JSON of each SOCI index, every zTOC against the snapshotter's rules
(TOC entries, checkpoints, span counts, checkpoint 0 after the gzip header),
and every span digest against the layer bytes (one streaming pass per layer).
--deep also rebuilds each zTOC and compares bytes. Warnings name what works
but will disappoint (small layers, zstd, sparse files, a tag that names a
manifest rather than an index).

Exit code 0 only when the image will be lazily loaded; 3 when it will not;
each problem names the platform, layer digest and, where it applies, the file
or offset.

` + transportsHelp + `

EXAMPLES:
   socify verify oci-archive:image-soci.tar
   socify verify --deep --platform linux/arm64 registry.example.com/app:1.0-soci
   socify verify --output json oci:layout-dir | jq '.image.problems[]'`,
		Flags: withCommon(append(append(checkFlags(),
			&cli.BoolFlag{
				Name:    "deep",
				Usage:   "also rebuild every zTOC from the layer and compare bytes",
				EnvVars: envs("deep"),
			},
			&cli.IntFlag{
				Name:        "jobs",
				Aliases:     []string{"j"},
				Usage:       "layers read at the same time",
				DefaultText: "number of CPUs",
				EnvVars:     envs("jobs"),
			},
		), registryFlags()...)...),
		Action: func(c *cli.Context) error { return checkAction(c, true) },
	}
}

func checkAction(c *cli.Context, full bool) error {
	s, err := setup(c)
	if err != nil {
		return err
	}
	defer s.close()
	cmd := c.Command.Name
	if c.NArg() != 1 {
		return usageErrorf("%s takes one REF argument, got %d", cmd, c.NArg())
	}
	ref := c.Args().First()
	var vopts []verify.Option
	for _, p := range listOf(c, "platform") {
		pl, err := v1.ParsePlatform(p)
		if err != nil {
			return usageErrorf("--platform: %v", err)
		}
		vopts = append(vopts, verify.WithPlatforms(*pl))
	}
	minSize := c.Int64("min-layer-size")
	if minSize < 0 {
		return usageErrorf("--min-layer-size must not be negative, got %d", minSize)
	}
	vopts = append(vopts, verify.WithMinLayerSize(minSize))
	if full {
		jobs := c.Int("jobs")
		if jobs < 0 {
			return usageErrorf("--jobs must not be negative, got %d", jobs)
		}
		if jobs == 0 {
			jobs = runtime.NumCPU()
		}
		vopts = append(vopts, verify.WithDeep(c.Bool("deep")), verify.WithConcurrency(jobs))
	}
	opts, err := registryOptions(c, s)
	if err != nil {
		return err
	}
	opts = append(opts, socify.WithVerifyOptions(vopts...))

	if !full {
		rep, err := socify.Inspect(c.Context, ref, opts...)
		if err != nil {
			return err
		}
		s.close()
		if s.format == formatJSON {
			return rep.WriteJSON(s.stdout)
		}
		return rep.WriteText(s.stdout)
	}
	rep, err := socify.Verify(c.Context, ref, opts...)
	if err != nil {
		return err
	}
	s.close()
	if s.format == formatJSON {
		err = rep.WriteJSON(s.stdout)
	} else {
		err = rep.WriteText(s.stdout)
	}
	if err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	if !rep.OK() {
		return reportedExit(exitVerify, fmt.Errorf("%s will not be lazily loaded: %d errors, %d warnings", ref, len(rep.Errors()), len(rep.Warnings())))
	}
	return nil
}
