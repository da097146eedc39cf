package registrytest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/socify/socify/integration/registrytest"
)

func pushRandom(t *testing.T, ref string, opts ...remote.Option) v1.Image {
	t.Helper()
	img, err := random.Image(64<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return img
}

func TestPushPullThroughProxy(t *testing.T) {
	reg := registrytest.New(t)
	img := pushRandom(t, reg.Ref("app:v1"))

	layers, _ := img.Layers()
	if got := len(reg.Proxy.UploadedBlobs()); got != len(layers)+1 { // + config
		t.Errorf("UploadedBlobs = %d, want %d: %v", got, len(layers)+1, reg.Proxy.UploadedBlobs())
	}

	// Pushing the same image again uploads nothing new.
	reg.Proxy.Reset()
	r, _ := name.ParseReference(reg.Ref("app:v2"))
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	if up := reg.Proxy.UploadedBlobs(); len(up) != 0 {
		t.Errorf("second push uploaded %v, want nothing", up)
	}
	if s := reg.Proxy.Stats(registrytest.AnyUpload); s.BytesIn != 0 {
		t.Errorf("second push sent %d upload bytes", s.BytesIn)
	}

	// Pull back through the proxy and compare.
	got, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	wantD, _ := img.Digest()
	gotD, _ := got.Digest()
	if wantD != gotD {
		t.Fatalf("digest %s, want %s", gotD, wantD)
	}
	reg.Proxy.Reset()
	var total int64
	for _, l := range layers {
		d, _ := l.Digest()
		gl, err := got.LayerByDigest(d)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := gl.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		if err != nil {
			t.Fatalf("reading layer %s: %v", d, err)
		}
		rc.Close()
		total += n
	}
	if s := reg.Proxy.Stats(registrytest.AnyBlobGet); s.BytesOut != total || s.Requests != len(layers) {
		t.Errorf("blob GET stats %+v, want %d requests and %d bytes", s, len(layers), total)
	}

	// The backend address bypasses the proxy.
	reg.Proxy.Reset()
	br, _ := name.ParseReference(reg.BackendRef("app:v1"))
	if _, err := remote.Head(br); err != nil {
		t.Fatal(err)
	}
	if n := len(reg.Proxy.Records()); n != 0 {
		t.Errorf("backend traffic went through the proxy: %d records", n)
	}
}

func TestAuth(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithUser("AWS", "first-password"))
	ref := reg.Ref("secure/app:v1")
	good := authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: "first-password"})
	bad := authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: "wrong"})

	pushRandom(t, ref, remote.WithAuth(good))
	r, _ := name.ParseReference(ref)

	var terr *transport.Error
	if _, err := remote.Head(r, remote.WithAuth(bad)); !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: err = %v, want 401", err)
	}
	if _, err := remote.Head(r); !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous: err = %v, want 401", err)
	}

	// Rotation applies to the next request, even within the same second.
	reg.SetPassword("AWS", "second-password")
	if _, err := remote.Head(r, remote.WithAuth(good)); err == nil {
		t.Fatal("old password still accepted after rotation")
	}
	next := authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: "second-password"})
	if _, err := remote.Head(r, remote.WithAuth(next)); err != nil {
		t.Fatalf("new password rejected: %v", err)
	}
	reg.RemoveUser("AWS")
	if _, err := remote.Head(r, remote.WithAuth(next)); err == nil {
		t.Fatal("removed user still accepted")
	}
}

