package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/urfave/cli/v2"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/registry"
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
		Flags: withCommon(append([]cli.Flag{
			listFlag("platform", []string{"p"}, cat, "convert only this `PLATFORM`, os/arch[/variant] (repeatable or comma-separated; default: every platform of SRC)"),
			&cli.Int64Flag{
				Name:     "span-size",
				Category: cat,
				Value:    convert.DefaultSpanSize,
				Usage:    "uncompressed bytes between zTOC checkpoints",
				EnvVars:  envs("span-size"),
			},
			&cli.Int64Flag{
				Name:     "min-layer-size",
				Category: cat,
				Value:    convert.DefaultMinLayerSize,
				Usage:    "layers smaller than this many compressed bytes get no zTOC",
				EnvVars:  envs("min-layer-size"),
			},
			&cli.StringFlag{
				Name:     "build-tool-identifier",
				Category: cat,
				Value:    defaultBuildToolIdentifier(),
				Usage:    "identifier written into zTOCs and SOCI indexes ('AWS SOCI CLI v0.2' gives soci's exact bytes)",
				EnvVars:  envs("build-tool-identifier"),
			},
			listFlag("optimizations", nil, cat, "soci optimizations; the only one is xattr (mark layers without extended attributes)"),
			&cli.IntFlag{
				Name:        "jobs",
				Aliases:     []string{"j"},
				Category:    cat,
				Usage:       "layers indexed at the same time",
				DefaultText: "number of CPUs",
				EnvVars:     envs("jobs"),
			},
			&cli.StringFlag{
				Name:        "cache-dir",
				Category:    cat,
				Usage:       "keep zTOCs in `DIR` so that layers converted before are not read again",
				DefaultText: "<user cache dir>/socify/ztoc",
				EnvVars:     envs("cache-dir"),
			},
			&cli.BoolFlag{
				Name:     "no-cache",
				Category: cat,
				Usage:    "do not read or write the zTOC cache",
				EnvVars:  envs("no-cache"),
			},
			&cli.BoolFlag{
				Name:     "allow-empty",
				Category: cat,
				Usage:    "when no layer qualifies, write the image unchanged (re-encoded) instead of failing with exit code 4",
				EnvVars:  envs("allow-empty"),
			},
			&cli.BoolFlag{
				Name:     "in-place",
				Category: cat,
				Usage:    "add the result to the oci: source layout itself, writing only the new blobs",
				EnvVars:  envs("in-place"),
			},
			&cli.BoolFlag{
				Name:     "dry-run",
				Category: cat,
				Usage:    "read and index the image, report what would be written, write nothing",
				EnvVars:  envs("dry-run"),
			},
			&cli.StringFlag{
				Name:     "tag-template",
				Category: "Registry destination:",
				Usage:    "tag for a registry DST given without a tag; {tag}, {digest} (sha256-<hex>) are replaced",
				Value:    registry.DefaultTagTemplate,
				EnvVars:  envs("tag-template"),
			},
			&cli.BoolFlag{
				Name:     "tag-children",
				Category: "Registry destination:",
				Usage:    "also tag each converted per-platform manifest {tag}-{os}-{arch}[-{variant}] (ECR lifecycle rules and scanning act on tagged manifests)",
				EnvVars:  envs("tag-children"),
			},
			&cli.BoolFlag{
				Name:     "github-output",
				Category: "CI:",
				Usage:    "append digest=, source-digest=, reference= and soci-indexes= to the file named by $GITHUB_OUTPUT",
				EnvVars:  envs("github-output"),
			},
		}, registryFlags()...)...),
		Action: convertAction,
	}
}

// convertOutput is the report of "socify convert".
type convertOutput struct {
	Source      string `json:"source"`
	Destination string `json:"destination,omitempty"`
	DryRun      bool   `json:"dryRun"`
	// Digest is the converted image index's digest.
	Digest string `json:"digest,omitempty"`
	// Reference names the written image, pinned by digest for registries.
	Reference  string          `json:"reference,omitempty"`
	ChildTags  []string        `json:"childTags,omitempty"`
	Write      *writeJSON      `json:"write,omitempty"`
	Conversion *convert.Report `json:"conversion"`
}

