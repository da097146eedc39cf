package verify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	godigest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/ztoc"
)

// finding is a problem before it is placed in the image (platform, layer).
type finding struct {
	sev    Severity
	check  Check
	file   string
	offset *int64
	span   *int
	msg    string
}

func errorf(c Check, format string, args ...any) finding {
	return finding{sev: SeverityError, check: c, msg: fmt.Sprintf(format, args...)}
}

func warnf(c Check, format string, args ...any) finding {
	return finding{sev: SeverityWarning, check: c, msg: fmt.Sprintf(format, args...)}
}

func (f finding) at(off int64) finding { f.offset = &off; return f }
func (f finding) inSpan(i int) finding { f.span = &i; return f }
func (f finding) ofFile(name string) finding {
	f.file = name
	return f
}

// maxRepeats bounds how many findings of one kind one zTOC or layer reports;
// a corrupt blob would otherwise produce one line per span or entry.
const maxRepeats = 10

// repeatLimiter counts findings of one kind and summarizes the excess.
type repeatLimiter struct {
	n int
}

func (r *repeatLimiter) add(out []finding, f finding) []finding {
	r.n++
	if r.n <= maxRepeats {
		return append(out, f)
	}
	return out
}

func (r *repeatLimiter) summary(out []finding, sev Severity, c Check, what string) []finding {
	if r.n > maxRepeats {
		out = append(out, finding{sev: sev, check: c, msg: fmt.Sprintf("%d more %s not listed", r.n-maxRepeats, what)})
	}
	return out
}

// ztocState is a decoded zTOC and everything that can be said about it
// without the layer bytes.
type ztocState struct {
	digest string
	size   int64
	raw    []byte // kept for --deep
	// blobErr: the blob could not be fetched or does not match its
	// descriptor; every platform using it reports this.
	blobErr error
	z       *ztoc.Ztoc
	cps     []ztoc.Checkpoint
	// spanSize is the span size the zinfo records (the builder's parameter).
	spanSize int64
	// spans are the ranges the snapshotter hashes; nil when the zinfo is
	// too broken for the snapshotter to get there.
	spans    []span
	findings []finding
	// fatal: the snapshotter rejects this zTOC whatever the layer bytes.
	fatal bool
	info  ZtocInfo
}

func (s *ztocState) add(f finding) {
	s.findings = append(s.findings, f)
	if f.sev == SeverityError {
		s.fatal = true
	}
}

// analyzeZtoc decodes a zTOC blob with the same rules as the snapshotter's
// ztoc.Unmarshal and span manager, and checks what it can without the layer.
func analyzeZtoc(digest string, raw []byte) *ztocState {
	s := &ztocState{digest: digest, size: int64(len(raw))}
	s.info = ZtocInfo{Descriptor: ociindex.ReportDescriptor(ocispec.Descriptor{MediaType: ociindex.MediaTypeZtoc, Digest: godigest.Digest(digest), Size: int64(len(raw))})}
	z, err := ztoc.Unmarshal(raw)
	if err != nil {
		if errors.Is(err, ztoc.ErrInvalidTOCEntry) {
			s.add(errorf(CheckTOCOverlap, "the snapshotter's zTOC reader rejects the TOC: %v", err))
		} else {
			s.add(errorf(CheckZtocFormat, "the zTOC does not unmarshal: %v", err))
		}
		return s
	}
	s.z = z
	s.info.Version = z.Version
	s.info.BuildTool = z.BuildToolIdentifier
	s.info.Compression = string(z.Compression)
	s.info.Files = len(z.TOC)
	s.info.UncompressedSize = z.UncompressedArchiveSize
	if int64(z.MaxSpanID)+1 > 0 {
		s.info.Spans = int(z.MaxSpanID) + 1
	}
	if z.Version != ztoc.Version09 {
		s.add(warnf(CheckZtocFormat, "zTOC version %q; soci only defines %q (the snapshotter does not check it)", z.Version, ztoc.Version09))
	}
	if z.CompressedArchiveSize < 0 || z.UncompressedArchiveSize < 0 {
		s.add(errorf(CheckZtocFormat, "negative archive size (compressed %d, uncompressed %d)", z.CompressedArchiveSize, z.UncompressedArchiveSize))
	}
	switch z.Compression {
	case ztoc.Gzip:
		s.analyzeGzip()
	case ztoc.Uncompressed:
		s.analyzeTar()
	case "zstd":
		s.add(errorf(CheckCompression, "zTOC compression zstd: the snapshotter fails with \"not implemented: zstd\""))
	default:
		s.add(errorf(CheckCompression, "zTOC compression %q: the snapshotter fails with \"unexpected compression algorithm\"", z.Compression))
	}
	s.info.SpanSize = s.spanSize
	s.analyzeTOC()
	return s
}

