package registrytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Path patterns of the registry API, for Match.Path.
const (
	BlobPath     = `^/v2/.+/blobs/[a-z0-9]+:[a-f0-9]+$`
	UploadPath   = `^/v2/.+/blobs/uploads/`
	ManifestPath = `^/v2/.+/manifests/[^/]+$`
)

var (
	// AnyBlobGet matches blob downloads.
	AnyBlobGet = Match{Method: http.MethodGet, Path: BlobPath}
	// AnyBlob matches every request on a blob (GET, HEAD, DELETE).
	AnyBlob = Match{Path: BlobPath}
	// AnyUpload matches every request of a blob upload session (POST, PATCH, PUT, GET, DELETE).
	AnyUpload = Match{Path: UploadPath}
	// AnyManifest matches every request on a manifest (by tag or digest).
	AnyManifest = Match{Path: ManifestPath}
	// AnyManifestPut matches manifest uploads.
	AnyManifestPut = Match{Method: http.MethodPut, Path: ManifestPath}
	// Any matches every request.
	Any = Match{}
)

// BlobGet matches downloads of one blob ("sha256:...").
func BlobGet(digest string) Match {
	return Match{Method: http.MethodGet, Path: `^/v2/.+/blobs/` + regexp.QuoteMeta(digest) + `$`}
}

// ManifestPut matches the upload of a manifest under one tag or digest in one repository.
func ManifestPut(repo, reference string) Match {
	return Match{Method: http.MethodPut, Path: `^/v2/` + regexp.QuoteMeta(repo) + `/manifests/` + regexp.QuoteMeta(reference) + `$`}
}

// Match selects requests. Zero fields match anything.
type Match struct {
	// Method is an HTTP method ("GET"); empty matches every method.
	Method string
	// Path is a regular expression matched against the URL path; empty matches every path.
	Path string
	// Func, when set, must also return true.
	Func func(*http.Request) bool
}

func (m Match) compile() (matcher, error) {
	var re *regexp.Regexp
	if m.Path != "" {
		var err error
		if re, err = regexp.Compile(m.Path); err != nil {
			return matcher{}, fmt.Errorf("registrytest: bad Match.Path %q: %w", m.Path, err)
		}
	}
	return matcher{method: m.Method, re: re, fn: m.Func}, nil
}

type matcher struct {
	method string
	re     *regexp.Regexp
	fn     func(*http.Request) bool
}

func (m matcher) match(r *http.Request) bool {
	if m.method != "" && !strings.EqualFold(m.method, r.Method) {
		return false
	}
	if m.re != nil && !m.re.MatchString(r.URL.Path) {
		return false
	}
	return m.fn == nil || m.fn(r)
}

type actionKind int

const (
	actRespond actionKind = iota + 1
	actCut
	actReset
	actSlow
	actDelay
	actIgnoreRange
	actCutUpload
)

// Action is what the proxy does to a matching request. Build one with Fail, Respond, Throttle, Cut,
// Reset, Slow or Delay.
type Action struct {
	kind     actionKind
	status   int
	header   http.Header
	body     string
	n        int64
	interval time.Duration
	name     string
}

func (a Action) String() string { return a.name }

// Respond answers with exactly this status, header and body, without reaching the registry.
func Respond(status int, header http.Header, body string) Action {
	return Action{kind: actRespond, status: status, header: header.Clone(), body: body, name: fmt.Sprintf("respond %d", status)}
}

// Fail answers with status and a registry-style JSON error body, without reaching the registry.
func Fail(status int) Action {
	body := fmt.Sprintf(`{"errors":[{"code":"UNKNOWN","message":"registrytest: injected %d"}]}`, status)
	a := Respond(status, http.Header{"Content-Type": {"application/json"}}, body)
	a.name = fmt.Sprintf("fail %d", status)
	return a
}

// Throttle answers 429 Too Many Requests with Retry-After in whole seconds (rounded up), as
// registries and ECR do when rate limits apply.
func Throttle(retryAfter time.Duration) Action {
	secs := int64((retryAfter + time.Second - 1) / time.Second)
	body := `{"errors":[{"code":"TOOMANYREQUESTS","message":"registrytest: rate exceeded"}]}`
	a := Respond(http.StatusTooManyRequests, http.Header{
		"Content-Type": {"application/json"},
		"Retry-After":  {strconv.FormatInt(secs, 10)},
	}, body)
	a.name = fmt.Sprintf("throttle %ds", secs)
	return a
}

// Cut forwards the request and aborts the connection after n bytes of the response body have been
// sent: headers (with the full Content-Length) arrive, then the stream breaks.
func Cut(n int64) Action {
	return Action{kind: actCut, n: n, name: fmt.Sprintf("cut after %d bytes", n)}
}