type writeJSON struct {
	BlobsWritten  int      `json:"blobsWritten"`
	BlobsLinked   int      `json:"blobsLinked"`
	BlobsExisting int      `json:"blobsExisting"`
	BytesWritten  int64    `json:"bytesWritten"`
	Warnings      []string `json:"warnings,omitempty"`
}

// convertArgs are the parsed positional arguments and the flags that shape
// where the result goes.
type convertArgs struct {
	src, dst location.Reference
	dstArg   string // as given; empty when left out
	inPlace  bool
}

func parseConvertArgs(c *cli.Context) (convertArgs, error) {
	var a convertArgs
	if c.NArg() < 1 || c.NArg() > 2 {
		return a, usageErrorf("convert takes SRC [DST], got %d arguments", c.NArg())
	}
	var err error
	if a.src, err = location.ParseReference(c.Args().Get(0)); err != nil {
		return a, usageErrorf("SRC: %v", err)
	}
	a.inPlace = c.Bool("in-place")
	if c.NArg() == 2 {
		a.dstArg = c.Args().Get(1)
		if a.dst, err = location.ParseReference(a.dstArg); err != nil {
			return a, usageErrorf("DST: %v", err)
		}
	}
	switch {
	case a.inPlace:
		if a.src.Kind != location.Layout {
			return a, usageErrorf("--in-place needs an oci:DIR source, not %s", a.src)
		}
		if a.dstArg != "" && a.dst != a.src {
			return a, usageErrorf("--in-place writes to SRC; leave DST out or repeat SRC")
		}
		a.dst = a.src
	case a.dstArg == "" && a.src.Kind == location.Registry:
		// Same repository, tag from --tag-template.
		a.dst = location.Reference{Kind: location.Registry}
	case a.dstArg == "" && !c.Bool("dry-run"):
		return a, usageErrorf("DST is required for a %s source (only registry sources default to their own repository)", a.src.Kind)
	}
	if a.dst.Kind == location.DockerArchive {
		return a, usageErrorf("DST: docker-archive is supported as a source only; write oci-archive:%s instead", a.dst.Path)
	}
	if c.Bool("tag-children") && a.dst.Kind != location.Registry {
		return a, usageErrorf("--tag-children needs a registry destination")
	}
	return a, nil
}

// convertOptions turns the flags into library options, one to one.
func convertOptions(c *cli.Context, s *session, imageName string) ([]convert.Option, error) {
	span, minSize := c.Int64("span-size"), c.Int64("min-layer-size")
	if span < 0 {
		return nil, usageErrorf("--span-size must not be negative, got %d", span)
	}
	if minSize < 0 {
		return nil, usageErrorf("--min-layer-size must not be negative, got %d", minSize)
	}
	jobs := c.Int("jobs")
	if jobs < 0 {
		return nil, usageErrorf("--jobs must not be negative, got %d", jobs)
	}
	if jobs == 0 {
		jobs = runtime.NumCPU()
	}
	opts := []convert.Option{
		convert.WithSpanSize(span),
		convert.WithMinLayerSize(minSize),
		convert.WithBuildToolIdentifier(c.String("build-tool-identifier")),
		convert.WithJobs(jobs),
		convert.WithAllowEmpty(c.Bool("allow-empty")),
		convert.WithLogger(s.libLogger()),
		convert.WithImageName(imageName),
		convert.WithProgress(convertProgress(s.progress)),
	}
	for _, p := range listOf(c, "platform") {
		pl, err := ociindex.ParsePlatform(p)
		if err != nil {
			return nil, usageErrorf("--platform: %v", err)
		}
		opts = append(opts, convert.WithPlatforms(pl))
	}
	for _, o := range listOf(c, "optimizations") {
		if o != "xattr" {
			return nil, usageErrorf("--optimizations: unknown optimization %q (the only one is xattr)", o)
		}
		opts = append(opts, convert.WithDisableXattrs(true))
	}
	switch {
	case c.Bool("no-cache"):
		opts = append(opts, convert.WithoutCache())
	case c.String("cache-dir") != "":
		opts = append(opts, convert.WithCache(c.String("cache-dir")))
	default:
		dir, err := convert.DefaultCacheDir()
		if err != nil {
			// No home directory (a bare container): convert without a cache
			// rather than fail.
			s.log.Warn("no user cache directory; converting without the zTOC cache", "err", err)
		} else {
			opts = append(opts, convert.WithCache(dir))
		}
	}
	return opts, nil
}

