package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// parallel reads one blob as consecutive chunks fetched by up to n concurrent Range requests and
// hands them over in order. It holds at most n chunk buffers: a chunk is only requested once a
// buffer is free, so a slow consumer slows the fetching down instead of growing memory.
type parallel struct {
	b      *BlobReader
	ctx    context.Context
	cancel context.CancelFunc
	chunk  int64
	size   int64

	queue chan *chunkFetch // in blob order; the dispatcher blocks when n are outstanding
	bufs  chan []byte      // free buffers
	url   atomic.Pointer[string]

	cur     *chunkFetch
	pos     int // read position in cur.buf
	resumes atomic.Int64
	wg      sync.WaitGroup
}

type chunkFetch struct {
	start, end int64 // inclusive
	done       chan struct{}
	buf        []byte
	err        error
}

// startParallel begins the read whose first request (bytes 0 to chunk-1) answered first with
// 206; first is that response's body.
func (b *BlobReader) startParallel(first io.ReadCloser, finalURL string) {
	ctx, cancel := context.WithCancel(b.ctx)
	p := &parallel{
		b:      b,
		ctx:    ctx,
		cancel: cancel,
		chunk:  b.o.chunk,
		size:   b.size,
		queue:  make(chan *chunkFetch, b.o.parallel),
		bufs:   make(chan []byte, b.o.parallel),
	}
	u := b.url
	if finalURL != "" {
		u = finalURL
	}
	p.url.Store(&u)
	for range b.o.parallel {
		p.bufs <- nil // allocated on first use: a small blob never allocates n buffers
	}
	b.par = p
	p.wg.Add(1)
	go p.dispatch(first)
}

func (p *parallel) dispatch(first io.ReadCloser) {
	defer p.wg.Done()
	defer close(p.queue)
	for start := int64(0); start < p.size; start += p.chunk {
		var buf []byte
		select {
		case buf = <-p.bufs:
		case <-p.ctx.Done():
			if first != nil {
				first.Close()
			}
			return
		}
		end := min(start+p.chunk, p.size) - 1
		if int64(cap(buf)) < end-start+1 {
			buf = make([]byte, p.chunk)
		}
		f := &chunkFetch{start: start, end: end, done: make(chan struct{}), buf: buf[:end-start+1]}
		select {
		case p.queue <- f:
		case <-p.ctx.Done():
			if first != nil {
				first.Close()
			}
			return
		}
		body := first
		first = nil
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			f.err = p.fetch(f, body)
			close(f.done)
		}()
	}
}

// fetch fills f.buf with bytes f.start..f.end, resuming within the chunk after a broken body.
func (p *parallel) fetch(f *chunkFetch, body io.ReadCloser) error {
	got := 0
	fails := 0
	for got < len(f.buf) {
		if body == nil {
			var err error
			body, err = p.request(f.start+int64(got), f.end)
			if err != nil {
				if !p.retryable(err) {
					return err
				}
				fails++
				if werr := p.wait(fails, f.start+int64(got), err); werr != nil {
					return werr
				}
				continue
			}
		}
		n, err := io.ReadFull(body, f.buf[got:])
		got += n
		if n > 0 {
			fails = 0
		}
		if err == nil {
			break
		}
		body.Close()
		body = nil
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("chunk body ended at offset %d of %d-%d: %w", f.start+int64(got), f.start, f.end, io.ErrUnexpectedEOF)
		}
		if !p.retryable(err) {
			return fmt.Errorf("blob %s at offset %d: %w", p.b.digest, f.start+int64(got), err)
		}
		if n == 0 {
			fails++
			if werr := p.wait(fails, f.start+int64(got), err); werr != nil {
				return werr
			}
		} else {
			p.noteResume(f.start+int64(got), err)
		}
	}
	if body != nil {
		body.Close()
	}
	return nil
}

