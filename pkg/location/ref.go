// Package transport opens images for conversion and writes the results,
// named the way skopeo names them:
//
//	docker://REF, or a bare REF      a registry (go-containerregistry remote)
//	oci:DIR[:REF]                    an OCI layout directory
//	oci-archive:FILE[:REF]           an OCI layout in a tar file, read in place
//	docker-archive:FILE[:REF]        `docker save` output (source only)
//
// Sources yield go-containerregistry values (an image index, or a single
// image that the converter wraps); sinks take an image index. Blobs are read
// where they are: an OCI archive is indexed, never extracted, and layers
// flow from the source to the sink without temporary copies.
package location

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Kind is a transport name.
type Kind string

const (
	Registry      Kind = "docker"
	Layout        Kind = "oci"
	Archive       Kind = "oci-archive"
	DockerArchive Kind = "docker-archive"
)

// Reference names an image in some transport.
type Reference struct {
	Kind Kind
	// Path is the directory or file of layout and archive transports.
	Path string
	// Ref is the registry reference for Registry; for the others the image
	// within the file: an org.opencontainers.image.ref.name (oci,
	// oci-archive), a repository tag (docker-archive), or "@N" for the N-th
	// entry (0-based). Empty means the only image.
	Ref string
}

// ParseReference parses "docker://REF", "oci:DIR[:REF]",
// "oci-archive:FILE[:REF]", "docker-archive:FILE[:REF]" or a bare registry
// reference. As in skopeo, the path ends at the first colon after the
// transport name.
func ParseReference(s string) (Reference, error) {
	for _, k := range []Kind{Archive, DockerArchive, Layout} {
		rest, ok := strings.CutPrefix(s, string(k)+":")
		if !ok {
			continue
		}
		path, ref, _ := strings.Cut(rest, ":")
		if path == "" {
			return Reference{}, fmt.Errorf("reference %q: %s needs a path", s, k)
		}
		r := Reference{Kind: k, Path: path, Ref: ref}
		if strings.HasPrefix(ref, "@") {
			if _, err := entryIndex(ref); err != nil {
				return Reference{}, fmt.Errorf("reference %q: %w", s, err)
			}
		}
		return r, nil
	}
	ref := strings.TrimPrefix(s, "docker://")
	if ref == "" {
		return Reference{}, fmt.Errorf("reference %q: empty registry reference", s)
	}
	if strings.Contains(ref, "://") {
		return Reference{}, fmt.Errorf("reference %q: unknown transport (want docker://, oci:, oci-archive: or docker-archive:)", s)
	}
	if _, err := name.ParseReference(ref); err != nil {
		return Reference{}, fmt.Errorf("reference %q: %w", s, err)
	}
	return Reference{Kind: Registry, Ref: ref}, nil
}

// MustParseReference is ParseReference for constants in tests and examples.
func MustParseReference(s string) Reference {
	r, err := ParseReference(s)
	if err != nil {
		panic(err)
	}
	return r
}

func (r Reference) String() string {
	switch r.Kind {
	case Registry:
		return "docker://" + r.Ref
	default:
		if r.Ref == "" {
			return string(r.Kind) + ":" + r.Path
		}
		return string(r.Kind) + ":" + r.Path + ":" + r.Ref
	}
}

func entryIndex(ref string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(ref, "@%d", &n); err != nil || n < 0 || fmt.Sprintf("@%d", n) != ref {
		return 0, fmt.Errorf("%q is not @N with N a non-negative number", ref)
	}
	return n, nil
}
