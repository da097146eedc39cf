package countio

import (
	"bytes"
	"errors"
	"testing"
)

type short struct{}

func (short) Write(p []byte) (int, error) { return len(p) / 2, errors.New("short write") }

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := &Writer{W: &b}
	w.Write([]byte("abc"))
	w.Write([]byte("de"))
	if w.N != 5 || b.String() != "abcde" {
		t.Fatalf("N = %d, %q", w.N, b.String())
	}
	s := &Writer{W: short{}}
	if _, err := s.Write([]byte("abcd")); err == nil || s.N != 2 {
		t.Fatalf("a short write counts what was accepted: N = %d, err %v", s.N, err)
	}
}
