package verify

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/prefetch"
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

type prefetchBlob struct {
	desc ocispec.Descriptor
	raw  []byte
}

// checkPrefetch applies the snapshotter's rules to a prefetch artifact
// (soci.UnmarshalPrefetchArtifact, then matching by the layer-digest
// annotation) and checks its spans against the zTOC of that layer. Any
// problem means the snapshotter prefetches nothing, or not what was meant,
// for the layer: warnings, since files are still read on demand.
func checkPrefetch(raw []byte, d ocispec.Descriptor, ztocOf map[string]*ztocState) (*prefetch.Artifact, []finding) {
	a, err := prefetch.Parse(raw)
	if err != nil {
		return nil, []finding{warnf(CheckPrefetch, "prefetch artifact %s: %v: the snapshotter prefetches nothing for this layer (it wants version %s and at least one span)", d.Digest, err, prefetch.Version)}
	}
	ld, ok := d.Annotations[ociindex.AnnotationImageLayerDigest]
	if !ok {
		return nil, []finding{warnf(CheckPrefetch, "prefetch artifact %s has no %s annotation: the snapshotter cannot tell which layer it is for, so it is unused", d.Digest, ociindex.AnnotationImageLayerDigest)}
	}
	z := ztocOf[ld]
	if z == nil {
		return nil, []finding{warnf(CheckPrefetch, "prefetch artifact %s is for layer %s, which has no zTOC in this SOCI index (or is not in the image manifest): unused", d.Digest, ld)}
	}
	if z.z == nil {
		return a, nil // the zTOC's own findings say why nothing works
	}
	var fs []finding
	for i, sp := range a.PrefetchSpans {
		if sp.StartSpan < 0 || sp.StartSpan > sp.EndSpan || sp.EndSpan > z.z.MaxSpanID {
			f := warnf(CheckPrefetch, "prefetch artifact %s: range %d is spans [%d, %d], outside the zTOC's spans [0, %d] or reversed: the snapshotter cannot prefetch it", d.Digest, i, sp.StartSpan, sp.EndSpan, z.z.MaxSpanID)
			fs = append(fs, f.inSpan(int(sp.StartSpan)))
		}
	}
	return a, fs
}
