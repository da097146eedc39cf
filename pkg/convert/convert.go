// Package convert turns a container image into a SOCI-enabled image (SOCI
// index manifest v2), the way `soci convert` does, on go-containerregistry
// types: the source is a v1.ImageIndex (a lone image is wrapped in an index
// as soci does, see location.WrapImage) and so is the result, ready for
// remote.WriteIndex, layout writers or pkg/location sinks.
//
// Each layer that qualifies is read once, as a stream, by the zTOC builder,
// which also checks its size and digest. With WithLayerTee the destination
// gets the layer from that same stream (location.NewLayerTee), so a
// conversion into another registry or a file reads the source once. Layers
// shared by several platforms are indexed once; layers run in parallel up to
// WithJobs. Nothing is written to disk except the optional zTOC cache.
//
// With WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier) and the same
// span size, minimum layer size and platforms, the output is byte-identical
// to soci v0.16.1 run with TZ=UTC. Deliberate differences from soci:
//
//   - Without WithPlatforms every platform is converted (soci picks the
//     host's platform for multi-platform images).
//   - Attestation descriptors (unknown/unknown) keep their
//     vnd.docker.reference.* annotations, and vnd.docker.reference.digest
//     follows the rewritten image manifest (soci drops them).
//   - Existing SOCI index descriptors are never rewritten, so re-converting
//     with fewer platforms keeps the other platforms' SOCI indexes intact
//     (soci corrupts them).
//   - Nested indexes are converted recursively, their SOCI indexes listed in
//     the nested index (soci fails on them).
//   - Only Docker config media types are rewritten to the OCI one; artifact
//     manifests keep their config type.
//   - Encrypted layers are skipped with a reason (soci fails on
//     tar+gzip+encrypted).
//   - A non-distributable (foreign) layer whose blob the source does not
//     have is skipped with a reason (soci fails the conversion); it is
//     pulled from its URLs in full anyway.
package convert

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/socify/socify/internal/notfound"
	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/ztoc"
)

// Convert converts every selected platform of src and returns the
// SOCI-enabled image index. A lone image manifest is converted as the
// one-entry index soci wraps it in (location.WrapImage makes it; the report
// then has Wrapped set and Source names the manifest). The report is returned
// (partly filled) on error too, except for an invalid option, which fails
// before anything is read.
func Convert(ctx context.Context, src v1.ImageIndex, opts ...Option) (v1.ImageIndex, *Report, error) {
	c, err := newConverter(opts)
	if err != nil {
		return nil, nil, err
	}
	mt, raw, err := c.describeSource(src)
	if err != nil {
		return nil, c.report, err
	}
	if !ociindex.IsIndexType(string(mt)) {
		return nil, c.report, fmt.Errorf("image %s: media type %s is not an image index", c.name, mt)
	}
	root, err := c.load(ctx, src, string(mt), raw)
	if err != nil {
		return nil, c.report, err
	}
	return c.run(ctx, root)
}

// describeSource reads the source's media type and manifest, records them in
// the report and names the image by digest when no name was given.
func (c *converter) describeSource(src interface {
	MediaType() (types.MediaType, error)
	RawManifest() ([]byte, error)
}) (types.MediaType, []byte, error) {
	mt, err := src.MediaType()
	if err != nil {
		return "", nil, fmt.Errorf("image %s: %w", c.name, err)
	}
	raw, err := src.RawManifest()
	if err != nil {
		return "", nil, fmt.Errorf("image %s: read manifest: %w", c.name, err)
	}
	c.report.Source = ociindex.ReportDescriptor(ocispec.Descriptor{MediaType: string(mt), Digest: digest.FromBytes(raw), Size: int64(len(raw))})
	if d, ok := ociindex.WrappedManifest(raw); ok {
		c.report.Wrapped = true
		c.report.Source = ociindex.ReportDescriptor(d)
	}
	if c.name == "" {
		c.name = c.report.Source.Digest.String()
		c.report.Image = c.name
	}
	return mt, raw, nil
}

type converter struct {
	o      options
	name   string
	report *Report
	start  time.Time

	jobs    []*layerJob
	jobByID map[jobKey]*layerJob
	layers  map[digest.Digest]int // index in report.Layers

	mu   sync.Mutex // guards report.Layers, report.BytesRead and done
	done int
}

