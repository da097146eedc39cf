// Package registrytest runs a real registry (github.com/distribution/distribution/v3, filesystem
// storage in t.TempDir()) in-process on 127.0.0.1, behind a loopback reverse proxy that can inject
// faults and counts traffic. It is for tests only; production code must not import it.
//
// # Starting a registry
//
//	reg := registrytest.New(t)                                  // anonymous push and pull
//	reg := registrytest.New(t, registrytest.WithUser("AWS", pw)) // htpasswd (bcrypt) basic auth
//
//	reg.Addr        // "127.0.0.1:PORT" of the fault proxy: point clients here
//	reg.BackendAddr // "127.0.0.1:PORT" of the registry itself, bypassing the proxy
//	reg.Proxy       // *Proxy: faults and counters
//	reg.Ref("repo:tag") // reg.Addr + "/repo:tag"
//	reg.SetPassword("AWS", newPW) // rotate a password; takes effect on the next request
//	reg.RemoveUser("AWS")         // its credentials stop working on the next request
//
// Also: reg.BackendRef(repo), reg.Root (storage directory), WithRealm(realm), WithLogs() (registry
// logs to stderr; discarded by default), WithBearerToken() (the proxy demands bearer tokens from its
// own /token endpoint, as token registries do; with WithUser it checks those credentials there). Passwords are bcrypt-hashed, so at most 72 bytes.
//
// Both listeners are plain HTTP on 127.0.0.1, which go-containerregistry already treats as
// insecure-by-default (no name.Insecure needed). Everything is shut down by t.Cleanup.
//
// # Injecting faults
//
// A fault is a Match (method, path regexp, optional predicate), an Action, and how many matching
// requests it applies to (0 = every one until removed). Faults are tried in the order injected;
// the first live one that matches a request is applied and counted.
//
//	inj := reg.Proxy.Inject(registrytest.BlobGet(dgst), registrytest.Cut(1<<20), 1)
//	reg.Proxy.Inject(registrytest.AnyManifest, registrytest.Throttle(time.Second), 2)
//	reg.Proxy.Inject(registrytest.Match{Method: "PATCH"}, registrytest.Fail(503), 1)
//	inj.Hits()   // how many requests it was applied to
//	inj.Remove() // stop applying it
//	reg.Proxy.ClearFaults()
//
// Matches: Any, AnyBlob, AnyBlobGet, BlobGet(digest), AnyUpload, AnyManifest, AnyManifestPut,
// ManifestPut(repo, ref), or a Match{Method, Path (regexp on the URL path; BlobPath, UploadPath,
// ManifestPath are ready-made), Func}. A Func that always returns false turns a fault into a hook
// that observes requests (e.g. to advance a test clock after the third upload).
//
// Actions: Fail(status) answers with a registry-style JSON error; Respond(status, header, body)
// answers with exactly that; Throttle(d) answers 429 with Retry-After; Cut(n) forwards the request and
// aborts the connection after n bytes of the response body (the client sees an unexpected EOF);
// Reset() drops the connection before any response (TCP RST); Slow(chunk, every) forwards and
// dribbles the body chunk bytes at a time; Delay(d) waits before forwarding; IgnoreRange() drops the
// request's Range header so the whole blob comes back with 200; CutUpload(n) forwards the first n
// bytes of a request body as a complete request, lets the registry commit them, and aborts the
// client's connection without the answer (an upload that broke mid-body).
//
// # Counting traffic
//
//	reg.Proxy.Stats(registrytest.AnyBlobGet) // Stats{Requests, BytesIn, BytesOut}
//	reg.Proxy.Records()                      // every request seen: method, path, query, range, status, bytes, fault
//	reg.Proxy.UploadedBlobs()                // digests whose upload completed through the proxy (mounts excluded)
//	reg.Proxy.Reset()                        // forget records (faults stay)
//	reg.Proxy.Connections()                  // TCP connections clients opened (not cleared by Reset)
//	reg.Proxy.LimitRate(1 << 20)             // each client connection receives at most 1 MB/s
package registrytest
