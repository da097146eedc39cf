// Package ociindex builds the JSON documents of a SOCI-enabled image: the SOCI
// index manifest (v2) of one image manifest, the rewritten image manifests and
// the image index that ties them together.
//
// Everything here is a pure function from OCI descriptors to bytes. The bytes
// are Go's canonical json.Marshal encoding of the image-spec v1.1.1 types,
// exactly what soci-snapshotter v0.16.1 writes: the snapshotter re-encodes a
// fetched SOCI index with the same code and checks the digest, so any other
// encoding (key order, whitespace, escaping) makes the image unusable with SOCI.
package ociindex

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Artifact and media types.
const (
	// ArtifactTypeSociIndexV2 is the artifact type of a SOCI index manifest v2,
	// also used as the media type of its config descriptor.
	ArtifactTypeSociIndexV2 = "application/vnd.amazon.soci.index.v2+json"
	// ArtifactTypeSociIndexV1 is the v1 (referrers based) SOCI index type. socify
	// never writes it but leaves such descriptors alone.
	ArtifactTypeSociIndexV1 = "application/vnd.amazon.soci.index.v1+json"
	// MediaTypeZtoc is the media type of zTOC descriptors in a SOCI index. The
	// snapshotter pairs zTOCs with layers only for this exact media type.
	MediaTypeZtoc = "application/octet-stream"
	// MediaTypeSociPrefetch is the media type of soci's prefetch artifacts.
	MediaTypeSociPrefetch = "application/vnd.amazon.soci.prefetch.v1+json"

	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
)

// Annotations.
const (
	// AnnotationImageLayerDigest on a zTOC descriptor names the layer it indexes.
	AnnotationImageLayerDigest = "com.amazon.soci.image-layer-digest"
	// AnnotationImageLayerMediaType on a zTOC descriptor is the layer's media
	// type as written in the image manifest (note the camelCase).
	AnnotationImageLayerMediaType = "com.amazon.soci.image-layer-mediaType"
	// AnnotationSpanSize on a zTOC descriptor is the span size, in decimal.
	AnnotationSpanSize = "com.amazon.soci.span-size"
	// AnnotationDisableXattrs = "true" tells the snapshotter the layer has no
	// xattrs (soci's --optimizations xattr).
	AnnotationDisableXattrs = "com.amazon.soci.disable-xattrs"
	// AnnotationBuildToolIdentifier is the only annotation of a SOCI index.
	AnnotationBuildToolIdentifier = "com.amazon.soci.build-tool-identifier"
	// AnnotationIndexDigest on an image manifest points at its SOCI index. It is
	// how the snapshotter finds the SOCI index at run time.
	AnnotationIndexDigest = "com.amazon.soci.index-digest"
	// AnnotationImageManifestDigest on a SOCI index descriptor in the image
	// index points at the (annotated) image manifest it belongs to.
	AnnotationImageManifestDigest = "com.amazon.soci.image-manifest-digest"

	// DockerReferencePrefix starts the annotations buildx puts on attestation
	// descriptors (vnd.docker.reference.digest, vnd.docker.reference.type).
	DockerReferencePrefix = "vnd.docker.reference."
	// AnnotationDockerReferenceDigest on an attestation descriptor names the
	// image manifest the attestation is about.
	AnnotationDockerReferenceDigest = "vnd.docker.reference.digest"
	// AnnotationDockerReferenceType is "attestation-manifest" for buildx
	// attestations.
	AnnotationDockerReferenceType = "vnd.docker.reference.type"
)

// EmptyConfigDigest is the digest of the 2-byte config blob "{}" every SOCI
// index manifest references.
const EmptyConfigDigest digest.Digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

// ErrEmptyIndex means a SOCI index would have no zTOC. The message is soci's.
var ErrEmptyIndex = errors.New("no ztocs created, all layers either skipped or produced errors")

// EmptyConfig returns the content of the SOCI index config blob.
func EmptyConfig() []byte { return []byte("{}") }

// EmptyConfigDescriptor is the config descriptor of a SOCI index manifest v2.
// Its media type is the v2 artifact type: that is how readers tell v1 from v2.
func EmptyConfigDescriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ArtifactTypeSociIndexV2, Digest: EmptyConfigDigest, Size: 2}
}

// Blob is a serialized document together with its descriptor.
type Blob struct {
	Descriptor ocispec.Descriptor
	Bytes      []byte
}

// Marshal is the canonical encoding: Go's json.Marshal, compact, with HTML
// escaping, maps sorted by key, no trailing newline.
func Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

func newBlob(mediaType string, v any) (Blob, error) {
	b, err := Marshal(v)
	if err != nil {
		return Blob{}, err
	}
	return Blob{
		Descriptor: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))},
		Bytes:      b,
	}, nil
}

// IsSociIndex reports whether a descriptor in an image index points at a SOCI
// index manifest (v1 or v2).
func IsSociIndex(d ocispec.Descriptor) bool {
	return d.ArtifactType == ArtifactTypeSociIndexV2 || d.ArtifactType == ArtifactTypeSociIndexV1
}

// IsManifestType reports whether mt is an image manifest media type that the
// conversion understands (OCI or Docker schema 2).
func IsManifestType(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// IsIndexType reports whether mt is an OCI index or a Docker manifest list.
func IsIndexType(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

func cloneAnnotations(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}
