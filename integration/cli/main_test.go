// Package cli_test runs the real socify binary, built once by TestMain, against a real registry
// (distribution v3 on 127.0.0.1 behind registrytest's fault-injecting proxy): registry to registry
// conversion with soci's exact bytes, tag templates and child tags, verify and inspect, auth check
// with htpasswd credentials, broken downloads, failing manifest uploads, and Ctrl-C.
//
// The binary is built from the root module (../..) with its own go.mod, once per run. Set
// CLITEST_SHOW_OUTPUT=1 (with -v) to log the stdout and stderr of every socify run.
package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	rtransport "github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/socify/socify/integration/registrytest"
	"github.com/socify/socify/pkg/location"
)

const (
	vectorDir   = "../../testdata/images/a-img2-2platform"
	expectedDir = vectorDir + "/expected/allplatforms-span64k"
	// The annotation linking an image manifest to its SOCI index.
	indexDigestAnnotation = "com.amazon.soci.index-digest"
)

// sociFlags make socify write exactly what soci v0.16.1 wrote for allplatforms-span64k.
var sociFlags = []string{"--build-tool-identifier", "AWS SOCI CLI v0.2", "--min-layer-size", "0", "--span-size", "65536"}

// bin is the socify binary built by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "socify-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Built in the root module, with the root module's go.mod and go.sum: the binary under test is
	// the one users get, not one resolved against the integration module's heavier graph.
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bin = filepath.Join(dir, "socify")
	build := exec.Command("go", "build", "-o", bin, "./cmd/socify")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building socify in %s: %v\n", root, err)
		return 1
	}
	return m.Run()
}

// result is one run of socify.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// command prepares a socify run with an environment that cannot leak the machine's
// configuration in: no SOCIFY_* variables, an empty docker configuration, no zTOC cache (a cache
// hit would skip the layer downloads the fault tests break), no AWS instance metadata.
func command(t *testing.T, ctx context.Context, stdin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "SOCIFY_") || strings.HasPrefix(e, "DOCKER_CONFIG=") || strings.HasPrefix(e, "HOME=") ||
			strings.HasPrefix(e, "GITHUB_OUTPUT=") || strings.HasPrefix(e, "AWS_") {
			continue
		}
		env = append(env, e)
	}
	home := t.TempDir()
	env = append(env,
		"HOME="+home,
		"DOCKER_CONFIG="+filepath.Join(home, ".docker"),
		"SOCIFY_NO_CACHE=true",
		"SOCIFY_PROGRESS=none",
		"AWS_EC2_METADATA_DISABLED=true",
		"CI=true",
	)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

// socify runs the binary to completion (at most 40 s) and returns its exit code and output.
func socify(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := command(t, ctx, stdin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("socify %s: %v (%v)\n%s", strings.Join(args, " "), err, ctx.Err(), r)
	}
	t.Logf("socify %s: exit %d", strings.Join(args, " "), r.code)
	if os.Getenv("CLITEST_SHOW_OUTPUT") != "" {
		t.Log(r)
	}
	return r
}

// mustSucceed runs socify and fails the test unless it exits 0.
func mustSucceed(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := socify(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("socify %s:\n%s", strings.Join(args, " "), r)
	}
	return r
}

func args(a ...any) []string {
	var out []string
	for _, x := range a {
		switch v := x.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		default:
			panic(fmt.Sprintf("args: %T", x))
		}
	}
	return out
}

// convertJSON is the part of `socify convert --output json` the tests read.
type convertJSON struct {
	Source      string   `json:"source"`
	Destination string   `json:"destination"`
	Digest      string   `json:"digest"`
	Reference   string   `json:"reference"`
	ChildTags   []string `json:"childTags"`
	Changed     bool     `json:"changed"`
	AlreadySoci bool     `json:"alreadySoci"`
	Write       *struct {
		BlobsWritten  int   `json:"blobsWritten"`
		BlobsExisting int   `json:"blobsExisting"`
		BytesWritten  int64 `json:"bytesWritten"`
		BytesExisting int64 `json:"bytesExisting"`
	} `json:"write"`
	Conversion struct {
		Platforms []struct {
			Platform       v1.Platform `json:"platform"`
			SourceManifest string      `json:"sourceManifest"`
			Manifest       string      `json:"manifest"`
			SociIndex      string      `json:"sociIndex"`
		} `json:"platforms"`
		NewBlobs []struct {
			Kind   string `json:"kind"`
			Digest string `json:"digest"`
		} `json:"newBlobs"`
	} `json:"conversion"`
}

