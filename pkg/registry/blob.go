package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ResumeEvent describes a blob read or upload that broke and is resuming.
type ResumeEvent struct {
	Digest string
	Offset int64 // bytes already delivered; the next request asks for Range: bytes=Offset-
	Resume int   // 1 for the first resume of this read
	Err    error // what broke the stream
	// Restarted is true when the server ignored the Range request and sent the blob from byte 0;
	// the reader then skipped Offset bytes, so the consumer still sees one continuous stream. For
	// an upload it means the registry lost the session and the upload started over.
	Restarted bool
	// Upload is true for Client.Upload: Offset is then what the registry had committed.
	Upload bool
}

// BlobReader streams one blob from a registry and survives broken connections: when the body
// fails mid-way it asks for the rest with an HTTP Range request and carries on, so the consumer
// sees one continuous stream. The digest (unless turned off) and the size are checked at the end
// of the stream; a mismatch is returned instead of io.EOF.
type BlobReader struct {
	ctx     context.Context
	client  *http.Client
	url     string
	digest  v1.Hash
	size    int64
	o       *options
	body    io.ReadCloser
	off     int64
	resumes int
	fails   int // consecutive failures without progress
	hasher  hash.Hash
	done    bool
	err     error
	par     *parallel // several Range requests at once; nil for one stream
}

// ReadOption adjusts one blob read (Client.OpenBlob, Client.WrapIndex...).
type ReadOption func(*readOptions) error

type readOptions struct {
	size   int64
	offset int64
	verify *bool
}

// BlobSize is the expected size (from the descriptor). A body that ends short of it resumes; one
// that runs past it fails. A known size also lets a large blob be read in parallel.
func BlobSize(n int64) ReadOption {
	return func(r *readOptions) error {
		if n < 0 {
			return fmt.Errorf("BlobSize(%d): negative", n)
		}
		r.size = n
		return nil
	}
}

// BlobOffset starts the read at byte off of the blob (a Range request), as Upload's reopen needs.
// The digest check needs the whole blob, so it is off for such a read; the size is still checked
// (the stream ends exactly at the blob's end). Reads from an offset use one stream.
func BlobOffset(off int64) ReadOption {
	return func(r *readOptions) error {
		if off < 0 {
			return fmt.Errorf("BlobOffset(%d): negative", off)
		}
		r.offset = off
		return nil
	}
}

// VerifyDigest turns the reader's own sha256 check on or off for this read (default: the
// client's WithDigestCheck, on unless changed). Turn it off only when every consumer of the stream
// hashes it (the zTOC builder computes the blob digest, and a registry verifies what it is sent),
// so that each byte is hashed once per digest needed; the size is checked either way.
func VerifyDigest(on bool) ReadOption {
	return func(r *readOptions) error { r.verify = &on; return nil }
}

// OpenBlob starts reading the blob ref (repository@digest) and returns once the registry has
// answered, so that "not found" and "denied" come out here rather than on the first Read. The
// request and every resume go through the client's transport and cached credentials. ctx bounds
// the whole read.
func (c *Client) OpenBlob(ctx context.Context, ref name.Digest, opts ...ReadOption) (*BlobReader, error) {
	ro := readOptions{size: -1}
	for _, f := range opts {
		if err := f(&ro); err != nil {
			return nil, fmt.Errorf("blob %s: %w", ref, err)
		}
	}
	verify := c.o.verify
	if ro.verify != nil {
		verify = *ro.verify
	}
	if ro.offset > 0 {
		if ro.verify != nil && *ro.verify {
			return nil, fmt.Errorf("blob %s: VerifyDigest(true) with BlobOffset(%d): the digest covers the whole blob", ref, ro.offset)
		}
		verify = false
		if ro.size >= 0 && ro.offset > ro.size {
			return nil, fmt.Errorf("blob %s: offset %d is past its size %d", ref, ro.offset, ro.size)
		}
	}
	h, err := v1.NewHash(ref.DigestStr())
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", ref, err)
	}
	repo := ref.Context()
	client, err := c.httpClient(ctx, repo, transport.PullScope)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", ref, err)
	}
	u := url.URL{Scheme: repo.Registry.Scheme(), Host: repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/blobs/%s", repo.RepositoryStr(), h)}
	b := &BlobReader{
		ctx:    ctx,
		client: client,
		url:    u.String(),
		digest: h,
		size:   ro.size,
		off:    ro.offset,
		o:      c.o,
	}
	if verify {
		if h.Algorithm != "sha256" {
			return nil, fmt.Errorf("blob %s: cannot verify digest algorithm %q", ref, h.Algorithm)
		}
		b.hasher = sha256.New()
	}
	if b.off > 0 && b.off == b.size {
		// Nothing left to read; asking for it would get 416 Range Not Satisfiable.
		b.done = true
		return b, nil
	}
	if c.o.parallel > 1 && b.off == 0 && b.size >= c.o.parallelAbove && b.size > c.o.chunk {
		if err := b.openParallel(); err != nil {
			return nil, err
		}
		return b, nil
	}
	if err := b.open(); err != nil {
		return nil, err
	}
	return b, nil
}