func (s *ztocState) checkSpanCount(derived int64) bool {
	z := s.z
	ok := true
	if int64(z.MaxSpanID) != derived {
		s.add(errorf(CheckMaxSpanID, "max_span_id is %d but the checkpoints give %d: the snapshotter fails with ErrIncorrectMaxSpanID", z.MaxSpanID, derived))
		ok = false
	}
	if int64(len(z.SpanDigests)) != int64(z.MaxSpanID)+1 {
		s.add(errorf(CheckMaxSpanID, "%d span digests for max_span_id %d (want %d): the snapshotter fails with ErrIncorrectMaxSpanID", len(z.SpanDigests), z.MaxSpanID, int64(z.MaxSpanID)+1))
		ok = false
	}
	return ok
}

func (s *ztocState) analyzeGzip() {
	z := s.z
	cps, err := z.GzipCheckpoints()
	if err != nil {
		s.add(errorf(CheckCheckpoints, "the gzip checkpoint blob does not decode (the snapshotter fails with \"cannot convert blob to gzip_zinfo\"): %v", err))
		return
	}
	s.cps = cps
	s.spanSize, _ = z.SpanSize() // the blob decoded, so its header is there
	if len(cps) == 0 {
		s.add(errorf(CheckCheckpoints, "the gzip checkpoint blob holds no checkpoint; the snapshotter reads checkpoint 0 to find the gzip header"))
		return
	}
	if n := int64(int32(binary.LittleEndian.Uint32(z.Checkpoints))); int64(len(z.Checkpoints)) == 12+(n-1)*(17+32768) {
		s.add(warnf(CheckCheckpoints, "legacy v1 checkpoint blob: checkpoint 0 is assumed to end a minimal 10-byte gzip header"))
	}
	countOK := s.checkSpanCount(int64(len(cps)) - 1)

	orderOK := true
	var rl repeatLimiter
	c0 := cps[0]
	if c0.Out != 0 {
		s.add(errorf(CheckCheckpoints, "checkpoint 0 is at uncompressed offset %d, not 0", c0.Out).at(c0.In))
		orderOK = false
	}
	if c0.Bits != 0 {
		s.add(errorf(CheckGzipHeader, "checkpoint 0 has %d pending bits; it must sit on the byte boundary after the gzip header", c0.Bits).at(c0.In))
	}
	for i, c := range cps {
		if c.Bits > 7 {
			s.add(errorf(CheckCheckpoints, "checkpoint %d has bits=%d (at most 7)", i, c.Bits).at(c.In).inSpan(i))
			orderOK = false
		}
		if c.In < 0 || c.Out < 0 || (c.In == 0 && c.Bits != 0) {
			s.add(errorf(CheckCheckpoints, "checkpoint %d has invalid offsets (in %d, out %d, bits %d)", i, c.In, c.Out, c.Bits).inSpan(i))
			orderOK = false
		}
	}
	var findings []finding
	for i := 0; i+1 < len(cps); i++ {
		a, b := cps[i], cps[i+1]
		start := a.In
		if a.Bits != 0 {
			start--
		}
		switch {
		case b.Out == 0 && a.Out == 0:
			f := errorf(CheckZeroCheckpoints, "checkpoints %d and %d are both at uncompressed offset 0 (an empty deflate block or empty gzip member at the start of the layer); the snapshotter rejects the zTOC with ErrNonMonotonicCheckpoints", i, i+1)
			findings = rl.add(findings, f.at(b.In).inSpan(i))
			orderOK = false
		case start >= b.In || a.Out >= b.Out:
			f := errorf(CheckCheckpoints, "span %d does not advance: compressed [%d, %d), uncompressed [%d, %d); the snapshotter rejects the zTOC with ErrNonMonotonicCheckpoints", i, start, b.In, a.Out, b.Out)
			findings = rl.add(findings, f.at(start).inSpan(i))
			orderOK = false
		}
	}
	for _, f := range rl.summary(findings, SeverityError, CheckCheckpoints, "non-monotonic checkpoints") {
		s.add(f)
	}
	last := cps[len(cps)-1]
	if last.In > z.CompressedArchiveSize {
		s.add(errorf(CheckCheckpoints, "the last checkpoint is at layer offset %d, past the compressed size %d", last.In, z.CompressedArchiveSize).at(last.In).inSpan(len(cps) - 1))
		orderOK = false
	}
	if !countOK || !orderOK {
		return
	}
	s.spans = make([]span, len(cps))
	for i, c := range cps {
		sp := span{start: c.In, uStart: c.Out, end: z.CompressedArchiveSize, uEnd: z.UncompressedArchiveSize, digest: z.SpanDigests[i]}
		if c.Bits != 0 {
			sp.start--
		}
		if i+1 < len(cps) {
			sp.end, sp.uEnd = cps[i+1].In, cps[i+1].Out
		}
		s.spans[i] = sp
	}
}