// request asks for bytes start..end. A redirect target (ECR sends blob reads to S3) is asked
// directly for later chunks; if it refuses (an expired presigned URL), the registry is asked
// again and the new target remembered.
func (p *parallel) request(start, end int64) (io.ReadCloser, error) {
	u := *p.url.Load()
	body, final, err := p.get(u, start, end)
	if err != nil && u != p.b.url {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode >= 400 && te.StatusCode < 500 {
			body, final, err = p.get(p.b.url, start, end)
		}
	}
	if err != nil {
		return nil, err
	}
	if final != "" && final != u {
		p.url.Store(&final)
	}
	return body, nil
}

func (p *parallel) get(u string, start, end int64) (io.ReadCloser, string, error) {
	req, err := http.NewRequestWithContext(p.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
	resp, err := p.b.client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("blob %s bytes %d-%d: %w", p.b.digest, start, end, err)
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		s, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || s != start || (total >= 0 && total != p.size) {
			resp.Body.Close()
			return nil, "", fmt.Errorf("blob %s: asked for bytes %d-%d of %d, got Content-Range %q", p.b.digest, start, end, p.size, resp.Header.Get("Content-Range"))
		}
		return resp.Body, finalURL(resp, u), nil
	case http.StatusOK:
		// This server answered an earlier Range request but not this one: skip to start.
		if _, err := io.CopyN(io.Discard, resp.Body, start); err != nil {
			resp.Body.Close()
			return nil, "", fmt.Errorf("blob %s: skipping %d bytes of a full response: %w", p.b.digest, start, err)
		}
		return resp.Body, finalURL(resp, u), nil
	}
	err = transport.CheckError(resp, http.StatusOK, http.StatusPartialContent)
	resp.Body.Close()
	return nil, "", fmt.Errorf("blob %s bytes %d-%d: %w", p.b.digest, start, end, err)
}

// finalURL is where a redirected request ended, or "" when it was not redirected.
func finalURL(resp *http.Response, asked string) string {
	if resp.Request == nil || resp.Request.URL == nil {
		return ""
	}
	if u := resp.Request.URL.String(); u != asked {
		return u
	}
	return ""
}

func (p *parallel) retryable(err error) bool {
	if p.resumes.Load() >= int64(p.b.o.maxResumes) {
		return false
	}
	return p.b.retryableErr(err)
}

func (p *parallel) noteResume(off int64, err error) {
	n := p.resumes.Add(1)
	if p.b.o.onResume != nil {
		p.b.o.onResume(ResumeEvent{Digest: p.b.digest.String(), Offset: off, Resume: int(n), Err: err})
	}
}

func (p *parallel) wait(fails int, off int64, err error) error {
	if fails >= p.b.o.maxAttempts {
		return fmt.Errorf("blob %s: no progress at offset %d after %d attempts: %w", p.b.digest, off, fails, err)
	}
	p.noteResume(off, err)
	if serr := p.b.o.sleep(p.ctx, p.b.o.backoff(fails)); serr != nil {
		return fmt.Errorf("blob %s at offset %d: %w", p.b.digest, off, serr)
	}
	return nil
}

// read hands over the chunks in order.
func (p *parallel) read(dst []byte) (int, error) {
	for {
		if p.cur == nil {
			var ok bool
			select {
			case p.cur, ok = <-p.queue:
			case <-p.ctx.Done():
				return 0, p.ctx.Err()
			}
			if !ok {
				return 0, io.EOF
			}
			select {
			case <-p.cur.done:
			case <-p.ctx.Done():
				return 0, p.ctx.Err()
			}
			if p.cur.err != nil {
				return 0, p.cur.err
			}
			p.pos = 0
		}
		if p.pos < len(p.cur.buf) {
			n := copy(dst, p.cur.buf[p.pos:])
			p.pos += n
			return n, nil
		}
		p.bufs <- p.cur.buf
		p.cur = nil
	}
}

// close stops the fetches and waits for them, so no request outlives the reader.
func (p *parallel) close() {
	p.cancel()
	p.wg.Wait()
}
