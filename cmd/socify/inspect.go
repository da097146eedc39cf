package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/socify"
	"github.com/socify/socify/pkg/verify"
)

func checkFlags() []cli.Flag {
	return []cli.Flag{
		listFlag("platform", []string{"p"}, "", "check only this `PLATFORM`, os/arch[/variant], and require it to be SOCI-enabled (repeatable or comma-separated; default: every platform)"),
		sizeFlag("min-layer-size", "", verify.DefaultMinLayerSize, "the --min-layer-size the image was converted with: smaller layers without zTOC are expected"),
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
			boolFlag("deep", "", "also rebuild every zTOC from the layer and compare bytes"),
			jobsFlag("", "layers read at the same time"),
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
	vopts := []verify.Option{verify.WithMinLayerSize(sizeOf(c, "min-layer-size"))}
	pls, err := ociindex.ParsePlatforms(listOf(c, "platform"))
	if err != nil {
		return usageErrorf("--platform: %v", err)
	}
	vopts = append(vopts, verify.WithPlatforms(pls...))
	if full {
		vopts = append(vopts, verify.WithDeep(c.Bool("deep")), verify.WithConcurrency(c.Int("jobs")))
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
		return s.print(rep)
	}
	rep, err := socify.Verify(c.Context, ref, opts...)
	if err != nil {
		return err
	}
	if err := s.print(rep); err != nil {
		return err
	}
	if !rep.OK() {
		return reportedExit(exitVerify, fmt.Errorf("%s will not be lazily loaded: %d errors, %d warnings", ref, len(rep.Errors()), len(rep.Warnings())))
	}
	return nil
}
