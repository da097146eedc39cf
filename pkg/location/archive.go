package location

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/internal/atomicfile"
	"github.com/socify/socify/internal/countio"
	"github.com/socify/socify/pkg/ociindex"
)

// ArchiveOrder is the order of the entries of an oci-archive: destination.
// Both orders hold the same image (every digest identical).
type ArchiveOrder int

const (
	// OrderOnePass (the default) puts the layers first, sorted by name, at
	// offsets known from their sizes before any byte is read, so each layer
	// is written where it belongs while the conversion indexes it; then every
	// other blob sorted by name, index.json and oci-layout.
	OrderOnePass ArchiveOrder = iota
	// OrderSoci writes soci's exact file (containerd's archive.Export: all
	// entries sorted by name), whose sha256 equals soci's output. zTOC
	// digests decide where layers go, so layers are read from the source a
	// second time, after the conversion.
	OrderSoci
)

// String is the order's name: "one-pass" or "soci".
func (o ArchiveOrder) String() string {
	if o == OrderSoci {
		return "soci"
	}
	return "one-pass"
}

// ParseArchiveOrder reads an order's name (the CLI's --archive-order).
func ParseArchiveOrder(s string) (ArchiveOrder, error) {
	switch s {
	case "", "one-pass":
		return OrderOnePass, nil
	case "soci":
		return OrderSoci, nil
	}
	return 0, fmt.Errorf("archive order %q: want one-pass or soci", s)
}

// WithArchiveOrder chooses the entry order of oci-archive: destinations.
func WithArchiveOrder(order ArchiveOrder) Option {
	return func(o *options) { o.archiveOrder = order }
}

type archiveSink struct {
	file    string
	refName string
	o       options

	tee teeState
	mu  sync.Mutex
	// Set by prepare: the fixed region (directories and layers) of the
	// archive and the temporary file it is being written to.
	plan    *archivePlan
	tmp     *os.File
	tmpPath string
	target  string
}

// archiveRecord is one tar entry.
type archiveRecord struct {
	hdr tar.Header
	it  *item // nil for directories
}

// archivePlan places the directory entries and the layers at the start of
// the archive, each at an offset computed from the sizes alone.
type archivePlan struct {
	recs    []archiveRecord
	headers [][]byte // encoded tar header of each record
	offsets []int64  // where each record's header starts
	end     int64    // where the rest of the archive starts
	layer   map[v1.Hash]int
}

func blobRecord(it *item) archiveRecord {
	return archiveRecord{hdr: tar.Header{Name: it.name(), Mode: 0o444, Size: it.size, Typeflag: tar.TypeReg}, it: it}
}

func dirRecord(name string) archiveRecord {
	return archiveRecord{hdr: tar.Header{Name: name, Mode: 0o755, Typeflag: tar.TypeDir}}
}

