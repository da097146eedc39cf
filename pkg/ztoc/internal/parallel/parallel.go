// Package parallel decodes one gzip stream on several cores for the zTOC
// builder. A reader goroutine reads the compressed layer ahead in
// fixed-size chunks; worker goroutines guess a dynamic-Huffman block start
// near the beginning of each chunk and decode from it without the window
// (inflate.DecodeChunk); the one sequential decoder reads the same bytes
// through Stream and, through Stream.Ahead, takes a chunk's output whenever
// it arrives exactly at the chunk's start at a block boundary. Everything
// else (the gzip headers and trailers, the first chunk, blocks a guess
// missed, chunks that need history the member does not have, any error) is
// decoded sequentially, so the result is the sequential decoder's, bit for
// bit.
//
// Memory is bounded: at most ahead chunks of compressed input are held
// beyond the decoder's position, and at most workers+1 decoded chunks.
package parallel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/socify/socify/pkg/ztoc/internal/inflate"
)

// Options configure a Stream.
type Options struct {
	// Workers decoding chunks ahead (at least 1).
	Workers int
	// ChunkSize in compressed bytes.
	ChunkSize int
}

// DefaultChunkSize balances the per-chunk cost (finding a block start,
// the second run over the bytes that depend on the window: together about
// one gzip -6 block) against the memory of chunks in flight.
const DefaultChunkSize = 2 << 20

// Stream is the compressed input seen by the sequential decoder, and the
// source of chunks decoded ahead.
type Stream struct {
	src     io.Reader
	size    int64
	workers int
	ahead   int // chunks read beyond the consumer's
	maxOut  int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	cond   *sync.Cond
	chunks map[int][]byte // chunks read and still needed
	nread  int            // chunks read so far
	eof    bool           // the reader is done
	rerr   error          // why (io.EOF at a clean end)
	rpos   int64          // consumer's read offset
	next   int            // next job Ahead will look at
	jobs   map[int]*job
	taken  int // jobs taken by workers
	closed bool
	// last is the chunk Ahead returned before: the decoder asks again only
	// after copying all of it, so its buffer can be reused.
	last *inflate.Chunk
	free []inflate.ChunkBuffers
	// inFree are input chunk buffers the consumer is done with.
	inFree [][]byte

	// Statistics, for tests and the benchmark.
	spliced, missed atomic.Int64
}

type job struct {
	done chan struct{}
	c    *inflate.Chunk
}

// New starts reading src and decoding ahead. Close must be called.
func New(ctx context.Context, src io.Reader, o Options) (*Stream, error) {
	if o.Workers < 1 {
		return nil, fmt.Errorf("parallel: %d workers", o.Workers)
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.ChunkSize < 16 {
		return nil, fmt.Errorf("parallel: chunk size %d", o.ChunkSize)
	}
	s := &Stream{
		src:     src,
		size:    int64(o.ChunkSize),
		workers: o.Workers,
		ahead:   o.Workers + 2,
		// Output per chunk: a chunk ends at the first block boundary
		// after this much, so a highly compressible layer does not make
		// chunk outputs grow with the compression ratio.
		maxOut: max(6*o.ChunkSize, 1<<20),
		chunks: map[int][]byte{},
		jobs:   map[int]*job{},
		next:   1,
		taken:  1,
	}
	s.cond = sync.NewCond(&s.mu)
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1 + o.Workers)
	go s.readLoop()
	for range o.Workers {
		go s.work()
	}
	return s, nil
}

