package inflate

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// FuzzInflate: the decoder never panics or hangs, and whatever it accepts,
// Go's compress/gzip accepts too, with the same output. Boundaries must
// advance.
func FuzzInflate(f *testing.F) {
	for _, data := range [][]byte{nil, []byte("hello, hello, hello"), bytes.Repeat([]byte("abc"), 5000)} {
		for _, lvl := range []int{0, 1, 6, 9, -2} {
			var b bytes.Buffer
			w, _ := gzip.NewWriterLevel(&b, lvl)
			w.Write(data)
			w.Flush()
			w.Close()
			f.Add(b.Bytes())
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var lastIn int64 = -1
		d := NewDecoder(bytes.NewReader(in), Options{OnBoundary: func(b *Boundary) error {
			if b.In <= lastIn || b.In > int64(len(in)) {
				t.Fatalf("boundary in=%d after %d (input %d bytes)", b.In, lastIn, len(in))
			}
			lastIn = b.In
			return nil
		}})
		got, err := io.ReadAll(d)
		if err != nil {
			return
		}
		zr, zerr := gzip.NewReader(bytes.NewReader(in))
		if zerr != nil {
			t.Fatalf("we accepted what compress/gzip rejects: %v", zerr)
		}
		want, zerr := io.ReadAll(zr)
		if zerr != nil {
			t.Fatalf("we accepted what compress/gzip rejects: %v", zerr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("output differs from compress/gzip")
		}
	})
}
