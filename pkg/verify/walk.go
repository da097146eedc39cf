package verify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/ztoc"
)

// maxIndexDepth bounds nested image indexes (containerd recurses into them
// when it matches platforms).
const maxIndexDepth = 8

// maxZtocSize bounds the memory a single zTOC blob may take. A zTOC is about
// 200 bytes per file plus 32 KiB per checkpoint; 1 GiB is far beyond any real
// layer.
const maxZtocSize = 1 << 30

// maxSmallBlob bounds prefetch artifacts and configs read into memory.
const maxSmallBlob = 16 << 20

func (c *checker) walkIndexRoot(ctx context.Context, idx v1.ImageIndex) error {
	if c.o.wrapped {
		img, err := wrappedImage(idx)
		if err != nil {
			return err
		}
		return c.walkImageRoot(ctx, img)
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return fmt.Errorf("reading the image index: %w", err)
	}
	mt, err := idx.MediaType()
	if err != nil {
		return fmt.Errorf("reading the image index media type: %w", err)
	}
	ix, err := ociindex.ParseIndex(raw, string(mt))
	if err != nil {
		return fmt.Errorf("image index %s: %w", digest.FromBytes(raw), err)
	}
	c.rep.Descriptor = ociindex.ReportDescriptor(ocispec.Descriptor{MediaType: string(mt), Digest: digest.FromBytes(raw), Size: int64(len(raw))})
	c.rep.Index = true
	// An OCI layout's index.json that holds one image index (soci's and
	// nerdctl's archives) stands for that index.
	if len(ix.Manifests) == 1 && ociindex.IsIndexType(ix.Manifests[0].MediaType) {
		d := ix.Manifests[0]
		if child, craw, cix, err := c.openIndex(idx, d); err == nil {
			idx, ix = child, cix
			c.rep.Descriptor = ociindex.ReportDescriptor(ocispec.Descriptor{MediaType: d.MediaType, Digest: digest.FromBytes(craw), Size: int64(len(craw))})
		} else {
			c.add(imageScope(), errorf(CheckManifest, "%v", err))
			return nil
		}
	}
	c.visited[digest.Digest(c.rep.Digest.String())] = true
	if err := c.walkIndex(ctx, idx, ix, 0); err != nil {
		return err
	}
	return c.checkPlatforms(ctx)
}

// wrappedImage is the one image manifest of an index made around it.
func wrappedImage(idx v1.ImageIndex) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the image index: %w", err)
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsImage() {
		return nil, fmt.Errorf("WithWrapped: the index lists %d manifests, want one image manifest", len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("reading the image manifest %s: %w", m.Manifests[0].Digest, err)
	}
	return img, nil
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "no runnable image manifest"
	}
	return strings.Join(s, ", ")
}

