package verify

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
)

// sociIndexWire mirrors the JSON fields of soci.Index: the snapshotter's
// DecodeIndex unmarshals the bytes into it before it reads them as an
// ocispec.Manifest, so both must succeed.
type sociIndexWire struct {
	MediaType    string               `json:"mediaType"`
	ArtifactType string               `json:"artifactType"`
	Blobs        []ocispec.Descriptor `json:"blobs,omitempty"`
	Subject      *ocispec.Descriptor  `json:"subject,omitempty"`
	Annotations  map[string]string    `json:"annotations,omitempty"`
}

// canonicalSociIndex is soci.MarshalIndex: the bytes the snapshotter writes
// to its local store, under the digest and size it fetched.
func canonicalSociIndex(m ocispec.Manifest) ([]byte, error) {
	return json.Marshal(ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      m.Config,
		Layers:      m.Layers,
		Subject:     m.Subject,
		Annotations: m.Annotations,
	})
}

// checkSociIndex decodes a SOCI index manifest as the snapshotter does
// (soci.DecodeIndex, then soci.MarshalIndex into the content store) and
// reports what makes that fail. ok is false when the snapshotter cannot use
// the index at all.
func checkSociIndex(raw []byte) (m ocispec.Manifest, fs []finding, ok bool) {
	var wire sociIndexWire
	if err := json.Unmarshal(raw, &wire); err != nil {
		return m, []finding{errorf(CheckSociIndex, "the SOCI index does not decode (the snapshotter fails with \"cannot deserialize byte data to index\"): %v", err)}, false
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, []finding{errorf(CheckSociIndex, "the SOCI index does not decode as an OCI manifest: %v", err)}, false
	}
	ok = true
	switch m.Config.MediaType {
	case ociindex.ArtifactTypeSociIndexV2:
	case ociindex.ArtifactTypeSociIndexV1:
		fs = append(fs, warnf(CheckSociIndex, "the SOCI index config media type is the v1 type %s; a v2 image should carry a v2 index", ociindex.ArtifactTypeSociIndexV1))
	default:
		return m, append(fs, errorf(CheckSociIndex, "config media type %q: the snapshotter fails with \"unknown index version\"", m.Config.MediaType)), false
	}
	canon, err := canonicalSociIndex(m)
	if err != nil {
		return m, append(fs, errorf(CheckCanonicalJSON, "the SOCI index cannot be re-encoded: %v", err)), false
	}
	if !bytes.Equal(canon, raw) {
		fs = append(fs, errorf(CheckCanonicalJSON, "the SOCI index is not Go's canonical JSON (%s): the snapshotter re-encodes it to %d bytes (%s) and stores it under the fetched digest and size (%d bytes), which fails",
			explainNonCanonical(raw, canon, m), len(canon), digest.FromBytes(canon), len(raw)))
		ok = false
	}
	if m.Config.Digest != ociindex.EmptyConfigDigest || m.Config.Size != 2 {
		fs = append(fs, warnf(CheckSociIndex, "the config descriptor is %s (%d bytes), not the 2-byte {} blob soci writes", m.Config.Digest, m.Config.Size))
	}
	if len(m.Layers) == 0 {
		fs = append(fs, errorf(CheckSociIndex, "the SOCI index lists no zTOC: nothing is lazily loaded"))
		ok = false
	}
	for i, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			fs = append(fs, errorf(CheckZtocDescriptor, "blob %d of the SOCI index has an invalid digest %q: the snapshotter fetches every blob and gives up on the index: %v", i, l.Digest, err))
			ok = false
		}
	}
	return m, fs, ok
}

// explainNonCanonical says what differs between the fetched and re-encoded
// bytes, most likely cause first.
func explainNonCanonical(raw, canon []byte, m ocispec.Manifest) string {
	var why []string
	if m.ArtifactType != "" {
		why = append(why, fmt.Sprintf("it has an artifactType field (%q) that the snapshotter drops", m.ArtifactType))
	}
	if m.SchemaVersion != 2 {
		why = append(why, fmt.Sprintf("schemaVersion is %d", m.SchemaVersion))
	}
	if m.MediaType != ocispec.MediaTypeImageManifest {
		why = append(why, fmt.Sprintf("mediaType is %q, re-encoded as %s", m.MediaType, ocispec.MediaTypeImageManifest))
	}
	var compact bytes.Buffer
	if json.Compact(&compact, raw) == nil && !bytes.Equal(compact.Bytes(), raw) {
		why = append(why, "it has whitespace outside strings (indentation or a trailing newline)")
	}
	if len(why) == 0 {
		i := 0
		for i < len(raw) && i < len(canon) && raw[i] == canon[i] {
			i++
		}
		why = append(why, fmt.Sprintf("first difference at byte %d: key order, unknown fields, escaping or number format", i))
	}
	s := why[0]
	for _, w := range why[1:] {
		s += "; " + w
	}
	return s
}

// prefetchArtifact is soci's prefetch blob; the snapshotter requires version
// "1.0" and a non-empty span list.
type prefetchArtifact struct {
	Version       string            `json:"version"`
	PrefetchSpans []json.RawMessage `json:"prefetch_spans"`
}

func checkPrefetch(raw []byte) *finding {
	var p prefetchArtifact
	if err := json.Unmarshal(raw, &p); err != nil {
		f := warnf(CheckPrefetch, "the prefetch artifact does not decode, so the snapshotter prefetches nothing for this layer: %v", err)
		return &f
	}
	if p.Version != "1.0" || len(p.PrefetchSpans) == 0 {
		f := warnf(CheckPrefetch, "the prefetch artifact has version %q and %d spans; the snapshotter wants version 1.0 and at least one span", p.Version, len(p.PrefetchSpans))
		return &f
	}
	return nil
}
