package socify

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/ociindex"
)

// maxZtocSize bounds a zTOC read into memory. A zTOC holds one 32 KiB
// checkpoint per span, so even a 100 GB layer at 4 MiB spans stays far below.
const maxZtocSize = 1 << 30

// ErrNoZtoc: no SOCI index of the image has a zTOC for the layer.
var ErrNoZtoc = errors.New("no zTOC for the layer")

// Ztoc returns the serialized zTOC that the SOCI indexes of the image src
// hold for the layer with digest layer (of any platform), so that a zTOC
// can be looked at without extracting blobs.
func Ztoc(ctx context.Context, src, layer string, opts ...Option) ([]byte, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	want, err := v1.NewHash(layer)
	if err != nil {
		return nil, argErrorf("LAYER", "%q is not a digest (sha256:<hex>): %v", layer, err)
	}
	ref, err := location.ParseReference(src)
	if err != nil {
		return nil, &ArgError{Arg: "IMAGE", Err: err}
	}
	a, err := newAccess(o, ref)
	if err != nil {
		return nil, err
	}
	s, err := a.open(ctx, ref, false)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var fetch func(h v1.Hash) (v1.Image, error)
	if ref.Kind == location.Registry {
		r, err := name.ParseReference(ref.Ref, a.nameOptions()...)
		if err != nil {
			return nil, &ArgError{Arg: "IMAGE", Err: err}
		}
		fetch = func(h v1.Hash) (v1.Image, error) {
			return remote.Image(r.Context().Digest(h.String()), a.remoteOptions(ctx)...)
		}
	}
	b, err := findZtoc(ctx, s.Index, want, fetch, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: layer %s: %w", src, want, err)
	}
	return b, nil
}

// findZtoc looks through the SOCI indexes idx lists, and those its image
// manifests point at (com.amazon.soci.index-digest), nested indexes
// included.
func findZtoc(ctx context.Context, idx v1.ImageIndex, layer v1.Hash, fetch func(v1.Hash) (v1.Image, error), depth int) ([]byte, error) {
	if depth > 8 {
		return nil, errors.New("image indexes nested too deep")
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var socis []v1.Hash
	for _, d := range m.Manifests {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch {
		case d.ArtifactType == ociindex.ArtifactTypeSociIndexV2 || d.ArtifactType == ociindex.ArtifactTypeSociIndexV1:
			socis = append(socis, d.Digest)
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			if b, err := findZtoc(ctx, child, layer, fetch, depth+1); !errors.Is(err, ErrNoZtoc) {
				return b, err
			}
		case d.MediaType.IsImage():
			if s, ok := d.Annotations[ociindex.AnnotationIndexDigest]; ok {
				if h, err := v1.NewHash(s); err == nil {
					socis = append(socis, h)
				}
			}
		}
	}
	for _, h := range socis {
		img, err := idx.Image(h)
		if err != nil && fetch != nil {
			img, err = fetch(h)
		}
		if err != nil {
			continue // listed by a manifest but absent: another SOCI index may have it
		}
		sm, err := img.Manifest()
		if err != nil {
			return nil, fmt.Errorf("SOCI index %s: %w", h, err)
		}
		for _, l := range sm.Layers {
			if l.Annotations[ociindex.AnnotationImageLayerDigest] != layer.String() {
				continue
			}
			return readZtocBlob(img, l)
		}
	}
	return nil, ErrNoZtoc
}

func readZtocBlob(img v1.Image, d v1.Descriptor) ([]byte, error) {
	if d.Size > maxZtocSize {
		return nil, fmt.Errorf("zTOC %s: %d bytes, more than a zTOC can be", d.Digest, d.Size)
	}
	l, err := img.LayerByDigest(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("zTOC %s: %w", d.Digest, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("zTOC %s: %w", d.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, d.Size+1))
	if err != nil {
		return nil, fmt.Errorf("zTOC %s: %w", d.Digest, err)
	}
	if int64(len(b)) != d.Size {
		return nil, fmt.Errorf("zTOC %s: %d bytes, the SOCI index says %d", d.Digest, len(b), d.Size)
	}
	if got := digest.FromBytes(b).String(); got != d.Digest.String() {
		return nil, fmt.Errorf("zTOC %s: its bytes have digest %s", d.Digest, got)
	}
	return b, nil
}
