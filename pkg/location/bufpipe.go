package location

import (
	"io"
	"sync"
)

// bufPipe connects the indexer (writer) to an in-pass upload (reader) through
// a fixed ring buffer. io.Pipe has none: each of the indexer's writes (up to
// the inflater's 128 KiB read) then waits until the upload has read it all,
// and the upload reads 32 KiB at a time between send(2) calls, so the
// indexer, the pipeline's critical path, waited for the network. With a ring
// the indexer copies its bytes and goes on; it waits only when the upload is
// a whole ring behind, so memory stays bounded by the ring's size.
//
// One goroutine writes and one reads; either side may close at any time.
// Bytes are copied outside the lock: the writer owns the free part of the
// ring and the reader the filled part, and only counters change under it.
type bufPipe struct {
	mu   sync.Mutex
	cond sync.Cond
	buf  []byte
	r, n int // read position and bytes buffered
	// werr: the writer closed, io.EOF for a normal end (the reader drains
	// the ring first) or the error it aborted with (returned at once).
	werr error
	// rerr: the reader closed; writes fail with it.
	rerr error
}

// pipeRingSize bounds the bytes an in-pass upload may lag behind the indexer.
const pipeRingSize = 1 << 20

// ringFor sizes the ring of a layer's upload: small layers (many of them with
// --min-layer-size 0) need no more than their own size. Never 0: a ring of no
// bytes is always full, and its writer would wait forever.
func ringFor(size int64) int { return int(max(1, min(size, pipeRingSize))) }

func newBufPipe(size int) (*pipeReader, *pipeWriter) {
	p := &bufPipe{buf: make([]byte, size)}
	p.cond.L = &p.mu
	return &pipeReader{p}, &pipeWriter{p}
}

func (p *bufPipe) write(b []byte) (int, error) {
	written := 0
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(b) > 0 {
		for p.n == len(p.buf) && p.rerr == nil && p.werr == nil {
			p.cond.Wait()
		}
		if p.rerr != nil {
			return written, p.rerr
		}
		if p.werr != nil {
			return written, io.ErrClosedPipe
		}
		w := (p.r + p.n) % len(p.buf)
		k := min(len(b), len(p.buf)-p.n, len(p.buf)-w)
		p.mu.Unlock()
		copy(p.buf[w:w+k], b[:k])
		p.mu.Lock()
		p.n += k
		b = b[k:]
		written += k
		p.cond.Broadcast()
	}
	return written, nil
}

func (p *bufPipe) read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.n == 0 && p.werr == nil && p.rerr == nil {
		p.cond.Wait()
	}
	switch {
	case p.rerr != nil:
		return 0, io.ErrClosedPipe
	case p.werr != nil && p.werr != io.EOF:
		return 0, p.werr
	case p.n == 0:
		return 0, io.EOF
	case len(b) == 0:
		return 0, nil
	}
	k := min(len(b), p.n, len(p.buf)-p.r)
	p.mu.Unlock()
	copy(b, p.buf[p.r:p.r+k])
	p.mu.Lock()
	p.r = (p.r + k) % len(p.buf)
	p.n -= k
	p.cond.Broadcast()
	return k, nil
}

func (p *bufPipe) closeWrite(err error) {
	if err == nil {
		err = io.EOF
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.werr == nil {
		p.werr = err
	}
	p.cond.Broadcast()
}

func (p *bufPipe) closeRead(err error) {
	if err == nil {
		err = io.ErrClosedPipe
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rerr == nil {
		p.rerr = err
	}
	p.cond.Broadcast()
}

// pipeReader and pipeWriter are the halves of a bufPipe, with io.Pipe's
// methods and meanings.
type pipeReader struct{ p *bufPipe }

func (r *pipeReader) Read(b []byte) (int, error) { return r.p.read(b) }

// Close makes the writer's next writes fail with io.ErrClosedPipe.
func (r *pipeReader) Close() error { r.p.closeRead(nil); return nil }

// CloseWithError makes the writer's next writes fail with err.
func (r *pipeReader) CloseWithError(err error) { r.p.closeRead(err) }

type pipeWriter struct{ p *bufPipe }

func (w *pipeWriter) Write(b []byte) (int, error) { return w.p.write(b) }

// Close ends the stream: the reader gets what is buffered, then io.EOF.
func (w *pipeWriter) Close() error { w.p.closeWrite(nil); return nil }

// CloseWithError aborts the stream: the reader's next read returns err, and
// what is buffered is dropped.
func (w *pipeWriter) CloseWithError(err error) { w.p.closeWrite(err) }
