package location

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/socify/socify/internal/atomicfile"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/socify/socify/internal/notfound"
	"github.com/socify/socify/pkg/ociindex"
)

// Sink writes a converted image.
type Sink interface {
	// Write stores the image index and everything it references that the
	// destination lacks. On error nothing is left that names the image
	// (index.json, the archive, the tag are written last).
	Write(ctx context.Context, idx v1.ImageIndex) (*WriteResult, error)
}

// WriteResult tells what a sink did.
type WriteResult struct {
	// Descriptor of the written image index.
	Descriptor v1.Descriptor
	// Reference names the written image (for a registry, repo@digest).
	Reference string
	// Blob counts for layout and archive sinks: written (copied or made),
	// hard-linked from the source, and already present.
	BlobsWritten, BlobsLinked, BlobsExisting int
	// BytesWritten counts blob bytes copied (layout) or the archive size.
	BytesWritten int64
	Warnings     []string
}

// Progress reports bytes written by layout and archive sinks.
type Progress struct {
	Blob            v1.Hash
	Complete, Total int64
}

// WithProgress calls f after each blob a layout or archive sink handles.
// Registry sinks take remote.WithProgress through WithRemoteOptions.
func WithProgress(f func(Progress)) Option { return func(o *options) { o.progress = f } }

// NewSink returns the sink a reference names. docker-archive is a source
// only.
func NewSink(ref Reference, opts ...Option) (Sink, error) {
	o := makeOptions(opts)
	switch ref.Kind {
	case Registry:
		r, err := name.ParseReference(ref.Ref, o.name...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		return &registrySink{ref: r, o: o}, nil
	case Layout:
		if strings.HasPrefix(ref.Ref, "@") {
			return nil, fmt.Errorf("%s: a destination is named by a ref name, not @N", ref)
		}
		return &layoutSink{dir: ref.Path, refName: ref.Ref, replaceUnnamed: ref.Ref == "", o: o}, nil
	case Archive:
		if strings.HasPrefix(ref.Ref, "@") {
			return nil, fmt.Errorf("%s: a destination is named by a ref name, not @N", ref)
		}
		return &archiveSink{file: ref.Path, refName: ref.Ref, o: o}, nil
	case DockerArchive:
		return nil, fmt.Errorf("%s: docker-archive is supported as a source only; write oci-archive: instead", ref)
	}
	return nil, fmt.Errorf("unknown transport %q", ref.Kind)
}

// InPlaceSink adds the converted image to the source's own layout directory:
// only blobs the layout lacks are written, and the index.json entry the source
// was read from is replaced by the converted image (keeping its ref name).
func (s *Source) InPlaceSink(opts ...Option) (Sink, error) {
	if s.Ref.Kind != Layout {
		return nil, ErrNotLayout
	}
	raw, err := s.store.file("index.json")
	if err != nil {
		return nil, err
	}
	var top ocispec.Index
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	sink := &layoutSink{dir: s.Ref.Path, o: makeOptions(opts)}
	// The entries the source was resolved from (see resolveRoot).
	for i, d := range top.Manifests {
		if selectedBy(i, d, s.Ref.Ref) {
			sink.replace = append(sink.replace, d.Digest.String())
			if n := d.Annotations[ocispec.AnnotationRefName]; n != "" && sink.refName == "" {
				sink.refName = n
			}
		}
	}
	return sink, nil
}

func selectedBy(i int, d ocispec.Descriptor, ref string) bool {
	switch {
	case ref == "":
		return true
	case ref[0] == '@':
		n, err := entryIndex(ref)
		return err == nil && n == i
	default:
		return d.Annotations[ocispec.AnnotationRefName] == ref
	}
}

// --- registry ---

type registrySink struct {
	ref name.Reference
	o   options
	rt  registryTee
}

func (s *registrySink) Write(ctx context.Context, idx v1.ImageIndex) (*WriteResult, error) {
	h, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	if d, ok := s.ref.(name.Digest); ok && d.DigestStr() != h.String() {
		return nil, fmt.Errorf("write %s: the converted image has digest %s; push it by tag or to %s",
			s.ref, h, s.ref.Context().Digest(h.String()))
	}
	if s.rt.tee.running() {
		return nil, errTeeRunning
	}
	opts, err := s.remoteOptions(ctx)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", s.ref, err)
	}
	// Blobs (those the conversion uploaded are found and skipped), then
	// child manifests, then the index under the tag.
	if err := remote.WriteIndex(s.ref, idx, opts...); err != nil {
		return nil, fmt.Errorf("write %s: %w", s.ref, err)
	}
	d, err := partial.Descriptor(idx)
	if err != nil {
		return nil, err
	}
	return &WriteResult{Descriptor: *d, Reference: s.ref.Context().Digest(h.String()).String()}, nil
}

// --- walking the image ---

// item is one blob of the image to write.
type item struct {
	h    v1.Hash
	size int64
	mt   string
	data []byte   // documents
	l    v1.Layer // everything else
	// optional: a non-distributable layer, left out when the source lacks it.
	optional bool
	// layer: listed among the layers of a manifest.
	layer bool
}

