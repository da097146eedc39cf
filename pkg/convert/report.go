package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/socify/socify/pkg/ociindex"
)

// Errors. Test with errors.Is.
var (
	// ErrEmptyIndex: no layer of any selected platform qualified for a zTOC
	// (soci: "no ztocs created, all layers either skipped or produced errors").
	ErrEmptyIndex = ociindex.ErrEmptyIndex
	// ErrNotLayerType: a manifest lists a blob whose media type is not a layer
	// type among its layers (fatal, as in soci).
	ErrNotLayerType = errors.New("not a layer media type")
	// ErrPlatformNotFound: a requested platform matches no manifest.
	ErrPlatformNotFound = errors.New("not found")
	// ErrDigestMismatch and ErrSizeMismatch: the layer bytes do not match the
	// manifest's descriptor.
	ErrDigestMismatch = errors.New("layer digest mismatch")
	ErrSizeMismatch   = errors.New("layer size mismatch")
)

// LayerError is a failure to index one layer.
type LayerError struct {
	Image     string
	Platforms []v1.Platform
	Layer     digest.Digest
	Err       error
}

func (e *LayerError) Error() string {
	return fmt.Sprintf("image %s, platform %s, layer %s: %v", e.Image, JoinPlatforms(e.Platforms, ","), e.Layer, e.Err)
}

func (e *LayerError) Unwrap() error { return e.Err }

// Duration marshals as a Go duration string ("1.5s").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// JoinPlatforms writes platforms as reports show them: "linux/amd64, linux/arm64/v8" (v1.Platform's
// String, joined by sep).
func JoinPlatforms(platforms []v1.Platform, sep string) string {
	s := make([]string, len(platforms))
	for i, p := range platforms {
		s[i] = p.String()
	}
	return strings.Join(s, sep)
}

// Layer statuses.
const (
	LayerIndexed = "indexed" // zTOC built from the layer bytes
	LayerCached  = "cached"  // zTOC taken from the cache, layer not read
	LayerSkipped = "skipped" // no zTOC; Reason says why
)

// Report describes one conversion.
type Report struct {
	Image string `json:"image,omitempty"`
	// Source is the converted image index or, when Wrapped, the lone image
	// manifest that the index wraps the way soci does.
	Source  v1.Descriptor `json:"source"`
	Wrapped bool          `json:"wrapped,omitempty"`
	// Result is the converted image index (nil on failure).
	Result *v1.Descriptor `json:"result,omitempty"`

	SpanSize            int64  `json:"spanSize"`
	MinLayerSize        int64  `json:"minLayerSize"`
	BuildToolIdentifier string `json:"buildToolIdentifier"`

	Platforms []PlatformReport `json:"platforms"`
	// Layers lists each distinct layer once, in the order first met.
	Layers []LayerReport `json:"layers"`
	// NewBlobs are the blobs the conversion created (zTOCs, the {} config,
	// SOCI indexes, rewritten manifests and indexes); a sink writes at most
	// these plus whatever the destination lacks of the source.
	NewBlobs []BlobReport `json:"newBlobs"`
	Warnings []string     `json:"warnings,omitempty"`

	// BytesRead counts layer bytes read to build zTOCs.
	BytesRead int64 `json:"bytesRead"`
	// BytesWritten is the total size of NewBlobs.
	BytesWritten int64   `json:"bytesWritten"`
	Timings      Timings `json:"timings"`
}

// Largest returns the number of distinct layers and the compressed size of the largest: with
// MinLayerSize, why no layer qualified for a zTOC (ErrEmptyIndex). A nil report has none.
func (r *Report) Largest() (layers int, largest int64) {
	if r == nil {
		return 0, 0
	}
	for _, l := range r.Layers {
		largest = max(largest, l.Size)
	}
	return len(r.Layers), largest
}

// Timings per stage.
type Timings struct {
	// Resolve: reading the index and manifests of the source.
	Resolve Duration `json:"resolve"`
	// Index: building zTOCs (wall time, layers run in parallel).
	Index Duration `json:"index"`
	// Assemble: SOCI indexes, manifests and the image index.
	Assemble Duration `json:"assemble"`
	Total    Duration `json:"total"`
}

// PlatformReport is one image manifest of the source.
type PlatformReport struct {
	Platform v1.Platform `json:"platform"`
	// SourceManifest is the manifest digest in the source, Manifest the digest
	// in the result (they differ once annotated or re-encoded).
	SourceManifest digest.Digest `json:"sourceManifest"`
	Manifest       digest.Digest `json:"manifest,omitempty"`
	// SociIndex is empty when the platform was not converted; Skipped says why.
	SociIndex digest.Digest `json:"sociIndex,omitempty"`
	Skipped   string        `json:"skipped,omitempty"`
	// Layers are the manifest's layer digests, in order.
	Layers []digest.Digest `json:"layers,omitempty"`
}

// LayerReport is one distinct layer of the converted platforms.
type LayerReport struct {
	// Descriptor is the layer's, as the source's manifests give it.
	v1.Descriptor
	Platforms []v1.Platform `json:"platforms"`
	Status    string        `json:"status"`
	Reason    string        `json:"reason,omitempty"`
	Ztoc      digest.Digest `json:"ztoc,omitempty"`
	ZtocSize  int64         `json:"ztocSize,omitempty"`
	Spans     int           `json:"spans,omitempty"`
	Files     int           `json:"files,omitempty"`
	// Warnings are conditions under which the snapshotter may reject the
	// zTOC although soci would write it the same way.
	Warnings  []string `json:"warnings,omitempty"`
	BytesRead int64    `json:"bytesRead,omitempty"`
	Duration  Duration `json:"duration,omitempty"`
}

// BlobReport is one new blob.
type BlobReport struct {
	Kind string `json:"kind"` // ztoc, soci-index, soci-config, manifest, index
	v1.Descriptor
}

// EventKind tells what an Event reports.
type EventKind string

const (
	EventLayerStart    EventKind = "layer-start"
	EventLayerProgress EventKind = "layer-progress"
	EventLayerDone     EventKind = "layer-done"
	EventLayerCached   EventKind = "layer-cached"
	EventLayerSkipped  EventKind = "layer-skipped"
)

// Event is a progress notification.
type Event struct {
	Kind  EventKind
	Layer digest.Digest
	// Size is the layer size, Read the bytes read so far.
	Size int64
	Read int64
	// Reason is set for skipped layers.
	Reason string
	// Done and Total count the layers to index (cached ones included).
	Done, Total int
}
