package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// A registry that redirects blob reads to an object store (as ECR does to S3): the parallel
// requests go to the store directly after the first redirect, and back to the registry when the
// store refuses the URL (an expired presigned URL).
func TestParallelReadFollowsRedirectOnce(t *testing.T) {
	data := make([]byte, 5<<20+17)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rnd.Uint32())
	}
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])

	// The first redirect target expires after its first 3 requests (mid-read when expire is set).
	var storeHits, firstSigHits atomic.Int64
	var expire atomic.Bool
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		storeHits.Add(1)
		if expire.Load() && r.URL.Query().Get("sig") == "1" && firstSigHits.Add(1) > 3 {
			http.Error(w, "Request has expired", http.StatusForbidden)
			return
		}
		http.ServeContent(w, r, "blob", time.Time{}, bytes.NewReader(data))
	}))
	defer store.Close()
	var regBlobHits atomic.Int64
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		n := regBlobHits.Add(1)
		http.Redirect(w, r, fmt.Sprintf("%s/blob?sig=%d", store.URL, n), http.StatusTemporaryRedirect)
	}))
	defer reg.Close()

	c, err := NewClient(WithParallelReads(4, 1<<20, 0), WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() }))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(strings.TrimPrefix(reg.URL, "http://") + "/app@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	read := func() {
		t.Helper()
		br, err := c.OpenBlob(context.Background(), ref, BlobSize(int64(len(data))))
		if err != nil {
			t.Fatal(err)
		}
		defer br.Close()
		got, err := io.ReadAll(br)
		if err != nil || !bytes.Equal(got, data) || !br.Parallel() {
			t.Fatalf("err %v, %d bytes, parallel %v", err, len(got), br.Parallel())
		}
	}
	read()
	if regBlobHits.Load() != 1 || storeHits.Load() != 6 {
		t.Fatalf("registry served %d blob requests, store %d; want 1 and 6 (one per chunk)", regBlobHits.Load(), storeHits.Load())
	}

	regBlobHits.Store(0)
	expire.Store(true)
	read()
	if regBlobHits.Load() < 2 {
		t.Fatalf("registry asked %d times; an expired redirect must send the reader back to it", regBlobHits.Load())
	}
}

// The credential order is stated once (CredentialOrder) and quoted word for word by the user docs.
func TestCredentialOrderInDocs(t *testing.T) {
	for _, doc := range []string{"../../docs/usage.md", "../../docs/ecr.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(CredentialOrder)) {
			t.Errorf("%s does not state registry.CredentialOrder word for word", doc)
		}
	}
}
