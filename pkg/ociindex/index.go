package ociindex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ChildUpdate says what became of one child of the source index.
type ChildUpdate struct {
	Digest    digest.Digest
	Size      int64
	MediaType string
	// Annotations replace the descriptor's annotations. For a rewritten image
	// manifest these are the manifest's own annotations (soci's rule), which
	// RewriteManifest returns in its descriptor.
	Annotations map[string]string
}

// UpdateFromBlob is the ChildUpdate for a manifest rewritten by RewriteManifest.
func UpdateFromBlob(b Blob) ChildUpdate {
	return ChildUpdate{
		Digest:      b.Descriptor.Digest,
		Size:        b.Descriptor.Size,
		MediaType:   b.Descriptor.MediaType,
		Annotations: cloneAnnotations(b.Descriptor.Annotations),
	}
}

// SociEntry is one SOCI index to list in the image index.
type SociEntry struct {
	// Index is the SOCI index descriptor from NewSociIndex.
	Index ocispec.Descriptor
	// Platform is written as given; soci writes the platform as requested.
	Platform ocispec.Platform
	// SourceManifest is the digest, in the source index, of the image manifest
	// the SOCI index was built for.
	SourceManifest digest.Digest
}

// WrapManifest is the image index soci makes around a single image manifest:
// one descriptor, carrying the platform read from the image config.
func WrapManifest(manifest ocispec.Descriptor, platform ocispec.Platform) ocispec.Index {
	manifest.Platform = &platform
	return ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manifest},
	}
}

// WrappedManifest reports whether raw is exactly the index WrapManifest makes
// (as Marshal encodes it) and returns the manifest descriptor it wraps. The
// converter uses it to tell a wrapped lone manifest, which is not a document
// of the source, from an index the source holds, whatever wraps the index
// value on the way (resumable readers, caches).
func WrappedManifest(raw []byte) (ocispec.Descriptor, bool) {
	var x ocispec.Index
	if json.Unmarshal(raw, &x) != nil || len(x.Manifests) != 1 || x.Manifests[0].Platform == nil {
		return ocispec.Descriptor{}, false
	}
	d := x.Manifests[0]
	p := *d.Platform
	d.Platform = nil
	b, err := Marshal(WrapManifest(d, p))
	if err != nil || !bytes.Equal(b, raw) {
		return ocispec.Descriptor{}, false
	}
	return x.Manifests[0], true
}