// encodeHeader is the bytes archive/tar writes for h (one block, or more
// with PAX records for long names).
func encodeHeader(h *tar.Header) ([]byte, error) {
	var b bytes.Buffer
	if err := tar.NewWriter(&b).WriteHeader(h); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func pad512(n int64) int64 { return (n + 511) &^ 511 }

// newArchivePlan lays out blobs/, blobs/sha256/ and the layers sorted by name.
func newArchivePlan(layers []*item) (*archivePlan, error) {
	p := &archivePlan{layer: map[v1.Hash]int{}}
	p.recs = append(p.recs, dirRecord("blobs/"), dirRecord("blobs/sha256/"))
	sorted := slices.Clone(layers)
	slices.SortFunc(sorted, func(a, b *item) int { return strings.Compare(a.name(), b.name()) })
	for _, it := range sorted {
		p.layer[it.h] = len(p.recs)
		p.recs = append(p.recs, blobRecord(it))
	}
	for i := range p.recs {
		h, err := encodeHeader(&p.recs[i].hdr)
		if err != nil {
			return nil, err
		}
		p.headers = append(p.headers, h)
		p.offsets = append(p.offsets, p.end)
		p.end += int64(len(h)) + pad512(p.recs[i].hdr.Size)
	}
	return p, nil
}

// same reports whether q places the same entries at the same offsets.
func (p *archivePlan) same(q *archivePlan) bool {
	return p != nil && q != nil && p.end == q.end && slices.EqualFunc(p.recs, q.recs, func(a, b archiveRecord) bool {
		return a.hdr.Name == b.hdr.Name && a.hdr.Size == b.hdr.Size
	})
}

// archiveContent splits the image into the layers (in the fixed region) and
// the other entries, in OrderOnePass order, leaving out non-distributable
// layers the source lacks.
func (s *archiveSink) archiveContent(items []item, res *WriteResult) (layers []*item, rest []archiveRecord) {
	dirs := map[string]bool{}
	for i := range items {
		it := &items[i]
		if it.optional {
			if ok, _ := partial.Exists(it.l); !ok {
				if res != nil {
					msg := fmt.Sprintf("non-distributable layer %s is not available; left out", it.h)
					res.Warnings = append(res.Warnings, msg)
					s.o.logger.Warn(msg)
				}
				continue
			}
		}
		if d := "blobs/" + it.h.Algorithm + "/"; d != "blobs/sha256/" && !dirs[d] {
			dirs[d] = true
			rest = append(rest, dirRecord(d))
		}
		if it.layer {
			layers = append(layers, it)
			continue
		}
		rest = append(rest, blobRecord(it))
	}
	slices.SortFunc(rest, func(a, b archiveRecord) int { return strings.Compare(a.hdr.Name, b.hdr.Name) })
	return layers, rest
}

// regularTarget resolves the destination for writing in place: ok is false
// when it exists and is not a regular file (a device or FIFO, written as a
// stream by atomicfile.WriteOutput).
func (s *archiveSink) regularTarget() (string, bool, error) {
	target, ok, err := atomicfile.Target(s.file)
	if !ok {
		target = ""
	}
	return target, ok, err
}

// prepare lays out the layers of the source image and opens the temporary
// file they are written to as they are indexed.
func (s *archiveSink) prepare(ctx context.Context, src *Source) (bool, error) {
	if s.o.archiveOrder == OrderSoci {
		return false, nil
	}
	target, ok, err := s.regularTarget()
	if err != nil || !ok {
		return false, err
	}
	items, err := reachable(ctx, src.Index)
	if err != nil {
		return false, fmt.Errorf("oci-archive:%s: %w", s.file, err)
	}
	layers, _ := s.archiveContent(items, nil)
	plan, err := newArchivePlan(layers)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tmp != nil {
		return false, errors.New("the archive sink is already prepared")
	}
	f, err := s.createTemp(target, plan)
	if err != nil {
		return false, err
	}
	s.plan, s.tmp, s.tmpPath, s.target = plan, f, f.Name(), target
	return true, nil
}

// createTemp opens the temporary archive next to target and writes the
// headers of the fixed region.
func (s *archiveSink) createTemp(target string, plan *archivePlan) (*os.File, error) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("oci-archive:%s: %w", s.file, err)
	}
	for i, h := range plan.headers {
		if _, err := f.WriteAt(h, plan.offsets[i]); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("oci-archive:%s: %w", s.file, err)
		}
	}
	return f, nil
}

// TeeLayer writes a layer at its place in the archive as it is read.
func (s *archiveSink) TeeLayer(_ context.Context, desc v1.Descriptor) (LayerWriter, error) {
	s.mu.Lock()
	plan, f := s.plan, s.tmp
	s.mu.Unlock()
	if plan == nil || f == nil {
		return nil, nil
	}
	i, ok := plan.layer[desc.Digest]
	if !ok || plan.recs[i].hdr.Size != desc.Size || !s.tee.claim(desc.Digest) {
		return nil, nil
	}
	off := plan.offsets[i] + int64(len(plan.headers[i]))
	return &archiveLayerWriter{
		boundedWriter: boundedWriter{w: io.NewOffsetWriter(f, off), left: desc.Size},
		s:             s, h: desc.Digest,
	}, nil
}