// Reset drops the connection (TCP RST) before any response is written.
func Reset() Action { return Action{kind: actReset, name: "reset"} }

// Slow forwards the request and sends the response body chunk bytes at a time, waiting every
// between chunks.
func Slow(chunk int, every time.Duration) Action {
	if chunk <= 0 {
		chunk = 1
	}
	return Action{kind: actSlow, n: int64(chunk), interval: every, name: fmt.Sprintf("slow %d bytes/%s", chunk, every)}
}

// Delay waits d (or until the client gives up) before forwarding the request.
func Delay(d time.Duration) Action {
	return Action{kind: actDelay, interval: d, name: fmt.Sprintf("delay %s", d)}
}

// IgnoreRange forwards the request without its Range header, as some caches and proxies do: the
// client asks for part of a blob and gets all of it with 200.
func IgnoreRange() Action { return Action{kind: actIgnoreRange, name: "ignore range"} }

// CutUpload forwards the first n bytes of the request body to the registry as a complete request,
// lets the registry answer, and then aborts the client's connection without that answer: the
// registry has committed n bytes of the upload, the client saw its PATCH (or PUT) fail mid-body and
// must ask the registry where the upload stands.
func CutUpload(n int64) Action {
	return Action{kind: actCutUpload, n: n, name: fmt.Sprintf("cut upload after %d bytes", n)}
}

// Injection is a fault installed with Proxy.Inject.
type Injection struct {
	p       *Proxy
	m       matcher
	action  Action
	times   int // 0 = unlimited
	hits    int
	removed bool
}

// Hits reports how many requests the fault has been applied to.
func (i *Injection) Hits() int {
	i.p.mu.Lock()
	defer i.p.mu.Unlock()
	return i.hits
}

// Remove stops applying the fault.
func (i *Injection) Remove() {
	i.p.mu.Lock()
	defer i.p.mu.Unlock()
	i.removed = true
}

// Record is one request seen by the proxy.
type Record struct {
	Method   string
	Path     string
	Query    url.Values
	Range    string // the request's Range header
	Status   int    // 0 when the connection was dropped before a status was sent
	BytesIn  int64  // request body bytes read from the client
	BytesOut int64  // response body bytes written to the client
	Fault    string // the injected action, empty when the request passed untouched
}

// Stats sums records.
type Stats struct {
	Requests int
	BytesIn  int64
	BytesOut int64
}

// Proxy is a reverse proxy on 127.0.0.1 in front of the registry.
type Proxy struct {
	// Addr is host:port of the proxy.
	Addr string

	tb        testing.TB
	backend   string
	transport *http.Transport
	srv       *http.Server

	mu       sync.Mutex
	faults   []*Injection
	records  []Record
	inflight atomic.Int64 // requests whose record is not written yet
	conns    atomic.Int64 // TCP connections accepted

	rate int64 // response body bytes per second per client connection; 0 = unlimited

	bearer bool
	users  map[string]string // plain passwords for the token endpoint
	tokens map[string]bool
}

func newProxy(tb testing.TB, backend string) *Proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("registrytest: proxy listen: %v", err)
	}
	p := &Proxy{
		Addr:    ln.Addr().String(),
		tb:      tb,
		backend: backend,
		transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			// Registries serve blobs compressed already; a transparent gzip round trip would hide the
			// real byte counts.
			DisableCompression: true,
		},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second, ErrorLog: nil,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				p.conns.Add(1)
			}
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, &connState{})
		},
	}
	go func() { _ = p.srv.Serve(ln) }()
	return p
}

func (p *Proxy) close() {
	_ = p.srv.Close()
	p.transport.CloseIdleConnections()
}

// Inject installs a fault for the next times matching requests (0 = all of them until Remove).
func (p *Proxy) Inject(m Match, a Action, times int) *Injection {
	p.tb.Helper()
	cm, err := m.compile()
	if err != nil {
		p.tb.Fatalf("%v", err)
	}
	if times < 0 {
		times = 0
	}
	inj := &Injection{p: p, m: cm, action: a, times: times}
	p.mu.Lock()
	p.faults = append(p.faults, inj)
	p.mu.Unlock()
	return inj
}

// ClearFaults removes every injected fault.
func (p *Proxy) ClearFaults() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		f.removed = true
	}
	p.faults = nil
}

// Records returns a copy of every request seen since the start or the last Reset, in the order
// they finished.
func (p *Proxy) Records() []Record {
	p.settle()
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Record(nil), p.records...)
}

// Connections is the number of TCP connections clients opened to the proxy since it started: with
// connection reuse it stays flat as a conversion's layer count grows.
func (p *Proxy) Connections() int64 { return p.conns.Load() }

