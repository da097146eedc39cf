package registrytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	// The registry resolves its auth and storage backends by name at run time.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// Registry is a running distribution v3 registry with a fault-injecting proxy in front of it.
type Registry struct {
	// Addr is host:port of the proxy. Clients should use it so faults and counters apply.
	Addr string
	// BackendAddr is host:port of the registry itself, for setup traffic that must not be disturbed
	// or counted.
	BackendAddr string
	// Proxy injects faults and counts traffic in front of the registry.
	Proxy *Proxy
	// Root is the filesystem storage directory.
	Root string

	tb           testing.TB
	htpasswdPath string
	mu           sync.Mutex
	users        map[string]string // user -> bcrypt hash
	generation   int
}

type config struct {
	users  map[string]string
	logs   bool
	realm  string
	bearer bool
}

// Option configures New.
type Option func(*config)

// WithUser turns on htpasswd basic auth (bcrypt hashes) and adds a user. Repeat it for more users.
// Without any WithUser the registry accepts anonymous push and pull.
func WithUser(user, password string) Option {
	return func(c *config) {
		if c.users == nil {
			c.users = map[string]string{}
		}
		c.users[user] = password
	}
}

// WithRealm sets the basic-auth realm the registry announces (default "registrytest").
func WithRealm(realm string) Option { return func(c *config) { c.realm = realm } }

// WithBearerToken makes the proxy demand bearer tokens, as Docker Hub, GHCR and most registries
// other than ECR do: requests without a token get 401 with a Bearer challenge whose realm is the
// proxy's own /token endpoint, which issues a fresh token per request (recorded with Path
// "/token" and the requested scopes in Query). With WithUser, the token endpoint checks those
// credentials (basic auth) and the registry behind the proxy is anonymous.
func WithBearerToken() Option { return func(c *config) { c.bearer = true } }

// WithLogs sends the registry's own logs to stderr. They are discarded by default because the
// registry logs every request at info level.
func WithLogs() Option { return func(c *config) { c.logs = true } }

// New starts a registry and its proxy on 127.0.0.1; both stop when the test ends.
func New(tb testing.TB, opts ...Option) *Registry {
	tb.Helper()
	cfg := config{realm: "registrytest"}
	for _, o := range opts {
		o(&cfg)
	}
	// distribution logs through the global logrus logger; there is no per-app logger to hand it.
	if cfg.logs {
		logrus.SetOutput(os.Stderr)
	} else {
		logrus.SetOutput(io.Discard)
	}

	dir := tb.TempDir()
	r := &Registry{tb: tb, Root: filepath.Join(dir, "storage"), users: map[string]string{}}

	c := &configuration.Configuration{}
	c.Log.Level = "error"
	c.Log.AccessLog.Disabled = true
	c.HTTP.Secret = "registrytest-secret"
	c.HTTP.Headers = http.Header{"X-Content-Type-Options": []string{"nosniff"}}
	c.Storage = configuration.Storage{
		"filesystem": configuration.Parameters{"rootdirectory": r.Root},
		"delete":     configuration.Parameters{"enabled": true},
		// The purger would start a goroutine that outlives short tests.
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}
	if len(cfg.users) > 0 && !cfg.bearer {
		r.htpasswdPath = filepath.Join(dir, "htpasswd")
		for u, p := range cfg.users {
			h, err := hashPassword(p)
			if err != nil {
				tb.Fatalf("registrytest: hashing password for %q: %v", u, err)
			}
			r.users[u] = h
		}
		if err := r.writeHtpasswd(); err != nil {
			tb.Fatalf("registrytest: %v", err)
		}
		c.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": cfg.realm, "path": r.htpasswdPath}}
	}

	ctx, cancel := context.WithCancel(context.Background())
	app := handlers.NewApp(ctx, c)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		tb.Fatalf("registrytest: listen: %v", err)
	}
	var running atomic.Int64 // handlers of the registry that have not returned
	counted := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		running.Add(1)
		defer running.Add(-1)
		app.ServeHTTP(w, req)
	})
	srv := &http.Server{Handler: counted, ReadHeaderTimeout: 30 * time.Second}
	if !cfg.logs {
		// distribution writes a second status for clients that hung up mid-upload (499); the
		// server's complaint about it is noise in tests that cut uploads on purpose.
		srv.ErrorLog = log.New(io.Discard, "", 0)
	}
	go func() { _ = srv.Serve(ln) }()
	r.BackendAddr = ln.Addr().String()

	r.Proxy = newProxy(tb, r.BackendAddr)
	if cfg.bearer {
		r.Proxy.enableBearer(cfg.users)
	}
	r.Addr = r.Proxy.Addr

	tb.Cleanup(func() {
		r.Proxy.close()
		// Close, not Shutdown: a handler blocked reading an upload body that will never come
		// (a cut upload) must fail now, not hold Shutdown until its deadline. Close does not
		// wait for running handlers, though: one still writing a cancelled upload's files
		// would race the removal of the test's storage directory, so wait for them, with a
		// deadline a loaded CI machine can meet.
		_ = srv.Close()
		for deadline := time.Now().Add(60 * time.Second); running.Load() > 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if n := running.Load(); n > 0 {
			tb.Logf("registrytest: %d registry handlers still running after 60 s; the storage directory may not be removable", n)
		}
		_ = app.Shutdown()
		cancel()
	})
	return r
}

