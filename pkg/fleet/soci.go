package fleet

import (
	"encoding/json"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/socify/socify/pkg/ociindex"
)

// sociState recognises what the function itself pushes, so that its own pushes raise no new
// conversion: a SOCI index manifest, an image index that lists SOCI indexes, and an image
// manifest annotated with its SOCI index. nil: a plain image.
func sociState(mt types.MediaType, raw []byte) *Decision {
	var doc struct {
		ArtifactType string `json:"artifactType"`
		Config       struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
		Manifests []struct {
			ArtifactType string `json:"artifactType"`
		} `json:"manifests"`
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(raw, &doc) != nil {
		// Not JSON: the conversion reports it properly.
		return nil
	}
	for _, t := range []string{doc.ArtifactType, doc.Config.MediaType} {
		if t == ociindex.ArtifactTypeSociIndexV2 || t == ociindex.ArtifactTypeSociIndexV1 {
			d := skip(CodeSociIndex, "the pushed manifest is a SOCI index (%s), not an image", t)
			return &d
		}
	}
	if mt.IsIndex() {
		n := 0
		for _, m := range doc.Manifests {
			if m.ArtifactType == ociindex.ArtifactTypeSociIndexV2 || m.ArtifactType == ociindex.ArtifactTypeSociIndexV1 {
				n++
			}
		}
		if n > 0 {
			d := skip(CodeAlreadySoci, "the image index already lists %d SOCI index(es)", n)
			return &d
		}
		return nil
	}
	if si := doc.Annotations[ociindex.AnnotationIndexDigest]; si != "" {
		d := skip(CodeAlreadySoci, "the image manifest is already SOCI-enabled (%s %s)", ociindex.AnnotationIndexDigest, si)
		return &d
	}
	return nil
}
