package cli_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socify/socify/integration/registrytest"
)

// TestConvertInterrupted sends SIGINT to a conversion to an OCI archive whose layer downloads
// crawl (about 100 KB/s for 290 KB layers): socify exits 130 promptly and leaves nothing in the
// destination directory, neither the archive nor its temporary file.
func TestConvertInterrupted(t *testing.T) {
	t.Run("while indexing", func(t *testing.T) {
		reg := registrytest.New(t)
		pushVector(t, reg, "app:v1")
		reg.Proxy.Inject(registrytest.AnyBlobGet, registrytest.Slow(1024, 10*time.Millisecond), 0)
		interrupt(t, reg, func(t *testing.T, dstDir string) {
			time.Sleep(300 * time.Millisecond)
		})
	})

	t.Run("while writing the archive", func(t *testing.T) {
		reg := registrytest.New(t)
		pushVector(t, reg, "app:v1")
		// The archive is written in the indexing pass: each layer lands in
		// the temporary archive as it is downloaded, and the biggest one
		// crawls.
		layer, _ := biggestLayer(t)
		slow := reg.Proxy.Inject(registrytest.BlobGet(layer.String()), registrytest.Slow(1024, 10*time.Millisecond), 0)
		interrupt(t, reg, func(t *testing.T, dstDir string) {
			deadline := time.Now().Add(15 * time.Second)
			for slow.Hits() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the layer was never downloaded")
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
			// The archive is being written under a temporary name next to the destination.
			if ents, _ := os.ReadDir(dstDir); len(ents) == 0 {
				t.Errorf("no temporary file in the destination directory while writing")
			}
		})
	})
}

// interrupt starts `socify convert REG/app:v1 oci-archive:DIR/out.tar`, calls wait, sends SIGINT
// and checks the outcome.
func interrupt(t *testing.T, reg *registrytest.Registry, wait func(t *testing.T, dstDir string)) {
	t.Helper()
	dstDir := t.TempDir()
	dst := filepath.Join(dstDir, "out.tar")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := command(t, ctx, "", args("convert", reg.Ref("app:v1"), "oci-archive:"+dst, sociFlags)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wait(t, dstDir)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := cmd.Wait()
	took := time.Since(start)
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
		t.Fatalf("socify finished despite SIGINT\n%s", r)
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("socify did not exit by itself: %v (%v)\n%s", err, ctx.Err(), r)
	}
	if os.Getenv("CLITEST_SHOW_OUTPUT") != "" {
		t.Log(r)
	}
	if r.code != 130 {
		t.Fatalf("want exit 130\n%s", r)
	}
	// Stopping must not wait for the crawling downloads to end.
	if took > 3*time.Second {
		t.Errorf("socify took %s to stop after SIGINT", took)
	}
	if !strings.Contains(r.stderr, "socify: interrupted") {
		t.Errorf("stderr does not say it was interrupted:\n%s", r.stderr)
	}
	ents, err := os.ReadDir(dstDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left in the destination directory: %s", e.Name())
	}
}
