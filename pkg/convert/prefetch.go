package convert

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/prefetch"
)

// WithPrefetchFiles is soci's --prefetch-file (experimental in soci v0.16.1):
// each SOCI index gets, after its zTOC descriptors, one prefetch artifact
// per layer holding any of these files, which the snapshotter fetches in
// the background when it mounts the layer. Paths are cleaned as the
// snapshotter cleans names ("/usr/bin/x" and "usr/bin/x" are the same) and
// matched exactly against the tar's names, searching layers top-down; a
// path no layer with a zTOC holds is a warning in the report, as in soci.
// The artifacts are byte-identical to soci's (see pkg/prefetch). Repeated
// options add up; an empty path is an error.
func WithPrefetchFiles(paths ...string) Option {
	return func(o *options) error {
		for _, p := range paths {
			if strings.TrimSpace(p) == "" {
				return invalid("prefetch file: empty path")
			}
		}
		o.prefetch = append(o.prefetch, paths...)
		return nil
	}
}

// prefetchFor appends the prefetch artifacts of ch's layers to the SOCI
// index's descriptors and makes their blobs available next to the zTOCs.
func (c *converter) prefetchFor(ch *child, descs []ocispec.Descriptor, blobs map[v1.Hash]v1.Layer) ([]ocispec.Descriptor, error) {
	if len(c.o.prefetch) == 0 {
		return descs, nil
	}
	layers := make([]prefetch.Layer, 0, len(ch.slots))
	for _, s := range ch.slots {
		l := prefetch.Layer{Digest: s.desc.Digest}
		if s.job != nil {
			l.Ztoc = s.job.ztoc
		}
		layers = append(layers, l)
	}
	res, err := prefetch.Build(layers, c.o.prefetch)
	if err != nil {
		return nil, fmt.Errorf("image %s: manifest %s: prefetch artifacts: %w", c.name, ch.desc.Digest, err)
	}
	for _, p := range res.NotFound {
		c.warn("image %s: platform %s: prefetch file %s is not in any layer with a zTOC (names match exactly: no \"./\" prefix, no directories written with a trailing slash)", c.name, ociindex.FormatPlatform(ch.platform), p)
	}
	for _, b := range res.Blobs {
		descs = append(descs, b.Descriptor)
		h, err := hashOf(b.Descriptor.Digest)
		if err != nil {
			return nil, err
		}
		blobs[h] = static.NewLayer(b.Bytes, types.MediaType(prefetch.MediaType))
		c.newBlob("prefetch", b.Descriptor)
	}
	return descs, nil
}
