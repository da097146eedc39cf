package convert

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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

// MaxSpanSize bounds WithSpanSize: a span's checkpoint covers this much
// uncompressed data, and larger spans make a random read inflate that much.
const MaxSpanSize int64 = 1 << 30

// Option configures a conversion. An option whose value is invalid makes
// Convert fail before it reads anything, with an error naming the option.
type Option func(*options) error

// ErrInvalidOption is wrapped by every option validation error.
var ErrInvalidOption = errors.New("invalid option")

type options struct {
	platforms     []v1.Platform
	spanSize      int64
	minLayerSize  int64
	tool          string
	jobs          int
	cache         Cache
	cacheErr      error // WithCacheDir("") found no user cache directory
	tee           LayerTee
	allowEmpty    bool
	progress      func(Event)
	logger        *slog.Logger
	imageName     string
	disableXattrs bool
	prefetch      []string // WithPrefetchFiles, in prefetch.go
}

func makeOptions(opts []Option) (options, error) {
	o := options{
		spanSize:     DefaultSpanSize,
		minLayerSize: DefaultMinLayerSize,
		tool:         DefaultBuildToolIdentifier,
	}
	for _, f := range opts {
		if f == nil {
			continue
		}
		if err := f(&o); err != nil {
			return o, err
		}
	}
	if o.jobs == 0 {
		o.jobs = runtime.GOMAXPROCS(0)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOption, fmt.Sprintf(format, a...))
}

// WithPlatforms converts only these platforms, in this order (the SOCI index
// descriptors are appended in this order and carry the platform as given).
// Each must match a manifest of the image (strict match, as soci); duplicates
// are dropped. Without it every platform of the image is converted, which,
// unlike soci's host-platform default, does not depend on the machine.
// ociindex.ParsePlatform parses the "os/arch[/variant]" form as soci does.
func WithPlatforms(p ...v1.Platform) Option {
	return func(o *options) error {
		for _, pl := range p {
			if pl.OS == "" || pl.Architecture == "" {
				return invalid("WithPlatforms: platform %q must name an OS and an architecture", pl.String())
			}
		}
		o.platforms = append(o.platforms, p...)
		return nil
	}
}

// WithSpanSize sets the zTOC span size in uncompressed bytes (default 4 MiB,
// at most MaxSpanSize).
func WithSpanSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 || n > MaxSpanSize {
			return invalid("WithSpanSize: span size %d is not between 1 and %d bytes", n, MaxSpanSize)
		}
		o.spanSize = n
		return nil
	}
}

// WithMinLayerSize sets the minimum compressed layer size to index (default
// 10 MiB). Layers strictly smaller are skipped; 0 indexes every layer.
func WithMinLayerSize(n int64) Option {
	return func(o *options) error {
		if n < 0 {
			return invalid("WithMinLayerSize: minimum layer size %d is negative", n)
		}
		o.minLayerSize = n
		return nil
	}
}

// WithBuildToolIdentifier sets the identifier written into each zTOC and SOCI
// index (default "socify"). ztoc.SociBuildToolIdentifier reproduces soci.
func WithBuildToolIdentifier(s string) Option {
	return func(o *options) error { o.tool = s; return nil }
}

// WithJobs bounds the number of layers indexed at the same time. 0 (the
// default) means runtime.GOMAXPROCS(0).
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return invalid("WithJobs: %d jobs is negative (0 means one per CPU)", n)
		}
		o.jobs = n
		return nil
	}
}

// WithCacheStore keeps built zTOCs in c (see Cache), so a layer seen before
// is not read again. nil disables the cache (the default). NewDirCache is a
// cache on a local directory.
func WithCacheStore(c Cache) Option {
	return func(o *options) error { o.cache, o.cacheErr = c, nil; return nil }
}

// WithCacheDir keeps built zTOCs in the directory dir (NewDirCache), or with dir "" in
// DefaultCacheDir. When there is no user cache directory (a bare container), the conversion
// runs without a cache and logs a warning instead of failing.
func WithCacheDir(dir string) Option {
	return func(o *options) error {
		o.cache, o.cacheErr = nil, nil
		if dir == "" {
			d, err := DefaultCacheDir()
			if err != nil {
				o.cacheErr = err
				return nil
			}
			dir = d
		}
		o.cache = NewDirCache(dir)
		return nil
	}
}

// WithAllowEmpty makes a conversion in which no layer qualifies return the
// image re-encoded (OCI media types, no SOCI index) instead of failing with
// ErrEmptyIndex.
func WithAllowEmpty(allow bool) Option {
	return func(o *options) error { o.allowEmpty = allow; return nil }
}

// WithProgress calls f as layers are indexed. f is called from several
// goroutines at once and must not block.
func WithProgress(f func(Event)) Option {
	return func(o *options) error { o.progress = f; return nil }
}

// WithLogger logs decisions (skipped layers, cache hits) at debug and info
// level. The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithImageName names the source image in errors and the report (for
// example the reference the CLI was given).
func WithImageName(name string) Option {
	return func(o *options) error { o.imageName = name; return nil }
}

// WithDisableXattrs is soci's --optimizations xattr: zTOC descriptors of
// layers without any SCHILY.xattr.* record and without an opaque whiteout
// get com.amazon.soci.disable-xattrs=true.
func WithDisableXattrs(b bool) Option {
	return func(o *options) error { o.disableXattrs = b; return nil }
}

// WithOptimizations is soci's --optimizations: the names of the optimizations to apply. The only
// one soci has is "xattr" (WithDisableXattrs); any other name is an error.
func WithOptimizations(names ...string) Option {
	return func(o *options) error {
		for _, n := range names {
			if n != "xattr" {
				return invalid("WithOptimizations: unknown optimization %q (the only one is xattr)", n)
			}
			o.disableXattrs = true
		}
		return nil
	}
}

// CheckOptions validates opts without converting anything, for callers that
// want a bad value to fail before they open the source.
func CheckOptions(opts ...Option) error {
	_, err := makeOptions(opts)
	return err
}
