// Package verify tells, before deployment, whether the SOCI snapshotter will
// lazily load an image, and why not.
//
// Inspect describes an image's SOCI state without reading layer data. Verify
// runs every check the SOCI snapshotter (v0.16.1) makes when it pulls a SOCI
// index manifest v2 image, and more: the links between image manifests and
// SOCI indexes in both directions, the canonical JSON encoding of each SOCI
// index, every zTOC against the snapshotter's own rules, and each span digest
// against the layer bytes, reading each layer exactly once as a stream. With
// WithDeep it also rebuilds each zTOC from the same stream and compares bytes.
//
// Sources are go-containerregistry values, so any transport works (registry,
// OCI layout, archives).
package verify

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
)

// DefaultMinLayerSize is soci's default --min-layer-size: layers whose
// compressed size is below it get no zTOC.
const DefaultMinLayerSize int64 = 10 << 20

// ManifestFetcher fetches a manifest by digest from the image's repository.
// The snapshotter fetches the SOCI index by digest, so it finds one that the
// image index does not list; give a fetcher to verify such an index too.
type ManifestFetcher func(ctx context.Context, h v1.Hash) (v1.Image, error)

// Option configures Inspect and Verify. An invalid value makes them fail
// before reading anything, with an error wrapping ErrInvalidOption.
type Option func(*options) error

var (
	// ErrInvalidOption is wrapped by every option validation error.
	ErrInvalidOption = errors.New("invalid option")
	// ErrPlatformNotFound: a platform given with WithPlatforms is not in the
	// image; the error lists the platforms the image has.
	ErrPlatformNotFound = errors.New("platform not found")
)

type options struct {
	minLayerSize int64
	platforms    []v1.Platform
	deep         bool
	concurrency  int
	fetch        ManifestFetcher
	wrapped      bool
}

func makeOptions(opts []Option) (options, error) {
	o := options{minLayerSize: DefaultMinLayerSize}
	for _, f := range opts {
		if f == nil {
			continue
		}
		if err := f(&o); err != nil {
			return o, err
		}
	}
	if o.concurrency == 0 {
		o.concurrency = runtime.GOMAXPROCS(0)
	}
	return o, nil
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOption, fmt.Sprintf(format, a...))
}

// WithMinLayerSize sets the size under which a layer without zTOC is expected
// (soci's --min-layer-size). Such layers are reported as below-min-size,
// others as not-indexed.
func WithMinLayerSize(n int64) Option {
	return func(o *options) error {
		if n < 0 {
			return invalid("WithMinLayerSize: minimum layer size %d is negative", n)
		}
		o.minLayerSize = n
		return nil
	}
}

// WithPlatforms restricts the checks to these platforms and requires each to
// be present (else ErrPlatformNotFound) and SOCI-enabled. Without it every
// platform is checked and a platform without SOCI index is a warning (soci
// converts only the host platform by default).
func WithPlatforms(ps ...v1.Platform) Option {
	return func(o *options) error {
		for _, p := range ps {
			if p.OS == "" || p.Architecture == "" {
				return invalid("WithPlatforms: platform %q must name an OS and an architecture", p.String())
			}
		}
		o.platforms = append(o.platforms, ps...)
		return nil
	}
}

// WithDeep rebuilds every zTOC from the layer stream (the same single read)
// and compares it byte for byte with the stored one.
func WithDeep(deep bool) Option { return func(o *options) error { o.deep = deep; return nil } }

// WithConcurrency bounds how many layers are read at once (0, the default:
// GOMAXPROCS).
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return invalid("WithConcurrency: %d is negative (0 means one per CPU)", n)
		}
		o.concurrency = n
		return nil
	}
}

// WithManifestFetcher fetches SOCI indexes that the image index does not list.
func WithManifestFetcher(f ManifestFetcher) Option {
	return func(o *options) error { o.fetch = f; return nil }
}

// WithWrapped says that idx was made in memory around the single image
// manifest the reference names (location.Source.Wrapped): the report
// describes that manifest (InspectReport.Index false) and warns that
// nothing reachable from the tag references its SOCI index.
func WithWrapped(wrapped bool) Option {
	return func(o *options) error { o.wrapped = wrapped; return nil }
}

// Inspect describes the SOCI state of every platform of idx. It reads
// manifests, SOCI indexes and zTOCs, never layers, and runs every check that
// needs no layer bytes. The error is for an unreadable index or a cancelled
// context; everything else is in the report.
func Inspect(ctx context.Context, idx v1.ImageIndex, opts ...Option) (*InspectReport, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	c := newChecker(o)
	if err := c.walkIndexRoot(ctx, idx); err != nil {
		return nil, err
	}
	c.finish()
	return &c.rep, nil
}

// Verify checks that the SOCI snapshotter will lazily load idx: everything
// Inspect checks, then one streaming pass over each layer that has a zTOC.
// The error is for an unreadable index or a cancelled context; problems with
// the image are in the report (see VerifyReport.OK).
func Verify(ctx context.Context, idx v1.ImageIndex, opts ...Option) (*VerifyReport, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	c := newChecker(o)
	if err := c.walkIndexRoot(ctx, idx); err != nil {
		return nil, err
	}
	return c.verify(ctx)
}

func (c *checker) verify(ctx context.Context) (*VerifyReport, error) {
	if err := c.verifyLayers(ctx); err != nil {
		return nil, err
	}
	c.finish()
	return &VerifyReport{Image: c.rep, Deep: c.o.deep, Stats: c.stats}, nil
}

