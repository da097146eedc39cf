// Package lambdatest runs a Lambda function's bootstrap under the real AWS Lambda Runtime
// Interface Emulator (github.com/aws/aws-lambda-runtime-interface-emulator, built from the Go
// module proxy on first use and cached in the user cache directory), with both of the
// emulator's addresses on 127.0.0.1, and invokes it over the emulator's HTTP API. The fleet
// tests and the fleet benchmark use it.
package lambdatest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RIEModule is the emulator, pinned.
const RIEModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// BuildBootstrap builds cmd/socify-lambda of the module in root as dir/bootstrap: static, as
// the release builds it for provided.al2023.
func BuildBootstrap(root, dir string) (string, error) {
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, "./cmd/socify-lambda")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the bootstrap in %s: %w", root, err)
	}
	return out, nil
}

// BuildRIE installs the emulator into the user cache directory once and returns its path; tmp
// is a scratch directory outside any module.
func BuildRIE(tmp string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = tmp
	}
	version := RIEModule[strings.LastIndexByte(RIEModule, '@')+1:]
	dir := filepath.Join(cache, "socify-integration", "aws-lambda-rie-"+version)
	bin := filepath.Join(dir, "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("go", "install", RIEModule)
	cmd.Dir = tmp // "go install pkg@version" resolves the emulator's own go.mod
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the Lambda runtime interface emulator (%s): %w", RIEModule, err)
	}
	return bin, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Output collects the emulator's output, the function's stdout and stderr among it.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Emulator is one execution environment.
type Emulator struct {
	Addr string
	Cmd  *exec.Cmd
	Out  *Output
}

// Start runs the emulator with the bootstrap, in dir, with exactly env (plus nothing of this
// process's environment), and waits until it listens.
func Start(rie, bootstrap, dir string, env []string) (*Emulator, error) {
	api, err := freeAddr()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(rie, "--runtime-api-address", api, "--runtime-interface-emulator-address", addr, bootstrap)
	cmd.Dir, cmd.Env = dir, env
	e := &Emulator{Addr: addr, Cmd: cmd, Out: &Output{}}
	cmd.Stdout, cmd.Stderr = e.Out, e.Out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return e, nil
		}
		if time.Now().After(deadline) {
			e.Stop()
			return nil, fmt.Errorf("the emulator did not listen on %s: %v\n%s", addr, err, e.Out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the emulator (and with it the function).
func (e *Emulator) Stop() {
	_ = e.Cmd.Process.Kill()
	_ = e.Cmd.Wait()
}

// Invoke calls the function and returns the HTTP status and its answer (the emulator answers
// 200 with an error document when the handler fails).
func (e *Emulator) Invoke(ctx context.Context, payload []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.Addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// RuntimePID is the pid of the function's process (the emulator's child), 0 before the first
// invocation started it.
func (e *Emulator) RuntimePID() int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", e.Cmd.Process.Pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				return pid
			}
		}
	}
	return 0
}
