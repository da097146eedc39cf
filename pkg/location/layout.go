package location

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
)

// These implement go-containerregistry's interfaces over a store. Unlike
// go-containerregistry's layout package they work for tar files too, and
// their layers expose the blob's file (BlobPath) so a layout sink can hard
// link instead of copying.

type layoutIndex struct {
	s    store
	desc v1.Descriptor
	raw  []byte
}

func newLayoutIndex(s store, desc v1.Descriptor) (*layoutIndex, error) {
	raw, err := readBlob(s, desc.Digest, maxDocument)
	if err != nil {
		return nil, err
	}
	if err := ociindex.ValidateMediaType(raw, string(desc.MediaType)); err != nil {
		return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
	}
	return &layoutIndex{s: s, desc: desc, raw: raw}, nil
}

var (
	_ v1.ImageIndex = (*layoutIndex)(nil)
	_ v1.Image      = (*layoutImage)(nil)
	_ v1.Layer      = (*layoutLayer)(nil)
)

func (x *layoutIndex) MediaType() (types.MediaType, error) { return x.desc.MediaType, nil }
func (x *layoutIndex) Digest() (v1.Hash, error)            { return x.desc.Digest, nil }
func (x *layoutIndex) Size() (int64, error)                { return int64(len(x.raw)), nil }
func (x *layoutIndex) RawManifest() ([]byte, error)        { return x.raw, nil }
func (x *layoutIndex) Descriptor() (*v1.Descriptor, error) { d := x.desc; return &d, nil }
func (x *layoutIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(x.raw))
}