// checker holds the state of one Inspect or Verify run.
type checker struct {
	o     options
	rep   InspectReport
	stats Stats

	mu       sync.Mutex
	seq      int
	layerErr map[[2]int]bool

	plats []*platform
	// socis holds every SOCI index descriptor in index order. Digests are
	// not unique: platforms with identical layers get byte-identical SOCI
	// indexes, listed once per platform with their own platform and
	// image-manifest-digest back-link.
	socis []*sociDesc
	// sociChecked counts each distinct SOCI index once in the stats.
	sociChecked map[digest.Digest]bool
	ztocs       map[digest.Digest]*ztocState
	visited     map[digest.Digest]bool
	// seen lists the platforms of every runnable manifest, selected or
	// not, for the error about a platform the image lacks.
	seen []string
}

func newChecker(o options) *checker {
	return &checker{
		o:           o,
		layerErr:    map[[2]int]bool{},
		sociChecked: map[digest.Digest]bool{},
		ztocs:       map[digest.Digest]*ztocState{},
		visited:     map[digest.Digest]bool{},
	}
}

// platform is one image manifest being checked.
type platform struct {
	n        int // index in rep.Platforms and sort order
	name     string
	desc     ocispec.Descriptor
	img      v1.Image
	manifest ocispec.Manifest
	// broken: the snapshotter cannot use the SOCI index at all.
	broken bool
	usages []*usage
	// soci is the SOCI index descriptor paired with this manifest, if the
	// image index lists one.
	soci *sociDesc
}

// usage is one zTOC applied to one layer of one platform.
type usage struct {
	plat     *platform
	layerIdx int
	layer    ocispec.Descriptor
	zdesc    ocispec.Descriptor
	z        *ztocState
}

func (u *usage) scope() scope {
	return scope{plat: u.plat, layerIdx: u.layerIdx, layer: u.layer.Digest.String(), ztoc: u.zdesc.Digest.String()}
}

// sociDesc is a SOCI index descriptor found in an image index.
type sociDesc struct {
	desc ocispec.Descriptor
	idx  v1.ImageIndex
	// img is set when the descriptor was opened already (a SOCI index
	// listed without its artifactType).
	img     v1.Image
	claimed bool
}

// scope places a finding in the image.
type scope struct {
	plat     *platform
	layerIdx int // -1: not about one layer
	manifest string
	soci     string
	layer    string
	ztoc     string
}

func imageScope() scope { return scope{layerIdx: -1} }

func (p *platform) scope() scope {
	return scope{plat: p, layerIdx: -1, manifest: p.desc.Digest.String()}
}

func (c *checker) add(sc scope, f finding) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	p := Problem{
		Severity: f.sev, Check: f.check, SociIndex: sc.soci, Layer: sc.layer, Ztoc: sc.ztoc,
		File: f.file, Offset: f.offset, Span: f.span, Message: f.msg, Manifest: sc.manifest,
		order: sortKey{platform: -1, layer: sc.layerIdx, seq: c.seq},
	}
	if sc.plat != nil {
		pl := c.rep.Platforms[sc.plat.n].Platform
		p.Platform = &pl
		p.Manifest = sc.plat.desc.Digest.String()
		p.order.platform = sc.plat.n
		if sc.soci == "" {
			p.SociIndex = c.rep.Platforms[sc.plat.n].SociIndex
		}
		if f.sev == SeverityError && sc.layerIdx >= 0 {
			c.layerErr[[2]int{sc.plat.n, sc.layerIdx}] = true
		}
	}
	c.rep.Problems = append(c.rep.Problems, p)
}

// finish derives the lazy flags and orders the problems.
func (c *checker) finish() {
	for _, p := range c.plats {
		pr := &c.rep.Platforms[p.n]
		for i := range pr.Layers {
			l := &pr.Layers[i]
			if l.Ztoc == nil {
				continue
			}
			switch {
			case p.broken:
				l.NoZtoc = ReasonNoSociIndex
			case c.layerErr[[2]int{p.n, i}]:
				l.NoZtoc = ReasonInvalidZtoc
			default:
				l.Lazy = true
				pr.Lazy = true
			}
		}
		if p.broken || !pr.SociEnabled {
			pr.Lazy = false
		}
	}
	sort.SliceStable(c.rep.Problems, func(i, j int) bool {
		a, b := c.rep.Problems[i].order, c.rep.Problems[j].order
		if a.platform != b.platform {
			return a.platform < b.platform
		}
		if a.layer != b.layer {
			return a.layer < b.layer
		}
		return a.seq < b.seq
	})
	if c.rep.Platforms == nil {
		c.rep.Platforms = []PlatformReport{}
	}
	if c.rep.Problems == nil {
		c.rep.Problems = []Problem{}
	}
}

// platformString writes a platform the way the reports do.
func platformString(p *ocispec.Platform) string {
	if p == nil {
		return "unknown"
	}
	return platformText(ociindex.V1Platform(*p))
}

// wanted reports whether a platform is among those asked for.
func (c *checker) wanted(p *ocispec.Platform) bool {
	if len(c.o.platforms) == 0 {
		return true
	}
	if p == nil {
		return false
	}
	for _, w := range c.o.platforms {
		if platformMatches(w, *p) {
			return true
		}
	}
	return false
}

// platformMatches is the converter's strict match (ociindex.MatchPlatform),
// so that --platform selects the same manifests in convert and verify.
func platformMatches(want v1.Platform, have ocispec.Platform) bool {
	return ociindex.MatchPlatform(ociindex.OCIPlatform(want), have)
}

func wantString(ps []v1.Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func toHash(d digest.Digest) (v1.Hash, error) {
	h, err := v1.NewHash(d.String())
	if err != nil {
		return h, fmt.Errorf("invalid digest %q: %w", d, err)
	}
	return h, nil
}
