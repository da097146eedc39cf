package registrytest_test

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/integration/registrytest"
	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/registry"
	"github.com/socify/socify/pkg/socify"
)

// The same measurement as TestClientHandshakesConstant, through the product's entry point: a
// registry -> other repository conversion that indexes every layer, with one registry.Client.
func TestConvertHandshakesConstant(t *testing.T) {
	const (
		convertJobs = 2
		uploadJobs  = 2 // go-containerregistry's workers writing the result
		// The HTTPS attempt of go-containerregistry's first ping (the registry speaks plain HTTP),
		// the manifest requests, and one to spare for a reachability probe of the destination.
		fixedConns = 3
	)
	for _, auth := range []string{"bearer", "basic"} {
		t.Run(auth, func(t *testing.T) {
			got := map[int]handshakes{}
			for _, layers := range []int{2, 20} {
				var (
					opts  []registrytest.Option
					seed  []remote.Option
					copts = []registry.Option{registry.WithJobs(uploadJobs)}
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
				res, err := socify.Convert(context.Background(), reg.Ref("src/app:v1"), reg.Ref("dst/app:v1"),
					socify.WithRegistryClient(c),
					socify.WithConvertOptions(convert.WithMinLayerSize(0), convert.WithJobs(convertJobs)))
				if err != nil {
					t.Fatal(err)
				}
				_ = res
				h := countHandshakes(reg, conns0)
				got[layers] = h
				t.Logf("convert, %s, %2d layers: %d TCP connections, %d pings, %d token requests, %d requests", auth, layers, h.Conns, h.Pings, h.Tokens, h.Requests)
			}
			a, b := got[2], got[20]
			if a.Pings != b.Pings || a.Tokens != b.Tokens || b.Pings > 1 {
				t.Errorf("handshakes grow with layers: 2 layers %+v, 20 layers %+v", a, b)
			}
			// Connections are bounded by concurrency, never by the number of layers. How many
			// requests run at once is the pipeline's business (each job reads a layer and uploads
			// it in the same pass; existence checks may run side by side before that), and more
			// layers give it more to overlap at the start; traced, every new connection of a
			// 40-layer run opens within its first 26 of 395 requests. A connection (or a handshake)
			// per layer would add 18 from 2 to 20 layers (36 with the upload of each); allow a third
			// of that for the overlap, which a loaded machine widens (measured up to +5).
			if b.Conns-a.Conns > (20-2)/3 || b.Conns > fixedConns+2*convertJobs+uploadJobs+6 {
				t.Errorf("connections grow with layers: 2 layers %+v, 20 layers %+v", a, b)
			}
		})
	}
}
