package location

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/socify/socify/internal/atomicfile"
)

// TestArchiveToDevice: an oci-archive: destination that is a device (here a
// /dev/null twin in a temp dir) is written in place, never replaced by a
// rename; an OCI layout whose blob name is taken by a FIFO is refused (readers
// of a layout trust every blob under its name).
func TestArchiveToDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod of a character device needs root (CI runs as root)")
	}
	idx, err := random.Index(256, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	null := filepath.Join(dir, "null")
	if err := syscall.Mknod(null, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatal(err)
	}
	sink, err := NewSink(Reference{Kind: Archive, Path: null})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(context.Background(), idx); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(null); err != nil || fi.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice {
		t.Fatalf("the device was replaced: %v %v", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}

	h, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	lay := filepath.Join(t.TempDir(), "layout")
	blob := filepath.Join(lay, "blobs", h.Algorithm, h.Hex)
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(blob, 0o644); err != nil {
		t.Fatal(err)
	}
	sink, err = NewSink(Reference{Kind: Layout, Path: lay})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(context.Background(), idx); err == nil {
		t.Fatal("a FIFO in place of a blob was accepted")
	} else if !errors.Is(err, atomicfile.ErrNotRegular) {
		t.Fatalf("want a not-a-regular-file error, got %v", err)
	}
	if fi, _ := os.Lstat(blob); fi.Mode().Type() != fs.ModeNamedPipe {
		t.Fatalf("the blob path is now %v", fi.Mode())
	}
}

// TestLayoutFIFOIndexJSON: a FIFO where a layout's index.json belongs must
// fail the write before any blob is copied, and fail opening the layout as a
// source, instead of blocking forever in open(2) waiting for a writer.
func TestLayoutFIFOIndexJSON(t *testing.T) {
	idx, err := random.Index(256, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	lay := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(lay, "index.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lay, "oci-layout"), []byte(ociLayoutFile), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 2)
	go func() {
		sink, err := NewSink(Reference{Kind: Layout, Path: lay})
		if err == nil {
			_, err = sink.Write(ctx, idx)
		}
		done <- err
	}()
	go func() {
		src, err := Open(ctx, Reference{Kind: Layout, Path: lay})
		if err == nil {
			src.Close()
		}
		done <- err
	}()
	for i := 0; i < 2; i++ {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "regular file") {
				t.Errorf("a FIFO index.json: got %v, want a not-a-regular-file error", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("blocked on a FIFO index.json")
		}
	}
	if _, err := os.Stat(filepath.Join(lay, "blobs")); err == nil {
		ents, _ := os.ReadDir(filepath.Join(lay, "blobs"))
		if len(ents) > 0 {
			t.Errorf("blobs were written before the index.json check: %v", ents)
		}
	}
}
