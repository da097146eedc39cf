package ztoc

import (
	"crypto/sha256"
	"hash"
	"runtime"
)

// spanHasher computes the two digests a gzip zTOC needs over the compressed
// bytes: the blob digest of all of them and one digest per span. Hashing is a
// quarter of a build's CPU, and it needs nothing but the bytes in order, so
// when there is a second core it runs on its own goroutine: the indexer only
// copies each piece of input into a ring of buffers. The operations reach the
// hashes in the order the decoder made them, so the digests are the same
// either way.
type spanHasher struct {
	blob, span hash.Hash
	open       bool
	digests    []string

	// Asynchronous mode: ops carries writes and cuts to run, free returns
	// the buffers of written ops, done closes when run has ended.
	ops  chan hashOp
	free chan []byte
	done chan struct{}
	// pending collects small writes (the decoder hands over input in
	// pieces as small as a tar header) until a buffer is full or a cut
	// comes, so that a hand-off costs per 256 KiB, not per piece.
	pending []byte
}

type hashOp struct {
	data []byte // bytes to hash; nil for a cut
	cut  bool
	// The new span starts with the partly used byte before the boundary.
	hasLast bool
	last    byte
}

const (
	hashBuffers   = 8
	hashBufferCap = 256 << 10
)

// asyncHashing is the default: a goroutine of its own when the process may
// run two at once.
func asyncHashing() bool { return runtime.GOMAXPROCS(0) > 1 }

func newSpanHasher(async bool) *spanHasher {
	h := &spanHasher{blob: sha256.New(), span: sha256.New()}
	if async {
		h.ops = make(chan hashOp, hashBuffers)
		h.free = make(chan []byte, hashBuffers)
		for range hashBuffers {
			h.free <- make([]byte, 0, hashBufferCap)
		}
		h.done = make(chan struct{})
		go h.run()
	}
	return h
}

func (h *spanHasher) run() {
	defer close(h.done)
	for op := range h.ops {
		h.apply(op)
		if op.data != nil && cap(op.data) == hashBufferCap {
			h.free <- op.data[:0]
		}
	}
}

func (h *spanHasher) apply(op hashOp) {
	if !op.cut {
		h.blob.Write(op.data)
		if h.open {
			h.span.Write(op.data)
		}
		return
	}
	if h.open {
		h.digests = append(h.digests, digestOf(h.span))
		h.span.Reset()
	}
	h.open = true
	if op.hasLast {
		h.span.Write([]byte{op.last})
	}
}

// write hashes p, which the caller may reuse once write returns.
func (h *spanHasher) write(p []byte) {
	if h.ops == nil {
		h.apply(hashOp{data: p})
		return
	}
	for len(p) > 0 {
		if h.pending == nil {
			h.pending = <-h.free
		}
		n := min(len(p), hashBufferCap-len(h.pending))
		h.pending = append(h.pending, p[:n]...)
		p = p[n:]
		if len(h.pending) == hashBufferCap {
			h.flush()
		}
	}
}

// flush hands the pending bytes to the goroutine.
func (h *spanHasher) flush() {
	if h.pending != nil {
		h.ops <- hashOp{data: h.pending}
		h.pending = nil
	}
}

// cut ends the open span (if any) and starts the next one.
func (h *spanHasher) cut(hasLast bool, last byte) {
	op := hashOp{cut: true, hasLast: hasLast, last: last}
	if h.ops == nil {
		h.apply(op)
		return
	}
	h.flush()
	h.ops <- op
}

// finish ends the last span and returns the span digests and the blob digest.
func (h *spanHasher) finish() (digests []string, blob string) {
	h.stop()
	if h.open {
		h.digests = append(h.digests, digestOf(h.span))
		h.open = false
	}
	return h.digests, digestOf(h.blob)
}

// stop ends the goroutine; it is safe to call more than once, and on every
// path out of a build (an error returns before finish).
func (h *spanHasher) stop() {
	if h.ops != nil {
		h.flush()
		close(h.ops)
		<-h.done
		h.ops = nil
	}
}
