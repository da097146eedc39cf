package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/socify/socify/internal/console"

	"github.com/socify/socify/internal/units"
	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/registry"
	"github.com/socify/socify/pkg/socify"
)

const transportsHelp = `Images are named the way skopeo names them:
   docker://REF or REF        a registry (REF = host/repo:tag or host/repo@digest)
   oci:DIR[:REF]              an OCI layout directory (REF = its ref name, or @N for the N-th entry)
   oci-archive:FILE[:REF]     an OCI layout in a tar file, as "docker buildx build
                              --output type=oci,dest=FILE" writes it; read in place
   docker-archive:FILE[:REF]  "docker save" output (SRC only)`

func convertCommand() *cli.Command {
	const cat = "Conversion:"
	return &cli.Command{
		Name:      "convert",
		Usage:     "convert an image to a SOCI-enabled image (SOCI index manifest v2)",
		ArgsUsage: "SRC [DST]",
		Description: `Reads the image SRC, builds a zTOC for every layer of at least
--min-layer-size (streaming each layer once, verifying its digest), adds one
SOCI index per platform, and writes the SOCI-enabled image to DST. Every
platform of SRC is converted unless --platform selects some; attestation
manifests are kept. With a registry SRC, DST may be left out: the result goes
to the same repository, tagged by --tag-template. With --in-place (oci:
sources only) the result is added to the source layout itself.

` + transportsHelp + `

Nothing is written on failure: archives and layouts are written under a
temporary name and renamed; a registry tag is set only after every blob and
manifest it needs has been pushed.

EXAMPLES:
   # buildx output to a SOCI-enabled archive
   socify convert oci-archive:image.tar oci-archive:image-soci.tar

   # registry to registry, all platforms; the tag becomes 1.0-soci
   socify convert 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0

   # replace the tag itself, only linux/arm64, with soci's exact bytes
   socify convert -p linux/arm64 --build-tool-identifier 'AWS SOCI CLI v0.2' \
       registry.example.com/app:1.0 registry.example.com/app:1.0

   # see what would be written, as JSON
   socify convert --dry-run --output json docker://registry.example.com/app:1.0`,
		Flags: withCommon(append(append([]cli.Flag{
			listFlag("platform", []string{"p"}, cat, "convert only this `PLATFORM`, os/arch[/variant] (repeatable or comma-separated; default: every platform of SRC)"),
			sizeFlag("span-size", cat, convert.DefaultSpanSize, "uncompressed bytes between zTOC checkpoints, 1 to 1GiB"),
			sizeFlag("min-layer-size", cat, convert.DefaultMinLayerSize, "layers smaller than this many compressed bytes get no zTOC"),
			stringFlag("build-tool-identifier", cat, currentBuild().BuildToolIdentifier(), "identifier written into zTOCs and SOCI indexes ('AWS SOCI CLI v0.2' gives soci's exact bytes)"),
			listFlag("optimizations", nil, cat, "soci optimizations; the only one is xattr (mark layers without extended attributes)"),
			jobsFlag(cat, "layers indexed at the same time"),
			&cli.StringFlag{Name: "cache-dir", Category: cat, Usage: "keep zTOCs in `DIR` so that layers converted before are not read again",
				DefaultText: "~/.cache/socify/ztoc ($XDG_CACHE_HOME on Linux, ~/Library/Caches on macOS, %LocalAppData% on Windows)", EnvVars: envs("cache-dir")},
			boolFlag("no-cache", cat, "do not read or write the zTOC cache"),
			boolFlag("allow-empty", cat, "when no layer qualifies, write the image unchanged (re-encoded) instead of failing with exit code 4"),
			boolFlag("in-place", cat, "add the result to the oci: source layout itself, writing only the new blobs"),
			boolFlag("dry-run", cat, "read and index the image, report what would be written, write nothing"),
			stringFlag("archive-order", cat, "one-pass", "entry order of an oci-archive: DST: one-pass (layers first, written as they are indexed; keeps the source's ref name) or soci (soci's exact file, layers read twice)"),
			stringFlag("tag-template", "Registry destination:", registry.DefaultTagTemplate, "tag for a registry DST given without a tag; {tag} (the source tag, or an archive's or layout's ref name) and {digest} (sha256-<hex>) are replaced"),
			boolFlag("tag-children", "Registry destination:", "also tag each converted per-platform manifest {tag}-{os}-{arch}[-{variant}] (ECR lifecycle rules and scanning act on tagged manifests)"),
			boolFlag("github-output", "CI:", "append digest=, source-digest=, reference=, soci-indexes=, changed=, tags= and more to the file named by $GITHUB_OUTPUT"),
		}, prefetchFlags(cat)...), registryFlags()...)...),
		Action: convertAction,
	}
}

