package registry

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Reopen returns the bytes of the blob being uploaded from offset off on (a Range read of the
// source). Upload calls it when the registry lost part of what was sent.
type Reopen func(ctx context.Context, off int64) (io.ReadCloser, error)

// Upload streams a blob of desc.Size bytes with digest desc.Digest to repo: POST to open an upload
// session, one PATCH that streams body (Content-Length and Content-Range set, so the registry
// checks the offset), and PUT ?digest= to commit. Memory stays constant whatever the size.
//
// When the PATCH or the PUT fails on the registry's side (connection reset, 5xx, timeout), Upload
// asks the registry how much of the session it committed (GET on the session's Location, Range
// header) and continues from reopen(ctx, offset); if the registry lost the session, it starts a
// new one from reopen(ctx, 0). After a failure Upload no longer reads body; if body is an
// io.Closer it is closed, so that a writer feeding it through a pipe is released. reopen may be
// nil: the first registry failure is then the error. Attempts are bounded by WithMaxResumes
// (resumes) and WithMaxAttempts (failures in a row without progress), with the client's backoff.
//
// A failure reading body or a reopened reader is the caller's: the session is cancelled and the
// error returned (wrapped). Upload commits only when the body ends (io.EOF) exactly after
// desc.Size bytes: a longer or shorter body, or one whose reader fails at its end (a pipe closed
// with an error because the layer failed verification), cancels the session. The digest the blob
// is committed under is desc.Digest, which the registry verifies against the bytes it received
// (the distribution spec requires it; ECR does): a blob whose digest does not match is never
// committed. With WithUploadDigestCheck(true) Upload also hashes what it sends and cancels the
// session before the PUT on a mismatch; leave it off when the bytes were verified upstream
// (socify's pipeline checks each layer's digest while indexing it).
//
// Amazon ECR is the exception to resuming within a session: it answers a second PATCH of a session
// with 201 but keeps only bytes at the Content-Range offsets of the request body rather than the
// body itself, and does not advance the session's Range (aws/containers-roadmap#2831). For ECR
// hosts (ecr.ParseHost, or hosts the ECR keychain was told about with ecr.WithHost) a broken
// upload therefore starts over in a new session from reopen(0).
//
// Upload does not check whether the blob exists already; see Exists and Mount.
func (c *Client) Upload(ctx context.Context, repo name.Repository, desc v1.Descriptor, body io.Reader, reopen Reopen) error {
	if desc.Size < 0 {
		return fmt.Errorf("upload %s to %s: negative size %d", desc.Digest, repo, desc.Size)
	}
	if desc.Digest.Algorithm != "sha256" || len(desc.Digest.Hex) != 64 {
		return fmt.Errorf("upload to %s: digest %q is not a sha256 digest", repo, desc.Digest)
	}
	client, err := c.httpClient(ctx, repo, transport.PushScope)
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", desc.Digest, repo, err)
	}
	u := &upload{c: c, ctx: ctx, client: client, repo: repo, desc: desc, reopen: reopen, restartOnly: c.isECR(repo.RegistryStr())}
	if c.o.uploadDigest {
		u.hasher = sha256.New()
		u.snaps = map[int64][]byte{}
	}
	if err := u.run(body); err != nil {
		return fmt.Errorf("upload %s to %s: %w", desc.Digest, repo, err)
	}
	return nil
}

// snapEvery spaces the saved hash states of WithUploadDigestCheck: a resume at offset n re-reads
// at most this many bytes from reopen to bring the hash from the last saved state to n.
const snapEvery = 1 << 20

type upload struct {
	c      *Client
	ctx    context.Context
	client *http.Client
	repo   name.Repository
	desc   v1.Descriptor
	reopen Reopen

	loc          string // the session's current Location
	acked        int64  // bytes the registry confirmed holding
	resumes      int
	fails        int
	bodyReleased bool
	verified     bool // the hash of all desc.Size bytes matched
	restartOnly  bool // the registry cannot take a second PATCH in a session (ECR)

	hasher hash.Hash
	hashed int64            // bytes fed to hasher
	snaps  map[int64][]byte // hash state at multiples of snapEvery
}

// sourceError marks a failure of the caller's reader, which no retry can fix.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

