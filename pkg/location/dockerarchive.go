package location

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A docker archive (`docker save`) is read in place, like an OCI archive:
// manifest.json (go-containerregistry's tarball.Manifest) names the config and
// layer members. The image is presented as an OCI image: an OCI manifest and
// config type, and each layer as stored, typed by its actual compression
// (uncompressed layers stay uncompressed, so nothing is recompressed and the
// layer digests are the config's diff IDs).

// openDockerArchive also returns the store that serves the image's blobs (a
// broken upload resumes from it): layers are tar members read as stored,
// never recompressed, so an offset in a layer is an offset in its member.
func openDockerArchive(ts *tarStore, ref string) (v1.Image, store, v1.Descriptor, error) {
	mb, err := ts.file("manifest.json")
	if err != nil {
		return nil, nil, v1.Descriptor{}, fmt.Errorf("not a docker archive: manifest.json: %w", err)
	}
	var m tarball.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, nil, v1.Descriptor{}, fmt.Errorf("manifest.json: %w", err)
	}
	e, err := pickDockerImage(m, ref)
	if err != nil {
		return nil, nil, v1.Descriptor{}, err
	}
	cfgName := cleanMember(e.Config)
	cfg, err := ts.file(cfgName)
	if err != nil {
		return nil, nil, v1.Descriptor{}, fmt.Errorf("config %s: %w", e.Config, err)
	}
	cfgHash, _, err := v1.SHA256(bytes.NewReader(cfg))
	if err != nil {
		return nil, nil, v1.Descriptor{}, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfg))
	if err != nil {
		return nil, nil, v1.Descriptor{}, fmt.Errorf("config %s: %w", e.Config, err)
	}

	o := &overlayStore{base: ts, mem: map[v1.Hash][]byte{cfgHash: cfg}, alias: map[v1.Hash]string{}}
	man := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.Digest(cfgHash.String()), Size: int64(len(cfg))},
		Layers:    []ocispec.Descriptor{},
	}
	for i, lp := range e.Layers {
		var diffID v1.Hash
		if i < len(cf.RootFS.DiffIDs) {
			diffID = cf.RootFS.DiffIDs[i]
		}
		if src, ok := e.LayerSources[diffID]; ok {
			// A foreign layer: the archive holds at most a copy; the manifest
			// keeps the original descriptor, as go-containerregistry does.
			d, err := fromV1(src)
			if err != nil {
				return nil, nil, v1.Descriptor{}, err
			}
			man.Layers = append(man.Layers, d)
			if _, err := ts.member(cleanMember(lp)); err == nil {
				o.alias[src.Digest] = cleanMember(lp)
			}
			continue
		}
		member := cleanMember(lp)
		r, err := ts.member(member)
		if err != nil {
			return nil, nil, v1.Descriptor{}, fmt.Errorf("layer %s: %w", lp, err)
		}
		var head [4]byte
		n, _ := r.ReadAt(head[:], 0)
		mt, compressed := ocispec.MediaTypeImageLayer, false
		switch {
		case n >= 2 && head[0] == 0x1f && head[1] == 0x8b:
			mt, compressed = ocispec.MediaTypeImageLayerGzip, true
		case n == 4 && bytes.Equal(head[:], []byte{0x28, 0xb5, 0x2f, 0xfd}):
			mt, compressed = ocispec.MediaTypeImageLayerZstd, true
		}
		h, err := layerDigest(member, r, compressed, diffID)
		if err != nil {
			return nil, nil, v1.Descriptor{}, fmt.Errorf("layer %s: %w", lp, err)
		}
		man.Layers = append(man.Layers, ocispec.Descriptor{MediaType: mt, Digest: digest.Digest(h.String()), Size: r.Size()})
		o.alias[h] = member
	}
	raw, err := json.Marshal(man)
	if err != nil {
		return nil, nil, v1.Descriptor{}, err
	}
	mh, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, v1.Descriptor{}, err
	}
	o.mem[mh] = raw
	d := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: mh, Size: int64(len(raw))}
	img, err := newLayoutImageFromRaw(o, d, raw)
	return img, o, d, err
}

// layerDigest finds a layer's digest without reading it when possible:
// Docker 25+ stores layers content-addressed, and an uncompressed layer's
// digest is its diff ID. Otherwise the member is hashed (legacy archives of
// compressed layers).
func layerDigest(member string, r *io.SectionReader, compressed bool, diffID v1.Hash) (v1.Hash, error) {
	if hx, ok := strings.CutPrefix(member, "blobs/sha256/"); ok && isHex64(hx) {
		return v1.Hash{Algorithm: "sha256", Hex: hx}, nil
	}
	if !compressed && diffID.Hex != "" {
		return diffID, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, r.Size())); err != nil {
		return v1.Hash{}, err
	}
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}, nil
}

func pickDockerImage(m tarball.Manifest, ref string) (tarball.Descriptor, error) {
	var tags []string
	for _, e := range m {
		tags = append(tags, e.RepoTags...)
	}
	switch {
	case len(m) == 0:
		return tarball.Descriptor{}, fmt.Errorf("manifest.json lists no image")
	case ref == "" && len(m) == 1:
		return m[0], nil
	case ref == "":
		return tarball.Descriptor{}, fmt.Errorf("the archive holds %d images; name one (tags: %s) or use @N", len(m), strings.Join(tags, ", "))
	case ref[0] == '@':
		n, err := entryIndex(ref)
		if err != nil {
			return tarball.Descriptor{}, err
		}
		if n >= len(m) {
			return tarball.Descriptor{}, fmt.Errorf("the archive holds %d images, no %s", len(m), ref)
		}
		return m[n], nil
	}
	want := normalizeTag(ref)
	for _, e := range m {
		for _, t := range e.RepoTags {
			if normalizeTag(t) == want {
				return e, nil
			}
		}
	}
	return tarball.Descriptor{}, fmt.Errorf("no image tagged %q in the archive (tags: %s)", ref, strings.Join(tags, ", "))
}

func normalizeTag(s string) string {
	if t, err := name.NewTag(s, name.WeakValidation); err == nil {
		return t.Name()
	}
	return s
}

func fromV1(d v1.Descriptor) (ocispec.Descriptor, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var out ocispec.Descriptor
	err = json.Unmarshal(b, &out)
	return out, err
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