type archiveLayerWriter struct {
	boundedWriter
	s *archiveSink
	h v1.Hash
}

// Commit marks the layer as in place: its bytes are already where the
// archive's Write expects them, and the file only becomes the archive when
// Write renames it.
func (w *archiveLayerWriter) Commit() error {
	if w.left != 0 {
		w.s.tee.done(w.h, false)
		return fmt.Errorf("layer %s: %d bytes missing", w.h, w.left)
	}
	w.s.tee.done(w.h, true)
	return nil
}

// Abort leaves the region to Write, which copies the layer there again.
func (w *archiveLayerWriter) Abort(error) { w.s.tee.done(w.h, false) }

// Close removes the temporary archive when Write did not take it over.
func (s *archiveSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tmp == nil {
		return nil
	}
	s.tmp.Close()
	err := os.Remove(s.tmpPath)
	s.tmp, s.plan = nil, nil
	return err
}

// Write writes the archive: only the reachable blobs, directories 0755,
// blobs 0444, index.json 0644 with one entry, oci-layout 0444, no timestamps
// or owners, in the order WithArchiveOrder chose. Layers the conversion
// wrote in its pass (see NewLayerTee) are not read again. A regular file is
// written under a temporary name next to the destination and renamed at the
// end; a device or FIFO is streamed to.
func (s *archiveSink) Write(ctx context.Context, idx v1.ImageIndex) (res *WriteResult, err error) {
	if s.tee.running() {
		return nil, errTeeRunning
	}
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = ctx.Err()
		}
	}()
	items, err := reachable(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("write oci-archive:%s: %w", s.file, err)
	}
	top := items[len(items)-1]
	res = &WriteResult{Descriptor: v1.Descriptor{MediaType: "application/vnd.oci.image.index.v1+json", Digest: top.h, Size: top.size}}
	ij, err := json.Marshal(ociindex.LayoutIndex(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: toDigest(top.h), Size: top.size}, s.refName))
	if err != nil {
		return nil, err
	}
	layers, rest := s.archiveContent(items, res)
	ijItem := item{data: ij, size: int64(len(ij))}
	olItem := item{data: []byte(ociLayoutFile), size: int64(len(ociLayoutFile))}
	rest = append(rest,
		archiveRecord{hdr: tar.Header{Name: "index.json", Mode: 0o644, Size: ijItem.size, Typeflag: tar.TypeReg}, it: &ijItem},
		archiveRecord{hdr: tar.Header{Name: "oci-layout", Mode: 0o444, Size: olItem.size, Typeflag: tar.TypeReg}, it: &olItem})

	if s.o.archiveOrder == OrderSoci {
		recs := append(append([]archiveRecord{dirRecord("blobs/"), dirRecord("blobs/sha256/")}, rest...), recordsOf(layers)...)
		slices.SortFunc(recs, func(a, b archiveRecord) int { return strings.Compare(a.hdr.Name, b.hdr.Name) })
		err = s.writeStream(ctx, recs, res)
	} else {
		err = s.writeOnePass(ctx, layers, rest, res)
	}
	if err != nil {
		return nil, fmt.Errorf("write oci-archive:%s: %w", s.file, err)
	}
	res.Reference = Reference{Kind: Archive, Path: s.file, Ref: s.refName}.String()
	return res, nil
}

func recordsOf(its []*item) []archiveRecord {
	out := make([]archiveRecord, len(its))
	for i, it := range its {
		out[i] = blobRecord(it)
	}
	return out
}

