package main

import (
	"context"
	"errors"

	ecrapi "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/urfave/cli/v2"

	"github.com/socify/socify/pkg/fleet"
)

func backfillCommand() *cli.Command {
	const cat = "Selection:"
	str := func(name, category, usage, def string) *cli.StringFlag {
		return &cli.StringFlag{Name: name, Category: category, Usage: usage, Value: def, EnvVars: envs(name)}
	}
	boolean := func(name, category, usage string) *cli.BoolFlag {
		return &cli.BoolFlag{Name: name, Category: category, Usage: usage, EnvVars: envs(name)}
	}
	return &cli.Command{
		Name:  "backfill",
		Usage: "make every existing image of matching ECR repositories SOCI-enabled, as the Lambda function does for new pushes",
		Description: `Lists the repositories of an Amazon ECR registry (DescribeRepositories) and
their images (DescribeImages) and handles each tag as if it had just been pushed,
with the Lambda function's rules (see docs/fleet.md): converts it here, or with
--queue-url sends the function's queue one EventBridge-shaped event per tag.
The flags are the function's settings (SOCIFY_REPOSITORIES, SOCIFY_TAG_TEMPLATE,
... set the same ones), so both agree on what is converted and where it goes.

Resumable: an image whose target tag already holds the result is skipped, so a
second run after an interruption only does what is left.

EXAMPLES:
   # What would be converted, without writing anything
   socify backfill --repositories 'team/**' --dry-run

   # Hand the work to the deployed function, 4 SendMessageBatch calls at a time
   socify backfill --repositories 'team/**' \
       --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/socify-events`,
		Flags: withCommon(
			str("repositories", cat, "repository `PATTERNS` to include (* within a path segment, ** across; comma-separated)", "**"),
			str("exclude-repositories", cat, "repository patterns to leave out", ""),
			str("tags", cat, "tag patterns to include", "**"),
			str("exclude-tags", cat, "tag patterns to leave out", ""),
			boolean("convert-untagged", cat, "also convert images without a tag (tagged by --untagged-tag-template)"),
			str("tag-template", "Output:", "target tag: {tag}, {digest}; {tag} alone converts in place", "{tag}-soci"),
			str("untagged-tag-template", "Output:", "target tag of untagged images", fleet.DefaultUntaggedTemplate),
			boolean("tag-children", "Output:", "also tag each converted platform manifest <target>-<os>-<arch>"),
			str("cache-repository", "Output:", "repository of the shared zTOC cache ('off' to do without)", fleet.DefaultCacheRepository),
			str("queue-url", "Work:", "send the function's SQS queue the events instead of converting here", ""),
			&cli.IntFlag{Name: "concurrency", Category: "Work:", Value: 2, Usage: "images converted (or batches sent) at once", EnvVars: envs("concurrency")},
			boolean("dry-run", "Work:", "list what would be done; convert, write and send nothing"),
			str("registry-id", "AWS:", "account of the registry to list (default: the caller's)", ""),
			str("registry", "AWS:", "registry host instead of <account>.dkr.ecr.<region>.amazonaws.com", ""),
			str("aws-profile", "AWS:", "AWS shared-config or SSO profile", ""),
			str("aws-region", "AWS:", "region of the registry (default: the SDK's)", ""),
			boolean("plain-http", "AWS:", "speak plain HTTP to --registry (tests)"),
		),
		Action: backfillAction,
	}
}

func backfillAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("backfill takes no arguments (repositories are chosen with --repositories)")
	}
	s, err := setup(c)
	if err != nil {
		return err
	}
	defer s.close()
	cfg, err := fleet.FromFlags(c.String)
	if err != nil {
		return usageErrorf("%v", err)
	}
	ctx := c.Context
	awsCfg, ecrOpts, err := fleet.LoadAWS(ctx, c.String("aws-profile"), c.String("aws-region"))
	if errors.Is(err, fleet.ErrNoRegion) {
		return usageErrorf("%v", err)
	} else if err != nil {
		return err
	}
	_, _, stderr := ioFromApp(c)
	f, err := fleet.New(cfg, fleet.WithLogOutput(stderr), fleet.WithECROptions(ecrOpts...))
	if err != nil {
		return err
	}
	o := fleet.BackfillOptions{
		ECR:         ecrapi.NewFromConfig(awsCfg),
		RegistryID:  c.String("registry-id"),
		Region:      awsCfg.Region,
		Concurrency: c.Int("concurrency"),
		DryRun:      c.Bool("dry-run"),
	}
	if u := c.String("queue-url"); u != "" {
		o.Queue, o.QueueURL = sqs.NewFromConfig(awsCfg), u
	}
	rep, err := f.Backfill(ctx, o)
	if rep != nil {
		if perr := s.emit(rep, rep.WriteText); perr != nil && err == nil {
			err = perr
		}
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return rep.Err()
}