func (u *upload) run(body io.Reader) (err error) {
	if err := u.start(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			u.cancel()
		}
	}()
	var (
		src    = body
		closer io.Closer // of a reopened reader
		off    int64
	)
	release := func() {
		if closer != nil {
			closer.Close()
			closer = nil
		} else if c, ok := body.(io.Closer); ok && !u.bodyReleased {
			u.bodyReleased = true
			c.Close()
		}
	}
	for {
		perr := u.patch(src, off)
		if perr == nil {
			perr = u.finish(src)
		}
		if perr == nil {
			if closer != nil {
				closer.Close()
			}
			return nil
		}
		var se *sourceError
		if errors.As(perr, &se) || u.ctx.Err() != nil || !u.retryable(perr) {
			if closer != nil {
				closer.Close()
			}
			return perr
		}
		// The registry side broke: stop reading the current source.
		release()
		if u.reopen == nil {
			return fmt.Errorf("%w; cannot resume: %w", perr, errNoReopen)
		}
		committed, done, err := u.recover(perr)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if committed == u.desc.Size && (u.hasher == nil || u.verified) {
			// Everything arrived and was checked; only the commit is missing.
			src, off = eofReader{}, committed
			continue
		}
		rc, at, err := u.reopenAt(committed)
		if err != nil {
			return err
		}
		src, closer, off = rc, rc, at
		if at < committed {
			// Bring the hash from the saved state at at up to the committed offset.
			if _, err := io.CopyN(u.hashWriter(), rc, committed-at); err != nil {
				return &sourceError{fmt.Errorf("re-reading bytes %d-%d of the source: %w", at, committed, err)}
			}
			off = committed
		}
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func (u *upload) retryable(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		return retryStatus[te.StatusCode] || te.StatusCode == http.StatusRequestedRangeNotSatisfiable
	}
	return retryableError(u.ctx, err) || errors.Is(err, errUploadBroken)
}

var (
	errUploadBroken = errors.New("upload connection broke")
	errNoReopen     = errors.New("the source cannot be read again (no reopen function)")
)

// recover finds where the session stands after err, waiting first when nothing progressed.
// done reports that the blob turned out to be committed already (a PUT whose answer was lost).
func (u *upload) recover(cause error) (committed int64, done bool, err error) {
	if u.resumes >= u.c.o.maxResumes {
		return 0, false, fmt.Errorf("%w (gave up after %d resumes)", cause, u.resumes)
	}
	u.resumes++
	committed, lost := int64(0), true
	if !u.restartOnly {
		committed, lost = u.status()
	}
	if lost {
		if ok, _ := u.c.Exists(u.ctx, u.repo, u.desc.Digest); ok {
			return 0, true, nil
		}
		u.cancel()
		if err := u.start(); err != nil {
			return 0, false, fmt.Errorf("%w; starting a new session: %w", cause, err)
		}
		committed = 0
	}
	if committed > u.acked {
		u.fails = 0
	} else {
		u.fails++
		if u.fails >= u.c.o.maxAttempts {
			return 0, false, fmt.Errorf("no progress at offset %d after %d attempts: %w", committed, u.fails, cause)
		}
		if err := u.c.o.sleep(u.ctx, u.c.o.backoff(u.fails)); err != nil {
			return 0, false, fmt.Errorf("%w; waiting to resume: %w", cause, err)
		}
	}
	u.acked = committed
	if u.c.o.onResume != nil {
		u.c.o.onResume(ResumeEvent{Digest: u.desc.Digest.String(), Offset: committed, Resume: u.resumes, Err: cause, Upload: true, Restarted: lost})
	}
	return committed, false, nil
}

// status asks the registry how many bytes the session holds. lost: the session is gone (or the
// registry cannot say), so the upload starts over.
func (u *upload) status() (committed int64, lost bool) {
	req, err := http.NewRequestWithContext(u.ctx, http.MethodGet, u.loc, nil)
	if err != nil {
		return 0, true
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return 0, true
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return 0, true
	}
	end, ok := parseUploadRange(resp.Header.Get("Range"))
	if !ok {
		return 0, true
	}
	if loc, err := u.location(resp); err == nil {
		u.loc = loc
	}
	if end == 0 {
		// "0-0" means nothing or one byte (distribution reports an empty session so): ambiguous,
		// so start over rather than risk a byte too many or too few.
		return 0, true
	}
	return end + 1, false
}