// openParallel asks for the first chunk. A 206 starts the parallel read with that body; a server
// that ignores Range answers 200 with the whole blob, which is then read as one stream.
func (b *BlobReader) openParallel() error {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.url, nil)
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.digest, err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("Range", fmt.Sprintf("bytes=0-%d", b.o.chunk-1))
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.digest, err)
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != 0 || (total >= 0 && total != b.size) {
			resp.Body.Close()
			return fmt.Errorf("blob %s: asked for bytes 0-%d of %d, got Content-Range %q", b.digest, b.o.chunk-1, b.size, resp.Header.Get("Content-Range"))
		}
		b.startParallel(resp.Body, finalURL(resp, b.url))
		return nil
	case http.StatusOK:
		if resp.ContentLength >= 0 {
			if err := b.learnSize(resp.ContentLength); err != nil {
				resp.Body.Close()
				return err
			}
		}
		b.body = resp.Body
		return nil
	}
	err = transport.CheckError(resp, http.StatusOK, http.StatusPartialContent)
	resp.Body.Close()
	return fmt.Errorf("blob %s: %w", b.digest, err)
}

// Parallel reports whether the blob is being read with several Range requests at once.
func (b *BlobReader) Parallel() bool { return b.par != nil }

// OpenBlob is Client.OpenBlob on a Client built from opts (WithSize and WithDigestCheck apply to
// this read).
func OpenBlob(ctx context.Context, ref name.Digest, opts ...Option) (*BlobReader, error) {
	c, err := NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", ref, err)
	}
	var ro []ReadOption
	if c.o.size >= 0 {
		ro = append(ro, BlobSize(c.o.size))
	}
	return c.OpenBlob(ctx, ref, ro...)
}

// Size is the blob size: from WithSize, else from the first response, else -1.
func (b *BlobReader) Size() int64 { return b.size }

// Offset is the blob offset of the next byte Read returns (BlobOffset plus what Read returned).
func (b *BlobReader) Offset() int64 { return b.off }

// Resumes is how many times the read resumed (in any of its parallel requests).
func (b *BlobReader) Resumes() int {
	if b.par != nil {
		return b.resumes + int(b.par.resumes.Load())
	}
	return b.resumes
}

// open requests the blob from b.off on.
func (b *BlobReader) open() error {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.url, nil)
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.digest, err)
	}
	// Offsets must count the blob's own bytes; a transparently decoded body would break Range.
	req.Header.Set("Accept-Encoding", "identity")
	if b.off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", b.off))
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("blob %s at offset %d: %w", b.digest, b.off, err)
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && b.off > 0:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != b.off {
			resp.Body.Close()
			return fmt.Errorf("blob %s: asked for bytes from %d, got Content-Range %q", b.digest, b.off, resp.Header.Get("Content-Range"))
		}
		if total >= 0 {
			if err := b.learnSize(total); err != nil {
				resp.Body.Close()
				return err
			}
		}
	case resp.StatusCode == http.StatusOK:
		if resp.ContentLength >= 0 {
			if err := b.learnSize(resp.ContentLength); err != nil {
				resp.Body.Close()
				return err
			}
		}
		if b.off > 0 {
			// The server ignored Range: skip what the consumer already has. Bytes go over the wire
			// again, but the stream stays continuous and correct.
			if _, err := io.CopyN(io.Discard, resp.Body, b.off); err != nil {
				resp.Body.Close()
				return fmt.Errorf("blob %s: skipping %d bytes of a full response: %w", b.digest, b.off, err)
			}
			if b.o.onResume != nil {
				b.o.onResume(ResumeEvent{Digest: b.digest.String(), Offset: b.off, Resume: b.resumes, Restarted: true})
			}
		}
	default:
		err := transport.CheckError(resp, http.StatusOK, http.StatusPartialContent)
		resp.Body.Close()
		return fmt.Errorf("blob %s at offset %d: %w", b.digest, b.off, err)
	}
	b.body = resp.Body
	return nil
}

func (b *BlobReader) learnSize(n int64) error {
	if b.size >= 0 && b.size != n {
		return fmt.Errorf("blob %s: registry reports %d bytes, expected %d", b.digest, n, b.size)
	}
	b.size = n
	return nil
}