func TestFaults(t *testing.T) {
	reg := registrytest.New(t)
	img := pushRandom(t, reg.Ref("app:v1"))
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	size, _ := layers[0].Size()
	blobURL := "http://" + reg.Addr + "/v2/app/blobs/" + ld.String()

	get := func(t *testing.T, hdr http.Header) (*http.Response, []byte, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, blobURL, nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}

	t.Run("fail", func(t *testing.T) {
		inj := reg.Proxy.Inject(registrytest.BlobGet(ld.String()), registrytest.Fail(503), 1)
		resp, body, err := get(t, nil)
		if err != nil || resp.StatusCode != 503 || !strings.Contains(string(body), "UNKNOWN") {
			t.Fatalf("got %v %v %q", resp, err, body)
		}
		if resp, _, err := get(t, nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("second request: %v %v", resp, err)
		}
		if inj.Hits() != 1 {
			t.Fatalf("hits = %d", inj.Hits())
		}
	})
	t.Run("throttle", func(t *testing.T) {
		reg.Proxy.Inject(registrytest.AnyBlobGet, registrytest.Throttle(1500*time.Millisecond), 1)
		resp, _, err := get(t, nil)
		if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
			t.Fatalf("got %v %v", resp, err)
		}
	})
	t.Run("cut", func(t *testing.T) {
		reg.Proxy.Reset()
		reg.Proxy.Inject(registrytest.AnyBlobGet, registrytest.Cut(1000), 1)
		resp, body, err := get(t, nil)
		if err == nil || resp.ContentLength != size || len(body) != 1000 {
			t.Fatalf("cut: err=%v len=%d contentlength=%d", err, len(body), resp.ContentLength)
		}
		// The rest arrives with a Range request, which the registry honours.
		resp, rest, err := get(t, http.Header{"Range": {"bytes=1000-"}})
		if err != nil || resp.StatusCode != http.StatusPartialContent || int64(len(body)+len(rest)) != size {
			t.Fatalf("range: %v %v %d", resp, err, len(rest))
		}
		recs := reg.Proxy.Records()
		if len(recs) != 2 || recs[0].Fault == "" || recs[0].BytesOut != 1000 || recs[1].Range != "bytes=1000-" {
			t.Fatalf("records %+v", recs)
		}
	})
	t.Run("reset", func(t *testing.T) {
		reg.Proxy.Inject(registrytest.AnyBlobGet, registrytest.Reset(), 1)
		if _, _, err := get(t, nil); err == nil {
			t.Fatal("reset: no error")
		}
	})
	t.Run("slow", func(t *testing.T) {
		reg.Proxy.Inject(registrytest.AnyBlobGet, registrytest.Slow(int(size/4)+1, 50*time.Millisecond), 1)
		start := time.Now()
		resp, body, err := get(t, nil)
		if err != nil || resp.StatusCode != 200 || int64(len(body)) != size {
			t.Fatalf("slow: %v %v %d", resp, err, len(body))
		}
		if el := time.Since(start); el < 150*time.Millisecond {
			t.Fatalf("slow body took only %s", el)
		}
	})
	t.Run("delay", func(t *testing.T) {
		reg.Proxy.Inject(registrytest.AnyBlobGet, registrytest.Delay(100*time.Millisecond), 1)
		start := time.Now()
		if resp, _, err := get(t, nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("delay: %v %v", resp, err)
		}
		if el := time.Since(start); el < 100*time.Millisecond {
			t.Fatalf("delay took only %s", el)
		}
	})
	t.Run("respond manifest put", func(t *testing.T) {
		body := `{"errors":[{"code":"TAG_INVALID","message":"The image tag 'v1' already exists in the 'app' repository and cannot be overwritten because the repository is immutable."}]}`
		reg.Proxy.Inject(registrytest.ManifestPut("app", "v1"), registrytest.Respond(400, http.Header{"Content-Type": {"application/json"}}, body), 0)
		r, _ := name.ParseReference(reg.Ref("app:v1"))
		other, _ := random.Image(1024, 1) // a new manifest, so the client cannot skip the PUT
		err := remote.Write(r, other)
		var terr *transport.Error
		if !errors.As(err, &terr) || terr.StatusCode != 400 || !bytes.Contains([]byte(err.Error()), []byte("TAG_INVALID")) {
			t.Fatalf("err = %v", err)
		}
		reg.Proxy.ClearFaults()
		if err := remote.Write(r, other); err != nil {
			t.Fatal(err)
		}
	})
}