func (c *checker) walkImageRoot(ctx context.Context, img v1.Image) error {
	raw, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("reading the image manifest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return fmt.Errorf("reading the image manifest media type: %w", err)
	}
	d := ocispec.Descriptor{MediaType: string(mt), Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	c.rep.Descriptor = ociindex.ReportDescriptor(d)
	c.add(imageScope(), warnf(CheckImage, "the reference names an image manifest, not an image index: the image works, but nothing reachable from the tag references its SOCI index, so image copies (crane, skopeo, docker buildx imagetools) and registry garbage collection lose it; soci and socify write an index"))
	c.addManifest(ctx, img, d, raw)
	return c.checkPlatforms(ctx)
}

// openIndex opens a child image index and checks that its bytes match the
// descriptor.
func (c *checker) openIndex(parent v1.ImageIndex, d ocispec.Descriptor) (v1.ImageIndex, []byte, ocispec.Index, error) {
	var ix ocispec.Index
	h, err := toHash(d.Digest)
	if err != nil {
		return nil, nil, ix, fmt.Errorf("image index %s: %w", d.Digest, err)
	}
	child, err := parent.ImageIndex(h)
	if err != nil {
		return nil, nil, ix, fmt.Errorf("image index %s cannot be read: %w", d.Digest, err)
	}
	raw, err := child.RawManifest()
	if err != nil {
		return nil, nil, ix, fmt.Errorf("image index %s cannot be read: %w", d.Digest, err)
	}
	if got := digest.FromBytes(raw); got != d.Digest {
		return nil, nil, ix, fmt.Errorf("image index %s: its bytes have digest %s", d.Digest, got)
	}
	ix, err = ociindex.ParseIndex(raw, d.MediaType)
	if err != nil {
		return nil, nil, ix, fmt.Errorf("image index %s: %w", d.Digest, err)
	}
	return child, raw, ix, nil
}

func (c *checker) walkIndex(ctx context.Context, idx v1.ImageIndex, ix ocispec.Index, depth int) error {
	for _, d := range ix.Manifests {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case ociindex.IsSociIndex(d):
			c.addSoci(&sociDesc{desc: d, idx: idx})
		case ociindex.IsIndexType(d.MediaType):
			if c.visited[d.Digest] {
				continue
			}
			c.visited[d.Digest] = true
			if depth+1 >= maxIndexDepth {
				c.add(imageScope(), warnf(CheckImage, "image index %s is nested more than %d deep; not followed", d.Digest, maxIndexDepth))
				continue
			}
			child, _, cix, err := c.openIndex(idx, d)
			if err != nil {
				c.add(imageScope(), errorf(CheckManifest, "%v", err))
				continue
			}
			if err := c.walkIndex(ctx, child, cix, depth+1); err != nil {
				return err
			}
		case ociindex.IsManifestType(d.MediaType):
			if d.Platform != nil && (d.Platform.OS == "unknown" || d.Platform.Architecture == "unknown") {
				continue // buildx attestations: never run, never indexed
			}
			if ps := platformString(d.Platform); !slices.Contains(c.seen, ps) {
				c.seen = append(c.seen, ps)
			}
			if !c.wanted(d.Platform) && d.Platform != nil {
				continue
			}
			img, raw, err := openManifest(idx, d)
			if err != nil {
				c.add(imageScope(), errorf(CheckManifest, "platform %s: %v", platformString(d.Platform), err))
				c.newPlatform(d, d.Platform)
				continue
			}
			c.addManifest(ctx, img, d, raw)
		}
	}
	return nil
}

func openManifest(idx v1.ImageIndex, d ocispec.Descriptor) (v1.Image, []byte, error) {
	h, err := toHash(d.Digest)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	img, err := idx.Image(h)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s cannot be read: %w", d.Digest, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s cannot be read: %w", d.Digest, err)
	}
	if got := digest.FromBytes(raw); got != d.Digest {
		return nil, nil, fmt.Errorf("manifest %s: its bytes have digest %s", d.Digest, got)
	}
	return img, raw, nil
}

func (c *checker) newPlatform(d ocispec.Descriptor, plat *ocispec.Platform) *platform {
	p := &platform{n: len(c.plats), name: platformString(plat), desc: d}
	var vp v1.Platform
	if plat != nil {
		vp = ociindex.V1Platform(*plat)
	}
	c.plats = append(c.plats, p)
	c.rep.Platforms = append(c.rep.Platforms, PlatformReport{Platform: vp, Manifest: ociindex.ReportDescriptor(d), Layers: []LayerReport{}})
	c.stats.Manifests++
	return p
}