func (s *ztocState) analyzeTar() {
	z := s.z
	t, err := z.TarZinfo()
	if err != nil {
		s.add(errorf(CheckCheckpoints, "the tar zinfo does not decode: %v", err))
		return
	}
	s.spanSize = t.SpanSize
	if t.SpanSize <= 0 {
		s.add(errorf(CheckCheckpoints, "the tar zinfo span size is %d; the snapshotter divides by it (a crash for 0)", t.SpanSize))
		return
	}
	if t.Size != z.CompressedArchiveSize {
		s.add(errorf(CheckCheckpoints, "the tar zinfo says the layer is %d bytes but compressed_archive_size is %d; span boundaries would be wrong", t.Size, z.CompressedArchiveSize))
	}
	if !s.checkSpanCount(tarMaxSpanID(t.Size, t.SpanSize)) || t.Size < 0 {
		return
	}
	n := int64(z.MaxSpanID) + 1
	s.spans = make([]span, n)
	for i := int64(0); i < n; i++ {
		sp := span{start: i * t.SpanSize, end: (i + 1) * t.SpanSize, digest: z.SpanDigests[i]}
		if i == n-1 {
			sp.end = z.CompressedArchiveSize
		}
		sp.uStart, sp.uEnd = sp.start, sp.end
		s.spans[i] = sp
	}
	if n > 0 && s.spans[n-1].end < s.spans[n-1].start {
		s.spans = nil
	}
}

