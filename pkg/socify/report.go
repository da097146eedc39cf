package socify

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/socify/socify/internal/textout"
	"github.com/socify/socify/internal/units"
	"github.com/socify/socify/pkg/convert"
)

// WriteJSON writes the result as indented JSON (the CLI's --output json).
func (r *Result) WriteJSON(w io.Writer) error { return textout.JSON(w, r) }

// WriteText writes the result for a person: what was read, what each
// platform and layer became, and what was written.
func (r *Result) WriteText(w io.Writer) error {
	t := &textout.Writer{W: w}
	rep := r.Conversion
	t.Printf("source   %s (%s)\n", r.Source, rep.Source.Digest)
	switch {
	case r.DryRun:
		t.Printf("result   %s (dry run: nothing written)\n", r.Digest)
	default:
		t.Printf("result   %s\n", r.Reference)
		t.Printf("digest   %s\n", r.Digest)
	}
	t.Printf("\n")
	for _, p := range rep.Platforms {
		switch {
		case p.SociIndex != "":
			t.Printf("platform %-14s manifest %s\n         %-14s SOCI index %s\n", p.Platform.String(), p.Manifest, "", p.SociIndex)
		case p.Skipped != "":
			t.Printf("platform %-14s kept as is: %s\n", p.Platform.String(), p.Skipped)
		}
	}
	t.Printf("\n")
	for _, l := range rep.Layers {
		switch l.Status {
		case convert.LayerIndexed, convert.LayerCached:
			how := "zTOC"
			if l.Status == convert.LayerCached {
				how = "zTOC (cached)"
			}
			t.Printf("layer    %s %9s  %s %s, %d spans, %d files (%s)\n", ShortDigest(l.Digest.String()), units.FormatSize(l.Size), how, ShortDigest(l.Ztoc.String()), l.Spans, l.Files, convert.JoinPlatforms(l.Platforms, ", "))
		default:
			t.Printf("layer    %s %9s  skipped: %s (%s)\n", ShortDigest(l.Digest.String()), units.FormatSize(l.Size), l.Reason, convert.JoinPlatforms(l.Platforms, ", "))
		}
		for _, w := range l.Warnings {
			t.Printf("         warning: %s\n", w)
		}
	}
	took := time.Duration(rep.Timings.Total).Round(time.Millisecond)
	if r.AlreadySoci {
		t.Printf("\nthe image is already SOCI-enabled: nothing new (read %s of layers in %s)\n", units.FormatSize(rep.BytesRead), took)
	} else {
		t.Printf("\nread %s of layers, %d new blobs (%s), in %s\n", units.FormatSize(rep.BytesRead), len(rep.NewBlobs), units.FormatSize(rep.BytesWritten), took)
	}
	if r.Write != nil && r.Write.BytesWritten > 0 {
		t.Printf("wrote %s", units.FormatSize(r.Write.BytesWritten))
		if r.Write.BlobsLinked > 0 {
			t.Printf(" (%d blobs hard-linked)", r.Write.BlobsLinked)
		}
		t.Printf("\n")
	}
	for _, tag := range r.ChildTags {
		t.Printf("tagged   %s\n", tag)
	}
	return t.Err
}

// WriteSummary writes the one line a script uses (the CLI's --quiet): the
// pinned reference for a registry, otherwise the digest.
func (r *Result) WriteSummary(w io.Writer) error {
	line := r.Digest
	if strings.Contains(r.Reference, "@") {
		line = r.Reference
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

// ShortDigest abbreviates a digest to its algorithm and 12 hex digits, as
// reports and progress lines show layers.
func ShortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
