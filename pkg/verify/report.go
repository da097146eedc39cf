package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/socify/socify/internal/textout"
)

// Severity says whether a Problem stops lazy loading.
type Severity string

const (
	// SeverityError: the SOCI snapshotter will not lazily load the platform or
	// layer concerned (or the image breaks the SOCI v2 contract other tools
	// rely on). Any error makes OK false.
	SeverityError Severity = "error"
	// SeverityWarning: the image works but will disappoint (a layer pulled in
	// full, data soci cannot index faithfully, a fragile image shape).
	SeverityWarning Severity = "warning"
)

// Check is the stable identifier of the rule a Problem comes from. docs/verify.md
// describes each one and the snapshotter behaviour it predicts.
type Check string

// Checks, roughly in the order the snapshotter meets them at pull time.
const (
	CheckImage           Check = "image"           // the reference itself: unreadable, a manifest rather than an index
	CheckManifest        Check = "manifest"        // an image manifest cannot be read or decoded
	CheckPlatform        Check = "platform"        // a platform has no SOCI index
	CheckIndexDigest     Check = "index-digest"    // com.amazon.soci.index-digest on the image manifest
	CheckSociDescriptor  Check = "soci-descriptor" // the SOCI index descriptor in the image index
	CheckSociIndex       Check = "soci-index"      // the SOCI index manifest decodes, version, config
	CheckCanonicalJSON   Check = "canonical-json"  // re-encoding the SOCI index gives the same bytes
	CheckZtocDescriptor  Check = "ztoc-descriptor" // zTOC descriptors: media type, annotations
	CheckZtocBlob        Check = "ztoc-blob"       // the zTOC blob exists with its digest and size
	CheckZtocFormat      Check = "ztoc-format"     // the zTOC unmarshals as the snapshotter's reader does
	CheckTOCOverlap      Check = "toc-overlap"     // TOC entries overlap (ErrInvalidTOCEntry)
	CheckTOC             Check = "toc"             // other TOC rules: data in range, hard-link targets
	CheckCompression     Check = "compression"     // zTOC compression vs the layer
	CheckMaxSpanID       Check = "max-span-id"     // max_span_id vs checkpoints vs span digests
	CheckCheckpoints     Check = "checkpoints"     // the zinfo decodes and its offsets rise
	CheckZeroCheckpoints Check = "duplicate-zero-checkpoints"
	CheckGzipHeader      Check = "gzip-header"          // checkpoint 0 sits exactly after the gzip header
	CheckLayerBlob       Check = "layer-blob"           // the layer blob exists with its digest and size
	CheckSpanDigest      Check = "span-digest"          // every span digest matches the layer bytes
	CheckRebuild         Check = "rebuild"              // --deep: rebuilding the zTOC gives the same bytes
	CheckLayerNotIndexed Check = "layer-not-indexed"    // a layer without zTOC is pulled in full
	CheckSparseFile      Check = "sparse-file"          // GNU/PAX sparse entries: reads of the file fail
	CheckEmptyXattr      Check = "empty-xattr"          // xattrs with an empty value: reads of the file fail in about half of the pulls
	CheckCapability      Check = "malformed-capability" // malformed security.capability: the kernel refuses it
	CheckPrefetch        Check = "prefetch"             // soci prefetch artifacts
)

// Problem is one finding. Fields that do not apply are empty.
type Problem struct {
	Severity  Severity     `json:"severity"`
	Check     Check        `json:"check"`
	Platform  *v1.Platform `json:"platform,omitempty"`
	Manifest  string       `json:"manifest,omitempty"`
	SociIndex string       `json:"sociIndex,omitempty"`
	Layer     string       `json:"layer,omitempty"`
	Ztoc      string       `json:"ztoc,omitempty"`
	// File is the tar entry concerned.
	File string `json:"file,omitempty"`
	// Offset is a byte offset in the layer blob (compressed), unless the
	// message says it is an offset in the uncompressed tar stream.
	Offset *int64 `json:"offset,omitempty"`
	// Span is the span id concerned.
	Span    *int   `json:"span,omitempty"`
	Message string `json:"message"`

	order sortKey
}

