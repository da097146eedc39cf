package location

import (
	"bytes"
	"fmt"
	"io/fs"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
)

// WrapImage presents a lone image manifest as the one-entry image index soci
// builds around it (ociindex.WrapManifest): the descriptor carries the
// platform read from the image config. The index is not a document of the
// source; converting it gives soci's result for the image, and
// pkg/convert recognises it by its bytes (Report.Wrapped).
func WrapImage(img v1.Image) (v1.ImageIndex, error) {
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if !ociindex.IsManifestType(string(mt)) {
		return nil, fmt.Errorf("media type %s is not an image manifest", mt)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("manifest %s: read config: %w", digest.FromBytes(raw), err)
	}
	p, err := ociindex.ConfigPlatform(cfg)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", digest.FromBytes(raw), err)
	}
	d := ocispec.Descriptor{MediaType: string(mt), Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	wraw, err := ociindex.Marshal(ociindex.WrapManifest(d, p))
	if err != nil {
		return nil, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(wraw))
	if err != nil {
		return nil, err
	}
	mh, err := v1.NewHash(d.Digest.String())
	if err != nil {
		return nil, err
	}
	return &wrappedIndex{img: img, imgDigest: mh, raw: wraw, digest: h}, nil
}

type wrappedIndex struct {
	img       v1.Image
	imgDigest v1.Hash
	raw       []byte
	digest    v1.Hash
}

var _ v1.ImageIndex = (*wrappedIndex)(nil)

func (w *wrappedIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }
func (w *wrappedIndex) Digest() (v1.Hash, error)            { return w.digest, nil }
func (w *wrappedIndex) Size() (int64, error)                { return int64(len(w.raw)), nil }
func (w *wrappedIndex) RawManifest() ([]byte, error)        { return w.raw, nil }
func (w *wrappedIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(w.raw))
}

func (w *wrappedIndex) Image(h v1.Hash) (v1.Image, error) {
	if h == w.imgDigest {
		return w.img, nil
	}
	return nil, fmt.Errorf("image %s not found: %w", h, fs.ErrNotExist)
}

func (w *wrappedIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("image index %s not found: %w", h, fs.ErrNotExist)
}