// ConvertIndex builds the SOCI-enabled image index from the source index.
//
//   - The media type becomes the OCI index type; annotations, subject and
//     artifactType of the index are kept.
//   - Each child in updates gets its new digest, size and media type, and its
//     annotations are replaced by update.Annotations (soci's rule). Unlike
//     soci, annotations starting with vnd.docker.reference. are kept, and
//     vnd.docker.reference.digest follows the manifest it names to its new
//     digest, so buildx attestations stay attached to their image.
//   - Existing SOCI index descriptors are never rewritten (soci corrupts the
//     ones it does not replace); their com.amazon.soci.image-manifest-digest
//     follows a rewritten manifest.
//   - Each SociEntry replaces, in place, the SOCI descriptor that belonged to
//     the same manifest (by com.amazon.soci.image-manifest-digest), or else a
//     stale v2 descriptor of the same platform whose manifest is gone, and is
//     appended otherwise, in the order given.
//
// Children not in updates are kept as they are, apart from the digest
// references above.
func ConvertIndex(src ocispec.Index, updates map[digest.Digest]ChildUpdate, socis []SociEntry) (Blob, ocispec.Index, error) {
	out := src
	out.MediaType = ocispec.MediaTypeImageIndex
	out.Annotations = cloneAnnotations(src.Annotations)
	out.Manifests = make([]ocispec.Descriptor, 0, len(src.Manifests)+len(socis))

	remap := make(map[digest.Digest]digest.Digest, len(updates))
	for old, u := range updates {
		remap[old] = u.Digest
	}
	follow := func(annotations map[string]string, key string) {
		if v, ok := annotations[key]; ok {
			if n, ok := remap[digest.Digest(v)]; ok {
				annotations[key] = n.String()
			}
		}
	}

	for _, d := range src.Manifests {
		d.Annotations = cloneAnnotations(d.Annotations)
		if d.Platform != nil {
			p := clonePlatform(*d.Platform)
			d.Platform = &p
		}
		switch u, ok := updates[d.Digest]; {
		case IsSociIndex(d):
			follow(d.Annotations, AnnotationImageManifestDigest)
		case ok:
			kept := dockerReferences(d.Annotations)
			d.Digest, d.Size, d.MediaType = u.Digest, u.Size, u.MediaType
			d.Annotations = cloneAnnotations(u.Annotations)
			for k, v := range kept {
				if _, set := d.Annotations[k]; set {
					continue
				}
				if d.Annotations == nil {
					d.Annotations = map[string]string{}
				}
				d.Annotations[k] = v
			}
			follow(d.Annotations, AnnotationDockerReferenceDigest)
		default:
			follow(d.Annotations, AnnotationDockerReferenceDigest)
		}
		out.Manifests = append(out.Manifests, d)
	}

	for _, e := range socis {
		manifest, ok := remap[e.SourceManifest]
		if !ok {
			return Blob{}, out, fmt.Errorf("SOCI index %s: its image manifest %s has no update", e.Index.Digest, e.SourceManifest)
		}
		d := e.Index
		p := clonePlatform(e.Platform)
		d.Platform = &p
		d.ArtifactType = ArtifactTypeSociIndexV2
		d.MediaType = ocispec.MediaTypeImageManifest
		d.Annotations = map[string]string{AnnotationImageManifestDigest: manifest.String()}

		i := slices.IndexFunc(out.Manifests, func(o ocispec.Descriptor) bool {
			if o.ArtifactType != ArtifactTypeSociIndexV2 {
				return false
			}
			m := digest.Digest(o.Annotations[AnnotationImageManifestDigest])
			return m == manifest || m == e.SourceManifest
		})
		if i < 0 {
			i = slices.IndexFunc(out.Manifests, func(o ocispec.Descriptor) bool {
				return o.ArtifactType == ArtifactTypeSociIndexV2 && o.Platform != nil &&
					MatchPlatform(e.Platform, *o.Platform) &&
					!hasManifest(out.Manifests, digest.Digest(o.Annotations[AnnotationImageManifestDigest]))
			})
		}
		if i >= 0 {
			out.Manifests[i] = d
		} else {
			out.Manifests = append(out.Manifests, d)
		}
	}

	b, err := newBlob(ocispec.MediaTypeImageIndex, out)
	return b, out, err
}

func hasManifest(ds []ocispec.Descriptor, d digest.Digest) bool {
	return slices.ContainsFunc(ds, func(o ocispec.Descriptor) bool { return o.Digest == d && !IsSociIndex(o) })
}

func dockerReferences(a map[string]string) map[string]string {
	var kept map[string]string
	for k, v := range a {
		if strings.HasPrefix(k, DockerReferencePrefix) {
			if kept == nil {
				kept = map[string]string{}
			}
			kept[k] = v
		}
	}
	return kept
}

func clonePlatform(p ocispec.Platform) ocispec.Platform {
	p.OSFeatures = slices.Clone(p.OSFeatures)
	return p
}

// AnnotationRefName names an entry of an OCI layout's index.json.
const AnnotationRefName = ocispec.AnnotationRefName

// LayoutIndex is the index.json soci writes for a converted image: one entry,
// the image index descriptor (media type, digest and size only), plus the
// org.opencontainers.image.ref.name annotation when ref is not empty.
func LayoutIndex(image ocispec.Descriptor, ref string) ocispec.Index {
	d := ocispec.Descriptor{MediaType: image.MediaType, Digest: image.Digest, Size: image.Size}
	if ref != "" {
		d.Annotations = map[string]string{AnnotationRefName: ref}
	}
	return ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{d},
	}
}
