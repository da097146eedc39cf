package ociindex

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// unknownDocument holds the fields that tell a manifest from an index, as
// containerd's validateMediaType reads them.
type unknownDocument struct {
	MediaType string          `json:"mediaType,omitempty"`
	Config    json.RawMessage `json:"config,omitempty"`
	Layers    json.RawMessage `json:"layers,omitempty"`
	Manifests json.RawMessage `json:"manifests,omitempty"`
	FSLayers  json.RawMessage `json:"fsLayers,omitempty"`
}

// ValidateMediaType checks that b is JSON of the kind mt announces, as
// containerd (and so soci) does before using a manifest or index: schema 1
// manifests are refused, and a manifest must not look like an index or the
// other way round.
func ValidateMediaType(b []byte, mt string) error {
	var doc unknownDocument
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("decode %s: %w", mt, err)
	}
	if len(doc.FSLayers) != 0 {
		return fmt.Errorf("media type %s: schema 1 manifests are not supported", mt)
	}
	switch {
	case IsManifestType(mt) && (len(doc.Manifests) != 0 || IsIndexType(doc.MediaType)):
		return fmt.Errorf("media type %s: expected a manifest but found an index", mt)
	case IsIndexType(mt) && (len(doc.Config) != 0 || len(doc.Layers) != 0 || IsManifestType(doc.MediaType)):
		return fmt.Errorf("media type %s: expected an index but found a manifest", mt)
	}
	return nil
}

// ParseIndex decodes an OCI index or Docker manifest list the way soci does:
// into ocispec.Index, which drops unknown fields and keeps annotations, subject
// and artifactType.
func ParseIndex(b []byte, mediaType string) (ocispec.Index, error) {
	var idx ocispec.Index
	if err := ValidateMediaType(b, mediaType); err != nil {
		return idx, err
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("decode index: %w", err)
	}
	return idx, nil
}

// ParseManifest decodes an OCI or Docker schema 2 image manifest into
// ocispec.Manifest, as soci does.
func ParseManifest(b []byte, mediaType string) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := ValidateMediaType(b, mediaType); err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode manifest: %w", err)
	}
	return m, nil
}

// RewriteManifest re-encodes an image manifest the way soci convert does for
// every manifest of the converted image: media type OCI manifest, a Docker
// config media type becomes the OCI one, layer descriptors keep their media
// types, and, when sociIndex is not empty, the annotation
// com.amazon.soci.index-digest is set to it.
//
// soci sets config.mediaType to the OCI image config type unconditionally,
// which breaks artifact manifests (signatures, SBOMs) whose config has another
// type; socify only maps the Docker config type, which gives the same bytes
// for every image manifest.
//
// The returned descriptor has the OCI manifest media type and the manifest's
// own annotations: soci replaces a manifest descriptor's annotations in the
// image index with these.
func RewriteManifest(raw []byte, mediaType string, sociIndex digest.Digest) (Blob, ocispec.Manifest, error) {
	m, err := ParseManifest(raw, mediaType)
	if err != nil {
		return Blob{}, m, err
	}
	m.MediaType = ocispec.MediaTypeImageManifest
	if m.Config.MediaType == MediaTypeDockerConfig {
		m.Config.MediaType = ocispec.MediaTypeImageConfig
	}
	if sociIndex != "" {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[AnnotationIndexDigest] = sociIndex.String()
	}
	b, err := newBlob(ocispec.MediaTypeImageManifest, m)
	if err != nil {
		return Blob{}, m, err
	}
	b.Descriptor.Annotations = cloneAnnotations(m.Annotations)
	return b, m, nil
}