func (x *layoutIndex) child(h v1.Hash) (v1.Descriptor, error) {
	m, err := x.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	for _, d := range m.Manifests {
		if d.Digest == h {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("%s is not a child of index %s: %w", h, x.desc.Digest, fs.ErrNotExist)
}

func (x *layoutIndex) Image(h v1.Hash) (v1.Image, error) {
	d, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return newLayoutImage(x.s, d)
}

func (x *layoutIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	d, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return newLayoutIndex(x.s, d)
}

// Layer serves children that are neither images nor indexes.
func (x *layoutIndex) Layer(h v1.Hash) (v1.Layer, error) {
	d, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return &layoutLayer{s: x.s, desc: d}, nil
}

type layoutImage struct {
	s        store
	desc     v1.Descriptor
	raw      []byte
	manifest *v1.Manifest

	configOnce sync.Once
	config     []byte
	configErr  error
}

func newLayoutImage(s store, desc v1.Descriptor) (*layoutImage, error) {
	raw, err := readBlob(s, desc.Digest, maxDocument)
	if err != nil {
		return nil, err
	}
	return newLayoutImageFromRaw(s, desc, raw)
}

func newLayoutImageFromRaw(s store, desc v1.Descriptor, raw []byte) (*layoutImage, error) {
	if err := ociindex.ValidateMediaType(raw, string(desc.MediaType)); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	return &layoutImage{s: s, desc: desc, raw: raw, manifest: m}, nil
}

func (i *layoutImage) MediaType() (types.MediaType, error) { return i.desc.MediaType, nil }
func (i *layoutImage) Digest() (v1.Hash, error)            { return i.desc.Digest, nil }
func (i *layoutImage) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *layoutImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *layoutImage) Descriptor() (*v1.Descriptor, error) { d := i.desc; return &d, nil }
func (i *layoutImage) Manifest() (*v1.Manifest, error)     { return i.manifest.DeepCopy(), nil }
func (i *layoutImage) ConfigName() (v1.Hash, error)        { return i.manifest.Config.Digest, nil }

func (i *layoutImage) RawConfigFile() ([]byte, error) {
	i.configOnce.Do(func() {
		i.config, i.configErr = readBlob(i.s, i.manifest.Config.Digest, maxDocument)
	})
	return i.config, i.configErr
}

func (i *layoutImage) ConfigFile() (*v1.ConfigFile, error) {
	b, err := i.RawConfigFile()
	if err != nil {
		return nil, err
	}
	return v1.ParseConfigFile(bytes.NewReader(b))
}

// ConfigLayer serves the config blob with its file (see partial.ConfigLayer).
func (i *layoutImage) ConfigLayer() (v1.Layer, error) {
	return &layoutLayer{s: i.s, desc: i.manifest.Config, img: i}, nil
}

func (i *layoutImage) Layers() ([]v1.Layer, error) {
	ls := make([]v1.Layer, 0, len(i.manifest.Layers))
	for _, d := range i.manifest.Layers {
		ls = append(ls, &layoutLayer{s: i.s, desc: d, img: i})
	}
	return ls, nil
}

func (i *layoutImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for _, d := range i.manifest.Layers {
		if d.Digest == h {
			return &layoutLayer{s: i.s, desc: d, img: i}, nil
		}
	}
	if h == i.manifest.Config.Digest {
		return i.ConfigLayer()
	}
	return nil, fmt.Errorf("image %s has no blob %s: %w", i.desc.Digest, h, fs.ErrNotExist)
}

func (i *layoutImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	d, err := partial.DiffIDToBlob(i, h)
	if err != nil {
		return nil, err
	}
	return i.LayerByDigest(d)
}

// layoutLayer is a blob of a layout: a layer, a config, or any other blob.
type layoutLayer struct {
	s    store
	desc v1.Descriptor
	img  *layoutImage // for DiffID; nil for blobs outside an image
}

func (l *layoutLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *layoutLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *layoutLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *layoutLayer) Descriptor() (*v1.Descriptor, error) { d := l.desc; return &d, nil }
func (l *layoutLayer) Compressed() (io.ReadCloser, error)  { return l.s.open(l.desc.Digest, 0) }

// BlobPath is the blob's file when the layout is a directory.
func (l *layoutLayer) BlobPath() string { return l.s.localPath(l.desc.Digest) }

// Exists lets writers skip blobs the layout does not hold (see partial.Exists).
func (l *layoutLayer) Exists() (bool, error) {
	_, err := l.s.stat(l.desc.Digest)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (l *layoutLayer) DiffID() (v1.Hash, error) {
	if l.img == nil {
		return l.desc.Digest, nil
	}
	return partial.BlobToDiffID(l.img, l.desc.Digest)
}

func (l *layoutLayer) Uncompressed() (io.ReadCloser, error) {
	// go-containerregistry's extender detects the compression from the bytes.
	ul, err := partial.CompressedToLayer(compressedOnly{l})
	if err != nil {
		return nil, err
	}
	return ul.Uncompressed()
}

// compressedOnly hides Uncompressed so partial.CompressedToLayer wraps it.
type compressedOnly struct{ l *layoutLayer }

func (c compressedOnly) Digest() (v1.Hash, error)            { return c.l.Digest() }
func (c compressedOnly) Compressed() (io.ReadCloser, error)  { return c.l.Compressed() }
func (c compressedOnly) Size() (int64, error)                { return c.l.Size() }
func (c compressedOnly) MediaType() (types.MediaType, error) { return c.l.MediaType() }

// resolveRoot picks the image of a layout the way soci standalone does
// (resolveLayoutRoot), after selecting by ref:
//
//   - ref "@N": the N-th entry of index.json; ref NAME: the entry whose
//     org.opencontainers.image.ref.name is NAME;
//   - no ref and one entry: that entry; several entries (crane writes one
//     per platform): index.json itself is the image index.
//
// Children of the chosen index whose manifests are missing are dropped (a
// layout exported for some platforms only); if exactly one manifest remains
// it becomes the image.
func resolveRoot(ctx context.Context, s store, ref string) (idx v1.ImageIndex, img v1.Image, desc v1.Descriptor, warnings []string, err error) {
	raw, err := s.file("index.json")
	if err != nil {
		return nil, nil, desc, nil, fmt.Errorf("not an OCI layout: index.json: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, desc, nil, err
	}
	var top ocispec.Index
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, nil, desc, nil, fmt.Errorf("index.json: %w", err)
	}
	var entries []ocispec.Descriptor
	switch {
	case ref != "" && ref[0] == '@':
		n, err := entryIndex(ref)
		if err != nil {
			return nil, nil, desc, nil, err
		}
		if n >= len(top.Manifests) {
			return nil, nil, desc, nil, fmt.Errorf("index.json has %d entries, no %s", len(top.Manifests), ref)
		}
		entries = top.Manifests[n : n+1]
	case ref != "":
		var names []string
		for _, d := range top.Manifests {
			if n := d.Annotations[ocispec.AnnotationRefName]; n == ref {
				entries = append(entries, d)
			} else if n != "" {
				names = append(names, n)
			}
		}
		if len(entries) == 0 {
			return nil, nil, desc, nil, fmt.Errorf("no image named %q in the layout (names: %v): %w", ref, names, fs.ErrNotExist)
		}
		if len(entries) > 1 {
			return nil, nil, desc, nil, fmt.Errorf("%d images are named %q in the layout", len(entries), ref)
		}
	default:
		entries = top.Manifests
	}
	if len(entries) == 0 {
		return nil, nil, desc, nil, errors.New("the layout holds no image (index.json is empty)")
	}

	var list ocispec.Index
	var listDesc v1.Descriptor
	if len(entries) == 1 {
		d, err := toV1(entries[0])
		if err != nil {
			return nil, nil, desc, nil, err
		}
		switch {
		case ociindex.IsManifestType(entries[0].MediaType):
			img, err := newLayoutImage(s, d)
			return nil, img, d, nil, err
		case !ociindex.IsIndexType(entries[0].MediaType):
			return nil, nil, d, nil, fmt.Errorf("entry %s has media type %s, not an image", d.Digest, d.MediaType)
		}
		li, err := newLayoutIndex(s, d)
		if err != nil {
			return nil, nil, d, nil, err
		}
		if err := json.Unmarshal(li.raw, &list); err != nil {
			return nil, nil, d, nil, fmt.Errorf("index %s: %w", d.Digest, err)
		}
		listDesc = d
		idx = li
	} else {
		list = ocispec.Index{Versioned: top.Versioned, MediaType: ocispec.MediaTypeImageIndex, Manifests: entries}
	}

	var present []ocispec.Descriptor
	for _, d := range list.Manifests {
		h, err := v1.NewHash(d.Digest.String())
		if err != nil {
			return nil, nil, desc, nil, fmt.Errorf("descriptor %s: %w", d.Digest, err)
		}
		if _, err := s.stat(h); errors.Is(err, fs.ErrNotExist) {
			warnings = append(warnings, fmt.Sprintf("%s %s is not in the layout; it is left out", describe(d), d.Digest))
			continue
		} else if err != nil {
			return nil, nil, desc, nil, err
		}
		present = append(present, d)
	}
	if idx != nil && len(present) == len(list.Manifests) {
		return idx, nil, listDesc, nil, nil
	}
	switch len(present) {
	case 0:
		return nil, nil, desc, warnings, errors.New("no manifest of the image is in the layout")
	case 1:
		if ociindex.IsManifestType(present[0].MediaType) {
			d, err := toV1(present[0])
			if err != nil {
				return nil, nil, desc, warnings, err
			}
			img, err := newLayoutImage(s, d)
			return nil, img, d, warnings, err
		}
	}
	// A new list of what is present, encoded as soci does.
	list.Manifests = present
	if list.MediaType == "" {
		list.MediaType = ocispec.MediaTypeImageIndex
	}
	b, err := json.Marshal(list)
	if err != nil {
		return nil, nil, desc, warnings, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return nil, nil, desc, warnings, err
	}
	d := v1.Descriptor{MediaType: types.MediaType(list.MediaType), Digest: h, Size: int64(len(b))}
	return &layoutIndex{s: s, desc: d, raw: b}, nil, d, warnings, nil
}

func describe(d ocispec.Descriptor) string {
	if d.Platform != nil {
		return "manifest for " + ociindex.FormatPlatform(*d.Platform)
	}
	return "manifest"
}

func toV1(d ocispec.Descriptor) (v1.Descriptor, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return v1.Descriptor{}, err
	}
	var out v1.Descriptor
	if err := json.Unmarshal(b, &out); err != nil {
		return v1.Descriptor{}, fmt.Errorf("descriptor %s: %w", d.Digest, err)
	}
	return out, nil
}