// Ref returns Addr + "/" + repo, e.g. reg.Ref("app:v1") = "127.0.0.1:PORT/app:v1".
func (r *Registry) Ref(repo string) string { return r.Addr + "/" + strings.TrimPrefix(repo, "/") }

// BackendRef is Ref for the registry itself, bypassing the proxy.
func (r *Registry) BackendRef(repo string) string {
	return r.BackendAddr + "/" + strings.TrimPrefix(repo, "/")
}

// SetPassword sets (or adds) a user's password. The registry re-reads its htpasswd file when the
// file's modification time changes, so the change applies to the very next request. It fails the
// test if the registry was started without WithUser.
func (r *Registry) SetPassword(user, password string) {
	r.tb.Helper()
	if r.htpasswdPath == "" {
		r.tb.Fatalf("registrytest: SetPassword on a registry without auth (use WithUser)")
	}
	h, err := hashPassword(password)
	if err != nil {
		r.tb.Fatalf("registrytest: hashing password for %q: %v", user, err)
	}
	r.mu.Lock()
	r.users[user] = h
	err = r.writeHtpasswd()
	r.mu.Unlock()
	if err != nil {
		r.tb.Fatalf("registrytest: %v", err)
	}
}

// RemoveUser deletes a user, so its credentials stop working on the next request.
func (r *Registry) RemoveUser(user string) {
	r.tb.Helper()
	r.mu.Lock()
	delete(r.users, user)
	err := r.writeHtpasswd()
	r.mu.Unlock()
	if err != nil {
		r.tb.Fatalf("registrytest: %v", err)
	}
}

// writeHtpasswd replaces the file atomically and gives it a modification time it never had before:
// two writes inside the filesystem's timestamp granularity would otherwise look unchanged to the
// registry, which compares mtimes to decide whether to reload.
func (r *Registry) writeHtpasswd() error {
	names := make([]string, 0, len(r.users))
	for u := range r.users {
		names = append(names, u)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, u := range names {
		fmt.Fprintf(&b, "%s:%s\n", u, r.users[u])
	}
	tmp := r.htpasswdPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("writing htpasswd: %w", err)
	}
	r.generation++
	mt := time.Unix(1_000_000_000+int64(r.generation), 0)
	if err := os.Chtimes(tmp, mt, mt); err != nil {
		return fmt.Errorf("setting htpasswd mtime: %w", err)
	}
	if err := os.Rename(tmp, r.htpasswdPath); err != nil {
		return fmt.Errorf("replacing htpasswd: %w", err)
	}
	return nil
}

// hashPassword uses bcrypt's minimum cost: the registry verifies the hash on every request, and the
// default cost would add tens of milliseconds to each one.
func hashPassword(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
	return string(h), err
}