// convertOptions maps the flags to library options, one to one.
func convertOptions(c *cli.Context, s *session) ([]socify.Option, error) {
	copts := []convert.Option{
		convert.WithSpanSize(sizeOf(c, "span-size")),
		convert.WithMinLayerSize(sizeOf(c, "min-layer-size")),
		convert.WithBuildToolIdentifier(c.String("build-tool-identifier")),
		convert.WithJobs(c.Int("jobs")),
		convert.WithAllowEmpty(c.Bool("allow-empty")),
	}
	if o, err := prefetchOption(c); err != nil {
		return nil, err
	} else if o != nil {
		copts = append(copts, o)
	}
	pls, err := ociindex.ParsePlatforms(listOf(c, "platform"))
	if err != nil {
		return nil, usageErrorf("--platform: %v", err)
	}
	copts = append(copts, convert.WithPlatforms(pls...))
	copts = append(copts, convert.WithOptimizations(listOf(c, "optimizations")...))
	if !c.Bool("no-cache") {
		copts = append(copts, convert.WithCacheDir(c.String("cache-dir")))
	}
	order, err := location.ParseArchiveOrder(c.String("archive-order"))
	if err != nil {
		return nil, usageErrorf("--archive-order: %v", err)
	}
	ropts, err := registryOptions(c, s)
	if err != nil {
		return nil, err
	}
	return append(ropts,
		socify.WithConvertOptions(copts...),
		socify.WithArchiveOrder(order),
		socify.WithTagTemplate(c.String("tag-template")),
		socify.WithTagChildren(c.Bool("tag-children")),
		socify.WithDryRun(c.Bool("dry-run")),
		socify.WithInPlace(c.Bool("in-place")),
		socify.WithProgress(console.Events(s.progress)),
	), nil
}

func convertAction(c *cli.Context) error {
	s, err := setup(c)
	if err != nil {
		return err
	}
	defer s.close()
	if c.NArg() < 1 || c.NArg() > 2 {
		return usageErrorf("convert takes SRC [DST], got %d arguments", c.NArg())
	}
	if c.Bool("github-output") && os.Getenv("GITHUB_OUTPUT") == "" {
		// Before any work: failing after the push would leave the step
		// without its outputs and the tag moved.
		return usageErrorf("--github-output: $GITHUB_OUTPUT is not set (it is set inside GitHub Actions steps)")
	}
	opts, err := convertOptions(c, s)
	if err != nil {
		return err
	}
	out, err := socify.Convert(c.Context, c.Args().Get(0), c.Args().Get(1), opts...)
	if errors.Is(err, convert.ErrEmptyIndex) {
		return emptyIndex(c, s, out)
	}
	if err != nil {
		return err
	}
	if c.Bool("github-output") {
		if err := writeGitHubOutput(out); err != nil {
			return err
		}
	}
	return s.print(out)
}

// emptyIndex reports that no layer qualified: one line and the hint once;
// the per-layer reasons are in the --output json report.
func emptyIndex(c *cli.Context, s *session, out *socify.Result) error {
	var rep *convert.Report
	if out != nil {
		rep = out.Conversion
	}
	n, largest := rep.Largest()
	min := sizeOf(c, "min-layer-size")
	err := fmt.Errorf("%s: no layer qualifies for a zTOC: %d layers, the largest %s, --min-layer-size is %s\nhint: lower --min-layer-size, or pass --allow-empty to write the image without SOCI index",
		c.Args().First(), n, units.FormatSize(largest), units.FormatSize(min))
	if s.format == formatJSON && out != nil && out.Conversion != nil {
		if eerr := s.emit(out, nil); eerr != nil {
			return eerr
		}
		return reportedExit(exitNothingToDo, err)
	}
	return withExitCode(exitNothingToDo, err)
}

// writeGitHubOutput appends the step outputs to $GITHUB_OUTPUT.
func writeGitHubOutput(out *socify.Result) error {
	f, err := os.OpenFile(os.Getenv("GITHUB_OUTPUT"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("--github-output: %w", err)
	}
	err = out.WriteGitHubOutput(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--github-output: %w", err)
	}
	return nil
}