// parseUploadRange reads the Range header of an upload status, "0-END" (some registries prefix
// "bytes=").
func parseUploadRange(v string) (end int64, ok bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "bytes=")
	start, e, found := strings.Cut(v, "-")
	if !found || start != "0" {
		return 0, false
	}
	n, err := strconv.ParseInt(e, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// reopenAt opens the source at committed, or, when hashing, at the last saved hash state at or
// before it. It returns the reader and the offset it starts at.
func (u *upload) reopenAt(committed int64) (io.ReadCloser, int64, error) {
	start := committed
	if u.hasher != nil {
		start = committed / snapEvery * snapEvery
		for start > 0 && u.snaps[start] == nil {
			start -= snapEvery
		}
		if err := u.restoreHash(start); err != nil {
			return nil, 0, err
		}
	}
	rc, err := u.reopen(u.ctx, start)
	if err != nil {
		return nil, 0, &sourceError{fmt.Errorf("reopening the source at offset %d: %w", start, err)}
	}
	return rc, start, nil
}

func (u *upload) restoreHash(at int64) error {
	h := sha256.New()
	if at > 0 {
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.snaps[at]); err != nil {
			return fmt.Errorf("restoring the hash state at %d: %w", at, err)
		}
	}
	u.hasher, u.hashed = h, at
	return nil
}

// hashWriter feeds the hasher and saves its state at every multiple of snapEvery.
func (u *upload) hashWriter() io.Writer { return hashFeed{u} }

type hashFeed struct{ u *upload }

func (f hashFeed) Write(p []byte) (int, error) {
	u := f.u
	n := len(p)
	for len(p) > 0 {
		next := (u.hashed/snapEvery + 1) * snapEvery
		k := min(int64(len(p)), next-u.hashed)
		u.hasher.Write(p[:k])
		u.hashed += k
		p = p[k:]
		if u.hashed == next && u.snaps[next] == nil {
			if st, err := u.hasher.(encoding.BinaryMarshaler).MarshalBinary(); err == nil {
				u.snaps[next] = st
			}
		}
	}
	return n, nil
}

func (u *upload) start() error {
	uu := url.URL{Scheme: u.repo.Registry.Scheme(), Host: u.repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/blobs/uploads/", u.repo.RepositoryStr())}
	req, err := http.NewRequestWithContext(u.ctx, http.MethodPost, uu.String(), nil)
	if err != nil {
		return err
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return fmt.Errorf("opening an upload session: %w", err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusAccepted); err != nil {
		return fmt.Errorf("opening an upload session: %w", err)
	}
	loc, err := u.location(resp)
	if err != nil {
		return fmt.Errorf("opening an upload session: %w", err)
	}
	u.loc, u.acked = loc, 0
	return nil
}

func (u *upload) location(resp *http.Response) (string, error) {
	l, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("registry answered %d without a usable Location: %w", resp.StatusCode, err)
	}
	return l.String(), nil
}

// countReader feeds the bytes it passes to the hasher and records the source's own error, so a
// failed PATCH can be told apart from a failed source.
type countReader struct {
	u    *upload
	r    io.Reader
	want int64 // bytes this PATCH carries
	off  int64 // blob offset of the first byte
	n    int64
	err  error
}

func (c *countReader) Read(p []byte) (int, error) {
	if c.n >= c.want {
		return 0, io.EOF
	}
	if int64(len(p)) > c.want-c.n {
		p = p[:c.want-c.n]
	}
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		if c.u.hasher != nil {
			_, _ = c.u.hashWriter().Write(p[:n])
		}
	}
	switch {
	case err == io.EOF && c.n < c.want:
		c.err = fmt.Errorf("the source ended at offset %d of %d: %w", c.off+c.n, c.u.desc.Size, io.ErrUnexpectedEOF)
		return n, c.err
	case err != nil && err != io.EOF:
		c.err = fmt.Errorf("reading the source at offset %d: %w", c.off+c.n, err)
	}
	return n, err
}

// patch streams the source's bytes from off to the end of the blob.
func (u *upload) patch(src io.Reader, off int64) error {
	remaining := u.desc.Size - off
	if remaining == 0 {
		return nil
	}
	cr := &countReader{u: u, r: src, want: remaining, off: off}
	req, err := http.NewRequestWithContext(u.ctx, http.MethodPatch, u.loc, io.NopCloser(cr))
	if err != nil {
		return err
	}
	req.ContentLength = remaining
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, u.desc.Size-1))
	resp, err := u.client.Do(req)
	switch {
	case cr.err != nil:
		if resp != nil {
			resp.Body.Close()
		}
		return &sourceError{cr.err}
	case err != nil:
		return fmt.Errorf("streaming bytes %d-%d: %w: %w", off, u.desc.Size-1, errUploadBroken, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusAccepted, http.StatusNoContent, http.StatusCreated); err != nil {
		return fmt.Errorf("streaming bytes %d-%d: %w", off, u.desc.Size-1, err)
	}
	if loc, err := u.location(resp); err == nil {
		u.loc = loc
	}
	u.acked = u.desc.Size
	return nil
}