func parseConvert(t *testing.T, r result) convertJSON {
	t.Helper()
	var out convertJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("convert --output json printed no JSON: %v\n%s", err, r)
	}
	return out
}

// expected is what soci wrote for the vector, read from testdata only.
type expected struct {
	top        string            // the converted image index
	manifests  map[string]string // platform "linux/amd64" -> converted image manifest
	sociIndex  map[string]string // platform -> SOCI index
	uploads    []string          // blobs that are not manifests: zTOCs and the SOCI index config, sorted
	manifestsD []string          // every manifest and index digest of the result
}

func loadExpected(t *testing.T) expected {
	t.Helper()
	var top v1.IndexManifest
	readJSON(t, filepath.Join(expectedDir, "index.json"), &top)
	if len(top.Manifests) != 1 {
		t.Fatalf("expected index.json lists %d manifests", len(top.Manifests))
	}
	e := expected{top: top.Manifests[0].Digest.String(), manifests: map[string]string{}, sociIndex: map[string]string{}}
	var idx v1.IndexManifest
	readJSON(t, blobPath(top.Manifests[0].Digest.String()), &idx)
	isManifest := map[string]bool{e.top: true}
	for _, d := range idx.Manifests {
		isManifest[d.Digest.String()] = true
		if si := d.Annotations[indexDigestAnnotation]; si != "" && d.Platform != nil {
			e.manifests[d.Platform.String()] = d.Digest.String()
			e.sociIndex[d.Platform.String()] = si
		}
	}
	if len(e.manifests) != 2 {
		t.Fatalf("expected image index has %d SOCI-enabled manifests, want 2", len(e.manifests))
	}
	ents, err := os.ReadDir(filepath.Join(expectedDir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		d := "sha256:" + ent.Name()
		if isManifest[d] {
			e.manifestsD = append(e.manifestsD, d)
		} else {
			e.uploads = append(e.uploads, d)
		}
	}
	slices.Sort(e.uploads)
	slices.Sort(e.manifestsD)
	return e
}

func blobPath(d string) string {
	return filepath.Join(expectedDir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:"))
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

// pushVector stores the unconverted vector image (the nested image index of IN.tar) in the
// registry under repoTag, straight to the registry (not through the proxy, so the proxy's records
// show only what socify does). It returns the source's digest.
func pushVector(t *testing.T, reg *registrytest.Registry, repoTag string, opts ...remote.Option) string {
	t.Helper()
	src, err := location.Open(context.Background(), location.MustParseReference("oci-archive:"+filepath.Join(vectorDir, "IN.tar")))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.Index == nil {
		t.Fatal("IN.tar holds no image index")
	}
	ref, err := name.ParseReference(reg.BackendRef(repoTag))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, src.Index, opts...); err != nil {
		t.Fatalf("pushing the vector to %s: %v", ref, err)
	}
	d, err := src.Index.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// biggestLayer is the largest layer of the vector: the one worth breaking mid-download.
func biggestLayer(t *testing.T) (v1.Hash, int64) {
	t.Helper()
	src, err := location.Open(context.Background(), location.MustParseReference("oci-archive:"+filepath.Join(vectorDir, "IN.tar")))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	im, err := src.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var best v1.Descriptor
	for _, d := range im.Manifests {
		img, err := src.Index.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range m.Layers {
			if l.Size > best.Size {
				best = l
			}
		}
	}
	return best.Digest, best.Size
}

// head returns the digest the registry serves for ref (asked directly, not through the proxy),
// or "" when it does not exist.
func head(t *testing.T, reg *registrytest.Registry, repoRef string, opts ...remote.Option) string {
	t.Helper()
	ref, err := name.ParseReference(reg.BackendRef(repoRef))
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(ref, opts...)
	var te *rtransport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return ""
	}
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return d.Digest.String()
}

// writes are the requests that change the registry.
func writes(recs []registrytest.Record) []registrytest.Record {
	var out []registrytest.Record
	for _, r := range recs {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			out = append(out, r)
		}
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
