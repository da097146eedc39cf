package parallel

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math/rand"
	"testing"
	"testing/iotest"

	"github.com/socify/socify/pkg/ztoc/internal/inflate"
)

func text(n int, seed int64) []byte {
	rng := rand.New(rand.NewSource(seed))
	words := []string{"layer", "span", "checkpoint", "deflate", "window", "tar", "gzip", "\n", "the", "a"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.Intn(len(words))])
		if rng.Intn(50) == 0 {
			r := make([]byte, rng.Intn(3000))
			rng.Read(r)
			b.Write(r)
		}
		b.WriteByte(' ')
	}
	return b.Bytes()
}

func gz(t *testing.T, data []byte, level int) []byte {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// TestSplicing: through a Stream, the decoder takes most chunks from the
// workers, and its output is the stream's content.
func TestSplicing(t *testing.T) {
	data := text(3<<20, 1)
	for _, level := range []int{1, 6, 9} {
		comp := gz(t, data, level)
		for _, workers := range []int{1, 2, 4} {
			const chunk = 64 << 10
			s, err := New(context.Background(), iotest.HalfReader(bytes.NewReader(comp)), Options{Workers: workers, ChunkSize: chunk})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(inflate.NewDecoder(s, inflate.Options{Ahead: s.Ahead}))
			s.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("level %d, %d workers: err %v, output equal %v", level, workers, err, bytes.Equal(got, data))
			}
			chunks := int64(len(comp) / chunk)
			if s.Spliced() < chunks*3/4 {
				t.Fatalf("level %d, %d workers: %d of %d chunks spliced (%d missed)", level, workers, s.Spliced(), chunks, s.Missed())
			}
			t.Logf("level %d, %d workers: %d of %d chunks spliced, %d missed", level, workers, s.Spliced(), chunks, s.Missed())
		}
	}
}

// TestReadError: an error from the layer reader reaches the decoder after
// every byte before it, and Close returns.
func TestReadError(t *testing.T) {
	comp := gz(t, text(1<<20, 2), 6)
	boom := errors.New("boom")
	src := io.MultiReader(bytes.NewReader(comp[:300000]), iotest.ErrReader(boom))
	s, err := New(context.Background(), src, Options{Workers: 2, ChunkSize: 50000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := io.ReadAll(s)
	if !errors.Is(err, boom) || !bytes.Equal(got, comp[:300000]) {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
}

// TestCloseEarly: closing before the end stops every goroutine (the test
// would hang in Close otherwise).
func TestCloseEarly(t *testing.T) {
	comp := gz(t, text(2<<20, 3), 6)
	s, err := New(context.Background(), bytes.NewReader(comp), Options{Workers: 3, ChunkSize: 30000})
	if err != nil {
		t.Fatal(err)
	}
	d := inflate.NewDecoder(s, inflate.Options{Ahead: s.Ahead})
	if _, err := io.ReadFull(d, make([]byte, 500000)); err != nil {
		t.Fatal(err)
	}
	s.Close()
}
