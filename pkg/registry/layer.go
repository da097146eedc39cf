package registry

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// WrapLayer returns l with a Compressed() that reads the blob from repo through OpenBlob, so a
// broken download resumes instead of failing. Everything else is l's. The size check uses l's
// size; opts are OpenBlob's (credentials, retries, WithDigestCheck...). A layer go-containerregistry
// can mount across repositories stays mountable.
func WrapLayer(ctx context.Context, l v1.Layer, repo name.Repository, opts ...Option) v1.Layer {
	if ml, ok := l.(*remote.MountableLayer); ok {
		return &remote.MountableLayer{Layer: wrapLayer(ctx, ml.Layer, repo, opts), Reference: ml.Reference}
	}
	return wrapLayer(ctx, l, repo, opts)
}

func wrapLayer(ctx context.Context, l v1.Layer, repo name.Repository, opts []Option) v1.Layer {
	if r, ok := l.(*resumableLayer); ok {
		return r
	}
	return &resumableLayer{Layer: l, ctx: ctx, repo: repo, opts: opts}
}

type resumableLayer struct {
	v1.Layer
	ctx  context.Context
	repo name.Repository
	opts []Option
}

func (l *resumableLayer) Compressed() (io.ReadCloser, error) {
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	size, err := l.Size()
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", d, err)
	}
	opts := append(append([]Option(nil), l.opts...), WithSize(size))
	return OpenBlob(l.ctx, l.repo.Digest(d.String()), opts...)
}

// Descriptor keeps the wrapped layer's descriptor (annotations, URLs) visible to partial.Descriptor.
func (l *resumableLayer) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(l.Layer) }

// WrapImage returns img whose layers (Layers, LayerByDigest, LayerByDiffID) are wrapped with
// WrapLayer. Manifest, config and descriptor come from img unchanged.
func WrapImage(ctx context.Context, img v1.Image, repo name.Repository, opts ...Option) v1.Image {
	if w, ok := img.(*resumableImage); ok {
		return w
	}
	return &resumableImage{Image: img, ctx: ctx, repo: repo, opts: opts}
}

type resumableImage struct {
	v1.Image
	ctx  context.Context
	repo name.Repository
	opts []Option
}

func (i *resumableImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for k, l := range ls {
		out[k] = WrapLayer(i.ctx, l, i.repo, i.opts...)
	}
	return out, nil
}

func (i *resumableImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return i.wrapIfBlob(l)
}

func (i *resumableImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDiffID(h)
	if err != nil {
		return nil, err
	}
	return i.wrapIfBlob(l)
}

// wrapIfBlob leaves the config (also reachable through LayerByDigest) alone: it is small and
// go-containerregistry serves it from memory.
func (i *resumableImage) wrapIfBlob(l v1.Layer) (v1.Layer, error) {
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	if cn, err := i.Image.ConfigName(); err == nil && cn == d {
		return l, nil
	}
	return WrapLayer(i.ctx, l, i.repo, i.opts...), nil
}

func (i *resumableImage) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(i.Image) }

// ArtifactType keeps the wrapped image's artifactType visible to partial.Descriptor.
func (i *resumableImage) ArtifactType() (string, error) { return partial.ArtifactType(i.Image) }

// WrapIndex returns idx whose images (and nested indexes, recursively) are wrapped with WrapImage.
func WrapIndex(ctx context.Context, idx v1.ImageIndex, repo name.Repository, opts ...Option) v1.ImageIndex {
	if w, ok := idx.(*resumableIndex); ok {
		return w
	}
	return &resumableIndex{inner: idx, ctx: ctx, repo: repo, opts: opts}
}

type resumableIndex struct {
	inner v1.ImageIndex
	ctx   context.Context
	repo  name.Repository
	opts  []Option
}

func (x *resumableIndex) MediaType() (types.MediaType, error)       { return x.inner.MediaType() }
func (x *resumableIndex) Digest() (v1.Hash, error)                  { return x.inner.Digest() }
func (x *resumableIndex) Size() (int64, error)                      { return x.inner.Size() }
func (x *resumableIndex) IndexManifest() (*v1.IndexManifest, error) { return x.inner.IndexManifest() }
func (x *resumableIndex) RawManifest() ([]byte, error)              { return x.inner.RawManifest() }

func (x *resumableIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := x.inner.Image(h)
	if err != nil {
		return nil, err
	}
	return WrapImage(x.ctx, img, x.repo, x.opts...), nil
}

func (x *resumableIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	idx, err := x.inner.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return WrapIndex(x.ctx, idx, x.repo, x.opts...), nil
}

func (x *resumableIndex) Descriptor() (*v1.Descriptor, error) {
	return partial.Descriptor(x.inner)
}

// Manifests keeps child images lazily wrapped for callers that use partial.Manifests.
func (x *resumableIndex) Manifests() ([]partial.Describable, error) {
	ms, err := partial.Manifests(x.inner)
	if err != nil {
		return nil, err
	}
	out := make([]partial.Describable, len(ms))
	for k, m := range ms {
		switch v := m.(type) {
		case v1.Image:
			out[k] = WrapImage(x.ctx, v, x.repo, x.opts...)
		case v1.ImageIndex:
			out[k] = WrapIndex(x.ctx, v, x.repo, x.opts...)
		case v1.Layer:
			out[k] = WrapLayer(x.ctx, v, x.repo, x.opts...)
		default:
			out[k] = m
		}
	}
	return out, nil
}
