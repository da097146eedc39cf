// Package fleet_test runs the Lambda function (cmd/socify-lambda, built as the provided.al2023
// "bootstrap") under the real AWS Lambda Runtime Interface Emulator, invoked over its HTTP API
// with recorded SQS and EventBridge events (testdata), against a real distribution registry on
// 127.0.0.1 (registrytest, with its fault proxy) that accepts Amazon ECR tokens issued by the ECR
// API stand-in (ecrtest).
//
// The emulator is built from the Go module proxy on first use and cached in the user cache
// directory (see lambdatest); set FLEETTEST_SHOW_LOGS=1 (with -v) to see the function's log.
package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socify/socify/integration/lambdatest"
)

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
	if bootstrap, err = lambdatest.BuildBootstrap(root, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if rie, err = lambdatest.BuildRIE(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// function is one execution environment: the emulator running the bootstrap.
type function struct {
	t  *testing.T
	em *lambdatest.Emulator
	// invocations counts the invocations answered with 200.
	invocations int
}

// startFunction starts the emulator with the function's environment; it stops when the test
// ends. Both of the emulator's addresses are bound to 127.0.0.1.
func startFunction(t *testing.T, env map[string]string) *function {
	t.Helper()
	var vars []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "SOCIFY_") || strings.HasPrefix(e, "AWS_") || strings.HasPrefix(e, "DOCKER_CONFIG=") || strings.HasPrefix(e, "HOME=") {
			continue
		}
		vars = append(vars, e)
	}
	home := t.TempDir()
	vars = append(vars, "HOME="+home, "DOCKER_CONFIG="+filepath.Join(home, "docker"), "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"))
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	em, err := lambdatest.Start(rie, bootstrap, t.TempDir(), vars)
	if err != nil {
		t.Fatal(err)
	}
	f := &function{t: t, em: em}
	t.Cleanup(func() {
		em.Stop()
		if os.Getenv("FLEETTEST_SHOW_LOGS") != "" || t.Failed() {
			t.Logf("function output:\n%s", em.Out.String())
		}
	})
	return f
}

func (f *function) output() string { return f.em.Out.String() }

// invoke calls the function through the emulator's invoke API and returns the HTTP status and
// the function's answer.
func (f *function) invoke(payload []byte) (int, []byte) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	status, b, err := f.em.Invoke(ctx, payload)
	if err != nil {
		f.t.Fatalf("invoke: %v\n%s", err, f.output())
	}
	if status == http.StatusOK {
		f.invocations++
		f.awaitLog()
	}
	return status, b
}

// awaitLog waits until the function's log shows the end of every invocation answered so far.
// The emulator copies the function's output through a pipe of its own, so the answer can come
// back before the lines written ahead of it arrive; the function's "invocation" line is written
// last, after every decision and conversion of its invocation.
func (f *function) awaitLog() {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := len(f.lines("invocation"))
		if n >= f.invocations || strings.Contains(f.output(), "Runtime exited with error") {
			// A function that died writes no line: the test reads whatever it wrote.
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("after %d invocations the log shows the end of %d:\n%s", f.invocations, n, f.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
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
		f.t.Fatalf("invoke: status %d, body %s (%v)\n%s", status, body, err, f.output())
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
	for _, s := range strings.Split(f.output(), "\n") {
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

// awaitOutput waits until the emulator's output holds every one of want (the function's output
// crosses the emulator's own pipe, so it can arrive after the answer), and returns it.
func (f *function) awaitOutput(want ...string) string {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := f.output()
		missing := slices.IndexFunc(want, func(w string) bool { return !strings.Contains(out, w) })
		if missing < 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}
