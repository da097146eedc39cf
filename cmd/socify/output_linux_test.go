package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestZtocBuildToDevice: `-o /dev/null` (here a device node made in a temp
// dir, so the real one is never at risk) is written in place; renaming a
// temporary file over it would replace the device with a regular file.
func TestZtocBuildToDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod of a character device needs root (CI runs as root)")
	}
	v := loadVectors(t)[0]
	dir := t.TempDir()
	null := filepath.Join(dir, "null")
	if err := syscall.Mknod(null, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, "ztoc", "build", v.layer(), "-o", null); r.code != 0 {
		t.Fatalf("%s", r)
	}
	fi, err := os.Lstat(null)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice {
		t.Fatalf("-o %s replaced the device: now %v", null, fi.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
}
