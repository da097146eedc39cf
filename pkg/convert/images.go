package convert

import (
	"bytes"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/socify/socify/pkg/ociindex"
)

// The result of a conversion is a tree of these go-containerregistry values.
// New documents (image index, rewritten manifests, SOCI indexes, zTOCs) are
// held in memory; everything else is the source's own v1.Image, v1.Layer and
// v1.ImageIndex values, so writers copy or mount them from the source (a
// remote source's layers stay remote.MountableLayer).

// convertedIndex is a rewritten image index.
type convertedIndex struct {
	raw      []byte
	digest   v1.Hash
	children map[v1.Hash]partial.Describable // new or already loaded children
	src      v1.ImageIndex                   // everything else
}

var (
	_ v1.ImageIndex = (*convertedIndex)(nil)
	_ v1.Image      = (*rewrittenImage)(nil)
)

func newConvertedIndex(b ociindex.Blob, children map[v1.Hash]partial.Describable, src v1.ImageIndex) (*convertedIndex, error) {
	h, err := v1.NewHash(b.Descriptor.Digest.String())
	if err != nil {
		return nil, err
	}
	return &convertedIndex{raw: b.Bytes, digest: h, children: children, src: src}, nil
}

func (x *convertedIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }
func (x *convertedIndex) Digest() (v1.Hash, error)            { return x.digest, nil }
func (x *convertedIndex) Size() (int64, error)                { return int64(len(x.raw)), nil }
func (x *convertedIndex) RawManifest() ([]byte, error)        { return x.raw, nil }

func (x *convertedIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(x.raw))
}

func (x *convertedIndex) Image(h v1.Hash) (v1.Image, error) {
	if c, ok := x.children[h]; ok {
		if img, ok := c.(v1.Image); ok {
			return img, nil
		}
		return nil, fmt.Errorf("child %s is not an image", h)
	}
	if x.src == nil {
		return nil, fmt.Errorf("image %s not found in converted index", h)
	}
	return x.src.Image(h)
}

func (x *convertedIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	if c, ok := x.children[h]; ok {
		if idx, ok := c.(v1.ImageIndex); ok {
			return idx, nil
		}
		return nil, fmt.Errorf("child %s is not an image index", h)
	}
	if x.src == nil {
		return nil, fmt.Errorf("image index %s not found in converted index", h)
	}
	return x.src.ImageIndex(h)
}

// Layer serves children that are neither images nor indexes (go-containerregistry's
// workaround for such children, see partial.Manifests), from the source.
func (x *convertedIndex) Layer(h v1.Hash) (v1.Layer, error) {
	if c, ok := x.children[h]; ok {
		if l, ok := c.(v1.Layer); ok {
			return l, nil
		}
	}
	if wl, ok := x.src.(interface {
		Layer(v1.Hash) (v1.Layer, error)
	}); ok {
		return wl.Layer(h)
	}
	return nil, fmt.Errorf("blob %s not found in converted index", h)
}

// Manifests lets writers (remote.WriteIndex) walk the children without
// loading the source's manifests again.
func (x *convertedIndex) Manifests() ([]partial.Describable, error) {
	m, err := x.IndexManifest()
	if err != nil {
		return nil, err
	}
	out := make([]partial.Describable, 0, len(m.Manifests))
	for _, d := range m.Manifests {
		var c partial.Describable
		switch {
		case d.MediaType.IsIndex():
			c, err = x.ImageIndex(d.Digest)
		case d.MediaType.IsImage():
			c, err = x.Image(d.Digest)
		default:
			c, err = x.Layer(d.Digest)
		}
		if err != nil {
			return nil, fmt.Errorf("child %s of converted index: %w", d.Digest, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// rewrittenImage is a source image under a re-encoded manifest: same config,
// same layers, served by the source image itself.
type rewrittenImage struct {
	v1.Image // the source; Layers, LayerByDigest, ConfigFile... come from it
	raw      []byte
	digest   v1.Hash
}

func newRewrittenImage(src v1.Image, b ociindex.Blob) (*rewrittenImage, error) {
	h, err := v1.NewHash(b.Descriptor.Digest.String())
	if err != nil {
		return nil, err
	}
	return &rewrittenImage{Image: src, raw: b.Bytes, digest: h}, nil
}

func (r *rewrittenImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (r *rewrittenImage) Digest() (v1.Hash, error)            { return r.digest, nil }
func (r *rewrittenImage) Size() (int64, error)                { return int64(len(r.raw)), nil }
func (r *rewrittenImage) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r *rewrittenImage) Manifest() (*v1.Manifest, error) {
	return v1.ParseManifest(bytes.NewReader(r.raw))
}

// ConfigLayer keeps the source's config blob (a remote one can be mounted).
func (r *rewrittenImage) ConfigLayer() (v1.Layer, error) { return partial.ConfigLayer(r.Image) }

// Descriptor hides the source's descriptor, which names the old manifest.
func (r *rewrittenImage) Descriptor() (*v1.Descriptor, error) {
	return &v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: r.digest, Size: int64(len(r.raw))}, nil
}

// sociCore is a SOCI index manifest as a go-containerregistry image: the
// zTOCs are its layers and "{}" its config.
type sociCore struct {
	raw   []byte
	ztocs map[v1.Hash]v1.Layer
}

func (s *sociCore) RawConfigFile() ([]byte, error)      { return ociindex.EmptyConfig(), nil }
func (s *sociCore) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (s *sociCore) RawManifest() ([]byte, error)        { return s.raw, nil }
func (s *sociCore) ArtifactType() (string, error)       { return ociindex.ArtifactTypeSociIndexV2, nil }
func (s *sociCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := s.ztocs[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("zTOC %s not in SOCI index", h)
}