type sortKey struct {
	platform, layer, seq int
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(string(p.Severity))
	b.WriteString(" [")
	b.WriteString(string(p.Check))
	b.WriteString("]")
	if p.Platform != nil {
		b.WriteString(" platform " + platformText(*p.Platform))
	}
	if p.Layer != "" {
		b.WriteString(" layer " + p.Layer)
	} else if p.Manifest != "" {
		b.WriteString(" manifest " + p.Manifest)
	}
	if p.Ztoc != "" && p.Layer == "" {
		b.WriteString(" ztoc " + p.Ztoc)
	}
	if p.Span != nil {
		fmt.Fprintf(&b, " span %d", *p.Span)
	}
	if p.Offset != nil {
		fmt.Fprintf(&b, " offset %d", *p.Offset)
	}
	if p.File != "" {
		fmt.Fprintf(&b, " file %q", p.File)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// NoZtocReason says why a layer has no zTOC.
type NoZtocReason string

const (
	// ReasonBelowMinSize: the layer is smaller than the minimum layer size
	// (soci's --min-layer-size, 10 MiB by default), so no zTOC was built.
	ReasonBelowMinSize NoZtocReason = "below-min-size"
	// ReasonZstd: zstd layers cannot be indexed by soci.
	ReasonZstd NoZtocReason = "zstd"
	// ReasonUnsupported: the media type is not a layer type soci can index
	// (non-distributable uncompressed, encrypted, unknown).
	ReasonUnsupported NoZtocReason = "unsupported-media-type"
	// ReasonNotIndexed: the layer could have a zTOC but the SOCI index has none.
	ReasonNotIndexed NoZtocReason = "not-indexed"
	// ReasonNoSociIndex: the platform has no usable SOCI index at all.
	ReasonNoSociIndex NoZtocReason = "no-soci-index"
	// ReasonInvalidZtoc: there is a zTOC but the snapshotter will reject it.
	ReasonInvalidZtoc NoZtocReason = "invalid-ztoc"
)

// ZtocInfo describes the zTOC of one layer.
type ZtocInfo struct {
	v1.Descriptor
	Version     string `json:"version,omitempty"`
	BuildTool   string `json:"buildTool,omitempty"`
	Compression string `json:"compression,omitempty"`
	// SpanSize is the span size in uncompressed bytes, from the zinfo.
	SpanSize int64 `json:"spanSize,omitempty"`
	Spans    int   `json:"spans"`
	Files    int   `json:"files"`
	// UncompressedSize is the size of the tar stream the zTOC describes.
	UncompressedSize int64 `json:"uncompressedSize,omitempty"`
	DisableXattrs    bool  `json:"disableXattrs,omitempty"`
}

// PrefetchInfo describes a prefetch artifact: the spans the snapshotter
// fetches as soon as it mounts the layer.
type PrefetchInfo struct {
	v1.Descriptor
	// Ranges is the number of span ranges, Spans the spans they cover.
	Ranges int `json:"ranges"`
	Spans  int `json:"spans"`
}

// LayerReport describes one layer of a platform's image manifest.
type LayerReport struct {
	v1.Descriptor
	// Compression as the snapshotter derives it from the media type: gzip,
	// uncompressed, zstd, or "" when it cannot tell.
	Compression string    `json:"compression,omitempty"`
	Ztoc        *ZtocInfo `json:"ztoc,omitempty"`
	// Prefetch is the layer's soci prefetch artifact, if the SOCI index has
	// one the snapshotter can read.
	Prefetch *PrefetchInfo `json:"prefetch,omitempty"`
	// NoZtoc says why the layer will not be lazily loaded, when it will not.
	NoZtoc NoZtocReason `json:"noZtoc,omitempty"`
	// Lazy is true when the snapshotter will lazily load the layer: it has a
	// zTOC and no error was found for it.
	Lazy bool `json:"lazy"`
}

// PlatformReport describes one platform (image manifest) of the image.
type PlatformReport struct {
	// Platform is the descriptor's platform, or the config's when the
	// descriptor names none (zero when neither does).
	Platform v1.Platform   `json:"platform"`
	Manifest v1.Descriptor `json:"manifest"`
	// SociEnabled: the manifest carries com.amazon.soci.index-digest.
	SociEnabled bool   `json:"sociEnabled"`
	SociIndex   string `json:"sociIndex,omitempty"`
	// Lazy: the snapshotter will lazily load this platform (SOCI-enabled, at
	// least one lazy layer, no error).
	Lazy   bool          `json:"lazy"`
	Layers []LayerReport `json:"layers"`
}

// InspectReport describes the SOCI state of an image without reading layers.
type InspectReport struct {
	// Descriptor is the image index or manifest the reference names.
	v1.Descriptor
	// Index is false when the reference names a single image manifest.
	Index     bool             `json:"index"`
	Platforms []PlatformReport `json:"platforms"`
	// Problems found without reading layer data (Inspect runs every check
	// that does not need layer bytes).
	Problems []Problem `json:"problems"`
}

// Stats counts the work a verification did.
type Stats struct {
	Manifests    int   `json:"manifests"`
	SociIndexes  int   `json:"sociIndexes"`
	Ztocs        int   `json:"ztocs"`
	LayersRead   int   `json:"layersRead"`
	BytesRead    int64 `json:"bytesRead"`
	SpansChecked int   `json:"spansChecked"`
	Rebuilt      int   `json:"rebuilt"`
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	Image InspectReport `json:"image"`
	Deep  bool          `json:"deep"`
	Stats Stats         `json:"stats"`
}

// Problems returns every problem, errors and warnings, in image order.
func (r *VerifyReport) Problems() []Problem { return r.Image.Problems }

// Errors returns the problems of severity error.
func (r *VerifyReport) Errors() []Problem { return filter(r.Image.Problems, SeverityError) }

// Warnings returns the problems of severity warning.
func (r *VerifyReport) Warnings() []Problem { return filter(r.Image.Problems, SeverityWarning) }

// OK is true only when the image will be lazily loaded: no error, and every
// platform checked is lazily loaded (by default, at least one platform is
// SOCI-enabled; platforms without a SOCI index are warnings unless asked for
// with WithPlatforms).
func (r *VerifyReport) OK() bool {
	if len(r.Errors()) > 0 {
		return false
	}
	lazy := 0
	for _, p := range r.Image.Platforms {
		if p.Lazy {
			lazy++
		}
	}
	return lazy > 0
}

func filter(ps []Problem, s Severity) []Problem {
	var out []Problem
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// MarshalJSON adds "ok" so that JSON consumers need not recompute it.
func (r *VerifyReport) MarshalJSON() ([]byte, error) {
	type plain VerifyReport
	return json.Marshal(struct {
		OK bool `json:"ok"`
		*plain
	}{r.OK(), (*plain)(r)})
}

// WriteJSON writes the report as indented JSON.
func (r *VerifyReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

// WriteJSON writes the report as indented JSON.
func (r *InspectReport) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

func writeJSON(w io.Writer, v any) error { return textout.JSON(w, v) }

// WriteText writes the image description: platforms, SOCI indexes and layers.
func (r *InspectReport) WriteText(w io.Writer) error {
	tw := &textWriter{w: w}
	r.writeText(tw, false)
	if len(r.Problems) > 0 {
		tw.printf("\n")
		for _, p := range r.Problems {
			tw.printf("%s\n", p)
		}
	}
	return tw.err
}

// writeText writes the platforms and layers; verified says whether layer
// data was checked, which decides how a platform's state is worded.
func (r *InspectReport) writeText(tw *textWriter, verified bool) {
	kind := "index"
	if !r.Index {
		kind = "manifest"
	}
	tw.printf("image %s (%s, %s)\n", r.Digest, kind, r.MediaType)
	for _, p := range r.Platforms {
		state := "not SOCI-enabled"
		if p.SociEnabled {
			state = "SOCI index " + p.SociIndex
		}
		lazy := "pulled in full"
		switch {
		case p.Lazy && verified:
			lazy = "lazily loaded"
		case p.Lazy:
			lazy = "zTOCs present (layer data not checked)"
		}
		tw.printf("\nplatform %s: manifest %s\n  %s; %s\n", platformText(p.Platform), p.Manifest.Digest, state, lazy)
		for i, l := range p.Layers {
			tw.printf("  layer %d %s\n    %s, %s", i, l.Digest, l.MediaType, sizeString(l.Size))
			if l.Ztoc != nil {
				tw.printf(", zTOC %s (%s): %d spans of %s, %d files",
					l.Ztoc.Digest, sizeString(l.Ztoc.Size), l.Ztoc.Spans, sizeString(l.Ztoc.SpanSize), l.Ztoc.Files)
			}
			if l.Prefetch != nil {
				tw.printf(", prefetch %s: %d spans", l.Prefetch.Digest, l.Prefetch.Spans)
			}
			if l.NoZtoc != "" {
				tw.printf(", no lazy loading: %s", l.NoZtoc)
			}
			tw.printf("\n")
		}
	}
}

// WriteText writes the image description followed by every problem and a
// verdict line.
func (r *VerifyReport) WriteText(w io.Writer) error {
	tw := &textWriter{w: w}
	r.Image.writeText(tw, true)
	errs, warns := r.Errors(), r.Warnings()
	if len(r.Image.Problems) > 0 {
		tw.printf("\n")
		for _, p := range r.Image.Problems {
			tw.printf("%s\n", p)
		}
	}
	tw.printf("\n%d zTOCs checked, %d layers read (%s), %d spans verified", r.Stats.Ztocs, r.Stats.LayersRead, sizeString(r.Stats.BytesRead), r.Stats.SpansChecked)
	if r.Deep {
		tw.printf(", %d zTOCs rebuilt", r.Stats.Rebuilt)
	}
	tw.printf("\n")
	if r.OK() {
		tw.printf("OK: the image will be lazily loaded (%d warnings)\n", len(warns))
	} else {
		tw.printf("FAIL: %d errors, %d warnings\n", len(errs), len(warns))
	}
	return tw.err
}

// WriteSummary writes only the errors and the verdict line (the CLI's
// --quiet).
func (r *VerifyReport) WriteSummary(w io.Writer) error {
	tw := &textWriter{w: w}
	for _, p := range r.Errors() {
		tw.printf("%s\n", p)
	}
	if r.OK() {
		tw.printf("OK: the image will be lazily loaded (%d warnings)\n", len(r.Warnings()))
	} else {
		tw.printf("FAIL: %d errors, %d warnings\n", len(r.Errors()), len(r.Warnings()))
	}
	return tw.err
}

// WriteSummary writes one line per platform: whether it will be lazily
// loaded (the CLI's --quiet).
func (r *InspectReport) WriteSummary(w io.Writer) error {
	tw := &textWriter{w: w}
	for _, p := range r.Platforms {
		verdict := "not lazily loaded"
		if p.Lazy {
			verdict = "lazily loaded"
		}
		tw.printf("%s %s\n", platformText(p.Platform), verdict)
	}
	return tw.err
}

type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) printf(format string, args ...any) {
	if t.err != nil {
		return
	}
	_, t.err = fmt.Fprintf(t.w, format, args...)
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// platformText is how text reports name a platform: "linux/arm64/v8"
// (v1.Platform's String), "unknown" when nothing names it.
func platformText(p v1.Platform) string {
	if s := p.String(); s != "" {
		return s
	}
	return "unknown"
}