// writeStream writes recs in order through atomicfile.WriteOutput, reading
// every blob.
func (s *archiveSink) writeStream(ctx context.Context, recs []archiveRecord, res *WriteResult) error {
	cw := &countio.Writer{}
	err := atomicfile.WriteOutput(s.file, 0o644, func(f io.Writer) error {
		cw.W = f
		bw := bufio.NewWriterSize(cw, 1<<20)
		tw := tar.NewWriter(bw)
		p := s.progress(recs)
		for _, r := range recs {
			if err := s.writeRecord(ctx, tw, r, res, p); err != nil {
				return err
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		return bw.Flush()
	})
	res.BytesWritten = cw.N
	return err
}

// writeRecord writes one entry with a tar.Writer, counting blobs.
func (s *archiveSink) writeRecord(ctx context.Context, tw *tar.Writer, r archiveRecord, res *WriteResult, p *archiveProgress) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := tw.WriteHeader(&r.hdr); err != nil {
		return err
	}
	if r.it == nil {
		return nil
	}
	if _, err := copyVerified(ctx, tw, *r.it); err != nil {
		return fmt.Errorf("%s: %w", r.hdr.Name, err)
	}
	s.blobDone(r, res, p)
	return nil
}

type archiveProgress struct{ done, total int64 }

func (s *archiveSink) progress(recs []archiveRecord) *archiveProgress {
	p := &archiveProgress{}
	for _, r := range recs {
		p.total += r.hdr.Size
	}
	return p
}

func (s *archiveSink) blobDone(r archiveRecord, res *WriteResult, p *archiveProgress) {
	if r.it.h.Hex == "" {
		return // index.json, oci-layout
	}
	res.BlobsWritten++
	p.done += r.hdr.Size
	if s.o.progress != nil {
		s.o.progress(Progress{Blob: r.it.h, Complete: p.done, Total: p.total})
	}
}

// writeOnePass completes the archive the conversion started (or writes it
// whole when it did not): the fixed region of directories and layers, with
// only the layers the conversion did not write copied from the source, then
// the other entries.
func (s *archiveSink) writeOnePass(ctx context.Context, layers []*item, rest []archiveRecord, res *WriteResult) (err error) {
	plan, err := newArchivePlan(layers)
	if err != nil {
		return err
	}
	target, regular, err := s.regularTarget()
	if err != nil {
		return err
	}
	if !regular {
		return s.writeStream(ctx, append(slices.Clone(plan.recs), rest...), res)
	}
	s.mu.Lock()
	f, path := s.tmp, s.tmpPath
	if f != nil && (!plan.same(s.plan) || target != s.target) {
		// The image is not the one prepared for: start over.
		s.o.logger.Debug("archive layout changed since the conversion started; rewriting it", "file", s.file)
		f.Close()
		os.Remove(path)
		f = nil
		s.tee = teeState{}
	}
	s.tmp, s.plan = nil, nil // Write owns the file from here
	s.mu.Unlock()
	if f == nil {
		if f, err = s.createTemp(target, plan); err != nil {
			return err
		}
		path = f.Name()
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()

	p := s.progress(append(slices.Clone(plan.recs), rest...))
	for i, r := range plan.recs {
		if r.it == nil {
			continue
		}
		if !s.tee.committed(r.it.h) {
			off := plan.offsets[i] + int64(len(plan.headers[i]))
			w := &boundedWriter{w: io.NewOffsetWriter(f, off), left: r.it.size}
			if _, err := copyVerified(ctx, w, *r.it); err != nil {
				return fmt.Errorf("%s: %w", r.hdr.Name, err)
			}
		}
		s.blobDone(r, res, p)
	}
	cw := &countio.Writer{W: io.NewOffsetWriter(f, plan.end)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	tw := tar.NewWriter(bw)
	for _, r := range rest {
		if err := s.writeRecord(ctx, tw, r, res, p); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	size := plan.end + cw.N
	if err := f.Truncate(size); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(path, target); err != nil {
		return err
	}
	res.BytesWritten = size
	return nil
}