// addManifest records an image manifest as a platform to check.
func (c *checker) addManifest(ctx context.Context, img v1.Image, d ocispec.Descriptor, raw []byte) {
	m, err := ociindex.ParseManifest(raw, d.MediaType)
	if err != nil {
		c.add(imageScope(), errorf(CheckManifest, "manifest %s (platform %s): %v", d.Digest, platformString(d.Platform), err))
		c.newPlatform(d, d.Platform)
		return
	}
	if m.Config.MediaType == ociindex.ArtifactTypeSociIndexV2 || m.Config.MediaType == ociindex.ArtifactTypeSociIndexV1 {
		// A SOCI index listed without its artifactType.
		c.add(imageScope(), warnf(CheckSociDescriptor, "SOCI index %s is listed in the image index without artifactType %s: tools that look for SOCI indexes by artifact type (soci, socify re-conversion) miss it", d.Digest, ociindex.ArtifactTypeSociIndexV2))
		c.addSoci(&sociDesc{desc: d, img: img})
		return
	}
	plat := d.Platform
	if plat == nil {
		plat = configPlatform(img)
		if plat == nil {
			return // not an image: an artifact manifest (signature, SBOM, ...)
		}
		if !c.wanted(plat) {
			return
		}
	}
	p := c.newPlatform(d, plat)
	p.img, p.manifest = img, m
	if d.Platform == nil {
		p.desc.Platform = plat
	}
}

// configPlatform reads the platform of an image from its config, as
// containerd does for index children without one.
func configPlatform(img v1.Image) *ocispec.Platform {
	m, err := img.Manifest()
	if err != nil {
		return nil
	}
	switch m.Config.MediaType {
	case "application/vnd.oci.image.config.v1+json", ociindex.MediaTypeDockerConfig:
	default:
		return nil
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil
	}
	// The converter's rule (containerd's ConfigPlatform), normalized.
	p, err := ociindex.ConfigPlatform(raw)
	if err != nil || p.OS == "" {
		return nil
	}
	return &p
}

