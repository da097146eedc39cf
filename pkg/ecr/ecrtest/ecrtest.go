// Package ecrtest runs a local stand-in for the Amazon ECR and ECR Public token APIs, and for the
// ECR calls that list images, for tests: an httptest server speaking their real wire protocol
// (AWS JSON 1.1, X-Amz-Target "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" and
// "SpencerFrontendService.GetAuthorizationToken"; DescribeRepositories, DescribeImages and
// BatchGetImage, paginated, over images registered with AddRepository and AddImage; SigV4-signed
// requests, AWS error documents), so that aws-sdk-go-v2 clients pointed at it with their
// BaseEndpoint option run unmodified.
//
//	s := ecrtest.New(t, ecrtest.WithCredentials("AKIDTEST", "secret"), ecrtest.WithTTL(time.Hour))
//	kc := ecr.NewKeychain(ecr.WithEndpoint(s.URL), ...)
//	s.OnIssue(func(tok ecrtest.Token) { reg.SetPassword("AWS", tok.Password) }) // make a registry accept it
//	s.Fail("ThrottlingException", 400, "Rate exceeded", 2) // the next 2 calls fail
//	s.Calls(), s.Issued()
//
// Production code must not import it.
package ecrtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	targetPrivate = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
	targetPublic  = "SpencerFrontendService.GetAuthorizationToken"
	contentType   = "application/x-amz-json-1.1"
)

// Token is a token the stand-in issued.
type Token struct {
	Public        bool
	Region        string
	AccessKey     string
	Username      string // "AWS"
	Password      string
	Authorization string // base64("AWS:" + Password), as on the wire
	ExpiresAt     time.Time
}

// Call is one API request the stand-in received.
type Call struct {
	Target    string
	Region    string // from the SigV4 credential scope
	Service   string // signing name: "ecr" or "ecr-public"
	AccessKey string
	Status    int
	ErrorCode string // the AWS error code returned, empty on success
}

// Server is the stand-in.
type Server struct {
	// URL is the endpoint to give the SDK (BaseEndpoint).
	URL string

	srv     *httptest.Server
	mu      sync.Mutex
	creds   map[string]string // access key -> secret; empty accepts any signed request
	account string
	ttl     time.Duration
	now     func() time.Time
	pass    func() string
	onIssue func(Token)
	fails   []failure
	calls   []Call
	issued  []Token

	repos    map[string]*repository // repository name -> contents, for the image API calls
	pageSize int
}

type failure struct {
	code, msg string
	status    int
	n         int
}

// Option configures New.
type Option func(*Server)

// WithCredentials makes the stand-in verify SigV4 signatures made with this access key and secret
// (repeat for more keys). Without it any well-formed signed request is accepted.
func WithCredentials(accessKey, secret string) Option {
	return func(s *Server) { s.creds[accessKey] = secret }
}

// WithTTL sets token lifetime (default 12 hours, as ECR).
func WithTTL(d time.Duration) Option { return func(s *Server) { s.ttl = d } }

// WithClock sets the clock expiresAt is computed from (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithAccount sets the account in proxyEndpoint (default 123456789012).
func WithAccount(id string) Option { return func(s *Server) { s.account = id } }

// WithPassword makes every token carry the password f returns (default: a fresh random one per
// token).
func WithPassword(f func() string) Option { return func(s *Server) { s.pass = f } }

// New starts the stand-in; it stops when the test ends.
func New(tb testing.TB, opts ...Option) *Server {
	s := &Server{creds: map[string]string{}, account: "123456789012", ttl: 12 * time.Hour, now: time.Now, repos: map[string]*repository{}}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// OnIssue registers f to run (synchronously, before the answer is sent) for every token issued;
// tests use it to make a registry accept the new password.
func (s *Server) OnIssue(f func(Token)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onIssue = f
}

// Fail makes the next n requests fail with an AWS error: code such as "ThrottlingException"
// (HTTP 400), "ServerException" (500), "AccessDeniedException" (400), "UnrecognizedClientException".
// Failures queue up in order.
func (s *Server) Fail(code string, status int, message string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, failure{code: code, msg: message, status: status, n: n})
}

// nextFailure pops the next queued failure, if any.
func (s *Server) nextFailure() (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fails) == 0 {
		return failure{}, false
	}
	f := &s.fails[0]
	f.n--
	out := *f
	if f.n <= 0 {
		s.fails = s.fails[1:]
	}
	return out, true
}

