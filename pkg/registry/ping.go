package registry

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"sync"
)

// pingCache answers go-containerregistry's unauthenticated "GET /v2/" pings from memory after the
// first one per scheme and host. Every authenticated transport starts with a ping (to learn the
// auth challenge), so without the cache a run pays one per repository and scope; for registries
// reached over plain HTTP go-containerregistry also races an HTTPS attempt, which costs a TCP
// connection each time. The challenge is a property of the registry for the length of a run.
// Only answers are cached (and the one error that proves a scheme wrong: an HTTP server answering
// a TLS handshake); an unreachable registry is asked again next time.
type pingCache struct {
	inner http.RoundTripper

	mu      sync.Mutex
	answers map[string]*pingAnswer
}

type pingAnswer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func newPingCache(inner http.RoundTripper) *pingCache {
	return &pingCache{inner: inner, answers: map[string]*pingAnswer{}}
}

func isPing(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Path == "/v2/" && r.URL.RawQuery == "" && r.Header.Get("Authorization") == ""
}

func (p *pingCache) RoundTrip(r *http.Request) (*http.Response, error) {
	if !isPing(r) {
		return p.inner.RoundTrip(r)
	}
	key := r.URL.Scheme + "://" + r.URL.Host
	p.mu.Lock()
	a := p.answers[key]
	p.mu.Unlock()
	if a != nil {
		return a.response(r)
	}
	resp, err := p.inner.RoundTrip(r)
	var rec tls.RecordHeaderError
	switch {
	case err != nil && errors.As(err, &rec):
		a = &pingAnswer{err: err}
	case err != nil:
		return nil, err
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized:
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		a = &pingAnswer{status: resp.StatusCode, header: resp.Header.Clone(), body: body}
	default:
		return resp, nil
	}
	p.mu.Lock()
	p.answers[key] = a
	p.mu.Unlock()
	return a.response(r)
}

func (a *pingAnswer) response(r *http.Request) (*http.Response, error) {
	if a.err != nil {
		return nil, a.err
	}
	return &http.Response{
		Status:        http.StatusText(a.status),
		StatusCode:    a.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        a.header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(a.body)),
		ContentLength: int64(len(a.body)),
		Request:       r,
	}, nil
}
