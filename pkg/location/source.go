package location

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Option configures sources and sinks.
type Option func(*options)

type options struct {
	remote   []remote.Option
	name     []name.Option
	logger   *slog.Logger
	noLink   bool
	progress func(Progress)

	archiveOrder ArchiveOrder
	uploads      Uploads
}

func makeOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// WithRemoteOptions passes options to go-containerregistry's remote package
// (authentication, transport, retries, jobs...). remote.WithContext is added
// by the source or sink.
func WithRemoteOptions(opts ...remote.Option) Option {
	return func(o *options) { o.remote = append(o.remote, opts...) }
}

// WithNameOptions passes options to reference parsing (name.Insecure for a
// plain-HTTP registry, for example).
func WithNameOptions(opts ...name.Option) Option {
	return func(o *options) { o.name = append(o.name, opts...) }
}

// WithLogger logs what sources and sinks do. The default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithoutHardLinks makes layout sinks copy blobs from a layout directory
// source instead of hard-linking them.
func WithoutHardLinks() Option { return func(o *options) { o.noLink = true } }

// Source is an opened image. It is always an image index, so that every
// caller takes one path: convert.Convert, verify, sinks.
type Source struct {
	Ref Reference
	// Index is the image. A reference that names a lone image manifest gets
	// the one-entry index soci wraps it in (see WrapImage), and Wrapped is
	// true; an index of the source, even with one manifest, is kept as it is,
	// with its annotations.
	Index   v1.ImageIndex
	Wrapped bool
	// Descriptor describes what the reference names: its digest, size and
	// media type (for a layout, as listed in index.json; for a pruned list,
	// the list made in memory; for a wrapped manifest, the manifest, so tag
	// templates see the source's own digest).
	Descriptor v1.Descriptor
	// Warnings tell what was left out (manifests missing from a layout).
	Warnings []string

	closer io.Closer
	store  store // layouts and archives: serves blobs by digest
}

// Close releases the source's files. Values read from it must not be used
// afterwards.
func (s *Source) Close() error {
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

// Open opens the image a reference names.
func Open(ctx context.Context, ref Reference, opts ...Option) (*Source, error) {
	o := makeOptions(opts)
	src := &Source{Ref: ref}
	var err error
	switch ref.Kind {
	case Registry:
		err = openRegistry(ctx, src, o)
	case Layout:
		fi, serr := os.Stat(ref.Path)
		if serr != nil {
			return nil, fmt.Errorf("open %s: %w", ref, serr)
		}
		if !fi.IsDir() {
			if h := ref.hint(); h != "" {
				return nil, fmt.Errorf("open %s: not a directory%s", ref, h)
			}
			return nil, fmt.Errorf("open %s: not a directory (an OCI archive is oci-archive:%s)", ref, ref.Path)
		}
		src.store = dirStore{root: ref.Path}
		err = openLayout(ctx, src)
	case Archive:
		ts, terr := openTarStore(ref.Path)
		if terr != nil {
			return nil, fmt.Errorf("open %s: %w%s", ref, terr, ref.hint())
		}
		src.store, src.closer = ts, ts
		err = openLayout(ctx, src)
	case DockerArchive:
		ts, terr := openTarStore(ref.Path)
		if terr != nil {
			return nil, fmt.Errorf("open %s: %w%s", ref, terr, ref.hint())
		}
		src.closer = ts
		var img v1.Image
		if img, src.store, src.Descriptor, err = openDockerArchive(ts, ref.Ref); err == nil {
			err = src.wrap(img)
		}
	default:
		err = fmt.Errorf("unknown transport %q", ref.Kind)
	}
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("open %s: %w%s", ref, err, ref.hint())
	}
	for _, w := range src.Warnings {
		o.logger.Warn(w, "source", ref.String())
	}
	return src, nil
}

// wrap makes a lone manifest the source's index.
func (s *Source) wrap(img v1.Image) error {
	idx, err := WrapImage(img)
	if err != nil {
		return err
	}
	s.Index, s.Wrapped = idx, true
	return nil
}

func openLayout(ctx context.Context, src *Source) error {
	idx, img, desc, warnings, err := resolveRoot(ctx, src.store, src.Ref.Ref)
	src.Index, src.Descriptor, src.Warnings = idx, desc, warnings
	if err == nil && img != nil {
		err = src.wrap(img)
	}
	return err
}

func openRegistry(ctx context.Context, src *Source, o options) error {
	r, err := name.ParseReference(src.Ref.Ref, o.name...)
	if err != nil {
		return err
	}
	ropts := append(append([]remote.Option{}, o.remote...), remote.WithContext(ctx))
	d, err := remote.Get(r, ropts...)
	if err != nil {
		return err
	}
	src.Descriptor = d.Descriptor
	switch {
	case d.MediaType.IsIndex():
		src.Index, err = d.ImageIndex()
	case d.MediaType.IsImage():
		var img v1.Image
		if img, err = d.Image(); err == nil {
			err = src.wrap(img)
		}
	case d.MediaType.IsSchema1():
		err = fmt.Errorf("%s is a Docker schema 1 manifest, which cannot be converted", r)
	default:
		err = fmt.Errorf("%s has media type %s, not an image or an index", r, d.MediaType)
	}
	return err
}

// ErrNotLayout is returned by InPlaceSink for sources that are not layout
// directories.
var ErrNotLayout = errors.New("in-place conversion needs an oci: layout directory source")