func newConverter(opts []Option) (*converter, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.cacheErr != nil {
		o.logger.Warn("no user cache directory; converting without the zTOC cache", "err", o.cacheErr)
	}
	c := &converter{
		o:       o,
		name:    o.imageName,
		start:   time.Now(),
		jobByID: map[jobKey]*layerJob{},
		layers:  map[digest.Digest]int{},
		report: &Report{
			Image:               o.imageName,
			SpanSize:            o.spanSize,
			MinLayerSize:        o.minLayerSize,
			BuildToolIdentifier: o.tool,
		},
	}
	return c, nil
}

// node is one image index of the source tree.
type node struct {
	src      v1.ImageIndex
	index    ocispec.Index
	children []*child
}

type childKind int

const (
	kindOther   childKind = iota // not a manifest or index: kept as is
	kindImage                    // image manifest: rewritten, maybe converted
	kindIndex                    // nested index: converted recursively
	kindSoci                     // existing SOCI index: kept as is
	kindMissing                  // not available from the source: kept as is
)

type child struct {
	desc     ocispec.Descriptor
	kind     childKind
	img      v1.Image
	raw      []byte
	manifest ocispec.Manifest
	platform ocispec.Platform // descriptor platform, or the config's
	sub      *node

	selected     bool
	sociPlatform ocispec.Platform
	order        int
	slots        []layerSlot
	report       int // index in report.Platforms, -1 if none
}

type layerSlot struct {
	desc ocispec.Descriptor
	job  *layerJob // nil when skipped
}

type jobKey struct {
	layer       digest.Digest
	compression ztoc.Compression
}

type layerJob struct {
	key       jobKey
	desc      ocispec.Descriptor
	img       v1.Image
	platforms []v1.Platform
	report    int

	ztoc      []byte
	layer     v1.Layer
	zdigest   digest.Digest
	hasXattrs bool
}

func hashOf(d digest.Digest) (v1.Hash, error) { return v1.NewHash(d.String()) }

// load reads an index of the source and everything under it that the
// conversion needs: child indexes, image manifests and their platforms.
func (c *converter) load(ctx context.Context, src v1.ImageIndex, mt string, raw []byte) (*node, error) {
	idx, err := ociindex.ParseIndex(raw, mt)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", c.name, err)
	}
	n := &node{src: src, index: idx}
	for _, d := range idx.Manifests {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ch := &child{desc: d, report: -1}
		n.children = append(n.children, ch)
		if ociindex.IsSociIndex(d) {
			ch.kind = kindSoci
			continue
		}
		h, err := hashOf(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("image %s: child %s: %w", c.name, d.Digest, err)
		}
		switch {
		case ociindex.IsIndexType(d.MediaType):
			sub, err := src.ImageIndex(h)
			var sraw []byte
			if err == nil {
				sraw, err = sub.RawManifest()
			}
			if notfound.Is(err) {
				ch.kind = kindMissing
				c.warn("image %s: nested index %s is not available from the source; kept as is", c.name, d.Digest)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("image %s: nested index %s: %w", c.name, d.Digest, err)
			}
			if got := digest.FromBytes(sraw); got != d.Digest {
				return nil, fmt.Errorf("image %s: nested index %s has digest %s", c.name, d.Digest, got)
			}
			ch.kind = kindIndex
			if ch.sub, err = c.load(ctx, sub, d.MediaType, sraw); err != nil {
				return nil, err
			}
		case ociindex.IsManifestType(d.MediaType):
			if err := c.loadImage(src, h, ch); err != nil {
				return nil, err
			}
		}
	}
	return n, nil
}

