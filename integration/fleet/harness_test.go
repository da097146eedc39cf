// Package fleet_test runs the Lambda function (cmd/socify-lambda, built as the provided.al2023
// "bootstrap") under the real AWS Lambda Runtime Interface Emulator, invoked over its HTTP API
// with recorded SQS and EventBridge events (testdata), against a real distribution registry on
// 127.0.0.1 (registrytest, with its fault proxy) that accepts Amazon ECR tokens issued by the ECR
// API stand-in (ecrtest).
//
// The emulator is built from the Go module proxy on first use and cached in the user cache
// directory (socify-integration/); set FLEETTEST_SHOW_LOGS=1 (with -v) to see the function's log.
package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// rieModule is the emulator the tests run, pinned.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

var (
	bootstrap string // the function, built by TestMain
	rie       string // the emulator
)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "socify-fleet-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Built in the root module, static, as the release builds it.
	bootstrap = filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, "./cmd/socify-lambda")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building the bootstrap: %v\n", err)
		return 1
	}
	if rie, err = buildRIE(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// buildRIE installs the emulator from the module proxy into the user cache directory, once.
func buildRIE(tmp string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = tmp
	}
	version := rieModule[strings.LastIndexByte(rieModule, '@')+1:]
	dir := filepath.Join(cache, "socify-integration", "aws-lambda-rie-"+version)
	bin := filepath.Join(dir, "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("go", "install", rieModule)
	cmd.Dir = tmp // outside any module: "go install pkg@version" resolves the emulator's own go.mod
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the Lambda runtime interface emulator (%s): %w", rieModule, err)
	}
	return bin, nil
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lockedBuffer collects the emulator's output (the function's stdout and stderr among it).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// function is one execution environment: the emulator running the bootstrap.
type function struct {
	t    *testing.T
	addr string
	out  *lockedBuffer
}

// startFunction starts the emulator with the function's environment; it stops when the test
// ends. Both of the emulator's addresses are bound to 127.0.0.1.
func startFunction(t *testing.T, env map[string]string) *function {
	t.Helper()
	api, addr := freePort(t), freePort(t)
	cmd := exec.Command(rie, "--runtime-api-address", api, "--runtime-interface-emulator-address", addr, bootstrap)
	cmd.Dir = t.TempDir()
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "SOCIFY_") || strings.HasPrefix(e, "AWS_") || strings.HasPrefix(e, "DOCKER_CONFIG=") || strings.HasPrefix(e, "HOME=") {
			continue
		}
		cmd.Env = append(cmd.Env, e)
	}
	home := t.TempDir()
	cmd.Env = append(cmd.Env, "HOME="+home, "DOCKER_CONFIG="+filepath.Join(home, "docker"), "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	f := &function{t: t, addr: addr, out: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = f.out, f.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if os.Getenv("FLEETTEST_SHOW_LOGS") != "" || t.Failed() {
			t.Logf("function output:\n%s", f.out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator did not listen on %s: %v\n%s", addr, err, f.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return f
}

// invoke calls the function through the emulator's invoke API and returns the HTTP status and
// the function's answer. The emulator answers 200 with an error document when the handler
// fails.
func (f *function) invoke(payload []byte) (int, []byte) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+f.addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("invoke: %v\n%s", err, f.out.String())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// sqsResponse is the function's answer to a batch.
type sqsResponse struct {
	BatchItemFailures []struct {
		ItemIdentifier string `json:"itemIdentifier"`
	} `json:"batchItemFailures"`
	ErrorMessage string `json:"errorMessage"`
}

func (f *function) invokeSQS(batch []byte) (failed []string) {
	f.t.Helper()
	status, body := f.invoke(batch)
	var r sqsResponse
	if err := json.Unmarshal(body, &r); err != nil || status != http.StatusOK || r.ErrorMessage != "" {
		f.t.Fatalf("invoke: status %d, body %s (%v)\n%s", status, body, err, f.out.String())
	}
	for _, x := range r.BatchItemFailures {
		failed = append(failed, x.ItemIdentifier)
	}
	return failed
}

// logLine is one JSON line of the function's log.
type logLine map[string]any

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }
func (l logLine) num(k string) int64  { n, _ := l[k].(float64); return int64(n) }

// lines returns the function's JSON log lines whose msg is msg.
func (f *function) lines(msg string) []logLine {
	var out []logLine
	for _, s := range strings.Split(f.out.String(), "\n") {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			continue
		}
		var l logLine
		if json.Unmarshal([]byte(s[i:]), &l) != nil || l.str("msg") != msg {
			continue
		}
		out = append(out, l)
	}
	return out
}
