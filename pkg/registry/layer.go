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

// wrapper is what the wrapped layers, images and indexes of one Wrap call share.
type wrapper struct {
	c    *Client
	ctx  context.Context
	repo name.Repository
	opts []ReadOption
	err  error // from building a Client for the package-level helpers; returned on every read
}

func packageWrapper(ctx context.Context, repo name.Repository, opts []Option) *wrapper {
	c, err := NewClient(opts...)
	return &wrapper{c: c, ctx: ctx, repo: repo, err: err}
}

// WrapLayer returns l with a Compressed() that reads the blob from repo through the client's
// OpenBlob, so a broken download resumes instead of failing and a large blob is read over several
// connections. Everything else is l's. The size check uses l's size. A layer go-containerregistry
// can mount across repositories stays mountable.
func (c *Client) WrapLayer(ctx context.Context, l v1.Layer, repo name.Repository, opts ...ReadOption) v1.Layer {
	return (&wrapper{c: c, ctx: ctx, repo: repo, opts: opts}).layer(l)
}

// WrapImage returns img whose layers (Layers, LayerByDigest, LayerByDiffID) are wrapped with
// WrapLayer. Manifest, config and descriptor come from img unchanged.
func (c *Client) WrapImage(ctx context.Context, img v1.Image, repo name.Repository, opts ...ReadOption) v1.Image {
	return (&wrapper{c: c, ctx: ctx, repo: repo, opts: opts}).image(img)
}

// WrapIndex returns idx whose images (and nested indexes, recursively) are wrapped with
// WrapImage: resume and parallel reads for every layer of a remote source. Pass
// VerifyDigest(false) when the consumer hashes each layer itself (convert does).
func (c *Client) WrapIndex(ctx context.Context, idx v1.ImageIndex, repo name.Repository, opts ...ReadOption) v1.ImageIndex {
	return (&wrapper{c: c, ctx: ctx, repo: repo, opts: opts}).index(idx)
}

// WrapLayer is Client.WrapLayer on a Client built from opts.
func WrapLayer(ctx context.Context, l v1.Layer, repo name.Repository, opts ...Option) v1.Layer {
	return packageWrapper(ctx, repo, opts).layer(l)
}

func (w *wrapper) layer(l v1.Layer) v1.Layer {
	if ml, ok := l.(*remote.MountableLayer); ok {
		return &remote.MountableLayer{Layer: w.plainLayer(ml.Layer), Reference: ml.Reference}
	}
	return w.plainLayer(l)
}

func (w *wrapper) plainLayer(l v1.Layer) v1.Layer {
	if r, ok := l.(*resumableLayer); ok {
		return r
	}
	return &resumableLayer{Layer: l, w: w}
}

type resumableLayer struct {
	v1.Layer
	w *wrapper
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
	if l.w.err != nil {
		return nil, fmt.Errorf("layer %s: %w", d, l.w.err)
	}
	opts := append(append([]ReadOption(nil), l.w.opts...), BlobSize(size))
	return l.w.c.OpenBlob(l.w.ctx, l.w.repo.Digest(d.String()), opts...)
}

// Descriptor keeps the wrapped layer's descriptor (annotations, URLs) visible to partial.Descriptor.
func (l *resumableLayer) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(l.Layer) }

// WrapImage is Client.WrapImage on a Client built from opts.
func WrapImage(ctx context.Context, img v1.Image, repo name.Repository, opts ...Option) v1.Image {
	return packageWrapper(ctx, repo, opts).image(img)
}

func (w *wrapper) image(img v1.Image) v1.Image {
	if r, ok := img.(*resumableImage); ok {
		return r
	}
	return &resumableImage{Image: img, w: w}
}

type resumableImage struct {
	v1.Image
	w *wrapper
}

func (i *resumableImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for k, l := range ls {
		out[k] = i.w.layer(l)
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
	return i.w.layer(l), nil
}

func (i *resumableImage) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(i.Image) }

// ArtifactType keeps the wrapped image's artifactType visible to partial.Descriptor.
func (i *resumableImage) ArtifactType() (string, error) { return partial.ArtifactType(i.Image) }

// WrapIndex is Client.WrapIndex on a Client built from opts (WithDigestCheck(false) turns the
// layers' digest check off).
func WrapIndex(ctx context.Context, idx v1.ImageIndex, repo name.Repository, opts ...Option) v1.ImageIndex {
	return packageWrapper(ctx, repo, opts).index(idx)
}

func (w *wrapper) index(idx v1.ImageIndex) v1.ImageIndex {
	if r, ok := idx.(*resumableIndex); ok {
		return r
	}
	return &resumableIndex{inner: idx, w: w}
}

type resumableIndex struct {
	inner v1.ImageIndex
	w     *wrapper
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
	return x.w.image(img), nil
}

func (x *resumableIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	idx, err := x.inner.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return x.w.index(idx), nil
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
			out[k] = x.w.image(v)
		case v1.ImageIndex:
			out[k] = x.w.index(v)
		case v1.Layer:
			out[k] = x.w.layer(v)
		default:
			out[k] = m
		}
	}
	return out, nil
}