func (c *checker) checkPlatforms(ctx context.Context) error {
	if len(c.plats) == 0 && len(c.o.platforms) == 0 {
		c.add(imageScope(), errorf(CheckImage, "the image has no runnable image manifest"))
	}
	var missing []v1.Platform
	for _, want := range c.o.platforms {
		found := false
		for _, p := range c.plats {
			if p.desc.Platform != nil && platformMatches(want, *p.desc.Platform) {
				found = true
			}
		}
		if !found {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		// A typo on the command line, not a verdict on the image.
		have := c.seen
		for _, p := range c.plats {
			if !slices.Contains(have, p.name) {
				have = append(have, p.name)
			}
		}
		return fmt.Errorf("%w: %s is not in the image, which has %s", ErrPlatformNotFound, wantString(missing), listOrNone(have))
	}
	for _, p := range c.plats {
		if err := ctx.Err(); err != nil {
			return err
		}
		if p.img != nil {
			c.checkPlatform(ctx, p)
		}
	}
	c.checkOrphans()
	return nil
}

// layerCompression is how soci reads a layer media type
// (ociindex.ClassifyLayer, the converter's rule): gzip, uncompressed, zstd,
// or "" (not indexable).
func layerCompression(mt string) (comp string, isLayer bool) {
	f := ociindex.ClassifyLayer(mt)
	return f.Compression, f.IsLayer
}

func (c *checker) checkPlatform(ctx context.Context, p *platform) {
	pr := &c.rep.Platforms[p.n]
	for _, l := range p.manifest.Layers {
		comp, _ := layerCompression(l.MediaType)
		pr.Layers = append(pr.Layers, LayerReport{Descriptor: ociindex.ReportDescriptor(l), Compression: comp})
	}
	defer c.explainLayersWithoutZtoc(p)

	ann, ok := p.manifest.Annotations[ociindex.AnnotationIndexDigest]
	if !ok {
		sev := SeverityWarning
		if len(c.o.platforms) > 0 {
			sev = SeverityError
		}
		c.add(p.scope(), finding{sev: sev, check: CheckPlatform, msg: fmt.Sprintf("not SOCI-enabled: the image manifest has no %s annotation, so the snapshotter pulls this platform in full", ociindex.AnnotationIndexDigest)})
		return
	}
	pr.SociEnabled, pr.SociIndex = true, ann
	sd, err := digest.Parse(ann)
	if err != nil {
		c.add(p.scope(), errorf(CheckIndexDigest, "annotation %s=%q is not a valid digest: the snapshotter fails with \"unable to parse SOCI index digest\" and pulls in full: %v", ociindex.AnnotationIndexDigest, ann, err))
		p.broken = true
		return
	}
	img := c.openSociIndex(ctx, p, sd)
	if img == nil {
		p.broken = true
		return
	}
	if !c.sociChecked[sd] {
		c.sociChecked[sd] = true
		c.stats.SociIndexes++
	}
	sc := p.scope()
	sc.soci = sd.String()
	raw, err := img.RawManifest()
	if err != nil {
		c.add(sc, errorf(CheckSociIndex, "the SOCI index cannot be fetched (the snapshotter pulls in full): %v", err))
		p.broken = true
		return
	}
	if got := digest.FromBytes(raw); got != sd {
		c.add(sc, errorf(CheckSociIndex, "the SOCI index bytes have digest %s: the snapshotter's fetch by digest fails", got))
		p.broken = true
		return
	}
	if s := p.soci; s != nil && s.desc.Size != int64(len(raw)) {
		c.add(sc, errorf(CheckSociDescriptor, "the SOCI index descriptor says %d bytes but the index is %d bytes", s.desc.Size, len(raw)))
	}
	m, fs, usable := checkSociIndex(raw)
	for _, f := range fs {
		c.add(sc, f)
	}
	if !usable {
		p.broken = true
		return
	}
	if m.Config.Digest == ociindex.EmptyConfigDigest {
		if b, err := img.RawConfigFile(); err != nil || string(b) != "{}" {
			c.add(sc, warnf(CheckSociIndex, "the SOCI index config blob {} is missing or wrong (%v): registries may refuse the index and image copies fail", err))
		}
	}
	c.checkZtocs(ctx, p, img, m, sc)
}

// addSoci records a SOCI index descriptor. The same descriptor reached twice
// (an index listed twice, nested indexes) counts once; the same digest with
// another platform or back-link is another descriptor.
func (c *checker) addSoci(s *sociDesc) {
	for _, o := range c.socis {
		if o.desc.Digest == s.desc.Digest &&
			o.desc.Annotations[ociindex.AnnotationImageManifestDigest] == s.desc.Annotations[ociindex.AnnotationImageManifestDigest] &&
			samePlatform(o.desc.Platform, s.desc.Platform) {
			return
		}
	}
	c.socis = append(c.socis, s)
}

func samePlatform(a, b *ocispec.Platform) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.OS == b.OS && a.Architecture == b.Architecture && a.Variant == b.Variant && a.OSVersion == b.OSVersion
}

// pairSoci picks the descriptor of SOCI index sd that belongs to manifest p.
// Platforms with identical layers share one SOCI index digest, each with its
// own descriptor, so the digest alone is ambiguous: prefer the descriptor
// whose back-link names p, then one with p's platform, then any; among
// equals, one no other manifest claimed yet, then index order. A wrong
// back-link is thus reported only when no descriptor of sd points at p.
func (c *checker) pairSoci(p *platform, sd digest.Digest) *sociDesc {
	var best *sociDesc
	bestRank := 0
	for _, s := range c.socis {
		if s.desc.Digest != sd {
			continue
		}
		rank := 0
		if s.desc.Annotations[ociindex.AnnotationImageManifestDigest] != p.desc.Digest.String() {
			rank += 4
		}
		if s.desc.Platform == nil || p.desc.Platform == nil || !platformMatches(v1Platform(p.desc.Platform), *s.desc.Platform) {
			rank += 2
		}
		if s.claimed {
			rank++
		}
		if best == nil || rank < bestRank {
			best, bestRank = s, rank
		}
	}
	return best
}

func v1Platform(p *ocispec.Platform) v1.Platform {
	return v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion}
}