// Calls returns every request received.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Issued returns every token issued.
func (s *Server) Issued() []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Token(nil), s.issued...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	call := Call{Target: r.Header.Get("X-Amz-Target")}
	defer func() {
		s.mu.Lock()
		s.calls = append(s.calls, call)
		s.mu.Unlock()
	}()
	fail := func(status int, code, msg string) {
		call.Status, call.ErrorCode = status, code
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("X-Amzn-Requestid", requestID())
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
	}

	if r.Method != http.MethodPost || r.URL.Path != "/" {
		fail(404, "UnknownOperationException", "")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != contentType {
		fail(400, "SerializationException", "unexpected Content-Type "+ct)
		return
	}
	if !json.Valid(body) {
		fail(400, "SerializationException", "body is not JSON")
		return
	}
	scope, err := s.verify(r, body)
	if err != nil {
		call.AccessKey, call.Region, call.Service = scope.accessKey, scope.region, scope.service
		if err == errUnknownKey {
			fail(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
		} else {
			fail(403, "InvalidSignatureException", err.Error())
		}
		return
	}
	call.AccessKey, call.Region, call.Service = scope.accessKey, scope.region, scope.service

	public := false
	switch call.Target {
	case targetPrivate:
		if scope.service != "ecr" {
			fail(403, "InvalidSignatureException", "Credential should be scoped to correct service: 'ecr'.")
			return
		}
	case targetPublic:
		public = true
		if scope.service != "ecr-public" || scope.region != "us-east-1" {
			fail(403, "InvalidSignatureException", "Credential should be scoped to service 'ecr-public' in us-east-1.")
			return
		}
	default:
		op, ok := strings.CutPrefix(call.Target, apiPrefix)
		h := apiHandlers[op]
		if !ok || h == nil {
			fail(400, "UnknownOperationException", "")
			return
		}
		if scope.service != "ecr" {
			fail(403, "InvalidSignatureException", "Credential should be scoped to correct service: 'ecr'.")
			return
		}
		if f, ok := s.nextFailure(); ok {
			fail(f.status, f.code, f.msg)
			return
		}
		out, apiErr := h(s, scope.region, body)
		if apiErr != nil {
			fail(apiErr.status, apiErr.code, apiErr.msg)
			return
		}
		call.Status = 200
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("X-Amzn-Requestid", requestID())
		_ = json.NewEncoder(w).Encode(out)
		return
	}

	if f, ok := s.nextFailure(); ok {
		fail(f.status, f.code, f.msg)
		return
	}
	s.mu.Lock()
	pw := randomPassword()
	if s.pass != nil {
		pw = s.pass()
	}
	tok := Token{
		Public: public, Region: scope.region, AccessKey: scope.accessKey,
		Username: "AWS", Password: pw,
		Authorization: base64.StdEncoding.EncodeToString([]byte("AWS:" + pw)),
		ExpiresAt:     s.now().Add(s.ttl).Truncate(time.Millisecond),
	}
	s.issued = append(s.issued, tok)
	hook := s.onIssue
	account := s.account
	s.mu.Unlock()
	if hook != nil {
		hook(tok)
	}

	// expiresAt is an epoch-seconds number, as the AWS JSON protocols send timestamps.
	expires := json.Number(fmt.Sprintf("%.3f", float64(tok.ExpiresAt.UnixMilli())/1000))
	var out any
	if public {
		out = map[string]any{"authorizationData": map[string]any{"authorizationToken": tok.Authorization, "expiresAt": expires}}
	} else {
		out = map[string]any{"authorizationData": []any{map[string]any{
			"authorizationToken": tok.Authorization,
			"expiresAt":          expires,
			"proxyEndpoint":      fmt.Sprintf("https://%s.dkr.ecr.%s.amazonaws.com", account, scope.region),
		}}}
	}
	call.Status = 200
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-Requestid", requestID())
	_ = json.NewEncoder(w).Encode(out)
}

type sigScope struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

var errUnknownKey = fmt.Errorf("unknown access key")

// verify checks the SigV4 Authorization header: its shape always, and the signature itself when
// the access key's secret is known, by signing the same request again with the SDK's signer.
func (s *Server) verify(r *http.Request, body []byte) (sigScope, error) {
	var sc sigScope
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return sc, fmt.Errorf("missing or non-SigV4 Authorization header")
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return sc, fmt.Errorf("malformed credential scope %q", v)
			}
			sc.accessKey, sc.date, sc.region, sc.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			sc.signedHeaders = strings.Split(v, ";")
		case "Signature":
			sc.signature = v
		}
	}
	if sc.accessKey == "" || sc.signature == "" || len(sc.signedHeaders) == 0 {
		return sc, fmt.Errorf("incomplete Authorization header")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, sc.date) {
		return sc, fmt.Errorf("bad X-Amz-Date %q", amzDate)
	}
	s.mu.Lock()
	secret, known := s.creds[sc.accessKey]
	anyKey := len(s.creds) == 0
	s.mu.Unlock()
	if anyKey {
		return sc, nil
	}
	if !known {
		return sc, errUnknownKey
	}
	// Rebuild the request with only the signed headers and sign it again.
	re, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return sc, err
	}
	re.ContentLength = int64(len(body))
	for _, h := range sc.signedHeaders {
		if h == "host" {
			re.Host = r.Host
			continue
		}
		if vs, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
			re.Header[http.CanonicalHeaderKey(h)] = vs
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: sc.accessKey, SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, re, hex.EncodeToString(sum[:]), sc.service, sc.region, t); err != nil {
		return sc, err
	}
	if re.Header.Get("Authorization") != auth {
		return sc, fmt.Errorf("The request signature we calculated does not match the signature you provided.")
	}
	return sc, nil
}

// randomPassword stays under bcrypt's 72-byte limit so that a registry with htpasswd auth can
// accept it (real ECR passwords are much longer).
func randomPassword() string {
	b := make([]byte, 36)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// IsolateAWS keeps the machine's AWS and docker settings out of a test: it unsets the AWS_*
// credential, profile, region and endpoint variables, points the shared config and credentials
// files at an empty file, disables the instance metadata service and sets DOCKER_CONFIG to an
// empty directory. When accessKey is not empty it then puts static credentials in the environment,
// where config.LoadDefaultConfig looks first. It returns a temporary directory the test may use
// (DOCKER_CONFIG is its "docker" subdirectory). It uses t.Setenv, so the test must not be parallel.
func IsolateAWS(t testing.TB, accessKey, secret string) string {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_ECR_PUBLIC", "AWS_USE_FIPS_ENDPOINT",
		"AWS_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_CA_BUNDLE",
	} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("DOCKER_CONFIG", filepath.Join(dir, "docker"))
	if accessKey != "" {
		t.Setenv("AWS_ACCESS_KEY_ID", accessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	}
	return dir
}
