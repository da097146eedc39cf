package convert

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// LayerTee receives the bytes of each layer the engine reads, in the same
// pass that indexes it, so that a destination gets the layer without a
// second read of the source. The sinks of pkg/location implement it.
type LayerTee interface {
	// TeeLayer is called before the engine reads layer desc, possibly from
	// several goroutines at once. nil, nil: the destination does not need
	// these bytes (it has the blob or will mount it). An error is logged and
	// the layer is indexed without a tee.
	TeeLayer(ctx context.Context, desc v1.Descriptor) (LayerWriter, error)
}

// LayerWriter takes one layer's bytes from the engine. It is an alias of an
// unnamed interface type so that a package can implement LayerTee without
// importing this one (pkg/location declares the same alias).
//
// Write is called with the layer's bytes in order; an error from Write does
// not fail the conversion, the engine stops writing and calls Abort. Commit
// is called once the engine has read exactly the layer's size and checked its
// digest: only then may the blob become visible. Abort is called when the
// read failed, the content did not match, or the context ended: nothing of
// the blob may be left behind. Exactly one of Commit and Abort is called.
type LayerWriter = interface {
	io.Writer
	Commit() error
	Abort(err error)
}

// WithLayerTee hands every layer the engine reads to t as it is read.
// Layers the engine does not read (cached zTOCs, skipped layers) are not
// teed: the sink copies those itself.
func WithLayerTee(t LayerTee) Option {
	return func(o *options) error { o.tee = t; return nil }
}

// teeReader copies what the indexer reads to a LayerWriter. A failing writer
// is dropped, not passed on: the copy is an optimisation, the index is the
// job.
type teeReader struct {
	r   io.Reader
	w   LayerWriter
	n   int64
	err error // the writer's error; nothing more is written after it
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 && t.err == nil {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			t.err = werr
		} else {
			t.n += int64(n)
		}
	}
	return n, err
}

// finish commits the teed layer when the index was built from exactly the
// verified bytes, and aborts it otherwise.
func (c *converter) finishTee(t *teeReader, layer v1.Descriptor, buildErr error) {
	if t == nil {
		return
	}
	switch {
	case buildErr != nil:
		t.w.Abort(buildErr)
	case t.err != nil:
		t.w.Abort(t.err)
		c.o.logger.Info("layer not copied in the same pass; the sink copies it", "layer", layer.Digest.String(), "err", t.err)
	case t.n != layer.Size:
		err := fmt.Errorf("teed %d bytes of %d", t.n, layer.Size)
		t.w.Abort(err)
		c.o.logger.Info("layer not copied in the same pass; the sink copies it", "layer", layer.Digest.String(), "err", err)
	default:
		if err := t.w.Commit(); err != nil {
			c.o.logger.Info("layer not copied in the same pass; the sink copies it", "layer", layer.Digest.String(), "err", err)
		}
	}
}
