package location

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The registry sink takes layers in the conversion's pass: each is uploaded
// through a pipe while it is indexed. The pipe's ring (bufPipe, 1 MiB) lets
// the indexer run ahead of the network by that much and no more, so memory
// stays bounded; the upload's final PUT, which names the digest, can only
// follow the pipe's end, which Commit gives once the layer was checked. A failed upload ends the pipe
// with its error: the indexer carries on without the tee and Write uploads
// the layer from the source.

type registryTee struct {
	tee    teeState
	once   sync.Once
	pusher *remote.Pusher
	err    error
	// srcRepo is the source's repository when it is a registry: a broken
	// upload resumes by reading the rest of the layer from there.
	srcRepo *name.Repository
	// local serves the blobs of a layout, OCI archive or docker archive
	// source: a broken upload resumes by reading the rest of the layer's
	// file or tar member from the offset the registry committed.
	local store
}

// Uploads lets the registry sink upload the conversion's layers through
// socify's registry client (pkg/registry's Client.Exists, Client.Upload and
// Client.OpenBlob with BlobOffset): when an upload breaks mid-stream, Upload
// asks the registry what it committed and sends the rest, read from the
// source registry with a Range request (or from the layer's file or tar
// member of a local source), instead of the sink uploading the whole layer
// again after the conversion. Fields are funcs so that this package does not
// depend on pkg/registry.
type Uploads struct {
	Exists func(ctx context.Context, repo name.Repository, h v1.Hash) (bool, error)
	Upload func(ctx context.Context, repo name.Repository, desc v1.Descriptor, body io.Reader, reopen func(ctx context.Context, off int64) (io.ReadCloser, error)) error
	// OpenAt reads blob ref of a registry source from byte off on; nil
	// disables resuming from a registry source (local sources resume
	// without it).
	OpenAt func(ctx context.Context, ref name.Digest, off int64) (io.ReadCloser, error)
}

// WithUploads makes registry sinks upload in the conversion's pass through u
// (see Uploads). Without it they use go-containerregistry's upload, and a
// broken upload is redone by Write.
func WithUploads(u Uploads) Option { return func(o *options) { o.uploads = u } }

// remoteOptions are the sink's go-containerregistry options plus one
// Pusher for every upload of this sink (a token and connections reused).
func (s *registrySink) remoteOptions(ctx context.Context) ([]remote.Option, error) {
	s.rt.once.Do(func() {
		s.rt.pusher, s.rt.err = remote.NewPusher(s.o.remote...)
	})
	if s.rt.err != nil {
		return nil, s.rt.err
	}
	return append(append([]remote.Option{}, s.o.remote...), remote.WithContext(ctx), remote.Reuse(s.rt.pusher)), nil
}

func (s *registrySink) prepare(_ context.Context, src *Source) (bool, error) {
	if src.Ref.Kind == Registry {
		r, err := name.ParseReference(src.Ref.Ref, s.o.name...)
		if err == nil && r.Context().RegistryStr() == s.ref.Context().RegistryStr() {
			// Same registry: layers are mounted across repositories.
			return false, nil
		}
		if err == nil {
			repo := r.Context()
			s.rt.srcRepo = &repo
		}
	}
	s.rt.local = src.store
	return true, nil
}

// errBlobExists ends the pipe when the registry already has the blob: the
// upload checked before reading anything.
var errBlobExists = errors.New("the destination already has the blob")

func (s *registrySink) TeeLayer(ctx context.Context, desc v1.Descriptor) (LayerWriter, error) {
	if u := s.o.uploads; u.Upload != nil && u.Exists != nil {
		return s.teeUpload(ctx, desc, u)
	}
	if _, err := s.remoteOptions(ctx); err != nil {
		return nil, err
	}
	if !s.rt.tee.claim(desc.Digest) {
		return nil, nil
	}
	pr, pw := newBufPipe(ringFor(desc.Size))
	l := &pipeLayer{desc: desc, r: pr}
	w := &uploadWriter{boundedWriter: boundedWriter{w: pw, left: desc.Size}, pw: pw, s: s, h: desc.Digest, done: make(chan struct{})}
	go func() {
		// go-containerregistry checks whether the blob exists first, then
		// mounts or uploads; Compressed is called only for an upload.
		// Pusher.Upload, not remote.WriteLayer, which would close a
		// progress channel that Write still uses.
		err := s.rt.pusher.Upload(ctx, s.ref.Context(), l)
		if err == nil && !l.opened.Load() {
			w.existed = true
			err = errBlobExists
		}
		w.finish(pr, err)
	}()
	return w, nil
}

