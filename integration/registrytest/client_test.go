package registrytest_test

// Tests of registry.Client against the real registry: handshakes and connections per run, upload
// resume, parallel reads.

import (
	"context"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/integration/registrytest"
	"github.com/socify/socify/pkg/registry"
)

// handshakes counts what authenticating costs, as seen by the proxy.
type handshakes struct {
	Conns, Pings, Tokens, Requests int
}

func countHandshakes(reg *registrytest.Registry, conns0 int64) handshakes {
	h := handshakes{Conns: int(reg.Proxy.Connections() - conns0)}
	for _, r := range reg.Proxy.Records() {
		h.Requests++
		switch r.Path {
		case "/v2/":
			h.Pings++
		case "/token":
			h.Tokens++
		}
	}
	return h
}

// seedLayers pushes an image of n small layers straight to the registry (no proxy).
func seedLayers(t *testing.T, reg *registrytest.Registry, repoTag string, n int, opts ...remote.Option) v1.Image {
	t.Helper()
	img, err := random.Image(8<<10, int64(n))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(reg.BackendRef(repoTag))
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatal(err)
	}
	return img
}

// copyThroughClient does what a conversion does with the registry: resolve the source, read every
// layer through the client (resume-wrapped, as convert reads them), and write the image to another
// repository.
func copyThroughClient(t *testing.T, c *registry.Client, src, dst string) {
	t.Helper()
	ctx := context.Background()
	sref, _ := name.ParseReference(src)
	img, err := remote.Image(sref, c.RemoteOptions(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	img = c.WrapImage(ctx, img, sref.Context(), registry.VerifyDigest(false))
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	dref, _ := name.ParseReference(dst)
	if err := remote.Write(dref, img, c.RemoteOptions(ctx)...); err != nil {
		t.Fatal(err)
	}
}

// One Client per run: the pings, token requests and TCP connections a conversion costs do not
// grow with its number of layers. Before the Client, every layer read built a transport of its
// own (a ping, a token and a connection per layer); the package-level OpenBlob still does, and the
// last subtest shows that cost for comparison.
func TestClientHandshakesConstant(t *testing.T) {
	for _, auth := range []string{"bearer", "basic"} {
		t.Run(auth, func(t *testing.T) {
			got := map[int]handshakes{}
			for _, layers := range []int{2, 20} {
				var (
					opts  []registrytest.Option
					seed  []remote.Option
					copts = []registry.Option{registry.WithJobs(2)}
				)
				switch auth {
				case "bearer":
					opts = append(opts, registrytest.WithBearerToken())
				case "basic":
					opts = append(opts, registrytest.WithUser("ci", "pw"))
					copts = append(copts, registry.WithCredentials("ci", "pw"))
					seed = append(seed, remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "ci", Password: "pw"})))
				}
				reg := registrytest.New(t, opts...)
				seedLayers(t, reg, "src/app:v1", layers, seed...)
				c, err := registry.NewClient(copts...)
				if err != nil {
					t.Fatal(err)
				}
				reg.Proxy.Reset()
				conns0 := reg.Proxy.Connections()
				copyThroughClient(t, c, reg.Ref("src/app:v1"), reg.Ref("dst/app:v1"))
				h := countHandshakes(reg, conns0)
				got[layers] = h
				t.Logf("%s, %2d layers: %d TCP connections, %d pings, %d token requests, %d requests", auth, layers, h.Conns, h.Pings, h.Tokens, h.Requests)
			}
			a, b := got[2], got[20]
			if a.Pings != b.Pings || a.Tokens != b.Tokens {
				t.Errorf("handshakes grow with layers: 2 layers %+v, 20 layers %+v", a, b)
			}
			// Connections are bounded by concurrency (jobs 2 plus the manifest and blob readers),
			// never by the number of layers.
			if b.Conns > a.Conns+1 || b.Conns > 4 {
				t.Errorf("connections grow with layers: 2 layers %+v, 20 layers %+v", a, b)
			}
			if auth == "bearer" && (b.Tokens == 0 || b.Tokens > 4) {
				t.Errorf("token requests %d, want one per repository and scope", b.Tokens)
			}
		})
	}

	t.Run("package-level OpenBlob per layer", func(t *testing.T) {
		reg := registrytest.New(t, registrytest.WithBearerToken())
		img := seedLayers(t, reg, "src/app:v1", 5)
		reg.Proxy.Reset()
		conns0 := reg.Proxy.Connections()
		ls, _ := img.Layers()
		for _, l := range ls {
			d, _ := l.Digest()
			ref, _ := name.NewDigest(reg.Ref("src/app") + "@" + d.String())
			br, err := registry.OpenBlob(context.Background(), ref)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, br)
			br.Close()
		}
		h := countHandshakes(reg, conns0)
		t.Logf("package-level OpenBlob, 5 layers: %d TCP connections, %d pings, %d token requests", h.Conns, h.Pings, h.Tokens)
		if h.Tokens < 5 || h.Conns < 5 {
			t.Errorf("expected a handshake per call, got %+v", h)
		}
	})
}
