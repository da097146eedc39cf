package location

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// LayerWriter takes one layer's bytes as a conversion reads them. It is the
// same type as convert.LayerWriter (an alias of one unnamed interface type),
// so the sinks here implement convert.LayerTee without importing pkg/convert.
//
// Commit is called once exactly the layer's bytes were written and their
// digest was checked by the caller; Abort when they were not: the blob must
// then leave no trace. Exactly one of the two is called.
type LayerWriter = interface {
	io.Writer
	Commit() error
	Abort(err error)
}

// LayerTee is what NewLayerTee returns: pass it to convert.WithLayerTee so
// the destination gets each indexed layer from the stream that is indexed,
// and Close it once the sink's Write has run (or the conversion failed).
type LayerTee interface {
	// TeeLayer returns where the layer's bytes go, or nil, nil when the
	// destination does not need them (it has the blob, another conversion
	// pass is writing it, or it will be mounted).
	TeeLayer(ctx context.Context, desc v1.Descriptor) (LayerWriter, error)
	// Close releases what the tee holds that Write did not take over (an
	// archive's temporary file after a failed conversion).
	Close() error
}

// teeSink is a sink that can take layers in the conversion's pass.
type teeSink interface {
	Sink
	// prepare is told the source image before the conversion starts; it
	// returns false when teeing would not help this source.
	prepare(ctx context.Context, src *Source) (bool, error)
	TeeLayer(ctx context.Context, desc v1.Descriptor) (LayerWriter, error)
	Close() error
}

// NewLayerTee returns the tee of sink for a conversion of src, or nil when
// the sink gains nothing from it:
//
//   - a registry destination on the source's own registry mounts layers
//     across repositories instead of uploading them;
//   - a layout destination hard-links the blobs of a layout source;
//   - an archive written in soci's order (OrderSoci) cannot place a layer
//     before the zTOCs are known, so it reads copied layers again.
//
// Pass the result to convert.WithLayerTee (when not nil) and call its Close
// after sink.Write. The sink must be given the converted src.
func NewLayerTee(ctx context.Context, src *Source, sink Sink) (LayerTee, error) {
	ts, ok := sink.(teeSink)
	if !ok || src == nil || src.Index == nil {
		return nil, nil
	}
	use, err := ts.prepare(ctx, src)
	if err != nil || !use {
		return nil, err
	}
	return ts, nil
}

// teeState tracks the layers a sink received in the conversion's pass, so
// that Write copies only the others. Sinks call claim before accepting a
// layer and done when its writer is committed or aborted.
type teeState struct {
	mu    sync.Mutex
	state map[v1.Hash]teeStatus
}

type teeStatus int

const (
	teeNone      teeStatus = iota
	teeRunning             // a writer is open
	teeCommitted           // the blob is in the destination
)

// claim reserves h for one writer; false when another writer has it or the
// blob is already there.
func (t *teeState) claim(h v1.Hash) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == nil {
		t.state = map[v1.Hash]teeStatus{}
	}
	if t.state[h] != teeNone {
		return false
	}
	t.state[h] = teeRunning
	return true
}

func (t *teeState) done(h v1.Hash, committed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if committed {
		t.state[h] = teeCommitted
	} else {
		delete(t.state, h)
	}
}

// committed reports whether h reached the destination through the tee.
func (t *teeState) committed(h v1.Hash) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state[h] == teeCommitted
}

// running reports whether a writer is still open (a caller that writes
// before the conversion ended).
func (t *teeState) running() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.state {
		if s == teeRunning {
			return true
		}
	}
	return false
}

var errTeeRunning = errors.New("a layer is still being written by the conversion; call Write after Convert returned")

// boundedWriter refuses bytes past the layer's size, so that a stream that
// runs long never overwrites a neighbour (archive) or a later check.
type boundedWriter struct {
	w    io.Writer
	left int64
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > b.left {
		return 0, fmt.Errorf("layer stream runs past its size")
	}
	n, err := b.w.Write(p)
	b.left -= int64(n)
	return n, err
}