// convertProgress shows the layers being indexed.
func convertProgress(p progressSink) func(convert.Event) {
	return func(e convert.Event) {
		id := e.Layer.String()
		switch e.Kind {
		case convert.EventLayerStart:
			p.Start(id, "layer "+shortDigest(id), e.Size)
		case convert.EventLayerProgress:
			p.Update(id, e.Read)
		case convert.EventLayerDone:
			p.Finish(id, fmt.Sprintf("indexed (%d/%d)", e.Done, e.Total))
		case convert.EventLayerCached:
			p.Start(id, "layer "+shortDigest(id), e.Size)
			p.Finish(id, fmt.Sprintf("zTOC from cache (%d/%d)", e.Done, e.Total))
		}
	}
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

func convertAction(c *cli.Context) error {
	s, err := setup(c)
	if err != nil {
		return err
	}
	defer s.close()
	a, err := parseConvertArgs(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	access, err := newRegistryAccess(c, s, a.src, a.dst)
	if err != nil {
		return err
	}
	opts, err := convertOptions(c, s, a.src.String())
	if err != nil {
		return err
	}

	src, err := access.openSource(ctx, s, a.src)
	if err != nil {
		return err
	}
	defer src.Close()
	s.log.Info("source", "image", a.src.String(), "digest", src.Descriptor.Digest.String(), "mediaType", string(src.Descriptor.MediaType))

	// The registry destination's tag may depend on the source digest.
	if a.dst.Kind == location.Registry {
		if a.dst, err = registryDestination(c, a, src.Descriptor.Digest, access); err != nil {
			return err
		}
	}

	var (
		result v1.ImageIndex
		rep    *convert.Report
	)
	if src.Index != nil {
		result, rep, err = convert.Convert(ctx, src.Index, opts...)
	} else {
		result, rep, err = convert.ConvertImage(ctx, src.Image, opts...)
	}
	out := &convertOutput{Source: a.src.String(), DryRun: c.Bool("dry-run"), Conversion: rep}
	if a.dst.Kind != "" {
		out.Destination = a.dst.String()
	}
	if errors.Is(err, convert.ErrEmptyIndex) {
		return fmt.Errorf("%w\nhint: lower --min-layer-size (now %d), or pass --allow-empty to write the image without SOCI index", err, c.Int64("min-layer-size"))
	}
	if err != nil {
		return access.mapError(err, registry.OpPull, a.src)
	}
	out.Digest = rep.Result.Digest.String()

	if !out.DryRun {
		if err := writeResult(ctx, c, s, a, src, result, access, out); err != nil {
			return err
		}
		if c.Bool("github-output") {
			if err := writeGitHubOutput(out); err != nil {
				return err
			}
		}
	}
	return s.emit(out, func(t *textWriter) { printConvertText(t, out, s.quiet) })
}

// registryDestination names the tag a registry result is pushed to.
func registryDestination(c *cli.Context, a convertArgs, srcDigest v1.Hash, access *registryAccess) (location.Reference, error) {
	nopts := access.nameOptions()
	tmpl := c.String("tag-template")
	vars := registry.TagVars{Digest: srcDigest}
	var srcName name.Reference
	if a.src.Kind == location.Registry {
		r, err := name.ParseReference(a.src.Ref, nopts...)
		if err != nil {
			return location.Reference{}, usageErrorf("SRC: %v", err)
		}
		srcName = r
	} else {
		// A layout or archive source: its ref name, if any, plays the
		// source tag in the template.
		if a.src.Ref != "" && !strings.HasPrefix(a.src.Ref, "@") {
			vars.Tag = a.src.Ref
		}
		if explicitTag(a.dst.Ref) {
			return a.dst, nil
		}
		repo, err := name.NewRepository(strings.TrimSuffix(a.dst.Ref, "/"), nopts...)
		if err != nil {
			return location.Reference{}, usageErrorf("DST: %v", err)
		}
		tag, err := registry.ExpandTag(tmpl, vars)
		if err != nil {
			return location.Reference{}, usageErrorf("--tag-template: %v", err)
		}
		return location.Reference{Kind: location.Registry, Ref: repo.Tag(tag).String()}, nil
	}
	t, err := registry.Destination(srcName, a.dst.Ref, tmpl, vars, nopts...)
	if err != nil {
		return location.Reference{}, usageErrorf("DST: %v", err)
	}
	return location.Reference{Kind: location.Registry, Ref: t.String()}, nil
}

// explicitTag reports whether a registry reference spells out a tag (a ':'
// in its last path segment; one before the first '/' is a port).
func explicitTag(s string) bool {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		return false
	}
	return strings.Contains(s[strings.LastIndexByte(s, '/')+1:], ":")
}

func writeResult(ctx context.Context, c *cli.Context, s *session, a convertArgs, src *location.Source, result v1.ImageIndex, access *registryAccess, out *convertOutput) error {
	var extra []remote.Option
	var stopPush func()
	if a.dst.Kind == location.Registry {
		updates := make(chan v1.Update, 16)
		done := make(chan struct{})
		extra = append(extra, remote.WithProgress(updates))
		s.progress.Start("push", "push "+a.dst.Ref, 0)
		go func() {
			defer close(done)
			for u := range updates {
				s.progress.Total("push", u.Total)
				s.progress.Update("push", u.Complete)
			}
		}()
		stopPush = func() { <-done }
	}
	topts, err := access.transportOptions(ctx, s, extra...)
	if err != nil {
		return err
	}
	if a.dst.Kind != location.Registry {
		id := "write"
		s.progress.Start(id, "write "+a.dst.String(), 0)
		topts = append(topts, location.WithProgress(func(p location.Progress) {
			s.progress.Total(id, p.Total)
			s.progress.Update(id, p.Complete)
		}))
	}
	var sink location.Sink
	if a.inPlace {
		sink, err = src.InPlaceSink(topts...)
	} else {
		sink, err = location.NewSink(a.dst, topts...)
	}
	if err != nil {
		return err
	}
	res, err := sink.Write(ctx, result)
	if stopPush != nil {
		stopPush()
	}
	if err != nil {
		s.progress.Finish(progressID(a), "failed")
		return access.mapError(err, registry.OpPush, a.dst)
	}
	s.progress.Finish(progressID(a), "written")
	out.Reference = res.Reference
	out.Write = &writeJSON{BlobsWritten: res.BlobsWritten, BlobsLinked: res.BlobsLinked, BlobsExisting: res.BlobsExisting,
		BytesWritten: res.BytesWritten, Warnings: res.Warnings}
	for _, w := range res.Warnings {
		s.log.Warn(w)
	}
	if c.Bool("tag-children") {
		tags, err := tagChildren(ctx, a.dst, result, out.Conversion, access)
		out.ChildTags = tags
		if err != nil {
			return access.mapError(err, registry.OpPush, a.dst)
		}
	}
	return nil
}

func progressID(a convertArgs) string {
	if a.dst.Kind == location.Registry {
		return "push"
	}
	return "write"
}

// tagChildren tags each converted per-platform manifest of the result.
func tagChildren(ctx context.Context, dst location.Reference, result v1.ImageIndex, rep *convert.Report, access *registryAccess) ([]string, error) {
	ref, err := name.NewTag(dst.Ref, access.nameOptions()...)
	if err != nil {
		return nil, err
	}
	var platforms []v1.Platform
	var manifests []v1.Hash
	for _, p := range rep.Platforms {
		if p.SociIndex == "" || p.Manifest == "" {
			continue
		}
		pl, err := v1.ParsePlatform(p.Platform)
		if err != nil {
			return nil, fmt.Errorf("platform %q: %w", p.Platform, err)
		}
		h, err := v1.NewHash(p.Manifest.String())
		if err != nil {
			return nil, err
		}
		platforms = append(platforms, *pl)
		manifests = append(manifests, h)
	}
	tags, err := registry.ChildTags(ref.TagStr(), platforms)
	if err != nil {
		return nil, err
	}
	ro, err := access.remoteOptions(ctx)
	if err != nil {
		return nil, err
	}
	ro = append(ro, remote.WithContext(ctx))
	var done []string
	for i, t := range tags {
		img, err := findImage(result, manifests[i])
		if err != nil {
			return done, err
		}
		tr := ref.Context().Tag(t)
		if err := remote.Tag(tr, img, ro...); err != nil {
			return done, fmt.Errorf("tagging %s: %w", tr, err)
		}
		done = append(done, tr.String())
	}
	return done, nil
}

// findImage finds the manifest h in idx or an index nested in it.
func findImage(idx v1.ImageIndex, h v1.Hash) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		switch {
		case d.Digest == h:
			return idx.Image(h)
		case d.MediaType.IsIndex():
			sub, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			if img, err := findImage(sub, h); err == nil {
				return img, nil
			}
		}
	}
	return nil, fmt.Errorf("manifest %s is not in the result", h)
}