// analyzeTOC applies the rules of the snapshotter's metadata reader and what
// makes file contents wrong. Unmarshal already sorted the TOC and rejected
// overlaps.
func (s *ztocState) analyzeTOC() {
	z := s.z
	var outOfRange, badLink, badType repeatLimiter
	var fs []finding
	seen := make(map[string]bool, len(z.TOC))
	seen[""] = true
	for i := range z.TOC {
		e := &z.TOC[i]
		clean := cleanEntryPath(e.Name)
		if e.UncompressedSize < 0 || e.UncompressedOffset < 0 {
			fs = outOfRange.add(fs, errorf(CheckTOC, "negative data offset %d or size %d", e.UncompressedOffset, e.UncompressedSize).ofFile(e.Name))
		} else if end := e.UncompressedOffset + e.UncompressedSize; e.Type == "reg" && (end > z.UncompressedArchiveSize || end < e.UncompressedOffset) && !e.Sparse() {
			// A sparse file's logical size often runs past the end: the
			// snapshotter still mounts the layer and only that file fails
			// to read, which its sparse-file warning says.
			fs = outOfRange.add(fs, errorf(CheckTOC, "file data [%d, %d) of the tar stream extends past its end %d: reads of this file fail", e.UncompressedOffset, end, z.UncompressedArchiveSize).ofFile(e.Name).at(e.UncompressedOffset))
		}
		switch e.Type {
		case "hardlink":
			if !seen[cleanEntryPath(e.Linkname)] {
				fs = badLink.add(fs, errorf(CheckTOC, "hard link to %q, which no earlier entry of the layer defines: the snapshotter's metadata reader fails (\"cannot get link destination\") and the layer is not mounted", e.Linkname).ofFile(e.Name))
			}
		case "reg", "dir", "symlink", "char", "block", "fifo":
		default:
			fs = badType.add(fs, warnf(CheckTOC, "unknown entry type %q", e.Type).ofFile(e.Name))
		}
		seen[clean] = true
		for d := filepath.Dir(clean); d != "." && d != "/" && !seen[d]; d = filepath.Dir(d) {
			seen[d] = true
		}
	}
	fs = outOfRange.summary(fs, SeverityError, CheckTOC, "entries out of range")
	fs = badLink.summary(fs, SeverityError, CheckTOC, "dangling hard links")
	fs = badType.summary(fs, SeverityWarning, CheckTOC, "entries of unknown type")
	for _, f := range fs {
		s.add(f)
	}
	s.addEntryWarnings()
}

// addEntryWarnings reports the files the snapshotter serves wrong although
// the layer is mounted lazily: warnings, the layer stays lazy. The rules are
// ztoc.EntryWarnings, which convert reports too.
func (s *ztocState) addEntryWarnings() {
	entryChecks := []struct {
		kind  ztoc.WarningKind
		check Check
		what  string
	}{
		{ztoc.WarnSparseFile, CheckSparseFile, "sparse files"},
		{ztoc.WarnEmptyXattr, CheckEmptyXattr, "files with empty xattr values"},
		{ztoc.WarnMalformedCapability, CheckCapability, "malformed capabilities"},
	}
	ws := ztoc.EntryWarnings(s.z.TOC)
	for _, ec := range entryChecks {
		var rl repeatLimiter
		var fs []finding
		for _, w := range ws {
			if w.Kind == ec.kind {
				fs = rl.add(fs, warnf(ec.check, "%s (data at tar offset %d)", w.Message, w.Offset).ofFile(w.Name).at(w.Offset))
			}
		}
		for _, f := range rl.summary(fs, SeverityWarning, ec.check, ec.what) {
			s.add(f)
		}
	}
}

// cleanEntryPath is the snapshotter's metadata path normalization.
func cleanEntryPath(p string) string {
	return strings.TrimPrefix(filepath.Clean("/"+p), "/")
}

// fileAt names the TOC entry whose header or data covers tar offset off, for
// locating a bad span. The TOC is sorted by data offset.
func fileAt(z *ztoc.Ztoc, uStart, uEnd int64) string {
	toc := z.TOC
	i := sort.Search(len(toc), func(i int) bool {
		return toc[i].UncompressedOffset+toc[i].UncompressedSize > uStart
	})
	if i < len(toc) && toc[i].TarHeaderOffset < uEnd {
		return toc[i].Name
	}
	return ""
}