// openSociIndex finds the SOCI index a manifest points at and checks its
// descriptor links back.
func (c *checker) openSociIndex(ctx context.Context, p *platform, sd digest.Digest) v1.Image {
	sc := p.scope()
	sc.soci = sd.String()
	s := c.pairSoci(p, sd)
	if s != nil {
		s.claimed = true
		p.soci = s
		d := s.desc
		if d.ArtifactType != ociindex.ArtifactTypeSociIndexV2 {
			c.add(sc, warnf(CheckSociDescriptor, "the SOCI index descriptor has artifactType %q, not %s", d.ArtifactType, ociindex.ArtifactTypeSociIndexV2))
		}
		if d.MediaType != ocispec.MediaTypeImageManifest {
			c.add(sc, warnf(CheckSociDescriptor, "the SOCI index descriptor has media type %q, not %s", d.MediaType, ocispec.MediaTypeImageManifest))
		}
		if back := d.Annotations[ociindex.AnnotationImageManifestDigest]; back != p.desc.Digest.String() {
			c.add(sc, errorf(CheckSociDescriptor, "the SOCI index descriptor's %s is %q, not this manifest %s: the link is one-way (soci and socify use it to replace the index on re-conversion)", ociindex.AnnotationImageManifestDigest, back, p.desc.Digest))
		}
		if d.Platform == nil {
			c.add(sc, warnf(CheckSociDescriptor, "the SOCI index descriptor has no platform"))
		} else if p.desc.Platform != nil && (d.Platform.OS != p.desc.Platform.OS || d.Platform.Architecture != p.desc.Platform.Architecture) {
			c.add(sc, warnf(CheckSociDescriptor, "the SOCI index descriptor's platform %s differs from the manifest's %s", platformString(d.Platform), p.name))
		}
		if s.img != nil {
			return s.img
		}
		if s.idx != nil {
			h, err := toHash(sd)
			if err == nil {
				img, err := s.idx.Image(h)
				if err == nil {
					return img
				}
				c.add(sc, errorf(CheckSociIndex, "the SOCI index cannot be read (the snapshotter pulls in full): %v", err))
				return nil
			}
		}
	} else if c.rep.Index {
		c.add(sc, errorf(CheckSociDescriptor, "SOCI index %s is not listed in the image index: the snapshotter can still fetch it by digest, but image copies and registry garbage collection lose it", sd))
	}
	if c.o.fetch == nil {
		c.add(sc, errorf(CheckSociIndex, "SOCI index %s cannot be fetched from this source, so it cannot be verified", sd))
		return nil
	}
	h, err := toHash(sd)
	if err != nil {
		c.add(sc, errorf(CheckIndexDigest, "%v", err))
		return nil
	}
	img, err := c.o.fetch(ctx, h)
	if err != nil {
		c.add(sc, errorf(CheckSociIndex, "SOCI index %s cannot be fetched (the snapshotter pulls in full): %v", sd, err))
		return nil
	}
	return img
}