// Read implements io.Reader.
func (b *BlobReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.par != nil {
		n, err := b.par.read(p)
		if n > 0 {
			b.off += int64(n)
			if b.hasher != nil {
				b.hasher.Write(p[:n])
			}
		}
		switch {
		case err == io.EOF && b.off == b.size:
			return n, b.finish()
		case err == io.EOF:
			return n, b.fail(fmt.Errorf("blob %s: parallel read ended at offset %d of %d", b.digest, b.off, b.size))
		case err != nil:
			return n, b.fail(err)
		}
		return n, nil
	}
	for {
		if b.body == nil {
			if err := b.open(); err != nil {
				if b.retryable(err) {
					if werr := b.wait(err); werr != nil {
						return 0, b.fail(werr)
					}
					continue
				}
				return 0, b.fail(err)
			}
		}
		if b.size >= 0 && int64(len(p)) > b.size-b.off+1 {
			// One byte more than expected so that a body running past the size shows up.
			p = p[:b.size-b.off+1]
		}
		n, err := b.body.Read(p)
		if n > 0 {
			b.off += int64(n)
			b.fails = 0
			if b.hasher != nil {
				b.hasher.Write(p[:n])
			}
			if b.size >= 0 && b.off > b.size {
				return 0, b.fail(fmt.Errorf("blob %s: body runs past the expected %d bytes", b.digest, b.size))
			}
		}
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, io.EOF) && (b.size < 0 || b.off == b.size):
			return n, b.finish()
		case errors.Is(err, io.EOF):
			err = fmt.Errorf("body ended at offset %d of %d: %w", b.off, b.size, io.ErrUnexpectedEOF)
		}
		b.body.Close()
		b.body = nil
		if !b.retryable(err) {
			return n, b.fail(fmt.Errorf("blob %s at offset %d: %w", b.digest, b.off, err))
		}
		if n > 0 {
			// Hand over what arrived; the next Read resumes.
			b.noteResume(err)
			return n, nil
		}
		if werr := b.wait(err); werr != nil {
			return 0, b.fail(werr)
		}
	}
}

func (b *BlobReader) retryable(err error) bool {
	if b.resumes >= b.o.maxResumes {
		return false
	}
	return b.retryableErr(err)
}

// retryableErr says whether another request may fix err.
func (b *BlobReader) retryableErr(err error) bool {
	if b.ctx.Err() != nil {
		return false
	}
	var (
		terr *transport.Error
		rerr *RetryError
	)
	if errors.As(err, &terr) || errors.As(err, &rerr) {
		// The retry transport already spent its attempts on this.
		return false
	}
	return retryableError(b.ctx, err)
}

func (b *BlobReader) noteResume(err error) {
	b.resumes++
	if b.o.onResume != nil {
		b.o.onResume(ResumeEvent{Digest: b.digest.String(), Offset: b.off, Resume: b.resumes, Err: err})
	}
}

// wait counts a failure that delivered nothing and backs off before the next try; after
// maxAttempts such failures in a row the read gives up.
func (b *BlobReader) wait(err error) error {
	b.fails++
	if b.fails >= b.o.maxAttempts {
		return fmt.Errorf("blob %s: no progress at offset %d after %d attempts: %w", b.digest, b.off, b.fails, err)
	}
	b.noteResume(err)
	if serr := b.o.sleep(b.ctx, b.o.backoff(b.fails)); serr != nil {
		return fmt.Errorf("blob %s at offset %d: %w", b.digest, b.off, serr)
	}
	return nil
}

func (b *BlobReader) finish() error {
	b.done = true
	if b.par != nil {
		b.par.close()
	}
	if b.body != nil {
		b.body.Close()
		b.body = nil
	}
	if b.hasher != nil {
		got := "sha256:" + hex.EncodeToString(b.hasher.Sum(nil))
		if got != b.digest.String() {
			return b.fail(fmt.Errorf("blob %s: content digest is %s (%d bytes)", b.digest, got, b.off))
		}
	}
	return io.EOF
}

func (b *BlobReader) fail(err error) error {
	b.err = err
	if b.par != nil {
		b.par.close()
	}
	if b.body != nil {
		b.body.Close()
		b.body = nil
	}
	return err
}

// Close releases the connection(s) and stops parallel requests. It does not cancel ctx.
func (b *BlobReader) Close() error {
	if b.par != nil {
		b.par.close()
	}
	if b.body != nil {
		err := b.body.Close()
		b.body = nil
		return err
	}
	return nil
}

// checkRedirect follows what go-containerregistry allows: a registry may redirect blob reads (ECR
// sends them to S3), but not to private, loopback or link-local addresses of another host, which
// would let a hostile registry probe the network socify runs in.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return fmt.Errorf("stopped after %d redirects", len(via))
	}
	if len(via) == 0 {
		return nil
	}
	orig, dest := via[0].URL.Hostname(), req.URL.Hostname()
	if orig == dest {
		return nil
	}
	if ip, err := netip.ParseAddr(dest); err == nil {
		if ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() {
			return fmt.Errorf("redirect from %q to private or link-local host %q refused", orig, dest)
		}
	}
	return nil
}

// parseContentRange reads "bytes START-END/TOTAL" (TOTAL may be "*", reported as -1).
func parseContentRange(v string) (start, total int64, ok bool) {
	v, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(v, "/")
	if !found {
		return 0, 0, false
	}
	s, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(s, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	if tot == "*" {
		return start, -1, true
	}
	total, err = strconv.ParseInt(tot, 10, 64)
	if err != nil || total < 0 {
		return 0, 0, false
	}
	return start, total, true
}
