package ociindex

import (
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzParse feeds arbitrary bytes to the manifest and index parsers under
// every media type they accept: errors are fine, panics are not, and a
// manifest that parses must also rewrite (as convert does to every child).
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"platform":{"os":"linux","architecture":"amd64"}}]}`))
	f.Add([]byte(`{"schemaVersion":1,"fsLayers":[]}`))
	f.Add([]byte(`null`))
	types := []string{ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json", ""}
	soci := digest.FromString("soci")
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, mt := range types {
			_ = ValidateMediaType(b, mt)
			_, _ = ParseIndex(b, mt)
			if _, err := ParseManifest(b, mt); err == nil {
				if _, _, err := RewriteManifest(b, mt, soci); err != nil {
					t.Fatalf("parsed as %s but does not rewrite: %v", mt, err)
				}
			}
		}
	})
}
