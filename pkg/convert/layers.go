package convert

import (
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/ztoc"
)

// Docker layer media types (containerd's names).
const (
	mtDockerLayer           = "application/vnd.docker.image.rootfs.diff.tar"
	mtDockerLayerGzip       = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mtDockerLayerZstd       = "application/vnd.docker.image.rootfs.diff.tar.zstd"
	mtDockerLayerForeign    = "application/vnd.docker.image.rootfs.foreign.diff.tar"
	mtDockerLayerForeignGz  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	mtOCILayerPrefix        = "application/vnd.oci.image.layer."
	mtOCILayerNondistrib    = ocispec.MediaTypeImageLayerNonDistributable //nolint:staticcheck // still found in images
	mtOCILayerUncompressed  = ocispec.MediaTypeImageLayer
	encryptedMediaTypeMarks = "encrypted"
)

// layerDecision is what happens to one layer of a converted manifest.
type layerDecision struct {
	// index is true when a zTOC is built, with compression.
	index       bool
	compression ztoc.Compression
	// skip is the reason a layer gets no zTOC ("" when indexed or ignored).
	skip string
	// ignore is true for soci prefetch artifacts: they are not layers at all.
	ignore bool
}

// splitMediaType is containerd's parseMediaTypes: the base type and its "+"
// suffixes, sorted.
func splitMediaType(mt string) (string, []string) {
	base, rest, found := strings.Cut(mt, "+")
	if !found {
		return base, nil
	}
	ext := strings.Split(rest, "+")
	slices.Sort(ext)
	return base, ext
}

// isLayerType is containerd's images.IsLayerType.
func isLayerType(mt string) bool {
	if strings.HasPrefix(mt, mtOCILayerPrefix) {
		return true
	}
	switch base, _ := splitMediaType(mt); base {
	case mtDockerLayer, mtDockerLayerGzip, mtDockerLayerForeign, mtDockerLayerForeignGz, mtDockerLayerZstd:
		return true
	}
	return false
}

// diffCompression is containerd's images.DiffCompression as soci uses it:
// "gzip", "zstd", "unknown" (Docker uncompressed types) or "" (wrapped or
// unrecognized suffix). An OCI layer prefix with an unknown base is an error.
func diffCompression(mt string) (string, error) {
	base, ext := splitMediaType(mt)
	switch base {
	case mtDockerLayer, mtDockerLayerForeign:
		if len(ext) > 0 {
			return "", nil
		}
		return "unknown", nil
	case mtDockerLayerGzip, mtDockerLayerForeignGz:
		if len(ext) > 0 {
			return "", nil
		}
		return "gzip", nil
	case mtDockerLayerZstd:
		if len(ext) > 0 {
			return "", nil
		}
		return "zstd", nil
	case mtOCILayerUncompressed, mtOCILayerNondistrib:
		if len(ext) > 0 {
			switch ext[len(ext)-1] {
			case "gzip":
				return "gzip", nil
			case "zstd":
				return "zstd", nil
			}
		}
		return "", nil
	}
	return "", fmt.Errorf("unrecognised layer media type %q", mt)
}

// decideLayer applies soci's layer selection (spec §3) in soci's order:
// prefetch artifacts are ignored, a non-layer media type is fatal, small
// layers are skipped, then the compression decides. Deviation: encrypted
// layers are skipped with a reason, where soci would fail the conversion on
// the ciphertext (tar+gzip+encrypted) or skip silently (tar+zstd+encrypted).
func decideLayer(l ocispec.Descriptor, minLayerSize int64) (layerDecision, error) {
	if l.MediaType == ociindex.MediaTypeSociPrefetch {
		return layerDecision{ignore: true}, nil
	}
	if !isLayerType(l.MediaType) {
		return layerDecision{}, fmt.Errorf("%w: %q", ErrNotLayerType, l.MediaType)
	}
	if l.Size < minLayerSize {
		return layerDecision{skip: fmt.Sprintf("size %d is less than min-layer-size %d", l.Size, minLayerSize)}, nil
	}
	if _, ext := splitMediaType(l.MediaType); slices.Contains(ext, encryptedMediaTypeMarks) {
		return layerDecision{skip: "encrypted layers cannot be indexed"}, nil
	}
	c, err := diffCompression(l.MediaType)
	if err != nil {
		return layerDecision{}, fmt.Errorf("could not determine layer compression: %w", err)
	}
	switch {
	case c == "gzip":
		return layerDecision{index: true, compression: ztoc.Gzip}, nil
	case c == "unknown", c == "" && l.MediaType == mtOCILayerUncompressed:
		return layerDecision{index: true, compression: ztoc.Uncompressed}, nil
	case c == "zstd":
		return layerDecision{skip: "zstd compression is not supported by SOCI (expect tar, gzip)"}, nil
	}
	return layerDecision{skip: fmt.Sprintf("layer format of %q is not supported by SOCI (expect tar, gzip)", l.MediaType)}, nil
}
