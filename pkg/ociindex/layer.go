package ociindex

import (
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The layer media type rules soci applies (containerd's images.IsLayerType
// and images.DiffCompression), in one place for the converter and the
// verifier.

// Docker layer media types (containerd's names).
const (
	mtDockerLayer          = "application/vnd.docker.image.rootfs.diff.tar"
	mtDockerLayerGzip      = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mtDockerLayerZstd      = "application/vnd.docker.image.rootfs.diff.tar.zstd"
	mtDockerLayerForeign   = "application/vnd.docker.image.rootfs.foreign.diff.tar"
	mtDockerLayerForeignGz = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	mtOCILayerPrefix       = "application/vnd.oci.image.layer."
	mtOCILayerNondistrib   = ocispec.MediaTypeImageLayerNonDistributable //nolint:staticcheck // still found in images
	mtOCILayerUncompressed = ocispec.MediaTypeImageLayer
	encryptedMediaTypeMark = "encrypted"
)

// Layer compressions as LayerFormat reports them (the values of
// ztoc.Compression, plus zstd, which soci does not index).
const (
	CompressionGzip         = "gzip"
	CompressionUncompressed = "uncompressed"
	CompressionZstd         = "zstd"
)

// LayerFormat is what soci makes of a layer media type.
type LayerFormat struct {
	// IsLayer: a layer media type at all (containerd's images.IsLayerType).
	// A manifest listing another type among its layers fails soci.
	IsLayer bool
	// Encrypted: an +encrypted layer; its bytes are ciphertext.
	Encrypted bool
	// Compression is CompressionGzip, CompressionUncompressed,
	// CompressionZstd, or "" when soci cannot read the layer (an unknown
	// suffix, a non-distributable layer without compression, ciphertext).
	Compression string
	// Err: an OCI layer type whose base is unknown; soci fails the
	// conversion ("could not determine layer compression").
	Err error
}

// ClassifyLayer applies soci's rules to a layer media type.
func ClassifyLayer(mt string) LayerFormat {
	f := LayerFormat{IsLayer: isLayerType(mt)}
	if !f.IsLayer {
		return f
	}
	if _, ext := splitMediaType(mt); slices.Contains(ext, encryptedMediaTypeMark) {
		f.Encrypted = true
		return f
	}
	c, err := diffCompression(mt)
	switch {
	case err != nil:
		f.Err = err
	case c == "gzip":
		f.Compression = CompressionGzip
	case c == "unknown", c == "" && mt == mtOCILayerUncompressed:
		f.Compression = CompressionUncompressed
	case c == "zstd":
		f.Compression = CompressionZstd
	}
	return f
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
