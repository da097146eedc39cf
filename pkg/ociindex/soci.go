package ociindex

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ZtocDescriptor is the descriptor of one zTOC in a SOCI index: media type
// application/octet-stream and the annotations soci writes. layer is the layer
// descriptor as it appears in the image manifest; only its digest and media
// type are used.
func ZtocDescriptor(ztocDigest digest.Digest, ztocSize int64, layer ocispec.Descriptor, spanSize int64, disableXattrs bool) ocispec.Descriptor {
	a := map[string]string{
		AnnotationImageLayerDigest:    layer.Digest.String(),
		AnnotationImageLayerMediaType: layer.MediaType,
		AnnotationSpanSize:            strconv.FormatInt(spanSize, 10),
	}
	if disableXattrs {
		a[AnnotationDisableXattrs] = "true"
	}
	return ocispec.Descriptor{MediaType: MediaTypeZtoc, Digest: ztocDigest, Size: ztocSize, Annotations: a}
}

// NewSociIndex serializes the SOCI index manifest v2 for one image manifest.
// ztocs are the zTOC descriptors in image-layer order (skipped layers absent).
// The returned descriptor is how the index is listed in the image index:
// media type OCI manifest, artifact type v2, no platform or annotations yet.
//
// The manifest has no artifactType and no subject, its config is the "{}"
// blob (EmptyConfig) and its only annotation is the build tool identifier.
func NewSociIndex(ztocs []ocispec.Descriptor, buildToolIdentifier string) (Blob, error) {
	if len(ztocs) == 0 {
		return Blob{}, ErrEmptyIndex
	}
	m := ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      EmptyConfigDescriptor(),
		Layers:      ztocs,
		Annotations: map[string]string{AnnotationBuildToolIdentifier: buildToolIdentifier},
	}
	b, err := newBlob(ocispec.MediaTypeImageManifest, m)
	if err != nil {
		return Blob{}, err
	}
	b.Descriptor.ArtifactType = ArtifactTypeSociIndexV2
	return b, nil
}

// ParseSociIndex decodes a SOCI index manifest (v1 or v2), checking what the
// snapshotter checks: the config media type names the version.
func ParseSociIndex(b []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode SOCI index: %w", err)
	}
	switch m.Config.MediaType {
	case ArtifactTypeSociIndexV2, ArtifactTypeSociIndexV1:
	default:
		return m, fmt.Errorf("decode SOCI index: unknown index version: config media type %q", m.Config.MediaType)
	}
	return m, nil
}