type connKey struct{}

// connState is per client connection: the rate limiter's budget is the connection's, not the
// request's, so keep-alive requests on one connection share it.
type connState struct {
	mu    sync.Mutex
	start time.Time
	sent  int64
}

// LimitRate caps what each client connection receives to bytesPerSecond of response bodies (0
// removes the cap), like an object store that serves each connection at a fixed rate. Throughput
// then grows with the number of connections a client reads over.
func (p *Proxy) LimitRate(bytesPerSecond int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = bytesPerSecond
}

func (p *Proxy) enableBearer(users map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bearer, p.users, p.tokens = true, users, map[string]bool{}
}

// serveToken issues a token for the scopes asked, after checking basic credentials when the
// registry has users.
func (p *Proxy) serveToken(w http.ResponseWriter, r *http.Request, rec *Record) {
	p.mu.Lock()
	users := p.users
	p.mu.Unlock()
	if len(users) > 0 {
		u, pw, ok := r.BasicAuth()
		if !ok || users[u] != pw {
			rec.Status = http.StatusUnauthorized
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"registrytest: bad credentials"}]}`, http.StatusUnauthorized)
			return
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	p.mu.Lock()
	p.tokens[tok] = true
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	rec.Status = http.StatusOK
	n, _ := fmt.Fprintf(w, `{"token":%q,"access_token":%q,"expires_in":3600}`, tok, tok)
	rec.BytesOut = int64(n)
}

// authorized checks the bearer token of a registry request; false means a challenge was sent.
func (p *Proxy) authorized(w http.ResponseWriter, r *http.Request, rec *Record) bool {
	p.mu.Lock()
	bearer := p.bearer
	tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	ok := found && p.tokens[tok]
	p.mu.Unlock()
	if !bearer || ok {
		return true
	}
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="registrytest"`, p.Addr))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	rec.Status = http.StatusUnauthorized
	n, _ := io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"registrytest: token required"}]}`)
	rec.BytesOut = int64(n)
	return false
}

func (p *Proxy) bearerOn() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bearer
}

// copyBody copies a response body, paced to the per-connection rate when LimitRate is set.
func (p *Proxy) copyBody(r *http.Request, w http.ResponseWriter, body io.Reader) (int64, error) {
	p.mu.Lock()
	rate := p.rate
	p.mu.Unlock()
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if rate <= 0 || cs == nil {
		return io.Copy(w, body)
	}
	f, _ := w.(http.Flusher)
	buf := make([]byte, 16<<10)
	var total int64
	for {
		n, err := body.Read(buf)
		if n > 0 {
			cs.mu.Lock()
			now := time.Now()
			if cs.start.IsZero() || now.Sub(cs.start) > time.Duration(float64(cs.sent)/float64(rate)*float64(time.Second))+time.Second {
				// An idle connection does not bank more than a second of budget.
				cs.start, cs.sent = now, 0
			}
			cs.sent += int64(n)
			due := cs.start.Add(time.Duration(float64(cs.sent) / float64(rate) * float64(time.Second)))
			cs.mu.Unlock()
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return total, r.Context().Err()
				}
			}
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
			if f != nil {
				f.Flush()
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Reset forgets the records; faults stay installed. It first waits (a little) for requests still
// finishing: a client may have read a whole body before the handler has recorded it, and that
// late record must not land after the Reset.
func (p *Proxy) Reset() {
	p.settle()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records = nil
}

// Stats sums the records of the requests that m matches. A Match.Func sees a request rebuilt from
// the record: method, path, query and Range header only.
func (p *Proxy) Stats(m Match) Stats {
	p.tb.Helper()
	cm, err := m.compile()
	if err != nil {
		p.tb.Fatalf("%v", err)
	}
	var s Stats
	for _, r := range p.Records() {
		req := &http.Request{Method: r.Method, URL: &url.URL{Path: r.Path, RawQuery: r.Query.Encode()}, Header: http.Header{}}
		if r.Range != "" {
			req.Header.Set("Range", r.Range)
		}
		if cm.match(req) {
			s.Requests++
			s.BytesIn += r.BytesIn
			s.BytesOut += r.BytesOut
		}
	}
	return s
}

// UploadedBlobs lists the digests of blob uploads that completed through the proxy (201 on a PUT
// or monolithic POST carrying ?digest=), in order. Cross-repository mounts are not uploads and are
// left out.
func (p *Proxy) UploadedBlobs() []string {
	var out []string
	for _, r := range p.Records() {
		if r.Status != http.StatusCreated || !strings.Contains(r.Path, "/blobs/uploads/") {
			continue
		}
		if r.Query.Get("mount") != "" {
			continue
		}
		if d := r.Query.Get("digest"); d != "" && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
			out = append(out, d)
		}
	}
	return out
}

// pick returns the action for r, consuming one use of the matching fault.
func (p *Proxy) pick(r *http.Request) (Action, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		if f.removed || (f.times > 0 && f.hits >= f.times) {
			continue
		}
		if f.m.match(r) {
			f.hits++
			return f.action, true
		}
	}
	return Action{}, false
}

// settle waits up to a second for in-flight requests to record themselves; a request that hangs on
// purpose (a slow or delayed fault) does not block the caller longer.
func (p *Proxy) settle() {
	for deadline := time.Now().Add(time.Second); p.inflight.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

func (p *Proxy) record(rec Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records = append(p.records, rec)
}

// hopHeaders are connection-scoped and must not be forwarded (RFC 9110 §7.6.1).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
func (c *countingReader) Close() error { return c.r.Close() }

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := Record{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Range: r.Header.Get("Range")}
	in := &countingReader{r: r.Body}
	r.Body = in
	// Recorded even when the handler aborts the connection with a panic.
	p.inflight.Add(1)
	defer func() {
		rec.BytesIn = in.n
		p.record(rec)
		p.inflight.Add(-1)
	}()

	act, faulty := p.pick(r)
	if faulty {
		rec.Fault = act.name
	}
	if r.URL.Path == "/token" && p.bearerOn() {
		p.serveToken(w, r, &rec)
		return
	}
	switch {
	case faulty && act.kind == actRespond:
		_, _ = io.Copy(io.Discard, r.Body)
		for k, v := range act.header {
			w.Header()[k] = append([]string(nil), v...)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(act.body)))
		w.WriteHeader(act.status)
		rec.Status = act.status
		if r.Method != http.MethodHead {
			n, _ := io.WriteString(w, act.body)
			rec.BytesOut = int64(n)
		}
		return
	case faulty && act.kind == actReset:
		p.reset(w)
		return
	case faulty && act.kind == actDelay:
		t := time.NewTimer(act.interval)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	if !(faulty && act.kind == actRespond) && !p.authorized(w, r, &rec) {
		_, _ = io.Copy(io.Discard, r.Body)
		return
	}

	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme = "http"
	out.URL.Host = p.backend
	// out.Host keeps the proxy's address: the registry builds upload Location URLs from it, so
	// the client keeps talking through the proxy.
	out.Host = r.Host
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	if faulty && act.kind == actIgnoreRange {
		out.Header.Del("Range")
	}
	if r.ContentLength == 0 {
		out.Body = nil
	}
	if faulty && act.kind == actCutUpload {
		out.Body = io.NopCloser(io.LimitReader(r.Body, act.n))
		out.ContentLength = -1
		out.Header.Del("Content-Length")
	}
	if p.bearerOn() {
		// The token is the proxy's; the registry behind it is anonymous.
		out.Header.Del("Authorization")
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		rec.Status = http.StatusBadGateway
		http.Error(w, "registrytest proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if faulty && act.kind == actCutUpload {
		_, _ = io.Copy(io.Discard, resp.Body)
		rec.Status = 0
		panic(http.ErrAbortHandler)
	}
	for _, h := range hopHeaders {
		resp.Header.Del(h)
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	rec.Status = resp.StatusCode

	var werr error
	switch {
	case faulty && act.kind == actCut:
		rec.BytesOut, werr = io.Copy(w, io.LimitReader(resp.Body, act.n))
		if werr == nil {
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			// Only a real cut when the body had more to give; a short body passes whole.
			var one [1]byte
			if n, _ := resp.Body.Read(one[:]); n > 0 || resp.ContentLength > act.n {
				panic(http.ErrAbortHandler)
			}
		}
	case faulty && act.kind == actSlow:
		rec.BytesOut, werr = slowCopy(r, w, resp.Body, int(act.n), act.interval)
	default:
		rec.BytesOut, werr = p.copyBody(r, w, resp.Body)
	}
	if werr != nil && !errors.Is(werr, io.EOF) {
		panic(http.ErrAbortHandler)
	}
}

// reset closes the client connection with SO_LINGER 0 so the client sees ECONNRESET rather than a
// clean EOF.
func (p *Proxy) reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func slowCopy(r *http.Request, w http.ResponseWriter, body io.Reader, chunk int, every time.Duration) (int64, error) {
	buf := make([]byte, chunk)
	var total int64
	f, _ := w.(http.Flusher)
	for {
		n, err := io.ReadFull(body, buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
			if f != nil {
				f.Flush()
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		t := time.NewTimer(every)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return total, r.Context().Err()
		}
	}
}
