package ztoc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
)

// Diff explains how two serialized zTOCs differ (empty when they are equal), field by field, so a
// mismatch points at the checkpoint, span digest or TOC entry at fault.
func Diff(want, got []byte) string {
	if bytes.Equal(want, got) {
		return ""
	}
	var d []string
	add := func(format string, a ...any) { d = append(d, fmt.Sprintf(format, a...)) }
	first := 0
	for first < len(want) && first < len(got) && want[first] == got[first] {
		first++
	}
	add("serialized: %d bytes vs %d expected, first difference at byte %d", len(got), len(want), first)
	wz, werr := Unmarshal(want)
	gz, gerr := Unmarshal(got)
	if werr != nil || gerr != nil {
		add("cannot decode: expected: %v; got: %v", werr, gerr)
		return strings.Join(d, "\n")
	}
	scalar := func(name string, w, g any) {
		if !reflect.DeepEqual(w, g) {
			add("%s: got %v, want %v", name, g, w)
		}
	}
	scalar("Version", wz.Version, gz.Version)
	scalar("BuildToolIdentifier", wz.BuildToolIdentifier, gz.BuildToolIdentifier)
	scalar("CompressedArchiveSize", wz.CompressedArchiveSize, gz.CompressedArchiveSize)
	scalar("UncompressedArchiveSize", wz.UncompressedArchiveSize, gz.UncompressedArchiveSize)
	scalar("Compression", wz.Compression, gz.Compression)
	scalar("MaxSpanID", wz.MaxSpanID, gz.MaxSpanID)
	d = append(d, checkpointsDiff(wz.Compression, wz.Checkpoints, gz.Checkpoints)...)
	if len(wz.SpanDigests) != len(gz.SpanDigests) {
		add("span digests: got %d, want %d", len(gz.SpanDigests), len(wz.SpanDigests))
	}
	for i := 0; i < len(wz.SpanDigests) && i < len(gz.SpanDigests); i++ {
		if wz.SpanDigests[i] != gz.SpanDigests[i] {
			add("span digest %d (first of the differing ones): got %s, want %s", i, gz.SpanDigests[i], wz.SpanDigests[i])
			break
		}
	}
	if len(wz.TOC) != len(gz.TOC) {
		add("TOC: got %d entries, want %d", len(gz.TOC), len(wz.TOC))
	}
	for i := 0; i < len(wz.TOC) && i < len(gz.TOC); i++ {
		if f := fileMetadataDiff(wz.TOC[i], gz.TOC[i]); f != "" {
			add("TOC entry %d %q (first differing entry): %s", i, wz.TOC[i].Name, f)
			break
		}
	}
	if len(d) == 1 {
		add("decoded values are equal: the difference is in encoding (entry order, mod_time text, xattr duplicates?)")
	}
	return strings.Join(d, "\n")
}

func fileMetadataDiff(w, g FileMetadata) string {
	var d []string
	wv, gv := reflect.ValueOf(w), reflect.ValueOf(g)
	for i := 0; i < wv.NumField(); i++ {
		name := wv.Type().Field(i).Name
		wf, gf := wv.Field(i).Interface(), gv.Field(i).Interface()
		if name == "ModTime" {
			// Compare the text soci writes, not the time.Time internals.
			wf, gf = fmt.Sprint(wf), fmt.Sprint(gf)
		}
		if name == "PAXHeaders" && len(w.PAXHeaders) == 0 && len(g.PAXHeaders) == 0 {
			continue
		}
		if !reflect.DeepEqual(wf, gf) {
			d = append(d, fmt.Sprintf("%s got %#v want %#v", name, gf, wf))
		}
	}
	return strings.Join(d, "; ")
}

type zinfoCheckpoint struct {
	In, Out int64
	Bits    byte
	Window  []byte
}

// parseGzipZinfo decodes soci's gzip zinfo blob (spec §2.2) independently
// of the package under test.
func parseGzipZinfo(b []byte) (span int64, cps []zinfoCheckpoint, err error) {
	const rec = 8 + 8 + 1 + 32768
	if len(b) < 12 {
		return 0, nil, fmt.Errorf("%d bytes", len(b))
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	span = int64(binary.LittleEndian.Uint64(b[4:]))
	if n < 0 || len(b) != 12+rec*n {
		return span, nil, fmt.Errorf("%d bytes for %d checkpoints", len(b), n)
	}
	for i := 0; i < n; i++ {
		r := b[12+rec*i:]
		cps = append(cps, zinfoCheckpoint{
			In: int64(binary.LittleEndian.Uint64(r)), Out: int64(binary.LittleEndian.Uint64(r[8:])),
			Bits: r[16], Window: r[17:rec],
		})
	}
	return span, cps, nil
}

func checkpointsDiff(comp Compression, want, got []byte) []string {
	if bytes.Equal(want, got) {
		return nil
	}
	if comp == Uncompressed {
		return []string{fmt.Sprintf("TarZinfo checkpoints: got %x, want %x", got, want)}
	}
	ws, wc, werr := parseGzipZinfo(want)
	gs, gc, gerr := parseGzipZinfo(got)
	if werr != nil || gerr != nil {
		return []string{fmt.Sprintf("gzip zinfo: cannot parse: expected: %v; got: %v", werr, gerr)}
	}
	var d []string
	if ws != gs {
		d = append(d, fmt.Sprintf("zinfo span size: got %d, want %d", gs, ws))
	}
	if len(wc) != len(gc) {
		d = append(d, fmt.Sprintf("checkpoints: got %d, want %d", len(gc), len(wc)))
	}
	for i := 0; i < len(wc) || i < len(gc); i++ {
		var w, g *zinfoCheckpoint
		if i < len(wc) {
			w = &wc[i]
		}
		if i < len(gc) {
			g = &gc[i]
		}
		if w != nil && g != nil && w.In == g.In && w.Out == g.Out && w.Bits == g.Bits && bytes.Equal(w.Window, g.Window) {
			continue
		}
		d = append(d, fmt.Sprintf("checkpoint %d (first differing one): got %s, want %s", i, describeCheckpoint(g, w), describeCheckpoint(w, g)))
		d = append(d, fmt.Sprintf("  want outs near it: %s", checkpointOuts(wc, i)))
		d = append(d, fmt.Sprintf("  got outs near it:  %s", checkpointOuts(gc, i)))
		break
	}
	return d
}

func describeCheckpoint(c, other *zinfoCheckpoint) string {
	if c == nil {
		return "(none)"
	}
	s := fmt.Sprintf("{in %d, out %d, bits %d", c.In, c.Out, c.Bits)
	if other != nil && !bytes.Equal(c.Window, other.Window) {
		j := 0
		for j < len(c.Window) && c.Window[j] == other.Window[j] {
			j++
		}
		s += fmt.Sprintf(", window differs from byte %d", j)
	}
	return s + "}"
}

func checkpointOuts(cps []zinfoCheckpoint, i int) string {
	var s []string
	for j := max(0, i-2); j < len(cps) && j <= i+2; j++ {
		s = append(s, fmt.Sprintf("#%d in=%d out=%d bits=%d", j, cps[j].In, cps[j].Out, cps[j].Bits))
	}
	return strings.Join(s, ", ")
}