func (it item) name() string { return "blobs/" + it.h.Algorithm + "/" + it.h.Hex }

// reachable lists the blobs of idx, children before parents, each once. The
// last item is idx itself.
func reachable(ctx context.Context, idx v1.ImageIndex) ([]item, error) {
	var out []item
	seen := map[v1.Hash]bool{}
	add := func(it item) {
		if !seen[it.h] {
			seen[it.h] = true
			out = append(out, it)
		}
	}
	doc := func(raw []byte, want v1.Hash, mt string) (item, error) {
		h, size, err := v1.SHA256(bytes.NewReader(raw))
		if err != nil {
			return item{}, err
		}
		if want.Hex != "" && h != want {
			return item{}, fmt.Errorf("manifest %s: content has digest %s", want, h)
		}
		return item{h: h, size: size, mt: mt, data: raw}, nil
	}
	var visitIndex func(x v1.ImageIndex, want v1.Hash) error
	visitImage := func(img v1.Image, want v1.Hash, artifactType string) error {
		m, err := img.Manifest()
		if err != nil {
			return err
		}
		// A SOCI index's "layers" are zTOCs, made by the conversion: not
		// layers of the image.
		soci := isSociArtifact(artifactType) || isSociArtifact(string(m.Config.MediaType))
		cl, err := partial.ConfigLayer(img)
		if err != nil {
			return fmt.Errorf("config of %s: %w", want, err)
		}
		add(item{h: m.Config.Digest, size: m.Config.Size, mt: string(m.Config.MediaType), l: cl})
		ls, err := img.Layers()
		if err != nil {
			return fmt.Errorf("layers of %s: %w", want, err)
		}
		if len(ls) != len(m.Layers) {
			return fmt.Errorf("image %s: %d layers for %d descriptors", want, len(ls), len(m.Layers))
		}
		for i, l := range ls {
			d := m.Layers[i]
			add(item{h: d.Digest, size: d.Size, mt: string(d.MediaType), l: l, optional: !d.MediaType.IsDistributable(), layer: !soci})
		}
		raw, err := img.RawManifest()
		if err != nil {
			return err
		}
		mt, _ := img.MediaType()
		it, err := doc(raw, want, string(mt))
		if err != nil {
			return err
		}
		add(it)
		return nil
	}
	visitIndex = func(x v1.ImageIndex, want v1.Hash) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := x.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range m.Manifests {
			switch {
			case d.MediaType.IsIndex():
				sub, err := x.ImageIndex(d.Digest)
				if err != nil {
					return fmt.Errorf("index %s: %w", d.Digest, err)
				}
				if err := visitIndex(sub, d.Digest); err != nil {
					return err
				}
			case d.MediaType.IsImage():
				img, err := x.Image(d.Digest)
				if err != nil {
					return fmt.Errorf("manifest %s: %w", d.Digest, err)
				}
				if err := visitImage(img, d.Digest, d.ArtifactType); err != nil {
					return err
				}
			default:
				wl, ok := x.(interface {
					Layer(v1.Hash) (v1.Layer, error)
				})
				if !ok {
					return fmt.Errorf("child %s has media type %s and the source cannot serve it", d.Digest, d.MediaType)
				}
				l, err := wl.Layer(d.Digest)
				if err != nil {
					return fmt.Errorf("child %s: %w", d.Digest, err)
				}
				add(item{h: d.Digest, size: d.Size, mt: string(d.MediaType), l: l})
			}
		}
		raw, err := x.RawManifest()
		if err != nil {
			return err
		}
		mt, _ := x.MediaType()
		it, err := doc(raw, want, string(mt))
		if err != nil {
			return err
		}
		add(it)
		return nil
	}
	if err := visitIndex(idx, v1.Hash{}); err != nil {
		return nil, err
	}
	return out, nil
}

