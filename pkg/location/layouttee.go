package location

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The layout sink takes layers in the conversion's pass: each goes to a
// temporary file next to its blob name and is renamed once the conversion
// checked it.

// layoutTee is the part of a layout sink that the conversion's pass uses.
type layoutTee struct {
	tee teeState
	mu  sync.Mutex
	// made are blobs the tee created; Close removes them when Write did
	// not run, so a failed conversion leaves no blobs behind.
	made    []string
	written bool
}

func (s *layoutSink) prepare(_ context.Context, src *Source) (bool, error) {
	if src.Ref.Kind == Layout && !s.o.noLink {
		// Hard links from the source layout beat copies.
		return false, nil
	}
	return true, nil
}

func (s *layoutSink) TeeLayer(_ context.Context, desc v1.Descriptor) (LayerWriter, error) {
	p := filepath.Join(s.dir, "blobs", desc.Digest.Algorithm, desc.Digest.Hex)
	if fi, err := os.Stat(p); err == nil && fi.Size() == desc.Size {
		return nil, nil
	}
	if !s.lt.tee.claim(desc.Digest) {
		return nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.lt.tee.done(desc.Digest, false)
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+desc.Digest.Hex+".tmp-*")
	if err != nil {
		s.lt.tee.done(desc.Digest, false)
		return nil, err
	}
	return &layoutLayerWriter{boundedWriter: boundedWriter{w: f, left: desc.Size}, f: f, path: p, s: s, h: desc.Digest}, nil
}

type layoutLayerWriter struct {
	boundedWriter
	f    *os.File
	path string
	s    *layoutSink
	h    v1.Hash
}

func (w *layoutLayerWriter) Commit() (err error) {
	defer func() {
		if err != nil {
			os.Remove(w.f.Name())
		}
		w.s.lt.tee.done(w.h, err == nil)
	}()
	if w.left != 0 {
		w.f.Close()
		return fmt.Errorf("blob %s: %d bytes missing", w.h, w.left)
	}
	if err := w.f.Chmod(0o644); err != nil {
		w.f.Close()
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(w.f.Name(), w.path); err != nil {
		return err
	}
	w.s.lt.mu.Lock()
	w.s.lt.made = append(w.s.lt.made, w.path)
	w.s.lt.mu.Unlock()
	return nil
}

func (w *layoutLayerWriter) Abort(error) {
	w.f.Close()
	os.Remove(w.f.Name())
	w.s.lt.tee.done(w.h, false)
}

// Close removes the blobs the pass wrote when Write did not follow.
func (s *layoutSink) Close() error {
	s.lt.mu.Lock()
	defer s.lt.mu.Unlock()
	if s.lt.written {
		return nil
	}
	var first error
	for _, p := range s.lt.made {
		if err := os.Remove(p); err != nil && first == nil {
			first = err
		}
	}
	s.lt.made = nil
	return first
}