func (c *converter) loadImage(src v1.ImageIndex, h v1.Hash, ch *child) error {
	d := ch.desc
	img, err := src.Image(h)
	var raw []byte
	if err == nil {
		raw, err = img.RawManifest()
	}
	if notfound.Is(err) {
		// A layout or a containerd export may hold only some platforms.
		ch.kind = kindMissing
		c.warn("image %s: manifest %s is not available from the source; kept as is", c.name, d.Digest)
		return nil
	}
	if err != nil {
		return fmt.Errorf("image %s: manifest %s: %w", c.name, d.Digest, err)
	}
	if got := digest.FromBytes(raw); got != d.Digest {
		return fmt.Errorf("image %s: manifest %s has digest %s", c.name, d.Digest, got)
	}
	m, err := ociindex.ParseManifest(raw, d.MediaType)
	if err != nil {
		return fmt.Errorf("image %s: manifest %s: %w", c.name, d.Digest, err)
	}
	ch.img, ch.raw, ch.manifest = img, raw, m
	if m.Config.MediaType == ociindex.ArtifactTypeSociIndexV2 || m.Config.MediaType == ociindex.ArtifactTypeSociIndexV1 {
		// A SOCI index listed without its artifactType: never touch it.
		ch.kind = kindSoci
		return nil
	}
	ch.kind = kindImage
	if d.Platform != nil {
		ch.platform = *d.Platform
		return nil
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("image %s: manifest %s: read config: %w", c.name, d.Digest, err)
	}
	if ch.platform, err = ociindex.ConfigPlatform(cfg); err != nil {
		return fmt.Errorf("image %s: manifest %s: %w", c.name, d.Digest, err)
	}
	return nil
}

func (c *converter) warn(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	c.mu.Lock()
	c.report.Warnings = append(c.report.Warnings, msg)
	c.mu.Unlock()
	c.o.logger.Warn(msg)
}

// walk visits image children depth first, in index order.
func walk(n *node, f func(*child)) {
	for _, ch := range n.children {
		switch ch.kind {
		case kindImage:
			f(ch)
		case kindIndex:
			walk(ch.sub, f)
		}
	}
}

func (c *converter) run(ctx context.Context, root *node) (v1.ImageIndex, *Report, error) {
	if err := c.selectPlatforms(root); err != nil {
		return nil, c.report, err
	}
	if err := c.planLayers(root); err != nil {
		return nil, c.report, err
	}
	c.report.Timings.Resolve = Duration(time.Since(c.start))

	t := time.Now()
	if err := c.indexLayers(ctx); err != nil {
		return nil, c.report, err
	}
	c.report.Timings.Index = Duration(time.Since(t))

	t = time.Now()
	blob, out, nsoci, err := c.assemble(root)
	if err != nil {
		return nil, c.report, err
	}
	if nsoci == 0 && !c.o.allowEmpty {
		return nil, c.report, c.emptyError()
	}
	res := ociindex.ReportDescriptor(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: blob.Descriptor.Digest, Size: blob.Descriptor.Size})
	c.report.Result = &res
	if res.Digest != c.report.Source.Digest {
		c.newBlob("index", blob.Descriptor)
	}
	for _, b := range c.report.NewBlobs {
		c.report.BytesWritten += b.Size
	}
	c.report.Timings.Assemble = Duration(time.Since(t))
	c.report.Timings.Total = Duration(time.Since(c.start))
	return out, c.report, nil
}

func (c *converter) selectPlatforms(root *node) error {
	var cands []*child
	walk(root, func(ch *child) {
		pr := PlatformReport{Platform: ociindex.V1Platform(ch.platform), SourceManifest: ch.desc.Digest}
		for _, l := range ch.manifest.Layers {
			pr.Layers = append(pr.Layers, l.Digest)
		}
		ch.report = len(c.report.Platforms)
		c.report.Platforms = append(c.report.Platforms, pr)
		if ociindex.IsUnknownPlatform(&ch.platform) {
			c.report.Platforms[ch.report].Skipped = "attestation or unknown platform"
			return
		}
		cands = append(cands, ch)
	})
	if len(cands) == 0 {
		return fmt.Errorf("image %s: image does not support any platforms", c.name)
	}
	chosen := map[digest.Digest]bool{}
	if len(c.o.platforms) == 0 {
		for i, ch := range cands {
			if chosen[ch.desc.Digest] {
				continue
			}
			chosen[ch.desc.Digest] = true
			ch.selected, ch.sociPlatform, ch.order = true, ch.platform, i
		}
	} else {
		var want []ocispec.Platform
		for _, vp := range c.o.platforms {
			p := ociindex.OCIPlatform(vp)
			if !slices.ContainsFunc(want, func(w ocispec.Platform) bool { return ociindex.MatchPlatform(w, p) }) {
				want = append(want, p)
			}
		}
		for i, p := range want {
			k := slices.IndexFunc(cands, func(ch *child) bool {
				return !ch.selected && !chosen[ch.desc.Digest] && ociindex.MatchPlatform(p, ch.platform)
			})
			if k < 0 {
				var have []string
				for _, ch := range cands {
					have = append(have, ociindex.FormatPlatform(ch.platform))
				}
				return fmt.Errorf("image %s: image manifest for %s: %w (the image has %s)", c.name,
					ociindex.FormatPlatform(p), ErrPlatformNotFound, strings.Join(have, ", "))
			}
			ch := cands[k]
			chosen[ch.desc.Digest] = true
			ch.selected, ch.sociPlatform, ch.order = true, p, i
		}
	}
	for _, ch := range cands {
		if !ch.selected {
			c.report.Platforms[ch.report].Skipped = "platform not selected"
		}
	}
	return nil
}