// finish checks that the source ends where the blob does, then commits with PUT ?digest=.
func (u *upload) finish(src io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(src, one[:])
	switch {
	case n > 0:
		return &sourceError{fmt.Errorf("the source has more than the descriptor's %d bytes", u.desc.Size)}
	case err != io.EOF && err != io.ErrUnexpectedEOF:
		return &sourceError{fmt.Errorf("the source failed at its end (offset %d): %w", u.desc.Size, err)}
	}
	if u.hasher != nil && !u.verified {
		if u.hashed != u.desc.Size {
			return &sourceError{fmt.Errorf("hashed %d bytes of %d", u.hashed, u.desc.Size)}
		}
		if !u.verified {
			if got := "sha256:" + hex.EncodeToString(u.hasher.Sum(nil)); got != u.desc.Digest.String() {
				return &sourceError{fmt.Errorf("the bytes sent have digest %s, not %s: not committed", got, u.desc.Digest)}
			}
			u.verified = true
		}
	}
	lu, err := url.Parse(u.loc)
	if err != nil {
		return err
	}
	q := lu.Query()
	q.Set("digest", u.desc.Digest.String())
	lu.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(u.ctx, http.MethodPut, lu.String(), http.NoBody)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := u.client.Do(req)
	if err != nil {
		if u.committedAnyway() {
			return nil
		}
		return fmt.Errorf("committing: %w: %w", errUploadBroken, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusCreated, http.StatusNoContent, http.StatusAccepted); err != nil {
		if resp.StatusCode == http.StatusNotFound && u.committedAnyway() {
			return nil
		}
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// committedAnyway tells a PUT whose answer was lost (and whose retry found the session gone,
// since the registry closed it on commit) from a real failure.
func (u *upload) committedAnyway() bool {
	ok, err := u.c.Exists(u.ctx, u.repo, u.desc.Digest)
	return err == nil && ok
}

// cancel frees the session; registries expire abandoned ones too, so its failure is not reported.
func (u *upload) cancel() {
	if u.loc == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.loc, nil)
	if err != nil {
		return
	}
	if resp, err := u.client.Do(req); err == nil {
		resp.Body.Close()
	}
}

// Exists reports whether repo has the blob h (HEAD). false, nil means the registry answered that
// it does not.
func (c *Client) Exists(ctx context.Context, repo name.Repository, h v1.Hash) (bool, error) {
	client, err := c.httpClient(ctx, repo, transport.PullScope)
	if err != nil {
		return false, fmt.Errorf("blob %s in %s: %w", h, repo, err)
	}
	u := url.URL{Scheme: repo.Registry.Scheme(), Host: repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/blobs/%s", repo.RepositoryStr(), h)}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("blob %s in %s: %w", h, repo, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("blob %s in %s: %w", h, repo, transport.CheckError(resp, http.StatusOK))
}

// Mount asks the registry to link blob h from repository from into dst without copying it
// (cross-repository mount). true: the blob is in dst now. false, nil: the registry declined (it
// does not support mounts, or from does not have the blob, or the credentials cannot read from);
// the session it opened instead is cancelled, and the caller uploads the blob. Repositories on
// different registries are never mounted.
func (c *Client) Mount(ctx context.Context, dst, from name.Repository, h v1.Hash) (bool, error) {
	if dst.Registry.String() != from.Registry.String() {
		return false, nil
	}
	client, err := c.scopedClient(ctx, dst, []string{dst.Scope(transport.PushScope), from.Scope(transport.PullScope)})
	if err != nil {
		return false, fmt.Errorf("mounting %s from %s into %s: %w", h, from, dst, err)
	}
	u := url.URL{Scheme: dst.Registry.Scheme(), Host: dst.RegistryStr(), Path: fmt.Sprintf("/v2/%s/blobs/uploads/", dst.RepositoryStr()),
		RawQuery: url.Values{"mount": {h.String()}, "from": {from.RepositoryStr()}}.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("mounting %s from %s into %s: %w", h, from, dst, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return true, nil
	case http.StatusAccepted:
		if loc, err := resp.Location(); err == nil {
			(&upload{c: c, ctx: ctx, client: client, loc: loc.String()}).cancel()
		}
		return false, nil
	}
	return false, fmt.Errorf("mounting %s from %s into %s: %w", h, from, dst, transport.CheckError(resp, http.StatusCreated, http.StatusAccepted))
}