// checkZtocs loads every blob of the SOCI index (the snapshotter fetches them
// all before mounting) and pairs zTOCs with layers.
func (c *checker) checkZtocs(ctx context.Context, p *platform, img v1.Image, m ocispec.Manifest, sc scope) {
	layersByDigest := map[string][]int{}
	for i, l := range p.manifest.Layers {
		layersByDigest[l.Digest.String()] = append(layersByDigest[l.Digest.String()], i)
	}
	pr := &c.rep.Platforms[p.n]
	zsc := func(zd ocispec.Descriptor) scope {
		s := sc
		s.ztoc = zd.Digest.String()
		s.layer = zd.Annotations[ociindex.AnnotationImageLayerDigest]
		return s
	}
	indexed := 0
	seen := map[string]bool{}
	var prefetches []prefetchBlob
	ztocOf := map[string]*ztocState{} // layer digest -> the zTOC the snapshotter uses
	for _, zd := range m.Layers {
		if ctx.Err() != nil {
			return
		}
		switch zd.MediaType {
		case ociindex.MediaTypeZtoc:
		case ociindex.MediaTypeSociPrefetch:
			raw, err := readBlob(img, zd, maxSmallBlob)
			if err != nil {
				c.add(zsc(zd), errorf(CheckZtocBlob, "prefetch artifact %s: %v; the snapshotter fetches every blob of the SOCI index and gives up on it", zd.Digest, err))
				p.broken = true
			} else {
				prefetches = append(prefetches, prefetchBlob{zd, raw})
			}
			continue
		default:
			c.add(zsc(zd), warnf(CheckZtocDescriptor, "blob %s has media type %q: the snapshotter fetches it but pairs only %s blobs with layers", zd.Digest, zd.MediaType, ociindex.MediaTypeZtoc))
			if _, err := readBlob(img, zd, maxZtocSize); err != nil {
				c.add(zsc(zd), errorf(CheckZtocBlob, "blob %s: %v; the snapshotter fetches every blob of the SOCI index and gives up on it", zd.Digest, err))
				p.broken = true
			}
			continue
		}
		z := c.loadZtoc(img, zd)
		if z.blobErr != nil {
			c.add(zsc(zd), errorf(CheckZtocBlob, "zTOC %s: %v; the snapshotter fetches every blob of the SOCI index before mounting, so it gives up on SOCI for this platform", zd.Digest, z.blobErr))
			p.broken = true
			continue
		}
		ld, ok := zd.Annotations[ociindex.AnnotationImageLayerDigest]
		if !ok {
			c.add(zsc(zd), warnf(CheckZtocDescriptor, "zTOC %s has no %s annotation, so no layer uses it", zd.Digest, ociindex.AnnotationImageLayerDigest))
			continue
		}
		idxs := layersByDigest[ld]
		if len(idxs) == 0 {
			c.add(zsc(zd), warnf(CheckZtocDescriptor, "zTOC %s is for layer %s, which is not in the image manifest: unused", zd.Digest, ld))
			continue
		}
		if seen[ld] {
			c.add(zsc(zd), warnf(CheckZtocDescriptor, "several zTOCs for layer %s: the snapshotter uses the last one", ld))
		}
		seen[ld] = true
		ztocOf[ld] = z
		indexed++
		for _, li := range idxs {
			u := &usage{plat: p, layerIdx: li, layer: p.manifest.Layers[li], zdesc: zd, z: z}
			p.usages = append(p.usages, u)
			c.checkUsage(u)
			info := z.info
			info.DisableXattrs = disableXattrs(zd)
			pr.Layers[li].Ztoc = &info
		}
	}
	for _, pb := range prefetches {
		a, fs := checkPrefetch(pb.raw, pb.desc, ztocOf)
		for _, f := range fs {
			c.add(zsc(pb.desc), f)
		}
		if a == nil {
			continue
		}
		info := &PrefetchInfo{Descriptor: ociindex.ReportDescriptor(pb.desc), Ranges: len(a.PrefetchSpans)}
		for _, sp := range a.PrefetchSpans {
			info.Spans += int(sp.EndSpan) - int(sp.StartSpan) + 1
		}
		for _, li := range layersByDigest[pb.desc.Annotations[ociindex.AnnotationImageLayerDigest]] {
			pr.Layers[li].Prefetch = info
		}
	}
	if indexed == 0 && !p.broken {
		c.add(sc, errorf(CheckSociIndex, "no zTOC of the SOCI index belongs to a layer of this manifest: nothing is lazily loaded"))
	}
}

func (c *checker) loadZtoc(img v1.Image, zd ocispec.Descriptor) *ztocState {
	c.mu.Lock()
	z, ok := c.ztocs[zd.Digest]
	c.mu.Unlock()
	if ok {
		return z
	}
	raw, err := readBlob(img, zd, maxZtocSize)
	if err != nil {
		z = &ztocState{digest: zd.Digest.String(), blobErr: err}
	} else {
		z = analyzeZtoc(zd.Digest.String(), raw)
		if c.o.deep {
			z.raw = raw
		}
		c.stats.Ztocs++
	}
	c.mu.Lock()
	c.ztocs[zd.Digest] = z
	c.mu.Unlock()
	return z
}