func (c *converter) planLayers(root *node) error {
	var err error
	walk(root, func(ch *child) {
		if err != nil || !ch.selected {
			return
		}
		plat := ociindex.V1Platform(ch.platform)
		for _, l := range ch.manifest.Layers {
			dec, derr := decideLayer(l, c.o.minLayerSize)
			if derr != nil {
				err = &LayerError{Image: c.name, Platforms: []v1.Platform{plat}, Layer: l.Digest, Err: derr}
				return
			}
			if dec.ignore {
				continue
			}
			ri := c.layerReport(l, plat)
			if !dec.index {
				ch.slots = append(ch.slots, layerSlot{desc: l})
				if c.report.Layers[ri].Status == "" {
					c.report.Layers[ri].Status, c.report.Layers[ri].Reason = LayerSkipped, dec.skip
					c.o.logger.Info("layer skipped", "layer", l.Digest, "mediaType", l.MediaType, "reason", dec.skip)
					c.event(Event{Kind: EventLayerSkipped, Layer: l.Digest, Size: l.Size, Reason: dec.skip})
				}
				continue
			}
			k := jobKey{layer: l.Digest, compression: dec.compression}
			j, ok := c.jobByID[k]
			if !ok {
				j = &layerJob{key: k, desc: l, img: ch.img, report: ri}
				c.jobByID[k] = j
				c.jobs = append(c.jobs, j)
			}
			j.platforms = addPlatform(j.platforms, plat)
			ch.slots = append(ch.slots, layerSlot{desc: l, job: j})
		}
	})
	return err
}

func (c *converter) layerReport(l ocispec.Descriptor, plat v1.Platform) int {
	i, ok := c.layers[l.Digest]
	if !ok {
		i = len(c.report.Layers)
		c.layers[l.Digest] = i
		c.report.Layers = append(c.report.Layers, LayerReport{Descriptor: ociindex.ReportDescriptor(l)})
	}
	c.report.Layers[i].Platforms = addPlatform(c.report.Layers[i].Platforms, plat)
	return i
}

// addPlatform adds p to ps unless ps has it.
func addPlatform(ps []v1.Platform, p v1.Platform) []v1.Platform {
	if slices.ContainsFunc(ps, p.Equals) {
		return ps
	}
	return append(ps, p)
}

func (c *converter) event(e Event) {
	if c.o.progress != nil {
		if e.Total == 0 {
			e.Total = len(c.jobs)
		}
		c.o.progress(e)
	}
}

func (c *converter) indexLayers(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.o.jobs)
	for _, j := range c.jobs {
		g.Go(func() error {
			if err := c.indexLayer(gctx, j); err != nil {
				if ctxErr := ctx.Err(); ctxErr != nil {
					return ctxErr
				}
				return &LayerError{Image: c.name, Platforms: j.platforms, Layer: j.desc.Digest, Err: err}
			}
			return nil
		})
	}
	return g.Wait()
}

func (c *converter) finishJob(j *layerJob, b []byte, status string, meta CacheMeta, read int64, d time.Duration) {
	j.ztoc = b
	j.zdigest = meta.Ztoc // computed at build time, or checked by the cache
	j.layer = static.NewLayer(b, types.MediaType(ociindex.MediaTypeZtoc))
	j.hasXattrs = meta.HasXattrs
	c.mu.Lock()
	r := &c.report.Layers[j.report]
	r.Status, r.Ztoc, r.ZtocSize = status, j.zdigest, int64(len(b))
	r.Spans, r.Files, r.Warnings = meta.Spans, meta.Files, meta.Warnings
	r.BytesRead, r.Duration = read, Duration(d)
	c.report.BytesRead += read
	c.done++
	done := c.done
	c.mu.Unlock()
	kind := EventLayerDone
	if status == LayerCached {
		kind = EventLayerCached
	}
	c.event(Event{Kind: kind, Layer: j.desc.Digest, Size: j.desc.Size, Read: read, Done: done})
}

