// Package prefetch builds and reads soci's prefetch artifacts (soci v0.16.1,
// experimental there): one small JSON blob per layer listing the spans the
// SOCI snapshotter fetches in the background as soon as it mounts the layer,
// so that the files named at conversion time are local before the container
// opens them.
//
// Build reproduces soci's IndexBuilder byte for byte (soci/soci_index.go
// buildPrefetchLayer, soci/prefetch.go): each path is cleaned the way the
// snapshotter's metadata reader cleans names, then compared with the raw
// names of the TOC, layers searched top-down among those that have a zTOC;
// the first match wins, and its span range runs from the span holding the
// file's first byte to the span holding the offset one past its end. Per
// layer the ranges are sorted and merged when they overlap or touch, and the
// blob is Go's json.Marshal of {"version":"1.0","prefetch_spans":[...]}.
// Exact matching on raw names means that entries written "./etc/x" and
// directories written "etc/" never match, as in soci.
package prefetch

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/ztoc"
)

// MediaType is the media type of a prefetch artifact in a SOCI index.
const MediaType = ociindex.MediaTypeSociPrefetch

// Version is the only artifact version soci writes and the snapshotter reads.
const Version = "1.0"

// ErrEmpty: an artifact without spans, which soci never writes and the
// snapshotter refuses.
var ErrEmpty = errors.New("prefetch artifact is empty")

// Artifact is the JSON document of a prefetch blob. Field order and tags are
// soci's PrefetchArtifact, so json.Marshal gives its bytes.
type Artifact struct {
	Version       string `json:"version"`
	PrefetchSpans []Span `json:"prefetch_spans"`
}

// Span is an inclusive range of span ids of the layer's zTOC.
type Span struct {
	StartSpan int32 `json:"start_span"`
	EndSpan   int32 `json:"end_span"`
	// Priority is reserved by soci (lower is earlier); its builder never
	// sets it, so it is omitted.
	Priority int `json:"priority,omitempty"`
}

// Layer is one layer of an image manifest, given in manifest order.
type Layer struct {
	Digest digest.Digest
	// Ztoc is the serialized zTOC built for the layer in this conversion, nil
	// when the layer has none (too small, zstd, ...): such layers are not
	// searched, as in soci.
	Ztoc []byte
}

// Blob is one prefetch artifact, ready to be listed in a SOCI index after
// every zTOC descriptor.
type Blob struct {
	// Descriptor has MediaType, digest, size and the one annotation soci
	// writes: com.amazon.soci.image-layer-digest.
	Descriptor ocispec.Descriptor
	Bytes      []byte
}

// Result is what Build made.
type Result struct {
	// Blobs has at most one artifact per layer, in manifest layer order (a
	// layer listed twice in the manifest gets its artifact twice, as in soci).
	Blobs []Blob
	// NotFound lists, cleaned and in the order given, the paths that no layer
	// with a zTOC holds under that exact name (soci logs these and goes on).
	NotFound []string
}

// ParsePathsJSON reads soci's --prefetch-files-json file: a JSON array of strings. Entries are
// trimmed and empty ones dropped, as in soci; a list whose every entry is empty is an error.
func ParsePathsJSON(b []byte) ([]string, error) {
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("want a JSON array of strings: %w", err)
	}
	var paths []string
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			paths = append(paths, s)
		}
	}
	if len(list) > 0 && len(paths) == 0 {
		return nil, errors.New("every entry is empty")
	}
	return paths, nil
}

