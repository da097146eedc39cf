package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// RetryEvent describes a failed attempt that will be retried.
type RetryEvent struct {
	Attempt int    // the attempt that failed, from 1
	Method  string // HTTP method
	URL     string // scheme, host and path; the query (which may hold signatures) is dropped
	Status  int    // HTTP status, 0 when the request failed without a response
	Err     error  // the transport error, nil when Status is set
	Wait    time.Duration
	// RetryAfter is true when Wait comes from the server's Retry-After header.
	RetryAfter bool
}

// RetryError is returned when every attempt failed with a transport error. A final retryable
// status (e.g. 503) is not turned into an error: the last response is returned as is, so that
// go-containerregistry parses the registry's error body.
type RetryError struct {
	Attempts int
	Method   string
	URL      string
	Err      error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("%s %s: giving up after %d attempts: %v", e.Method, e.URL, e.Attempts, e.Err)
}

func (e *RetryError) Unwrap() error { return e.Err }

// retryStatus are the statuses worth another attempt: the request did not take effect and the
// condition is usually transient.
var retryStatus = map[int]bool{
	http.StatusRequestTimeout:      true,
	http.StatusTooManyRequests:     true,
	http.StatusInternalServerError: true,
	http.StatusBadGateway:          true,
	http.StatusServiceUnavailable:  true,
	http.StatusGatewayTimeout:      true,
}

// NewTransport returns the HTTP transport socify uses for registries: the base transport (by
// default a clone of go-containerregistry's DefaultTransport, with TLS verification skipped for
// WithInsecureHosts only) wrapped with retries.
//
// A request is retried on 408, 429, 500, 502, 503, 504 and on connection failures (reset, refused,
// broken pipe, unexpected EOF, timeouts), up to WithMaxAttempts attempts, waiting with exponential
// backoff and jitter, or for the server's Retry-After (capped by WithMaxRetryAfter). A request whose
// body cannot be replayed (no GetBody) and every PATCH (a chunk may have been half applied to an
// upload session) get one attempt only: go-containerregistry restarts those uploads itself, and
// Client.Upload resumes them at the offset the registry committed. The request's context cancels
// waits. A Client builds this transport once (Client.Transport); NewTransport is for callers that
// need the transport alone.
func NewTransport(opts ...Option) (http.RoundTripper, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return newTransport(o), nil
}

func newTransport(o *options) http.RoundTripper {
	if o.transport != nil {
		return o.transport
	}
	base := o.base
	if base == nil {
		base = defaultBase(o.insecureHosts)
	}
	var rt http.RoundTripper = &retryTransport{inner: base, o: o}
	if o.userAgent != "" {
		rt = transport.NewUserAgent(rt, o.userAgent)
	}
	return rt
}

func defaultBase(insecure map[string]bool) http.RoundTripper {
	secure := cloneDefault()
	if len(insecure) == 0 {
		return secure
	}
	loose := cloneDefault()
	if loose.TLSClientConfig == nil {
		loose.TLSClientConfig = &tls.Config{}
	}
	loose.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // only for hosts the user named
	return &hostSplit{hosts: insecure, insecure: loose, secure: secure}
}

func cloneDefault() *http.Transport {
	if t, ok := remote.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return http.DefaultTransport.(*http.Transport).Clone()
}

// hostSplit sends requests for the named hosts through a transport that skips TLS verification.
// Choosing by request host (rather than by TLS server name) keeps redirects to other hosts, such as
// a blob store, verified, and works through proxies and for IP addresses.
type hostSplit struct {
	hosts            map[string]bool
	insecure, secure http.RoundTripper
}

func (h *hostSplit) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.hosts[r.URL.Host] || h.hosts[r.URL.Hostname()] {
		return h.insecure.RoundTrip(r)
	}
	return h.secure.RoundTrip(r)
}

type retryTransport struct {
	inner http.RoundTripper
	o     *options
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	attempts := t.o.maxAttempts
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !replayable || req.Method == http.MethodPatch {
		attempts = 1
	}
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 {
			r = req.Clone(ctx)
			if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
				body, err := req.GetBody()
				if err != nil {
					return nil, fmt.Errorf("%s %s: replaying request body: %w", req.Method, redactURL(req.URL), err)
				}
				r.Body = body
			}
		}
		resp, err := t.inner.RoundTrip(r)
		ev := RetryEvent{Attempt: attempt, Method: req.Method, URL: redactURL(req.URL)}
		switch {
		case err != nil:
			if !retryableError(ctx, err) {
				return nil, err
			}
			if attempt >= attempts {
				if attempt == 1 {
					return nil, err
				}
				return nil, &RetryError{Attempts: attempt, Method: req.Method, URL: ev.URL, Err: err}
			}
			ev.Err = err
		case retryStatus[resp.StatusCode]:
			if attempt >= attempts {
				if attempt > 1 && resp.Request != nil {
					resp.Request = resp.Request.WithContext(context.WithValue(resp.Request.Context(), exhaustedKey{}, attempt))
				}
				return resp, nil
			}
			ev.Status = resp.StatusCode
			if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				ev.Wait, ev.RetryAfter = min(d, t.o.maxRetryAfter), true
			}
			// Draining lets the connection be reused; the cap keeps a huge error page from
			// costing more than a new connection.
			_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
			_ = resp.Body.Close()
		default:
			return resp, nil
		}
		if !ev.RetryAfter {
			ev.Wait = t.o.backoff(attempt)
		}
		if t.o.onRetry != nil {
			t.o.onRetry(ev)
		}
		if err := t.o.sleep(ctx, ev.Wait); err != nil {
			return nil, fmt.Errorf("%s %s: waiting to retry after attempt %d: %w", req.Method, ev.URL, attempt, err)
		}
	}
}

// backoff is the wait before retry n (n >= 1): a uniformly random time in [d/2, d] with
// d = min(max, base*2^(n-1)). Half is kept fixed so that many clients throttled together spread
// out without any of them hammering right away.
func (o *options) backoff(n int) time.Duration {
	d := o.backoffBase
	for i := 1; i < n && d < o.backoffMax; i++ {
		d *= 2
	}
	d = min(d, o.backoffMax)
	if d <= 0 {
		return 0
	}
	half := int64(d / 2)
	return time.Duration(half + o.jitter(int64(d)-half+1))
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// retryableError tells transient network failures from ones another attempt cannot fix
// (certificates, unknown hosts, cancellation).
func retryableError(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return false
	}
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidErr  x509.CertificateInvalidError
		recordErr   tls.RecordHeaderError
	)
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) ||
		errors.As(err, &invalidErr) || errors.As(err, &recordErr) {
		return false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTemporary || dnsErr.IsTimeout
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.RawQuery, c.User, c.Fragment = "", nil, ""
	return c.String()
}

type exhaustedKey struct{}