// readBlob reads a blob of an image in full and checks it against its
// descriptor, as the snapshotter's content store does.
func readBlob(img v1.Image, d ocispec.Descriptor, limit int64) ([]byte, error) {
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("invalid digest: %w", err)
	}
	if d.Size > limit {
		return nil, fmt.Errorf("descriptor size %d exceeds the %d-byte limit", d.Size, limit)
	}
	h, err := toHash(d.Digest)
	if err != nil {
		return nil, err
	}
	l, err := img.LayerByDigest(h)
	if err != nil {
		return nil, fmt.Errorf("blob missing: %w", err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("blob missing: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading blob: %w", err)
	}
	if int64(len(b)) != d.Size {
		return nil, fmt.Errorf("blob is %d bytes, descriptor says %d", len(b), d.Size)
	}
	sum := sha256.Sum256(b)
	if d.Digest.Algorithm() == digest.SHA256 && hex.EncodeToString(sum[:]) != d.Digest.Encoded() {
		return nil, fmt.Errorf("blob has digest sha256:%x", sum)
	} else if d.Digest.Algorithm() != digest.SHA256 && d.Digest.Algorithm().FromBytes(b) != d.Digest {
		return nil, fmt.Errorf("blob does not match its digest")
	}
	return b, nil
}

func disableXattrs(zd ocispec.Descriptor) bool {
	v, ok := zd.Annotations[ociindex.AnnotationDisableXattrs]
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// checkUsage reports the zTOC's own findings for this layer and what depends
// on the pairing: compression, size, annotations.
func (c *checker) checkUsage(u *usage) {
	sc := u.scope()
	z := u.z
	for _, f := range z.findings {
		c.add(sc, f)
	}
	a := u.zdesc.Annotations
	if mt, ok := a[ociindex.AnnotationImageLayerMediaType]; !ok || mt != u.layer.MediaType {
		c.add(sc, warnf(CheckZtocDescriptor, "annotation %s is %q but the layer's media type is %q (only soci's artifact database reads it)", ociindex.AnnotationImageLayerMediaType, mt, u.layer.MediaType))
	}
	if ss, ok := a[ociindex.AnnotationSpanSize]; !ok {
		c.add(sc, warnf(CheckZtocDescriptor, "no %s annotation (only soci's artifact database reads it)", ociindex.AnnotationSpanSize))
	} else if n, err := strconv.ParseInt(ss, 10, 64); err != nil || (z.z != nil && n != z.spanSize) {
		c.add(sc, warnf(CheckZtocDescriptor, "annotation %s=%q but the zTOC's span size is %d", ociindex.AnnotationSpanSize, ss, z.spanSize))
	}
	if z.z == nil {
		return
	}
	if disableXattrs(u.zdesc) {
		if name, ok := z.z.XattrEntry(); ok {
			c.add(sc, errorf(CheckZtocDescriptor, "%s=true but the layer has extended attributes or an opaque whiteout: the snapshotter hides them, so the container sees wrong files", ociindex.AnnotationDisableXattrs).ofFile(name))
		}
	}
	comp, _ := layerCompression(u.layer.MediaType)
	zc := string(z.z.Compression)
	if (comp == string(ztoc.Gzip) || comp == string(ztoc.Uncompressed)) && zc != comp && (zc == string(ztoc.Gzip) || zc == string(ztoc.Uncompressed)) {
		c.add(sc, errorf(CheckCompression, "the zTOC says %s but the layer media type %s is %s: the snapshotter would serve undecodable data", zc, u.layer.MediaType, comp))
	}
	if z.z.CompressedArchiveSize != u.layer.Size {
		c.add(sc, errorf(CheckZtocFormat, "compressed_archive_size is %d but the layer is %d bytes: the snapshotter ends the last span there, so its digest cannot match", z.z.CompressedArchiveSize, u.layer.Size))
	}
}

// explainLayersWithoutZtoc gives each layer without zTOC its reason and a
// warning: such layers are fetched and unpacked in full.
func (c *checker) explainLayersWithoutZtoc(p *platform) {
	pr := &c.rep.Platforms[p.n]
	for i := range pr.Layers {
		l := &pr.Layers[i]
		if l.Ztoc != nil {
			continue
		}
		sc := p.scope()
		sc.layerIdx, sc.layer = i, l.Digest.String()
		comp, isLayer := layerCompression(string(l.MediaType))
		switch {
		case !pr.SociEnabled || p.broken:
			l.NoZtoc = ReasonNoSociIndex
			continue
		case comp == "zstd":
			l.NoZtoc = ReasonZstd
			c.add(sc, warnf(CheckLayerNotIndexed, "zstd layer (%s): soci cannot index zstd, so the snapshotter pulls it in full", sizeString(l.Size)))
		case !isLayer || comp == "":
			l.NoZtoc = ReasonUnsupported
			c.add(sc, warnf(CheckLayerNotIndexed, "media type %q cannot be indexed by soci; the layer is pulled in full (%s)", l.MediaType, sizeString(l.Size)))
		case l.Size < c.o.minLayerSize:
			l.NoZtoc = ReasonBelowMinSize
			c.add(sc, warnf(CheckLayerNotIndexed, "no zTOC: the layer (%d bytes) is below the %d-byte minimum layer size, so it is pulled in full", l.Size, c.o.minLayerSize))
		default:
			l.NoZtoc = ReasonNotIndexed
			c.add(sc, warnf(CheckLayerNotIndexed, "no zTOC for this %s layer (%s): it is pulled in full", comp, sizeString(l.Size)))
		}
	}
}

// checkOrphans reports SOCI indexes no image manifest points at: the
// snapshotter finds a SOCI index only through the manifest annotation.
func (c *checker) checkOrphans() {
	byDigest := map[string]*platform{}
	for _, p := range c.plats {
		byDigest[p.desc.Digest.String()] = p
	}
	for _, s := range c.socis {
		if s.claimed {
			continue
		}
		if s.desc.ArtifactType == ociindex.ArtifactTypeSociIndexV1 {
			c.add(imageScope(), warnf(CheckSociDescriptor, "SOCI index %s is a v1 index: the snapshotter uses it only with SOCI v1 pulls enabled (referrers API)", s.desc.Digest))
			continue
		}
		m := s.desc.Annotations[ociindex.AnnotationImageManifestDigest]
		p, ok := byDigest[m]
		sc := imageScope()
		sc.soci = s.desc.Digest.String()
		if !ok {
			if len(c.o.platforms) > 0 && s.desc.Platform != nil && !c.wanted(s.desc.Platform) {
				continue
			}
			c.add(sc, warnf(CheckSociDescriptor, "SOCI index %s is for manifest %q, which is not in the image: unused", s.desc.Digest, m))
			continue
		}
		sc = p.scope()
		sc.soci = s.desc.Digest.String()
		now := p.manifest.Annotations[ociindex.AnnotationIndexDigest]
		if now == s.desc.Digest.String() {
			// The manifest uses this SOCI index through another descriptor.
			c.add(sc, warnf(CheckSociDescriptor, "SOCI index %s is listed more than once for this manifest (this descriptor has platform %s): the extra descriptor is redundant", s.desc.Digest, platformString(s.desc.Platform)))
			continue
		}
		if now == "" {
			now = "none"
		}
		c.add(sc, warnf(CheckSociDescriptor, "SOCI index %s names this manifest, but the manifest's %s is %s: the snapshotter finds SOCI indexes only through that annotation, so this one is unused", s.desc.Digest, ociindex.AnnotationIndexDigest, now))
	}
}