func isSociArtifact(t string) bool {
	return t == ociindex.ArtifactTypeSociIndexV2 || t == ociindex.ArtifactTypeSociIndexV1
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// copyVerified copies a blob and checks its size and digest.
func copyVerified(ctx context.Context, w io.Writer, it item) (int64, error) {
	if it.data != nil {
		n, err := w.Write(it.data)
		return int64(n), err
	}
	rc, err := it.l.Compressed()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	var hh hash.Hash
	if it.h.Algorithm == "sha256" {
		hh = sha256.New()
		w = io.MultiWriter(w, hh)
	}
	// One byte more than expected, to notice a longer blob.
	n, err := io.Copy(w, io.LimitReader(ctxReader{ctx, rc}, it.size+1))
	if err != nil {
		return n, err
	}
	if n != it.size {
		return n, fmt.Errorf("blob %s: read %d bytes, descriptor says %d", it.h, n, it.size)
	}
	if hh != nil {
		if got := hex.EncodeToString(hh.Sum(nil)); got != it.h.Hex {
			return n, fmt.Errorf("blob %s: content has digest sha256:%s", it.h, got)
		}
	}
	return n, nil
}

// --- OCI layout directory ---

type layoutSink struct {
	dir     string
	refName string
	// Entries of index.json to drop: by digest (in place), and unnamed ones
	// when the destination has no ref name.
	replace        []string
	replaceUnnamed bool
	o              options
	lt             layoutTee
}

const ociLayoutFile = `{"imageLayoutVersion":"1.0.0"}`

func (s *layoutSink) Write(ctx context.Context, idx v1.ImageIndex) (*WriteResult, error) {
	if s.lt.tee.running() {
		return nil, errTeeRunning
	}
	// index.json is read and replaced last; a device or FIFO there must fail
	// the write before any blob is copied, not hang or fail at the end.
	if _, ok, err := atomicfile.Target(filepath.Join(s.dir, "index.json")); err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("index.json: %w", atomicfile.ErrNotRegular)
		}
		return nil, fmt.Errorf("write oci:%s: %w", s.dir, err)
	}
	items, err := reachable(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("write oci:%s: %w", s.dir, err)
	}
	top := items[len(items)-1]
	res := &WriteResult{Descriptor: v1.Descriptor{MediaType: "application/vnd.oci.image.index.v1+json", Digest: top.h, Size: top.size}}
	if err := os.MkdirAll(filepath.Join(s.dir, "blobs"), 0o755); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(s.dir, "oci-layout")); errors.Is(err, fs.ErrNotExist) {
		if err := atomicfile.WriteBytes(filepath.Join(s.dir, "oci-layout"), 0o644, []byte(ociLayoutFile)); err != nil {
			return nil, err
		}
	}
	var total, done int64
	for _, it := range items {
		total += it.size
	}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.writeBlob(ctx, it, res); err != nil {
			return nil, fmt.Errorf("write oci:%s: blob %s: %w", s.dir, it.h, err)
		}
		done += it.size
		if s.o.progress != nil {
			s.o.progress(Progress{Blob: it.h, Complete: done, Total: total})
		}
	}
	if err := s.writeIndexJSON(res.Descriptor); err != nil {
		return nil, fmt.Errorf("write oci:%s: %w", s.dir, err)
	}
	s.lt.mu.Lock()
	s.lt.written = true
	s.lt.mu.Unlock()
	res.Reference = Reference{Kind: Layout, Path: s.dir, Ref: s.refName}.String()
	return res, nil
}

func (s *layoutSink) writeBlob(ctx context.Context, it item, res *WriteResult) error {
	p := filepath.Join(s.dir, filepath.FromSlash(it.name()))
	if s.lt.tee.committed(it.h) {
		res.BlobsWritten++
		res.BytesWritten += it.size
		return nil
	}
	if fi, err := os.Stat(p); err == nil && fi.Size() == it.size {
		res.BlobsExisting++
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if it.l != nil && !s.o.noLink {
		if bp, ok := it.l.(interface{ BlobPath() string }); ok && bp.BlobPath() != "" {
			// Blobs are immutable: the destination may share the source's inode.
			err := os.Link(bp.BlobPath(), p)
			if err == nil {
				res.BlobsLinked++
				return nil
			}
			if errors.Is(err, fs.ErrExist) {
				res.BlobsExisting++
				return nil
			}
			s.o.logger.Debug("hard link failed, copying", "blob", it.h.String(), "err", err)
		}
	}
	var n int64
	err := atomicfile.Write(p, 0o644, func(w io.Writer) error {
		var err error
		n, err = copyVerified(ctx, w, it)
		return err
	})
	if err != nil {
		if it.optional && notfound.Is(err) {
			msg := fmt.Sprintf("non-distributable layer %s is not available; left out", it.h)
			res.Warnings = append(res.Warnings, msg)
			s.o.logger.Warn(msg)
			return nil
		}
		return err
	}
	res.BlobsWritten++
	res.BytesWritten += n
	return nil
}

func readRegular(p string) ([]byte, error) {
	f, err := openRegular(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func (s *layoutSink) writeIndexJSON(d v1.Descriptor) error {
	p := filepath.Join(s.dir, "index.json")
	var top ocispec.Index
	raw, err := readRegular(p)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &top); err != nil {
			return fmt.Errorf("index.json: %w", err)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return err
	}
	entry := ociindex.LayoutIndex(ocispec.Descriptor{MediaType: string(d.MediaType), Digest: toDigest(d.Digest), Size: d.Size}, s.refName)
	if top.SchemaVersion == 0 {
		top = entry
	} else {
		top.Manifests = slices.DeleteFunc(top.Manifests, func(o ocispec.Descriptor) bool {
			n := o.Annotations[ocispec.AnnotationRefName]
			return slices.Contains(s.replace, o.Digest.String()) ||
				(s.refName != "" && n == s.refName) || (s.replaceUnnamed && n == "")
		})
		top.Manifests = append(top.Manifests, entry.Manifests[0])
		if top.MediaType == "" {
			top.MediaType = ocispec.MediaTypeImageIndex
		}
	}
	b, err := json.Marshal(top)
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(p, 0o644, b)
}

func toDigest(h v1.Hash) digest.Digest { return digest.Digest(h.String()) }