// writeGitHubOutput appends the step outputs action.yml exposes.
func writeGitHubOutput(out *convertOutput) error {
	path := os.Getenv("GITHUB_OUTPUT")
	if path == "" {
		return errors.New("--github-output: $GITHUB_OUTPUT is not set (it is set inside GitHub Actions steps)")
	}
	type soci struct {
		Platform  string `json:"platform"`
		Manifest  string `json:"manifest"`
		SociIndex string `json:"sociIndex"`
	}
	socis := []soci{}
	for _, p := range out.Conversion.Platforms {
		if p.SociIndex != "" {
			socis = append(socis, soci{p.Platform, p.Manifest.String(), p.SociIndex.String()})
		}
	}
	sj, err := json.Marshal(socis)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("--github-output: %w", err)
	}
	_, err = fmt.Fprintf(f, "digest=%s\nsource-digest=%s\nreference=%s\nsoci-indexes=%s\n",
		out.Digest, out.Conversion.Source.Digest, out.Reference, sj)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--github-output: %w", err)
	}
	return nil
}

func printConvertText(t *textWriter, out *convertOutput, quiet bool) {
	rep := out.Conversion
	if quiet {
		// One line a script can use: the pinned reference for a registry,
		// otherwise the digest.
		if strings.Contains(out.Reference, "@") {
			t.printf("%s\n", out.Reference)
		} else {
			t.printf("%s\n", out.Digest)
		}
		return
	}
	t.printf("source   %s (%s)\n", out.Source, rep.Source.Digest)
	switch {
	case out.DryRun:
		t.printf("result   %s (dry run: nothing written)\n", out.Digest)
	default:
		t.printf("result   %s\n", out.Reference)
		t.printf("digest   %s\n", out.Digest)
	}
	t.printf("\n")
	for _, p := range rep.Platforms {
		switch {
		case p.SociIndex != "":
			t.printf("platform %-14s manifest %s\n         %-14s SOCI index %s\n", p.Platform, p.Manifest, "", p.SociIndex)
		case p.Skipped != "":
			t.printf("platform %-14s kept as is: %s\n", p.Platform, p.Skipped)
		}
	}
	t.printf("\n")
	for _, l := range rep.Layers {
		switch l.Status {
		case convert.LayerIndexed, convert.LayerCached:
			how := "zTOC"
			if l.Status == convert.LayerCached {
				how = "zTOC (cached)"
			}
			t.printf("layer    %s %9s  %s %s, %d spans, %d files (%s)\n", shortDigest(l.Digest.String()), humanBytes(l.Size), how, shortDigest(l.Ztoc.String()), l.Spans, l.Files, strings.Join(l.Platforms, ", "))
		default:
			t.printf("layer    %s %9s  skipped: %s (%s)\n", shortDigest(l.Digest.String()), humanBytes(l.Size), l.Reason, strings.Join(l.Platforms, ", "))
		}
		for _, w := range l.Warnings {
			t.printf("         warning: %s\n", w)
		}
	}
	t.printf("\nread %s of layers, %d new blobs (%s), in %s\n", humanBytes(rep.BytesRead), len(rep.NewBlobs), humanBytes(rep.BytesWritten), fmtDuration(rep.Timings.Total))
	if out.Write != nil && out.Write.BytesWritten > 0 {
		t.printf("wrote %s", humanBytes(out.Write.BytesWritten))
		if out.Write.BlobsLinked > 0 {
			t.printf(" (%d blobs hard-linked)", out.Write.BlobsLinked)
		}
		t.printf("\n")
	}
	for _, tag := range out.ChildTags {
		t.printf("tagged   %s\n", tag)
	}
}

func fmtDuration(d convert.Duration) string {
	return time.Duration(d).Round(time.Millisecond).String()
}
