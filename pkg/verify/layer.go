package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/pkg/ztoc"
)

// layerTask is one layer blob and every zTOC, over all platforms, that
// describes it: the blob is read once for all of them.
type layerTask struct {
	layer  ocispec.Descriptor
	usages []*usage
	ztocs  []*ztocState
}

// layerResult holds what the pass found, before it is stamped onto usages.
type layerResult struct {
	layer []finding                // about the blob itself
	ztoc  map[*ztocState][]finding // about one zTOC against the blob
	spans int
	bytes int64
	built int
}

func (c *checker) verifyLayers(ctx context.Context) error {
	var tasks []*layerTask
	byDigest := map[digest.Digest]*layerTask{}
	for _, p := range c.plats {
		if p.broken {
			continue
		}
		for _, u := range p.usages {
			if u.z.z == nil {
				continue
			}
			t := byDigest[u.layer.Digest]
			if t == nil {
				t = &layerTask{layer: u.layer}
				byDigest[u.layer.Digest] = t
				tasks = append(tasks, t)
			}
			t.usages = append(t.usages, u)
			known := false
			for _, z := range t.ztocs {
				known = known || z == u.z
			}
			if !known {
				t.ztocs = append(t.ztocs, u.z)
			}
		}
	}

	sem := make(chan struct{}, c.o.concurrency)
	var wg sync.WaitGroup
	for _, t := range tasks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := c.verifyLayer(ctx, t)
			c.record(t, r)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

func (c *checker) record(t *layerTask, r *layerResult) {
	c.mu.Lock()
	c.stats.LayersRead++
	c.stats.BytesRead += r.bytes
	c.stats.SpansChecked += r.spans
	c.stats.Rebuilt += r.built
	c.mu.Unlock()
	for _, u := range t.usages {
		sc := u.scope()
		for _, f := range r.layer {
			c.add(sc, f)
		}
		for _, f := range r.ztoc[u.z] {
			c.add(sc, f)
		}
	}
}

// readChunk is the read size of the layer pass.
const readChunk = 256 << 10

// headerCapture is how much of the layer start is kept for the gzip header
// check: enough for any header Go accepts.
const headerCapture = maxGoGzipHeader + 1

// verifyLayer reads the layer blob once. Every byte goes to the layer digest,
// to the span hashers of each zTOC and, with --deep, to a zTOC rebuild
// running beside the pass.
func (c *checker) verifyLayer(ctx context.Context, t *layerTask) *layerResult {
	r := &layerResult{ztoc: map[*ztocState][]finding{}}
	img := t.usages[0].plat.img
	h, err := toHash(t.layer.Digest)
	if err != nil {
		r.layer = append(r.layer, errorf(CheckLayerBlob, "%v", err))
		return r
	}
	l, err := img.LayerByDigest(h)
	if err != nil {
		r.layer = append(r.layer, errorf(CheckLayerBlob, "the layer blob cannot be opened: %v", err))
		return r
	}
	rc, err := l.Compressed()
	if err != nil {
		r.layer = append(r.layer, errorf(CheckLayerBlob, "the layer blob cannot be opened: %v", err))
		return r
	}
	defer rc.Close()

	verifiers := make([]*spanVerifier, 0, len(t.ztocs))
	for _, z := range t.ztocs {
		if z.spans != nil {
			verifiers = append(verifiers, &spanVerifier{z: z})
		}
	}
	var rebuilds []*rebuild
	if c.o.deep {
		for _, z := range t.ztocs {
			if rb := startRebuild(ctx, z); rb != nil {
				rebuilds = append(rebuilds, rb)
			}
		}
	}

	sum := sha256.New()
	prefix := make([]byte, 0, headerCapture)
	buf := make([]byte, readChunk)
	var pos int64
	var readErr error
	for {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		n, err := rc.Read(buf)
		chunk := buf[:n]
		sum.Write(chunk)
		if room := cap(prefix) - len(prefix); room > 0 {
			prefix = append(prefix, chunk[:min(room, n)]...)
		}
		for _, v := range verifiers {
			v.write(pos, chunk)
		}
		for _, rb := range rebuilds {
			rb.write(chunk)
		}
		pos += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	r.bytes = pos
	for _, rb := range rebuilds {
		rb.finish(readErr)
	}
	if readErr != nil {
		if ctx.Err() == nil {
			r.layer = append(r.layer, errorf(CheckLayerBlob, "reading the layer failed: %v", readErr).at(pos))
		}
		return r
	}
	if pos != t.layer.Size {
		r.layer = append(r.layer, errorf(CheckLayerBlob, "the layer blob is %d bytes but its descriptor says %d", pos, t.layer.Size))
	}
	if got := "sha256:" + hex.EncodeToString(sum.Sum(nil)); t.layer.Digest.Algorithm() == digest.SHA256 && got != t.layer.Digest.String() {
		r.layer = append(r.layer, errorf(CheckLayerBlob, "the layer blob has digest %s, not %s", got, t.layer.Digest))
	}

	for _, v := range verifiers {
		fs, n := v.finish(pos)
		r.ztoc[v.z] = append(r.ztoc[v.z], fs...)
		r.spans += n
	}
	for _, z := range t.ztocs {
		if f := checkHeader(z, prefix); f != nil {
			r.ztoc[z] = append(r.ztoc[z], *f)
		}
	}
	for _, rb := range rebuilds {
		r.ztoc[rb.z] = append(r.ztoc[rb.z], rb.compare()...)
		r.built++
	}
	return r
}

// checkHeader applies the snapshotter's header rule: the bytes before span 0
// must parse with Go's gzip.NewReader; and, for the spans to inflate,
// checkpoint 0 must sit exactly at the end of that header.
func checkHeader(z *ztocState, prefix []byte) *finding {
	if z.z == nil {
		return nil
	}
	gzipMagic := len(prefix) >= 2 && prefix[0] == 0x1f && prefix[1] == 0x8b
	if z.z.Compression == ztoc.Uncompressed {
		if gzipMagic {
			f := errorf(CheckCompression, "the zTOC says uncompressed but the layer is gzip data: the snapshotter would serve compressed bytes as files").at(0)
			return &f
		}
		return nil
	}
	if z.z.Compression != ztoc.Gzip || len(z.cps) == 0 {
		return nil
	}
	c0 := z.cps[0]
	start := c0.In
	if c0.Bits != 0 {
		start--
	}
	if !gzipMagic {
		f := errorf(CheckGzipHeader, "the layer does not start with a gzip header: the snapshotter's header check fails (\"unable to verify gzip header\")").at(0)
		return &f
	}
	n, err := goGzipHeaderLen(prefix)
	if err != nil {
		why := ""
		if h, perr := parseGzipHeader(prefix); perr == nil {
			why = h.explainGoReject()
		}
		if why == "" {
			why = err.Error()
		}
		f := errorf(CheckGzipHeader, "Go's gzip reader rejects the layer's gzip header, so the snapshotter's header check fails: %s", why).at(0)
		return &f
	}
	switch {
	case start < int64(n):
		f := errorf(CheckGzipHeader, "checkpoint 0 is at layer offset %d, inside the %d-byte gzip header: the snapshotter's header check reads only [0, %d) and fails", c0.In, n, start).at(c0.In)
		return &f
	case c0.In != int64(n) || c0.Bits != 0:
		f := errorf(CheckGzipHeader, "checkpoint 0 is at layer offset %d (bits %d) but the gzip header ends at %d: inflating span 0 starts at the wrong place and every file in it reads wrong", c0.In, c0.Bits, n).at(c0.In)
		return &f
	}
	return nil
}

// spanVerifier hashes the spans of one zTOC as the layer streams past. Spans
// are ordered and overlap by at most one byte (analyzeZtoc guarantees the
// order the snapshotter requires), so at most two hashers are live.
type spanVerifier struct {
	z      *ztocState
	next   int
	active []activeSpan
	free   []hash.Hash
	bad    repeatLimiter
	fs     []finding
	n      int
}

type activeSpan struct {
	i int
	h hash.Hash
}

func (v *spanVerifier) write(pos int64, chunk []byte) {
	end := pos + int64(len(chunk))
	spans := v.z.spans
	for v.next < len(spans) && spans[v.next].start < end {
		var h hash.Hash
		if k := len(v.free); k > 0 {
			h, v.free = v.free[k-1], v.free[:k-1]
			h.Reset()
		} else {
			h = sha256.New()
		}
		v.active = append(v.active, activeSpan{i: v.next, h: h})
		v.next++
	}
	kept := v.active[:0]
	for _, a := range v.active {
		s := spans[a.i]
		lo, hi := max(s.start, pos), min(s.end, end)
		if lo < hi {
			a.h.Write(chunk[lo-pos : hi-pos])
		}
		if s.end <= end {
			v.done(a)
			continue
		}
		kept = append(kept, a)
	}
	v.active = kept
}

func (v *spanVerifier) done(a activeSpan) {
	s := v.z.spans[a.i]
	got := "sha256:" + hex.EncodeToString(a.h.Sum(nil))
	v.free = append(v.free, a.h)
	v.n++
	if got != s.digest {
		v.mismatch(a.i, fmt.Sprintf("span %d (layer bytes [%d, %d), tar bytes [%d, %d)) has digest %s but the zTOC says %s: the snapshotter rejects the span (ErrIncorrectSpanDigest) and reads of files in it fail", a.i, s.start, s.end, s.uStart, s.uEnd, got, s.digest))
	}
}

func (v *spanVerifier) mismatch(i int, msg string) {
	s := v.z.spans[i]
	f := errorf(CheckSpanDigest, "%s", msg).at(s.start).inSpan(i)
	if v.z.z != nil {
		f.file = fileAt(v.z.z, s.uStart, s.uEnd)
	}
	v.fs = v.bad.add(v.fs, f)
}

// finish closes the spans at the end of the layer (size bytes).
func (v *spanVerifier) finish(size int64) ([]finding, int) {
	for _, a := range v.active {
		s := v.z.spans[a.i]
		v.mismatch(a.i, fmt.Sprintf("span %d (layer bytes [%d, %d)) extends past the end of the %d-byte layer", a.i, s.start, s.end, size))
	}
	for ; v.next < len(v.z.spans); v.next++ {
		s := v.z.spans[v.next]
		if s.start == size && s.end == size {
			v.done(activeSpan{i: v.next, h: sha256.New()})
			continue
		}
		v.mismatch(v.next, fmt.Sprintf("span %d (layer bytes [%d, %d)) lies past the end of the %d-byte layer", v.next, s.start, s.end, size))
	}
	return v.bad.summary(v.fs, SeverityError, CheckSpanDigest, "bad spans"), v.n
}

// rebuild runs ztoc.Build on a copy of the layer stream, fed through a pipe
// by the single read of verifyLayer.
type rebuild struct {
	z    *ztocState
	pw   *io.PipeWriter
	done chan struct{}
	res  *ztoc.Ztoc
	err  error
	dead bool
}

func startRebuild(ctx context.Context, z *ztocState) *rebuild {
	if z.z == nil || z.raw == nil || (z.z.Compression != ztoc.Gzip && z.z.Compression != ztoc.Uncompressed) || z.spanSize < 0 {
		return nil
	}
	pr, pw := io.Pipe()
	rb := &rebuild{z: z, pw: pw, done: make(chan struct{})}
	opts := []ztoc.Option{
		ztoc.WithSpanSize(z.spanSize),
		ztoc.WithBuildToolIdentifier(z.z.BuildToolIdentifier),
		ztoc.WithCompression(z.z.Compression),
	}
	go func() {
		defer close(rb.done)
		rb.res, rb.err = ztoc.Build(ctx, pr, opts...)
		// Unblock the writer if Build stopped early.
		pr.CloseWithError(errBuildStopped)
	}()
	return rb
}

var errBuildStopped = errors.New("zTOC rebuild stopped reading")

func (rb *rebuild) write(p []byte) {
	if rb.dead {
		return
	}
	if _, err := rb.pw.Write(p); err != nil {
		rb.dead = true
	}
}

func (rb *rebuild) finish(readErr error) {
	rb.pw.CloseWithError(readErr)
	<-rb.done
}

func (rb *rebuild) compare() []finding {
	if rb.err != nil {
		f := errorf(CheckRebuild, "rebuilding the zTOC from the layer fails: %v", rb.err)
		var fe *ztoc.FormatError
		if errors.As(rb.err, &fe) {
			f = f.at(fe.CompressedOffset)
		}
		return []finding{f}
	}
	b, err := ztoc.Marshal(rb.res)
	if err != nil {
		return []finding{errorf(CheckRebuild, "the rebuilt zTOC does not marshal: %v", err)}
	}
	if bytes.Equal(b, rb.z.raw) {
		return nil
	}
	again, err := ztoc.Unmarshal(b)
	if err != nil {
		return []finding{errorf(CheckRebuild, "the rebuilt zTOC does not unmarshal: %v", err)}
	}
	if f := diffZtoc(rb.z.z, again); f != nil {
		return []finding{*f}
	}
	return []finding{warnf(CheckRebuild, "the zTOC differs from a rebuild only in encoding: mod_time written in another time zone (soci formats it in the converter's local zone; run it with TZ=UTC) or field layout; the contents are the same")}
}

// diffZtoc describes the first difference between a stored zTOC and a
// rebuild (both decoded with Unmarshal), or nil when they hold the same
// values (times compared as instants).
func diffZtoc(a, b *ztoc.Ztoc) *finding {
	mk := func(format string, args ...any) *finding {
		f := errorf(CheckRebuild, "the zTOC differs from a rebuild from the layer: "+format, args...)
		return &f
	}
	switch {
	case a.Version != b.Version:
		return mk("version %q, rebuilt %q", a.Version, b.Version)
	case a.BuildToolIdentifier != b.BuildToolIdentifier:
		return mk("build tool %q, rebuilt %q", a.BuildToolIdentifier, b.BuildToolIdentifier)
	case a.CompressedArchiveSize != b.CompressedArchiveSize:
		return mk("compressed size %d, rebuilt %d", a.CompressedArchiveSize, b.CompressedArchiveSize)
	case a.UncompressedArchiveSize != b.UncompressedArchiveSize:
		return mk("uncompressed size %d, rebuilt %d", a.UncompressedArchiveSize, b.UncompressedArchiveSize)
	case a.Compression != b.Compression:
		return mk("compression %s, rebuilt %s", a.Compression, b.Compression)
	case a.MaxSpanID != b.MaxSpanID:
		return mk("max_span_id %d, rebuilt %d", a.MaxSpanID, b.MaxSpanID)
	}
	if a.Compression == ztoc.Gzip {
		ca, errA := a.GzipCheckpoints()
		cb, errB := b.GzipCheckpoints()
		if errA == nil && errB == nil {
			for i := 0; i < len(ca) && i < len(cb); i++ {
				x, y := ca[i], cb[i]
				if x.In != y.In || x.Out != y.Out || x.Bits != y.Bits {
					f := mk("checkpoint %d is at in=%d out=%d bits=%d, rebuilt in=%d out=%d bits=%d", i, x.In, x.Out, x.Bits, y.In, y.Out, y.Bits)
					f.offset, f.span = &x.In, &i
					return f
				}
				if !bytes.Equal(x.Window, y.Window) {
					f := mk("the window of checkpoint %d differs from the layer's 32 KiB before tar offset %d: inflating from it gives wrong data", i, x.Out)
					f.offset, f.span = &x.In, &i
					return f
				}
			}
			if len(ca) != len(cb) {
				return mk("%d checkpoints, rebuilt %d", len(ca), len(cb))
			}
		}
	}
	if !bytes.Equal(a.Checkpoints, b.Checkpoints) {
		return mk("the checkpoint blob differs (%d bytes, rebuilt %d)", len(a.Checkpoints), len(b.Checkpoints))
	}
	for i := 0; i < len(a.SpanDigests) && i < len(b.SpanDigests); i++ {
		if a.SpanDigests[i] != b.SpanDigests[i] {
			f := mk("span %d digest %s, rebuilt %s", i, a.SpanDigests[i], b.SpanDigests[i])
			f.span = &i
			return f
		}
	}
	if len(a.SpanDigests) != len(b.SpanDigests) {
		return mk("%d span digests, rebuilt %d", len(a.SpanDigests), len(b.SpanDigests))
	}
	for i := 0; i < len(a.TOC) && i < len(b.TOC); i++ {
		x, y := &a.TOC[i], &b.TOC[i]
		if d := diffEntry(x, y); d != "" {
			f := mk("TOC entry %d: %s", i, d)
			f.file = x.Name
			return f
		}
	}
	if len(a.TOC) != len(b.TOC) {
		return mk("%d TOC entries, rebuilt %d", len(a.TOC), len(b.TOC))
	}
	return nil
}

func diffEntry(x, y *ztoc.FileMetadata) string {
	switch {
	case x.Name != y.Name:
		return fmt.Sprintf("name %q, rebuilt %q", x.Name, y.Name)
	case x.Type != y.Type:
		return fmt.Sprintf("type %s, rebuilt %s", x.Type, y.Type)
	case x.UncompressedOffset != y.UncompressedOffset:
		return fmt.Sprintf("data offset %d, rebuilt %d", x.UncompressedOffset, y.UncompressedOffset)
	case x.UncompressedSize != y.UncompressedSize:
		return fmt.Sprintf("size %d, rebuilt %d", x.UncompressedSize, y.UncompressedSize)
	case x.Linkname != y.Linkname:
		return fmt.Sprintf("link %q, rebuilt %q", x.Linkname, y.Linkname)
	case x.Mode != y.Mode:
		return fmt.Sprintf("mode %o, rebuilt %o", x.Mode, y.Mode)
	case x.UID != y.UID || x.GID != y.GID:
		return fmt.Sprintf("owner %d:%d, rebuilt %d:%d", x.UID, x.GID, y.UID, y.GID)
	case x.Uname != y.Uname || x.Gname != y.Gname:
		return fmt.Sprintf("owner names %s:%s, rebuilt %s:%s", x.Uname, x.Gname, y.Uname, y.Gname)
	case !x.ModTime.Equal(y.ModTime):
		return fmt.Sprintf("mod time %s, rebuilt %s", x.ModTime, y.ModTime)
	case x.Devmajor != y.Devmajor || x.Devminor != y.Devminor:
		return fmt.Sprintf("device %d,%d, rebuilt %d,%d", x.Devmajor, x.Devminor, y.Devmajor, y.Devminor)
	case len(x.PAXHeaders) != len(y.PAXHeaders):
		return fmt.Sprintf("%d PAX records, rebuilt %d", len(x.PAXHeaders), len(y.PAXHeaders))
	}
	for k, v := range x.PAXHeaders {
		if w, ok := y.PAXHeaders[k]; !ok || w != v {
			return fmt.Sprintf("PAX record %s differs", k)
		}
	}
	return ""
}