type uploadWriter struct {
	boundedWriter
	pw      *pipeWriter
	s       *registrySink
	h       v1.Hash
	done    chan struct{}
	err     error // the upload's result, set before done is closed
	existed bool
	// resumable: the upload may finish from the source after the pipe
	// broke (Uploads with OpenAt).
	resumable bool
}

// finish records the upload's result and unblocks the indexer: a writer
// still feeding the pipe gets the error (or io.ErrClosedPipe after success)
// and goes on indexing alone.
func (w *uploadWriter) finish(pr *pipeReader, err error) {
	w.err = err
	if err == nil {
		err = io.ErrClosedPipe
	}
	pr.CloseWithError(err)
	close(w.done)
}

// Commit ends the stream, which lets the upload send its final request,
// and waits for it.
func (w *uploadWriter) Commit() error {
	w.pw.Close()
	<-w.done
	w.s.rt.tee.done(w.h, w.err == nil || w.existed)
	if w.existed {
		return nil
	}
	return w.err
}

// Abort fails the upload's body: the registry never gets the final PUT, so
// nothing is committed. An upload that had already left the pipe to resume
// from the source (Uploads) goes on, and counts when it succeeds.
func (w *uploadWriter) Abort(err error) {
	w.pw.CloseWithError(err)
	<-w.done
	w.s.rt.tee.done(w.h, w.existed || (w.resumable && w.err == nil))
}

// teeUpload uploads through Uploads: the blob is looked for first, and a
// broken upload resumes from what the registry committed.
func (s *registrySink) teeUpload(ctx context.Context, desc v1.Descriptor, u Uploads) (LayerWriter, error) {
	repo := s.ref.Context()
	if ok, err := u.Exists(ctx, repo, desc.Digest); err == nil && ok {
		return nil, nil
	}
	if !s.rt.tee.claim(desc.Digest) {
		return nil, nil
	}
	var reopen func(ctx context.Context, off int64) (io.ReadCloser, error)
	switch src := s.rt.srcRepo; {
	case src != nil && u.OpenAt != nil:
		ref := src.Digest(desc.Digest.String())
		reopen = func(ctx context.Context, off int64) (io.ReadCloser, error) { return u.OpenAt(ctx, ref, off) }
	case s.rt.local != nil:
		// What Upload sends from here is checked by the registry against
		// desc.Digest before it commits, so a file that changed since the
		// conversion read it is never pushed under the layer's name.
		local := s.rt.local
		reopen = func(ctx context.Context, off int64) (io.ReadCloser, error) {
			rc, err := local.open(desc.Digest, off)
			if err != nil {
				return nil, err
			}
			return readCloser{ctxReader{ctx, rc}, rc}, nil
		}
	}
	pr, pw := newBufPipe(ringFor(desc.Size))
	w := &uploadWriter{boundedWriter: boundedWriter{w: pw, left: desc.Size}, pw: pw, s: s, h: desc.Digest, done: make(chan struct{}), resumable: reopen != nil}
	go func() {
		// After a registry failure Upload closes pr and reads the rest
		// from reopen: the indexer's writes then fail and it goes on alone.
		w.finish(pr, u.Upload(ctx, repo, desc, pr, reopen))
	}()
	return w, nil
}

// pipeLayer is a layer whose bytes come from the conversion's stream; it can
// be read once.
type pipeLayer struct {
	desc   v1.Descriptor
	r      *pipeReader
	opened atomic.Bool
}

var errPipeReread = errors.New("the layer stream of the conversion cannot be read twice")

func (l *pipeLayer) Digest() (v1.Hash, error) { return l.desc.Digest, nil }
func (l *pipeLayer) DiffID() (v1.Hash, error) {
	return v1.Hash{}, errors.New("diff ID of a streamed layer is not known")
}
func (l *pipeLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *pipeLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *pipeLayer) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("a streamed layer is not decompressed")
}

func (l *pipeLayer) Compressed() (io.ReadCloser, error) {
	if l.opened.Swap(true) {
		return nil, errPipeReread
	}
	return l.r, nil
}

// Close has nothing to release: uploads end with Commit or Abort.
func (s *registrySink) Close() error { return nil }

type readCloser struct {
	io.Reader
	io.Closer
}
