package convert

import (
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/ztoc"
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

// decideLayer applies soci's layer selection (spec §3) in soci's order:
// prefetch artifacts are ignored, a non-layer media type is fatal, small
// layers are skipped, then the compression decides (ociindex.ClassifyLayer).
// Deviation: encrypted layers are skipped with a reason, where soci would
// fail the conversion on the ciphertext (tar+gzip+encrypted) or skip
// silently (tar+zstd+encrypted).
func decideLayer(l ocispec.Descriptor, minLayerSize int64) (layerDecision, error) {
	if l.MediaType == ociindex.MediaTypeSociPrefetch {
		return layerDecision{ignore: true}, nil
	}
	f := ociindex.ClassifyLayer(l.MediaType)
	if !f.IsLayer {
		return layerDecision{}, fmt.Errorf("%w: %q", ErrNotLayerType, l.MediaType)
	}
	if l.Size < minLayerSize {
		return layerDecision{skip: fmt.Sprintf("size %d is less than min-layer-size %d", l.Size, minLayerSize)}, nil
	}
	if f.Encrypted {
		return layerDecision{skip: "encrypted layers cannot be indexed"}, nil
	}
	if f.Err != nil {
		return layerDecision{}, fmt.Errorf("could not determine layer compression: %w", f.Err)
	}
	switch f.Compression {
	case ociindex.CompressionGzip:
		return layerDecision{index: true, compression: ztoc.Gzip}, nil
	case ociindex.CompressionUncompressed:
		return layerDecision{index: true, compression: ztoc.Uncompressed}, nil
	case ociindex.CompressionZstd:
		return layerDecision{skip: "zstd compression is not supported by SOCI (expect tar, gzip)"}, nil
	}
	return layerDecision{skip: fmt.Sprintf("layer format of %q is not supported by SOCI (expect tar, gzip)", l.MediaType)}, nil
}
