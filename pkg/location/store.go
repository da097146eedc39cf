package location

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// store is where a layout keeps its blobs: a directory, a tar file, or
// (for docker archives) tar members plus documents made in memory.
type store interface {
	// open returns the blob's bytes as stored from byte off on (a broken
	// upload resumes there). Not verified.
	open(h v1.Hash, off int64) (io.ReadCloser, error)
	// stat returns the blob's size; a missing blob wraps fs.ErrNotExist.
	stat(h v1.Hash) (int64, error)
	// localPath is the blob's file, for hard links ("" when not a file).
	localPath(h v1.Hash) string
	// file returns a member of the layout that is not a blob (index.json,
	// oci-layout, manifest.json).
	file(name string) ([]byte, error)
}

// readBlob reads a small blob (manifest, index, config) and checks its digest.
func readBlob(s store, h v1.Hash, limit int64) ([]byte, error) {
	size, err := s.stat(h)
	if err != nil {
		return nil, err
	}
	if size > limit {
		return nil, fmt.Errorf("blob %s: %d bytes is too large for a JSON document", h, size)
	}
	rc, err := s.open(h, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(b)); h.Algorithm == "sha256" && got != h {
		return nil, fmt.Errorf("blob %s: content has digest %s", h, got)
	}
	return b, nil
}

// maxDocument bounds JSON documents read into memory.
const maxDocument = 64 << 20

func blobName(h v1.Hash) string { return path.Join("blobs", h.Algorithm, h.Hex) }

// dirStore is an OCI layout directory.
type dirStore struct{ root string }

func (d dirStore) localPath(h v1.Hash) string {
	return filepath.Join(d.root, filepath.FromSlash(blobName(h)))
}

func (d dirStore) open(h v1.Hash, off int64) (io.ReadCloser, error) {
	f, err := openRegular(d.localPath(h))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	if off == 0 {
		return f, nil
	}
	fi, err := f.Stat()
	if err == nil && off > fi.Size() {
		err = fmt.Errorf("offset %d is past the blob's %d bytes", off, fi.Size())
	}
	if err == nil {
		_, err = f.Seek(off, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	return f, nil
}

// sectionFrom is the part of a tar member from off on.
func sectionFrom(r *io.SectionReader, h v1.Hash, off int64) (io.ReadCloser, error) {
	if off < 0 || off > r.Size() {
		return nil, fmt.Errorf("blob %s: offset %d is outside its %d bytes", h, off, r.Size())
	}
	return io.NopCloser(io.NewSectionReader(r, off, r.Size()-off)), nil
}

func (d dirStore) stat(h v1.Hash) (int64, error) {
	fi, err := os.Stat(d.localPath(h))
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", h, err)
	}
	return fi.Size(), nil
}

func (d dirStore) file(name string) ([]byte, error) {
	return readRegular(filepath.Join(d.root, name))
}

// openRegular opens a file of a layout directory for reading, refusing
// anything but a regular file: opening a FIFO blocks until some writer
// appears, so a layout with a FIFO for index.json or a blob would hang the
// conversion instead of failing it.
func openRegular(p string) (*os.File, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (mode %s): an OCI layout holds only regular files", p, fi.Mode().Type())
	}
	return os.Open(p)
}

// tarStore is an OCI layout (or docker save output) inside a tar file,
// served in place: members are located once by walking the headers (data
// is skipped with Seek), then read through section readers.
type tarStore struct {
	f       *os.File
	members map[string]section
}

type section struct{ off, size int64 }

func openTarStore(p string) (*tarStore, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	s, err := indexTar(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

func indexTar(f *os.File) (*tarStore, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var magic [6]byte
	if n, _ := f.ReadAt(magic[:], 0); n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return nil, errors.New("the archive is gzip-compressed; decompress it first (an OCI archive is read in place, which needs a plain tar)")
	} else if n >= 4 && bytes.Equal(magic[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		return nil, errors.New("the archive is zstd-compressed; decompress it first (an OCI archive is read in place, which needs a plain tar)")
	}
	sr := io.NewSectionReader(f, 0, fi.Size())
	tr := tar.NewReader(sr)
	s := &tarStore{f: f, members: map[string]section{}}
	links := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		name := cleanMember(h.Name)
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old writers
			// archive/tar has read exactly the headers: the position is the data.
			off, err := sr.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, err
			}
			s.members[name] = section{off: off, size: h.Size}
		case tar.TypeLink:
			links[name] = cleanMember(h.Linkname)
		case tar.TypeSymlink:
			links[name] = cleanMember(path.Join(path.Dir(name), h.Linkname))
		}
	}
	for name, target := range links {
		for range 8 { // follow short chains only
			if sec, ok := s.members[target]; ok {
				s.members[name] = sec
				break
			}
			next, ok := links[target]
			if !ok {
				break
			}
			target = next
		}
	}
	return s, nil
}

func cleanMember(n string) string {
	n = path.Clean("/" + n)
	return strings.TrimPrefix(n, "/")
}

func (s *tarStore) Close() error { return s.f.Close() }

func (s *tarStore) member(name string) (*io.SectionReader, error) {
	sec, ok := s.members[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return io.NewSectionReader(s.f, sec.off, sec.size), nil
}

func (s *tarStore) open(h v1.Hash, off int64) (io.ReadCloser, error) {
	r, err := s.member(blobName(h))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	return sectionFrom(r, h, off)
}

func (s *tarStore) stat(h v1.Hash) (int64, error) {
	sec, ok := s.members[blobName(h)]
	if !ok {
		return 0, fmt.Errorf("blob %s: %w", h, fs.ErrNotExist)
	}
	return sec.size, nil
}

func (s *tarStore) localPath(v1.Hash) string { return "" }

func (s *tarStore) file(name string) ([]byte, error) {
	r, err := s.member(name)
	if err != nil {
		return nil, err
	}
	if r.Size() > maxDocument {
		return nil, fmt.Errorf("%s: %d bytes is too large", name, r.Size())
	}
	return io.ReadAll(r)
}

// overlayStore serves some blobs from memory (documents made while reading a
// docker archive) and others from tar members under other names.
type overlayStore struct {
	base  *tarStore
	mem   map[v1.Hash][]byte
	alias map[v1.Hash]string // blob -> member name
}

func (o *overlayStore) open(h v1.Hash, off int64) (io.ReadCloser, error) {
	if b, ok := o.mem[h]; ok {
		return sectionFrom(io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b))), h, off)
	}
	if m, ok := o.alias[h]; ok {
		r, err := o.base.member(m)
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", h, err)
		}
		return sectionFrom(r, h, off)
	}
	return nil, fmt.Errorf("blob %s: %w", h, fs.ErrNotExist)
}

func (o *overlayStore) stat(h v1.Hash) (int64, error) {
	if b, ok := o.mem[h]; ok {
		return int64(len(b)), nil
	}
	if m, ok := o.alias[h]; ok {
		if sec, ok := o.base.members[m]; ok {
			return sec.size, nil
		}
	}
	return 0, fmt.Errorf("blob %s: %w", h, fs.ErrNotExist)
}

func (o *overlayStore) localPath(v1.Hash) string { return "" }

func (o *overlayStore) file(name string) ([]byte, error) { return o.base.file(name) }
