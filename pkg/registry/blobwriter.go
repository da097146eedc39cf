package registry

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BlobWriter uploads one blob from the bytes written to it, for a producer that pushes bytes
// rather than offering a reader: convert's LayerTee hands each layer's bytes over as it indexes
// them. It has the method set of convert.LayerWriter (Write, Commit, Abort).
//
// Writes go through an unbuffered pipe into Client.Upload, so the producer runs at the upload's
// pace and memory stays constant. If the upload breaks on the registry's side, Upload continues
// from reopen (a Range read of the source) and the BlobWriter quietly discards further writes:
// the producer is not slowed down or failed by the registry, and Commit waits for the resumed
// upload. If the upload fails for good, Write returns its error, so the producer can stop teeing
// (and copy the blob another way).
type BlobWriter struct {
	pw       *io.PipeWriter
	cancel   context.CancelFunc
	done     chan struct{}
	err      error // Upload's result, set before done is closed
	detached atomic.Bool
}

// errDetached ends the pipe when the upload went on from reopen.
var errDetached = errors.New("the upload continues from the source")

// NewBlobWriter starts uploading desc to repo from what is written to the returned BlobWriter.
// Commit or Abort must be called. reopen may be nil (no resume).
func (c *Client) NewBlobWriter(ctx context.Context, repo name.Repository, desc v1.Descriptor, reopen Reopen) *BlobWriter {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	w := &BlobWriter{pw: pw, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.err = c.Upload(ctx, repo, desc, &detachable{pr: pr, w: w}, reopen)
		if w.err != nil {
			pr.CloseWithError(w.err)
		} else {
			pr.CloseWithError(io.ErrClosedPipe)
		}
	}()
	return w
}

// detachable is the upload's body. Upload closes it when it switches to reopen.
type detachable struct {
	pr *io.PipeReader
	w  *BlobWriter
}

func (d *detachable) Read(p []byte) (int, error) { return d.pr.Read(p) }

func (d *detachable) Close() error {
	d.w.detached.Store(true)
	return d.pr.CloseWithError(errDetached)
}

// Write passes p to the upload. After the upload went on from the source, p is discarded.
func (w *BlobWriter) Write(p []byte) (int, error) {
	n, err := w.pw.Write(p)
	if err != nil && w.detached.Load() && errors.Is(err, errDetached) {
		return len(p), nil
	}
	return n, err
}

// Commit ends the stream, which lets the upload check the size and send its final PUT (the
// registry verifies the digest), and returns the upload's result.
func (w *BlobWriter) Commit() error {
	w.pw.Close()
	<-w.done
	w.cancel()
	return w.err
}

// Abort fails the upload: its session is cancelled and nothing is committed, whether it was still
// reading the stream or had gone on from the source.
func (w *BlobWriter) Abort(err error) {
	if err == nil {
		err = errors.New("aborted")
	}
	w.pw.CloseWithError(err)
	w.cancel()
	<-w.done
}
