package fleet_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/socify/socify/integration/registrytest"
	"github.com/socify/socify/pkg/ecr/ecrtest"
)

const (
	accessKey = "AKIDFLEETTEST"
	secretKey = "fleet-test-secret"
	// password is what every ECR token of the stand-in carries and the registry accepts.
	password = "ecr-token-password"
	account  = "123456789012"
	region   = "us-east-1"
)

// world is a registry accepting ECR tokens, the ECR API stand-in issuing them, and the
// function's environment pointing at both.
type world struct {
	reg *registrytest.Registry
	ecr *ecrtest.Server
	env map[string]string
}

func newWorld(t *testing.T, extra map[string]string) *world {
	t.Helper()
	w := &world{
		reg: registrytest.New(t, registrytest.WithUser("AWS", password)),
		ecr: ecrtest.New(t, ecrtest.WithCredentials(accessKey, secretKey), ecrtest.WithPassword(func() string { return password })),
	}
	w.env = map[string]string{
		"AWS_ACCESS_KEY_ID":           accessKey,
		"AWS_SECRET_ACCESS_KEY":       secretKey,
		"AWS_REGION":                  region,
		"AWS_ENDPOINT_URL_ECR":        w.ecr.URL,
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
		"SOCIFY_REGISTRY":             w.reg.Addr,
		"SOCIFY_PLAIN_HTTP":           "true",
		"SOCIFY_MIN_LAYER_SIZE":       "0",
		"SOCIFY_SPAN_SIZE":            "65536",
		"SOCIFY_DEADLINE_MARGIN":      "1s",
	}
	for k, v := range extra {
		w.env[k] = v
	}
	return w
}

func (w *world) start(t *testing.T) *function { return startFunction(t, w.env) }

var basic = remote.WithAuth(&authn.Basic{Username: "AWS", Password: password})

// push stores img under repo:tag straight in the registry (not through the fault proxy).
func (w *world) push(t *testing.T, repoTag string, img v1.Image) string {
	t.Helper()
	ref, err := name.NewTag(w.reg.BackendRef(repoTag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, basic); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// head returns the digest repo:tag points at, "" when there is no such tag.
func (w *world) head(t *testing.T, repoTag string) string {
	t.Helper()
	ref, err := name.NewTag(w.reg.BackendRef(repoTag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(ref, basic)
	if err != nil {
		if strings.Contains(err.Error(), "MANIFEST_UNKNOWN") || strings.Contains(err.Error(), "404") {
			return ""
		}
		t.Fatal(err)
	}
	return d.Digest.String()
}

// sociIndexes counts the SOCI indexes the image index under repo:tag lists.
func (w *world) sociIndexes(t *testing.T, repoTag string) int {
	t.Helper()
	ref, err := name.NewTag(w.reg.BackendRef(repoTag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref, basic)
	if err != nil {
		t.Fatalf("%s: %v", repoTag, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range m.Manifests {
		if d.ArtifactType == "application/vnd.amazon.soci.index.v2+json" {
			n++
		}
	}
	return n
}

// content is compressible pseudo-random text: words from a small vocabulary.
func content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	words := []string{"lazy", "load", "span", "ztoc", "layer", "gzip", "index", "blob", "tar", "soci", "fleet", "image"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(9) == 0 {
			fmt.Fprintf(&b, "%d\n", r.Uint64())
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

func tarOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for n, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gzipLayer is a gzip tar layer of one file of size bytes.
func gzipLayer(t *testing.T, seed uint64, size int) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(tarOf(t, map[string][]byte{fmt.Sprintf("data/%d.txt", seed): content(seed, size)})); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return static.NewLayer(b.Bytes(), types.DockerLayer)
}

func zstdLayer(t *testing.T, seed uint64, size int) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(tarOf(t, map[string][]byte{"z.txt": content(seed, size)})); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return static.NewLayer(b.Bytes(), types.OCILayerZStd)
}

// corruptLayer is a gzip layer whose deflate stream is damaged in its middle; its digest is
// that of the damaged bytes, so the registry stores and serves it.
func corruptLayer(t *testing.T, seed uint64, size int) v1.Layer {
	t.Helper()
	l := gzipLayer(t, seed, size)
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 2; i < len(b)/2+64; i++ {
		b[i] ^= 0xa5
	}
	return static.NewLayer(b, types.DockerLayer)
}

// image is a linux/amd64 image of the layers.
func image(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pushEvent is the recorded EventBridge event with this repository, tag and digest.
func pushEvent(t *testing.T, repo, tag, digest string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/eventbridge-ecr-push.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	d := ev["detail"].(map[string]any)
	d["repository-name"], d["image-digest"] = repo, digest
	if tag == "" {
		delete(d, "image-tag")
	} else {
		d["image-tag"] = tag
	}
	ev["id"] = fmt.Sprintf("evt-%s-%s-%s", repo, tag, digest[len(digest)-8:])
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sqsBatch wraps events in the recorded SQS batch; message i gets the id "msg-i".
func sqsBatch(t *testing.T, events ...[]byte) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/sqs-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	var batch struct {
		Records []map[string]any `json:"Records"`
	}
	if err := json.Unmarshal(raw, &batch); err != nil {
		t.Fatal(err)
	}
	tmpl := batch.Records[0]
	batch.Records = nil
	for i, ev := range events {
		rec := map[string]any{}
		for k, v := range tmpl {
			rec[k] = v
		}
		rec["messageId"] = fmt.Sprintf("msg-%d", i)
		rec["body"] = string(ev)
		batch.Records = append(batch.Records, rec)
	}
	b, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type ecrCall = ecrtest.Call

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