// skipJob records that a layer chosen for indexing got no zTOC after all.
func (c *converter) skipJob(j *layerJob, reason string) {
	c.mu.Lock()
	r := &c.report.Layers[j.report]
	r.Status, r.Reason = LayerSkipped, reason
	c.mu.Unlock()
	c.warn("image %s: layer %s: %s", c.name, j.desc.Digest, reason)
	c.event(Event{Kind: EventLayerSkipped, Layer: j.desc.Digest, Size: j.desc.Size, Reason: reason})
}

func (c *converter) indexLayer(ctx context.Context, j *layerJob) error {
	start := time.Now()
	key := CacheKey{Layer: j.desc.Digest, Compression: j.key.compression, SpanSize: c.o.spanSize, Tool: c.o.tool, ZtocVersion: ztoc.Version09}
	if c.o.cache != nil {
		b, meta, ok, err := c.o.cache.Get(ctx, key)
		if err != nil {
			c.warn("layer %s: zTOC cache: %v", j.desc.Digest, err)
		}
		if ok && (meta.LayerSize != j.desc.Size || digest.FromBytes(b) != meta.Ztoc) {
			c.o.logger.Debug("zTOC cache entry does not match; rebuilding", "layer", j.desc.Digest)
			ok = false
		}
		if ok {
			c.o.logger.Debug("zTOC from cache", "layer", j.desc.Digest, "ztoc", meta.Ztoc)
			c.finishJob(j, b, LayerCached, meta, 0, time.Since(start))
			return nil
		}
	}

	h, err := hashOf(j.desc.Digest)
	if err != nil {
		return err
	}
	layer, err := j.img.LayerByDigest(h)
	var rc io.ReadCloser
	if err == nil {
		rc, err = layer.Compressed()
	}
	if err != nil && notfound.Is(err) && !types.MediaType(j.desc.MediaType).IsDistributable() {
		// soci fails the whole conversion here. A non-distributable layer
		// (a Windows base layer, say) is routinely absent from layouts and
		// mirrors; it is pulled from its URLs in full either way, so the
		// useful outcome is the rest of the image converted.
		c.skipJob(j, "non-distributable layer blob is not available from the source (it is pulled in full from its URLs)")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read layer: %w", err)
	}
	defer rc.Close()
	c.event(Event{Kind: EventLayerStart, Layer: j.desc.Digest, Size: j.desc.Size})
	pr := &progressReader{r: rc, c: c, layer: j.desc.Digest, size: j.desc.Size}
	var r io.Reader = pr
	var tee *teeReader
	vd := v1.Descriptor{MediaType: types.MediaType(j.desc.MediaType), Size: j.desc.Size, Digest: h, URLs: j.desc.URLs, Annotations: j.desc.Annotations}
	if c.o.tee != nil {
		w, err := c.o.tee.TeeLayer(ctx, vd)
		if err != nil {
			c.o.logger.Info("layer not copied in the same pass; the sink copies it", "layer", j.desc.Digest, "err", err)
		} else if w != nil {
			tee = &teeReader{r: pr, w: w}
			r = tee
		}
	}
	z, err := c.build(ctx, j, r)
	c.finishTee(tee, vd, err)
	if err != nil {
		return err
	}
	b := z.Bytes
	// Xattrs is the negation of soci's shouldDisableXattrs.
	meta := CacheMeta{LayerSize: j.desc.Size, Ztoc: digest.FromBytes(b), Spans: z.Spans, Files: z.Files, HasXattrs: z.Xattrs}
	for _, w := range z.Warnings {
		meta.Warnings = append(meta.Warnings, w.String())
		c.o.logger.Warn("zTOC warning", "layer", j.desc.Digest, "warning", w.String())
	}
	if c.o.cache != nil {
		if err := c.o.cache.Put(ctx, key, b, meta); err != nil {
			c.warn("layer %s: zTOC cache: %v", j.desc.Digest, err)
		}
	}
	c.finishJob(j, b, LayerIndexed, meta, pr.n, time.Since(start))
	return nil
}