// Close stops the goroutines and waits for them.
func (s *Stream) Close() {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Spliced and Missed count chunks taken by the decoder and chunks it
// could not take.
func (s *Stream) Spliced() int64 { return s.spliced.Load() }
func (s *Stream) Missed() int64  { return s.missed.Load() }

func (s *Stream) consumerChunk() int { return int(s.rpos / s.size) }

func (s *Stream) readLoop() {
	defer s.wg.Done()
	for i := 0; ; i++ {
		s.mu.Lock()
		for !s.closed && i > s.consumerChunk()+s.ahead {
			s.cond.Wait()
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		s.mu.Lock()
		var buf []byte
		if k := len(s.inFree); k > 0 {
			buf, s.inFree = s.inFree[k-1][:s.size], s.inFree[:k-1]
		}
		s.mu.Unlock()
		if buf == nil {
			buf = make([]byte, s.size)
		}
		n, err := io.ReadFull(s.src, buf)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		s.mu.Lock()
		if n > 0 {
			s.chunks[i] = buf[:n]
			s.nread = i + 1
		}
		if err != nil {
			s.eof, s.rerr = true, err
		}
		s.cond.Broadcast()
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Read serves the compressed bytes in order.
func (s *Stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		i := s.consumerChunk()
		off := int(s.rpos - int64(i)*s.size)
		if c, ok := s.chunks[i]; ok && off < len(c) {
			n := copy(p, c[off:])
			s.rpos += int64(n)
			if int64(off+n) == s.size {
				// Workers copy what they need when they start a job, and
				// jobs before the consumer are never started: the
				// consumer is the last user of the chunk behind it.
				if b, ok := s.chunks[i-1]; ok {
					s.inFree = append(s.inFree, b[:cap(b)])
					delete(s.chunks, i-1)
				}
				s.cond.Broadcast()
			}
			return n, nil
		}
		if s.eof && (i >= s.nread || off > 0 && off == len(s.chunks[i])) {
			return 0, s.rerr
		}
		if s.closed {
			return 0, errors.New("parallel: stream closed")
		}
		s.cond.Wait()
	}
}

func (s *Stream) jobLocked(k int) *job {
	j := s.jobs[k]
	if j == nil {
		j = &job{done: make(chan struct{})}
		s.jobs[k] = j
	}
	return j
}

// Ahead is the decoder's inflate.Options.Ahead.
func (s *Stream) Ahead(bit int64) *inflate.Chunk {
	for {
		s.mu.Lock()
		k := s.next
		if bit < int64(k)*s.size*8 {
			s.mu.Unlock()
			return nil
		}
		j := s.jobLocked(k)
		s.mu.Unlock()
		s.recycle(nil)
		select {
		case <-j.done:
		case <-s.ctx.Done():
			return nil
		}
		c := j.c
		if c != nil && c.Start > bit {
			return nil // not there yet
		}
		s.mu.Lock()
		delete(s.jobs, k)
		s.next++
		s.cond.Broadcast()
		s.mu.Unlock()
		if c != nil && c.Start == bit {
			s.spliced.Add(1)
			s.recycle(c)
			return c
		}
		s.missed.Add(1)
		if c != nil {
			s.mu.Lock()
			s.keep(c.Buffers())
			s.mu.Unlock()
		}
	}
}

// recycle keeps the buffer of the chunk returned before for a later job,
// and remembers c as the one now in use.
func (s *Stream) recycle(c *inflate.Chunk) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last != nil {
		s.keep(s.last.Buffers())
	}
	s.last = c
}

// keep keeps buffers for a later job, unless enough are kept already.
func (s *Stream) keep(b inflate.ChunkBuffers) {
	if len(s.free) < s.workers {
		s.free = append(s.free, b)
	}
}

func (s *Stream) buffers() inflate.ChunkBuffers {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := len(s.free); k > 0 {
		b := s.free[k-1]
		s.free = s.free[:k-1]
		return b
	}
	return inflate.ChunkBuffers{}
}

// work runs jobs in order: job k decodes from a block start near the
// beginning of chunk k to the first block boundary in chunk k+1.
func (s *Stream) work() {
	defer s.wg.Done()
	var data []byte
	var scratch workerScratch
	for {
		s.mu.Lock()
		k := s.taken
		s.taken++
		for !s.closed && (k > s.next+s.workers || !(s.eof || s.nread > k+1)) {
			s.cond.Wait()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		j := s.jobLocked(k)
		if s.eof && k >= s.nread {
			// Past the end: no later chunk exists either.
			s.mu.Unlock()
			close(j.done)
			return
		}
		own, ok := s.chunks[k]
		next := s.chunks[k+1]
		if k < s.next {
			ok = false // the decoder is already past this chunk
		}
		if ok {
			// Chunk k plus enough of chunk k+1 to finish the block that
			// crosses into it, copied under the lock: the reader reuses
			// the buffers of chunks the consumer has passed. The zero
			// padding saves DecodeChunk a copy.
			data = append(append(data[:0], own...), next[:min(len(next), len(own)/2+64<<10)]...)
			n := len(data)
			data = append(data, make([]byte, 16)...)[:n]
		}
		s.mu.Unlock()
		if ok {
			j.c = s.decode(k, data, len(own), &scratch)
		}
		close(j.done)
	}
}

// workerScratch is a worker's reusable state: DecodeChunk's, and output
// buffers not handed over with a chunk.
type workerScratch struct {
	inflate.ChunkScratch
	bufs inflate.ChunkBuffers
}

func (s *Stream) decode(k int, data []byte, own int, scratch *workerScratch) *inflate.Chunk {
	base := int64(k) * s.size * 8
	lim := inflate.ChunkLimits{
		Stop:   base + int64(own)*8,
		MaxOut: s.maxOut,
		MaxBuf: s.maxOut + 2<<20,
		Abort: func() bool {
			if s.ctx.Err() != nil {
				return true
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			return k < s.next // the decoder went past this chunk
		},
	}
	from := base
	bufs := &scratch.bufs
	if bufs.Out == nil {
		*bufs = s.buffers()
	}
	// Blocks of a gzip -6 layer are tens of KiB: a chunk whose first
	// quarter holds no usable block start is left to the sequential
	// decoder.
	searchEnd := int64(min(own, max(own/4, 256<<10))) * 8
	for try := 0; try < 8; try++ {
		// The end of a stored block first: it is an exact block start, and
		// in stored data (incompressible files, often holding deflate
		// streams of their own) the dynamic finder finds only those
		// embedded streams. It costs at most 64 KiB of input left to the
		// sequential decoder when a dynamic block comes earlier.
		start := inflate.FindStoredEnd(data, from-base, searchEnd)
		if start < 0 {
			start = inflate.FindDynamicBlock(data, from-base, searchEnd)
		}
		if start < 0 {
			return nil
		}
		c := inflate.DecodeChunk(data, base, base+start, lim, bufs, &scratch.ChunkScratch)
		if c == nil {
			from = base + start + 1
			continue
		}
		if c.End() >= lim.Stop || c.Len() >= lim.MaxOut {
			return c
		}
		// A chunk that ends early is most likely not the layer's deflate
		// stream but one embedded in it (a .gz or .zip file kept in stored
		// blocks), which ends where its file ends. The layer's own stream
		// runs on, except at the end of a member: that last chunk is left
		// to the sequential decoder.
		from = c.End() + 1
		*bufs = c.Buffers() // not used
		if from-base >= searchEnd {
			return nil
		}
	}
	return nil
}