// CleanPath is the snapshotter's name normalization (metadata/reader.go
// cleanEntryPath), which soci applies to prefetch paths: "/usr//bin/../x"
// becomes "usr/x". It uses slash semantics on every OS.
func CleanPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// Build makes the prefetch artifacts of one image manifest for paths.
// Paths are not validated beyond cleaning: soci accepts any string.
func Build(layers []Layer, paths []string) (*Result, error) {
	res := &Result{}
	if len(paths) == 0 {
		return res, nil
	}
	type indexed struct {
		z     *ztoc.Ztoc
		spans []Span
		outs  []int64 // gzip checkpoint offsets, decoded once
		err   error   // the zinfo does not decode
	}
	byDigest := map[digest.Digest]*indexed{}
	for _, l := range layers {
		if l.Ztoc == nil || byDigest[l.Digest] != nil {
			continue
		}
		z, err := ztoc.Unmarshal(l.Ztoc)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		x := &indexed{z: z}
		if z.Compression != ztoc.Uncompressed {
			cps, err := z.GzipCheckpoints()
			x.err = err
			for _, c := range cps {
				x.outs = append(x.outs, c.Out)
			}
		} else if ss, err := z.SpanSize(); err != nil || ss <= 0 {
			x.err = fmt.Errorf("tar zinfo span size %d: %v", ss, err)
		}
		byDigest[l.Digest] = x
	}

	for _, p := range paths {
		p = CleanPath(p)
		found := false
	search:
		for i := len(layers) - 1; i >= 0; i-- {
			x := byDigest[layers[i].Digest]
			if x == nil || layers[i].Ztoc == nil {
				continue
			}
			for _, e := range x.z.TOC {
				if e.Name != p {
					continue
				}
				if x.err != nil {
					// soci gives up on the path here (its loop breaks out
					// of every layer), so it is reported as not found.
					break search
				}
				start := spanID(x.z, x.outs, e.UncompressedOffset)
				end := spanID(x.z, x.outs, e.UncompressedOffset+e.UncompressedSize)
				end = max(end, start)
				x.spans = append(x.spans, Span{StartSpan: start, EndSpan: end})
				found = true
				break search
			}
		}
		if !found {
			res.NotFound = append(res.NotFound, p)
		}
	}

	for _, l := range layers {
		x := byDigest[l.Digest]
		if x == nil || len(x.spans) == 0 {
			continue
		}
		b, err := Marshal(&Artifact{Version: Version, PrefetchSpans: normalize(x.spans)})
		if err != nil {
			return nil, err
		}
		res.Blobs = append(res.Blobs, Blob{Bytes: b, Descriptor: ocispec.Descriptor{
			MediaType:   MediaType,
			Digest:      digest.FromBytes(b),
			Size:        int64(len(b)),
			Annotations: map[string]string{ociindex.AnnotationImageLayerDigest: l.Digest.String()},
		}})
	}
	return res, nil
}

// spanID is the span holding uncompressed offset off, as soci computes it:
// for gzip, the last checkpoint whose uncompressed offset is at most off
// (zran's pt_index_from_ucmp_offset: a scan from checkpoint 0 that stops
// at the first later checkpoint past off); for tar, off / span size.
func spanID(z *ztoc.Ztoc, outs []int64, off int64) int32 {
	if z.Compression == ztoc.Uncompressed {
		ss, _ := z.SpanSize() // checked positive by Build
		return int32(off / ss)
	}
	var i int32
	for int(i)+1 < len(outs) && outs[i+1] <= off {
		i++
	}
	return i
}

// normalize sorts ranges by start, then end, and merges those that overlap
// or touch (start ≤ previous end + 1): soci's normalizePrefetchSpans.
func normalize(spans []Span) []Span {
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].StartSpan == spans[j].StartSpan {
			return spans[i].EndSpan < spans[j].EndSpan
		}
		return spans[i].StartSpan < spans[j].StartSpan
	})
	merged := make([]Span, 0, len(spans))
	cur := spans[0]
	for _, s := range spans[1:] {
		if s.StartSpan <= cur.EndSpan+1 {
			cur.EndSpan = max(cur.EndSpan, s.EndSpan)
			continue
		}
		merged = append(merged, cur)
		cur = s
	}
	return append(merged, cur)
}

// Marshal encodes an artifact as soci does (json.Marshal), refusing an
// empty one.
func Marshal(a *Artifact) ([]byte, error) {
	if a == nil || len(a.PrefetchSpans) == 0 {
		return nil, ErrEmpty
	}
	return json.Marshal(a)
}

// Parse decodes a prefetch blob with the snapshotter's rules
// (soci.UnmarshalPrefetchArtifact): valid JSON, version "1.0", at least one
// span.
func Parse(b []byte) (*Artifact, error) {
	var a Artifact
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("prefetch artifact: %w", err)
	}
	if a.Version != Version {
		return nil, fmt.Errorf("prefetch artifact: unsupported version %q (the snapshotter reads %q)", a.Version, Version)
	}
	if len(a.PrefetchSpans) == 0 {
		return nil, ErrEmpty
	}
	return &a, nil
}