// build indexes one layer stream and checks that it is exactly the layer the
// manifest names. The builder's blob digest is the one sha256 of the layer
// bytes in the pipeline: readers and sinks that get the same stream rely on
// it.
func (c *converter) build(ctx context.Context, j *layerJob, r io.Reader) (*ztoc.Encoded, error) {
	// zTOCs carry sha256 digests; other algorithms are checked on the side.
	var verifier digest.Verifier
	if j.desc.Digest.Algorithm() != digest.SHA256 {
		if !j.desc.Digest.Algorithm().Available() {
			return nil, fmt.Errorf("digest algorithm %s is not supported", j.desc.Digest.Algorithm())
		}
		verifier = j.desc.Digest.Verifier()
		r = io.TeeReader(r, verifier)
	}
	// BuildEncoded rather than Build + Marshal: the TOC stays compact until
	// serialized, so memory is bounded by the zTOCs in flight.
	z, err := ztoc.BuildEncoded(ctx, r,
		ztoc.WithSpanSize(c.o.spanSize),
		ztoc.WithBuildToolIdentifier(c.o.tool),
		ztoc.WithCompression(j.key.compression))
	if err != nil {
		return nil, fmt.Errorf("build zTOC: %w", err)
	}
	if z.CompressedArchiveSize != j.desc.Size {
		return nil, fmt.Errorf("%w: read %d bytes, manifest says %d", ErrSizeMismatch, z.CompressedArchiveSize, j.desc.Size)
	}
	if verifier != nil {
		if !verifier.Verified() {
			return nil, fmt.Errorf("%w: content does not match %s", ErrDigestMismatch, j.desc.Digest)
		}
	} else if z.BlobDigest != j.desc.Digest.String() {
		return nil, fmt.Errorf("%w: content has digest %s", ErrDigestMismatch, z.BlobDigest)
	}
	return z, nil
}

// progressReader counts layer bytes and reports progress every MiB.
type progressReader struct {
	r     io.Reader
	c     *converter
	layer digest.Digest
	size  int64
	n     int64
	last  int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.c.o.progress != nil && (p.n-p.last >= 1<<20 || (err == io.EOF && p.n != p.last)) {
		p.last = p.n
		p.c.event(Event{Kind: EventLayerProgress, Layer: p.layer, Size: p.size, Read: p.n})
	}
	return n, err
}

func (c *converter) newBlob(kind string, d ocispec.Descriptor) {
	if slices.ContainsFunc(c.report.NewBlobs, func(b BlobReport) bool { return b.Digest.String() == d.Digest.String() }) {
		return
	}
	c.report.NewBlobs = append(c.report.NewBlobs, BlobReport{Kind: kind, Descriptor: ociindex.ReportDescriptor(d)})
}

// assemble builds the converted index for n, bottom up, and returns how many
// SOCI indexes the subtree got.
func (c *converter) assemble(n *node) (ociindex.Blob, *convertedIndex, int, error) {
	updates := map[digest.Digest]ociindex.ChildUpdate{}
	children := map[v1.Hash]partial.Describable{}
	type ordered struct {
		e     ociindex.SociEntry
		order int
	}
	var socis []ordered
	total := 0
	for _, ch := range n.children {
		switch ch.kind {
		case kindIndex:
			b, sub, k, err := c.assemble(ch.sub)
			if err != nil {
				return b, nil, 0, err
			}
			total += k
			h, _ := hashOf(b.Descriptor.Digest)
			children[h] = sub
			updates[ch.desc.Digest] = ociindex.ChildUpdate{
				Digest: b.Descriptor.Digest, Size: b.Descriptor.Size, MediaType: ocispec.MediaTypeImageIndex,
				Annotations: ch.desc.Annotations,
			}
			if b.Descriptor.Digest != ch.desc.Digest {
				c.newBlob("index", b.Descriptor)
			}
		case kindSoci:
			if ch.img != nil {
				h, _ := hashOf(ch.desc.Digest)
				children[h] = ch.img
			}
		case kindImage:
			si, err := c.sociIndexFor(ch, children)
			if err != nil {
				return ociindex.Blob{}, nil, 0, err
			}
			if si != nil {
				socis = append(socis, ordered{ociindex.SociEntry{Index: si.Descriptor, Platform: ch.sociPlatform, SourceManifest: ch.desc.Digest}, ch.order})
				total++
			}
			var sd digest.Digest
			if si != nil {
				sd = si.Descriptor.Digest
			}
			mb, _, err := ociindex.RewriteManifest(ch.raw, ch.desc.MediaType, sd)
			if err != nil {
				return ociindex.Blob{}, nil, 0, fmt.Errorf("image %s: manifest %s: %w", c.name, ch.desc.Digest, err)
			}
			img, err := newRewrittenImage(ch.img, mb)
			if err != nil {
				return ociindex.Blob{}, nil, 0, err
			}
			children[img.digest] = img
			updates[ch.desc.Digest] = ociindex.UpdateFromBlob(mb)
			if mb.Descriptor.Digest != ch.desc.Digest {
				c.newBlob("manifest", mb.Descriptor)
			}
			if ch.report >= 0 {
				c.report.Platforms[ch.report].Manifest = mb.Descriptor.Digest
			}
		}
	}
	slices.SortStableFunc(socis, func(a, b ordered) int { return a.order - b.order })
	entries := make([]ociindex.SociEntry, len(socis))
	for i, s := range socis {
		entries[i] = s.e
	}
	b, _, err := ociindex.ConvertIndex(n.index, updates, entries)
	if err != nil {
		return b, nil, 0, fmt.Errorf("image %s: %w", c.name, err)
	}
	out, err := newConvertedIndex(b, children, n.src)
	return b, out, total, err
}

