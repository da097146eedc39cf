package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"99999999999", 24 * time.Hour, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	for _, jitterMax := range []bool{false, true} {
		o := makeOptions([]Option{WithBackoff(100*time.Millisecond, time.Second)})
		o.jitter = func(n int64) int64 {
			if jitterMax {
				return n - 1
			}
			return 0
		}
		want := []time.Duration{100, 200, 400, 800, 1000, 1000}
		for i, w := range want {
			w *= time.Millisecond
			got := o.backoff(i + 1)
			lo, hi := w/2, w
			if got < lo || got > hi || (jitterMax && got != hi) || (!jitterMax && got != lo) {
				t.Errorf("backoff(%d) = %v, want in [%v, %v]", i+1, got, lo, hi)
			}
		}
	}
}

func TestRetryableError(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	opErr := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"reset", ctx, &url.Error{Op: "Get", URL: "x", Err: opErr}, true},
		{"refused", ctx, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"unexpected eof", ctx, fmt.Errorf("body: %w", io.ErrUnexpectedEOF), true},
		{"eof", ctx, io.EOF, true},
		{"timeout", ctx, &net.DNSError{IsTimeout: true}, true},
		{"no such host", ctx, &net.DNSError{Err: "no such host", IsNotFound: true}, false},
		{"bad cert", ctx, &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false},
		{"canceled ctx", canceled, opErr, false},
		{"canceled err", ctx, context.Canceled, false},
		{"plain", ctx, errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := retryableError(tt.ctx, tt.err); got != tt.want {
			t.Errorf("%s: retryableError = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// script serves the statuses in order (then 200) and counts requests. It is an HTTP server, not a
// registry: the retry transport only looks at HTTP.
type script struct {
	mu       sync.Mutex
	statuses []int
	headers  []http.Header
	bodies   []string
	hits     int
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	i := s.hits
	s.hits++
	s.bodies = append(s.bodies, string(b))
	s.mu.Unlock()
	if i < len(s.statuses) {
		if i < len(s.headers) {
			for k, v := range s.headers[i] {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(s.statuses[i])
		fmt.Fprintf(w, `{"errors":[{"code":"UNAVAILABLE","message":"attempt %d"}]}`, i+1)
		return
	}
	fmt.Fprint(w, "ok")
}

type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func TestRetryTransport(t *testing.T) {
	tests := []struct {
		name       string
		statuses   []int
		headers    []http.Header
		method     string
		body       func() io.Reader
		attempts   int
		wantStatus int
		wantHits   int
		wantWaits  []time.Duration // exact when set; else only the count is checked
		wantRetry  int
	}{
		{name: "503 then ok", statuses: []int{503, 503}, method: "GET", attempts: 5, wantStatus: 200, wantHits: 3, wantRetry: 2},
		{name: "429 retry-after", statuses: []int{429}, headers: []http.Header{{"Retry-After": {"7"}}}, method: "GET", attempts: 5, wantStatus: 200, wantHits: 2, wantWaits: []time.Duration{7 * time.Second}},
		{name: "retry-after capped", statuses: []int{503}, headers: []http.Header{{"Retry-After": {"3600"}}}, method: "HEAD", attempts: 5, wantStatus: 200, wantHits: 2, wantWaits: []time.Duration{2 * time.Minute}},
		{name: "exhausted returns last response", statuses: []int{500, 502, 504}, method: "GET", attempts: 3, wantStatus: 504, wantHits: 3, wantRetry: 2},
		{name: "404 not retried", statuses: []int{404}, method: "GET", attempts: 5, wantStatus: 404, wantHits: 1},
		{name: "replayable body", statuses: []int{500}, method: "PUT", body: func() io.Reader { return bytes.NewReader([]byte("manifest")) }, attempts: 3, wantStatus: 200, wantHits: 2, wantRetry: 1},
		{name: "streaming body not retried", statuses: []int{500}, method: "PUT", body: func() io.Reader { return io.MultiReader(strings.NewReader("layer")) }, attempts: 3, wantStatus: 500, wantHits: 1},
		{name: "patch not retried", statuses: []int{503}, method: "PATCH", body: func() io.Reader { return bytes.NewReader([]byte("chunk")) }, attempts: 3, wantStatus: 503, wantHits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{statuses: tt.statuses, headers: tt.headers}
			srv := httptest.NewServer(s)
			defer srv.Close()
			w := &waits{}
			var events []RetryEvent
			rt := mustTransport(t, WithMaxAttempts(tt.attempts), WithSleep(w.sleep), WithOnRetry(func(e RetryEvent) { events = append(events, e) }))
			var body io.Reader
			if tt.body != nil {
				body = tt.body()
			}
			req, _ := http.NewRequest(tt.method, srv.URL+"/v2/x?sig=secret", body)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || s.hits != tt.wantHits {
				t.Fatalf("status %d after %d hits, want %d after %d", resp.StatusCode, s.hits, tt.wantStatus, tt.wantHits)
			}
			if tt.wantWaits != nil {
				if fmt.Sprint(w.d) != fmt.Sprint(tt.wantWaits) {
					t.Fatalf("waits %v, want %v", w.d, tt.wantWaits)
				}
				if !events[0].RetryAfter {
					t.Fatal("event does not say Retry-After")
				}
			} else if len(w.d) != tt.wantRetry {
				t.Fatalf("%d waits, want %d", len(w.d), tt.wantRetry)
			}
			for _, e := range events {
				if strings.Contains(e.URL, "secret") {
					t.Fatalf("event URL leaks the query: %s", e.URL)
				}
			}
			for i, b := range s.bodies {
				if tt.body != nil && tt.method == "PUT" && b != "manifest" && b != "layer" {
					t.Fatalf("attempt %d sent body %q", i+1, b)
				}
			}
		})
	}
}

func TestRetryTransportConnectionReset(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	w := &waits{}
	rt := mustTransport(t, WithMaxAttempts(4), WithSleep(w.sleep))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n.Load() != 3 || len(w.d) != 2 {
		t.Fatalf("%d requests, %d waits", n.Load(), len(w.d))
	}

	// Exhaustion wraps the last error in *RetryError.
	n.Store(-100)
	rt = mustTransport(t, WithMaxAttempts(2), WithSleep(w.sleep))
	req, _ = http.NewRequest("GET", srv.URL, nil)
	_, err = rt.RoundTrip(req)
	var rerr *RetryError
	if !errors.As(err, &rerr) || rerr.Attempts != 2 {
		t.Fatalf("err = %v, want *RetryError after 2 attempts", err)
	}
	if uploadRetryable(err) {
		t.Fatal("uploadRetryable would retry an exhausted request again")
	}
}

func TestRetryTransportContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(429)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	rt := mustTransport(t, WithMaxAttempts(10)) // real sleeps: the context must cut the 60 s wait
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	start := time.Now()
	_, err := rt.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %s", el)
	}
}

func TestInsecureHostsOnlyNamed(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)

	get := func(rt http.RoundTripper) error {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		resp, err := rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(mustTransport(t, WithMaxAttempts(1))); err == nil {
		t.Fatal("self-signed certificate accepted without --insecure")
	}
	if err := get(mustTransport(t, WithMaxAttempts(1), WithInsecureHosts("other.example.com:443"))); err == nil {
		t.Fatal("certificate accepted for a host that was not named")
	}
	if err := get(mustTransport(t, WithMaxAttempts(1), WithInsecureHosts(u.Host))); err != nil {
		t.Fatalf("named host:port: %v", err)
	}
	if err := get(mustTransport(t, WithMaxAttempts(1), WithInsecureHosts(u.Hostname()))); err != nil {
		t.Fatalf("named host: %v", err)
	}
}

func TestParseReferencePlainHTTP(t *testing.T) {
	tests := []struct {
		ref, scheme string
		plain       []string
	}{
		{"reg.example.com:5000/app:v1", "http", []string{"reg.example.com:5000"}},
		{"reg.example.com:5000/app:v1", "http", []string{"reg.example.com"}},
		{"reg.example.com:5001/app:v1", "https", []string{"reg.example.com:5000"}},
		{"other.example.com/app:v1", "https", []string{"reg.example.com"}},
	}
	for _, tt := range tests {
		r, err := ParseReference(tt.ref, tt.plain)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Context().Scheme(); got != tt.scheme {
			t.Errorf("%s with %v: scheme %s, want %s", tt.ref, tt.plain, got, tt.scheme)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/1000", 100, 1000, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes */1000", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes 5-9", 0, 0, false},
		{"bytes -5-9/10", 0, 0, false},
	}
	for _, tt := range tests {
		s, tot, ok := parseContentRange(tt.in)
		if s != tt.start || tot != tt.total || ok != tt.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", tt.in, s, tot, ok)
		}
	}
}

func TestCheckRedirect(t *testing.T) {
	req := func(u string) *http.Request { r, _ := http.NewRequest("GET", u, nil); return r }
	via := []*http.Request{req("https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/app/blobs/sha256:x")}
	for u, ok := range map[string]bool{
		"https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/x?sig=y": true,
		"https://123456789012.dkr.ecr.us-east-1.amazonaws.com/other":                      true,
		"http://169.254.169.254/latest/meta-data/":                                        false,
		"http://10.0.0.1/x":       false,
		"http://127.0.0.1:8080/x": false,
	} {
		if err := checkRedirect(req(u), via); (err == nil) != ok {
			t.Errorf("redirect to %s: err = %v", u, err)
		}
	}
}

func mustTransport(t *testing.T, opts ...Option) http.RoundTripper {
	t.Helper()
	rt, err := NewTransport(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}
