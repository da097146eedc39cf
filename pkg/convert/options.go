package convert

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ztoc"
)

// Defaults, as soci convert.
const (
	// DefaultMinLayerSize: layers whose compressed size is strictly below are
	// not indexed (soci's --min-layer-size default, 10 MiB).
	DefaultMinLayerSize int64 = 10 << 20
	// DefaultSpanSize is soci's span size (4 MiB of uncompressed data).
	DefaultSpanSize = ztoc.DefaultSpanSize
	// DefaultBuildToolIdentifier is written into zTOCs and SOCI indexes unless
	// WithBuildToolIdentifier says otherwise. Use ztoc.SociBuildToolIdentifier
	// to get soci's exact bytes.
	DefaultBuildToolIdentifier = "socify"
)

// Option configures a conversion.
type Option func(*options)

type options struct {
	platforms     []ocispec.Platform
	spanSize      int64
	minLayerSize  int64
	tool          string
	jobs          int
	cacheDir      string
	allowEmpty    bool
	progress      func(Event)
	logger        *slog.Logger
	imageName     string
	disableXattrs bool
}

func makeOptions(opts []Option) options {
	o := options{
		spanSize:     DefaultSpanSize,
		minLayerSize: DefaultMinLayerSize,
		tool:         DefaultBuildToolIdentifier,
		jobs:         runtime.NumCPU(),
	}
	for _, f := range opts {
		f(&o)
	}
	if o.jobs < 1 {
		o.jobs = 1
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// WithPlatforms converts only these platforms, in this order (the SOCI index
// descriptors are appended in this order and carry the platform as given).
// Each must match a manifest of the image (strict match, as soci); duplicates
// are dropped. Without it every platform of the image is converted, which,
// unlike soci's host-platform default, does not depend on the machine.
func WithPlatforms(p ...ocispec.Platform) Option {
	return func(o *options) { o.platforms = append(o.platforms, p...) }
}

// WithSpanSize sets the zTOC span size in uncompressed bytes (default 4 MiB).
func WithSpanSize(n int64) Option { return func(o *options) { o.spanSize = n } }

// WithMinLayerSize sets the minimum compressed layer size to index (default
// 10 MiB). Layers strictly smaller are skipped; 0 indexes every layer.
func WithMinLayerSize(n int64) Option { return func(o *options) { o.minLayerSize = n } }

// WithBuildToolIdentifier sets the identifier written into each zTOC and SOCI
// index (default "socify"). ztoc.SociBuildToolIdentifier reproduces soci.
func WithBuildToolIdentifier(s string) Option { return func(o *options) { o.tool = s } }

// WithJobs bounds the number of layers indexed at the same time (default:
// the number of CPUs).
func WithJobs(n int) Option { return func(o *options) { o.jobs = n } }

// WithCache keeps built zTOCs in dir, keyed by layer digest, compression,
// span size, build tool identifier and zTOC format version, so a layer seen
// before is not read again. Entries are written atomically: concurrent
// conversions may share the directory. An empty dir disables the cache
// (the default).
func WithCache(dir string) Option { return func(o *options) { o.cacheDir = dir } }

// WithoutCache disables the zTOC cache.
func WithoutCache() Option { return func(o *options) { o.cacheDir = "" } }

// DefaultCacheDir is where the CLI keeps zTOCs: <user cache dir>/socify/ztoc.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "socify", "ztoc"), nil
}

// WithAllowEmpty makes a conversion in which no layer qualifies return the
// image re-encoded (OCI media types, no SOCI index) instead of failing with
// ErrEmptyIndex.
func WithAllowEmpty(allow bool) Option { return func(o *options) { o.allowEmpty = allow } }

// WithProgress calls f as layers are indexed. f is called from several
// goroutines at once and must not block.
func WithProgress(f func(Event)) Option { return func(o *options) { o.progress = f } }

// WithLogger logs decisions (skipped layers, cache hits) at debug and info
// level. The default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithImageName names the source image in errors and the report (for
// example the reference the CLI was given).
func WithImageName(name string) Option { return func(o *options) { o.imageName = name } }

// WithDisableXattrs is soci's --optimizations xattr: zTOC descriptors of
// layers without any SCHILY.xattr.* record and without an opaque whiteout
// get com.amazon.soci.disable-xattrs=true.
func WithDisableXattrs(b bool) Option { return func(o *options) { o.disableXattrs = b } }