// sociIndexFor builds the SOCI index of a selected manifest, or returns nil
// when the manifest is not converted (not selected, or no layer qualified:
// soci then skips the platform).
func (c *converter) sociIndexFor(ch *child, children map[v1.Hash]partial.Describable) (*ociindex.Blob, error) {
	if !ch.selected {
		return nil, nil
	}
	var descs []ocispec.Descriptor
	ztocs := map[v1.Hash]v1.Layer{}
	for _, s := range ch.slots {
		if s.job == nil || s.job.ztoc == nil {
			continue
		}
		j := s.job
		descs = append(descs, ociindex.ZtocDescriptor(j.zdigest, int64(len(j.ztoc)), s.desc, c.o.spanSize, c.o.disableXattrs && !j.hasXattrs))
		h, _ := hashOf(j.zdigest)
		ztocs[h] = j.layer
		c.newBlob("ztoc", ocispec.Descriptor{MediaType: ociindex.MediaTypeZtoc, Digest: j.zdigest, Size: int64(len(j.ztoc))})
	}
	if len(descs) == 0 {
		if ch.report >= 0 {
			c.report.Platforms[ch.report].Skipped = ErrEmptyIndex.Error()
		}
		return nil, nil
	}
	descs, err := c.prefetchFor(ch, descs, ztocs)
	if err != nil {
		return nil, err
	}
	si, err := ociindex.NewSociIndex(descs, c.o.tool)
	if err != nil {
		return nil, err
	}
	img, err := partial.CompressedToImage(&sociCore{raw: si.Bytes, ztocs: ztocs})
	if err != nil {
		return nil, err
	}
	h, _ := hashOf(si.Descriptor.Digest)
	children[h] = img
	c.newBlob("soci-config", ociindex.EmptyConfigDescriptor())
	c.newBlob("soci-index", si.Descriptor)
	if ch.report >= 0 {
		c.report.Platforms[ch.report].SociIndex = si.Descriptor.Digest
	}
	return &si, nil
}

// emptyError explains why nothing was indexed.
func (c *converter) emptyError() error {
	var skipped []string
	for _, l := range c.report.Layers {
		if l.Status == LayerSkipped {
			skipped = append(skipped, fmt.Sprintf("%s (%s, %d bytes): %s", l.Digest, l.MediaType, l.Size, l.Reason))
		}
	}
	msg := fmt.Sprintf("image %s: %v", c.name, ErrEmptyIndex)
	if len(skipped) > 0 {
		msg += ": every layer was skipped: " + strings.Join(skipped, "; ")
	}
	if c.o.minLayerSize > 0 {
		msg += fmt.Sprintf(" (lower the minimum layer size, now %d bytes, or allow an image without SOCI index)", c.o.minLayerSize)
	}
	return &emptyIndexError{msg: msg}
}

type emptyIndexError struct{ msg string }

func (e *emptyIndexError) Error() string { return e.msg }
func (e *emptyIndexError) Unwrap() error { return ErrEmptyIndex }
