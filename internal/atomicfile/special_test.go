//go:build unix

package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// TestSpecialTargets: a rename over a device or FIFO would replace the node
// itself, so WriteOutput streams into it and Write refuses it; neither leaves
// a temporary file behind or changes the node.
func TestSpecialTargets(t *testing.T) {
	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "pipe")
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() {
			f, err := os.Open(p) // blocks until the writer opens its end
			if err != nil {
				got <- "open: " + err.Error()
				return
			}
			b, _ := io.ReadAll(f)
			f.Close()
			got <- string(b)
		}()
		if err := WriteOutput(p, 0o644, func(w io.Writer) error {
			_, err := io.WriteString(w, "ztoc bytes")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if s := <-got; s != "ztoc bytes" {
			t.Fatalf("reader got %q", s)
		}
		assertNode(t, dir, p, fs.ModeNamedPipe)

		// Write never opens it (which would block without a reader).
		err := WriteBytes(p, 0o644, []byte("blob"))
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "a FIFO") {
			t.Fatalf("Write to a FIFO: %v", err)
		}
		assertNode(t, dir, p, fs.ModeNamedPipe)
	})

	t.Run("character device", func(t *testing.T) {
		if os.Geteuid() != 0 || runtime.GOOS != "linux" {
			t.Skip("mknod of a character device needs root on Linux (CI runs as root)")
		}
		dir := t.TempDir()
		p := filepath.Join(dir, "null")
		// Device 1,3 is /dev/null on Linux (major<<8 | minor).
		if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
			t.Fatal(err)
		}
		before, err := os.Stat(p)
		must(t, err)
		if err := WriteOutput(p, 0o600, func(w io.Writer) error {
			_, err := w.Write(make([]byte, 1<<20))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		assertNode(t, dir, p, fs.ModeDevice|fs.ModeCharDevice)
		if fi, _ := os.Stat(p); fi.Mode() != before.Mode() {
			t.Errorf("device mode changed to %v", fi.Mode())
		}
		err = WriteBytes(p, 0o644, []byte("x"))
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "a character device") {
			t.Fatalf("Write to a device: %v", err)
		}
		assertNode(t, dir, p, fs.ModeDevice|fs.ModeCharDevice)
	})

	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteOutput(dir, 0o644, func(io.Writer) error { return nil }); err == nil || !strings.Contains(err.Error(), "directory") {
			t.Fatalf("WriteOutput to a directory: %v", err)
		}
		if err := WriteBytes(dir, 0o644, nil); !errors.Is(err, ErrNotRegular) {
			t.Fatalf("Write to a directory: %v", err)
		}
	})

	t.Run("symlink to a regular file", func(t *testing.T) {
		dir := t.TempDir()
		real := filepath.Join(dir, "real")
		link := filepath.Join(dir, "link")
		must(t, os.WriteFile(real, []byte("old"), 0o644))
		must(t, os.Symlink("real", link))
		for _, f := range []func(string, os.FileMode, func(io.Writer) error) error{Write, WriteOutput} {
			must(t, f(link, 0o644, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }))
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Fatalf("the link was replaced: %v %v", fi, err)
			}
			if b, _ := os.ReadFile(real); string(b) != "new" {
				t.Fatalf("target holds %q", b)
			}
			must(t, os.WriteFile(real, []byte("old"), 0o644))
		}
	})
}

// assertNode checks that p is still a node of the given type and that dir
// holds nothing else.
func assertNode(t *testing.T, dir, p string, typ fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != typ {
		t.Fatalf("%s is now %v, want type %v", p, fi.Mode(), typ)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTarget(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	must(t, os.WriteFile(real, nil, 0o644))
	must(t, os.Symlink("real", filepath.Join(dir, "link")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	for name, want := range map[string]struct {
		target string
		ok     bool
	}{
		"real": {real, true}, "link": {real, true}, "new": {filepath.Join(dir, "new"), true},
		"fifo": {filepath.Join(dir, "fifo"), false}, ".": {dir, false},
	} {
		p := filepath.Join(dir, name)
		target, ok, err := Target(p)
		if err != nil || ok != want.ok || (ok && target != want.target) {
			t.Errorf("Target(%s) = %q, %v, %v; want %q, %v", name, target, ok, err, want.target, want.ok)
		}
	}
}
