// Package atomicfile writes files that appear whole or not at all: the data
// goes to a temporary file in the destination's directory, which is renamed
// over the destination only once everything was written. A failure, or a
// process killed half way, leaves at most a hidden ".NAME.tmp-*" file, never
// a truncated NAME.
//
// A rename replaces the directory entry, whatever it was. Renaming over a
// device node or a FIFO would replace the node itself (run as root,
// `-o /dev/null` would turn /dev/null into a regular file), so neither
// function ever does that: Write refuses such a target, WriteOutput writes
// to it directly. A symbolic link to a regular file is followed, so the file
// it names is replaced and the link kept.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotRegular is returned (wrapped) by Write when the destination exists
// and is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Write creates or replaces path with what write writes, with the given mode.
// It is for files that must appear whole, such as blobs and index.json of an
// OCI layout or cache entries, whose readers trust anything under the name:
// a destination that exists and is not a regular file (a device, FIFO,
// socket or directory) is refused with ErrNotRegular, and left untouched.
func Write(path string, mode os.FileMode, write func(io.Writer) error) error {
	target, fi, err := resolve(path)
	if err != nil {
		return err
	}
	if fi != nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("writing %s: it is %s, %w: refusing to replace it", path, describe(fi.Mode()), ErrNotRegular)
	}
	return replace(path, target, mode, write)
}

// WriteOutput is Write for outputs the user names (`ztoc build -o FILE`, an
// oci-archive: destination): a regular file is replaced atomically, while a
// device or a FIFO (/dev/null, /dev/stdout, a named pipe) is opened and
// written in place, as a shell redirection would, since streaming to it is
// what the user asked for. Such a target has no atomicity: a failure may
// leave part of the output written to it. Opening a FIFO blocks until a
// reader opens it. The writer passed to write is an *os.File in both cases;
// seeking or WriteAt fails on a FIFO.
func WriteOutput(path string, mode os.FileMode, write func(io.Writer) error) error {
	target, fi, err := resolve(path)
	if err != nil {
		return err
	}
	if fi == nil || fi.Mode().IsRegular() {
		return replace(path, target, mode, write)
	}
	if fi.IsDir() {
		return fmt.Errorf("writing %s: it is a directory", path)
	}
	// O_TRUNC is meaningless for devices and FIFOs, and the node's own mode
	// and owner are not ours to change.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// WriteBytes is Write for a byte slice.
func WriteBytes(path string, mode os.FileMode, b []byte) error {
	return Write(path, mode, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Target says where a replacement of path goes: the file a rename must
// replace (path, or the end of its symbolic link chain), and replaceable,
// false when path exists and is not a regular file (a device or FIFO, which
// WriteOutput writes in place and Write refuses). Callers that write the
// temporary file themselves (at offsets, in parallel) use it to make the same
// choice.
func Target(path string) (target string, replaceable bool, err error) {
	target, fi, err := resolve(path)
	if err != nil {
		return "", false, err
	}
	return target, fi == nil || fi.Mode().IsRegular(), nil
}

// resolve returns the file that a rename must replace (path itself, or what
// a symbolic link chain ends at) and its file info, nil when nothing exists
// there yet. The kind is decided through os.Stat, which follows links the
// way the kernel does: /dev/stdout → /proc/self/fd/1 → "pipe:[N]" is a FIFO
// although that last name is no path.
func resolve(path string) (string, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A dangling link is replaced as before; nothing to protect there.
		return path, nil, nil
	case err != nil:
		return "", nil, fmt.Errorf("writing %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return path, fi, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return target, fi, nil
}

func describe(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file (" + m.Type().String() + ")"
}

// replace writes to a temporary file next to target and renames it over
// target; path is the name the caller gave, for messages.
func replace(path, target string, mode os.FileMode, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
