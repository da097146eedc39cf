package location

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"testing"
	"time"
)

// TestBufPipeStream: bytes come out in order and complete whatever the sizes
// of writes and reads against the ring's (wrap-around included), then io.EOF.
func TestBufPipeStream(t *testing.T) {
	data := make([]byte, 1<<20+12345)
	rand.New(rand.NewSource(1)).Read(data)
	for _, tc := range []struct {
		name          string
		ring          int
		write, readsz int
	}{
		{"writes larger than the ring", 1000, 4096, 700},
		{"reads larger than the ring", 4096, 1000, 64 << 10},
		{"odd sizes", 777, 333, 555},
		{"inflater and HTTP sizes", pipeRingSize, 128 << 10, 32 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := newBufPipe(tc.ring)
			go func() {
				for b := data; len(b) > 0; {
					k := min(len(b), tc.write)
					if _, err := pw.Write(b[:k]); err != nil {
						pw.CloseWithError(err)
						return
					}
					b = b[k:]
				}
				pw.Close()
			}()
			var got bytes.Buffer
			buf := make([]byte, tc.readsz)
			for {
				n, err := pr.Read(buf)
				got.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("read %d bytes, not the %d written", got.Len(), len(data))
			}
		})
	}
}

// TestBufPipeWriterRunsAhead: a write that fits in the ring returns without
// a reader (the indexer does not wait for the network); one that does not
// waits until the reader makes room.
func TestBufPipeWriterRunsAhead(t *testing.T) {
	pr, pw := newBufPipe(1000)
	if n, err := pw.Write(make([]byte, 1000)); n != 1000 || err != nil {
		t.Fatalf("write into an empty ring: %d, %v", n, err)
	}
	done := make(chan struct{})
	go func() {
		pw.Write(make([]byte, 10))
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("a write into a full ring returned before anything was read")
	case <-time.After(50 * time.Millisecond):
	}
	if n, err := pr.Read(make([]byte, 10)); n != 10 || err != nil {
		t.Fatalf("read: %d, %v", n, err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the write did not resume after a read made room")
	}
}

// TestBufPipeClose: the meanings Upload and the sink rely on, as io.Pipe's.
func TestBufPipeClose(t *testing.T) {
	errBad := errors.New("layer failed verification")
	t.Run("writer abort drops buffered bytes", func(t *testing.T) {
		pr, pw := newBufPipe(100)
		pw.Write([]byte("abc"))
		pw.CloseWithError(errBad)
		if n, err := pr.Read(make([]byte, 10)); n != 0 || !errors.Is(err, errBad) {
			t.Fatalf("read after abort: %d, %v (the upload must never see EOF)", n, err)
		}
	})
	t.Run("writer close drains then EOF", func(t *testing.T) {
		pr, pw := newBufPipe(100)
		pw.Write([]byte("abc"))
		pw.Close()
		b, err := io.ReadAll(pr)
		if err != nil || string(b) != "abc" {
			t.Fatalf("%q, %v", b, err)
		}
		if _, err := pw.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("write after close: %v", err)
		}
	})
	t.Run("reader close releases a blocked writer", func(t *testing.T) {
		pr, pw := newBufPipe(4)
		errc := make(chan error, 1)
		go func() {
			_, err := pw.Write(make([]byte, 100))
			errc <- err
		}()
		time.Sleep(10 * time.Millisecond)
		pr.CloseWithError(errBad)
		select {
		case err := <-errc:
			if !errors.Is(err, errBad) {
				t.Fatalf("blocked write got %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a write blocked on a full ring was not released by the reader's close")
		}
		if _, err := pr.Read(make([]byte, 1)); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("read after the reader closed: %v", err)
		}
	})
	t.Run("reader Close", func(t *testing.T) {
		pr, pw := newBufPipe(4)
		pr.Close()
		if _, err := pw.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("write after the reader closed: %v", err)
		}
	})
	t.Run("reader blocked on an empty ring is released by the writer", func(t *testing.T) {
		pr, pw := newBufPipe(4)
		errc := make(chan error, 1)
		go func() {
			_, err := pr.Read(make([]byte, 1))
			errc <- err
		}()
		time.Sleep(10 * time.Millisecond)
		pw.CloseWithError(errBad)
		if err := <-errc; !errors.Is(err, errBad) {
			t.Fatalf("blocked read got %v", err)
		}
	})
}

// A layer's ring is its own size when it is small, pipeRingSize at most, and never empty (an
// empty ring would block its writer for good).
func TestRingFor(t *testing.T) {
	for _, tc := range []struct {
		size int64
		want int
	}{{0, 1}, {-1, 1}, {1, 1}, {4096, 4096}, {pipeRingSize, pipeRingSize}, {1 << 40, pipeRingSize}} {
		if got := ringFor(tc.size); got != tc.want {
			t.Errorf("ringFor(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
	// A one-byte ring still streams a layer through.
	pr, pw := newBufPipe(ringFor(0))
	go func() { _, _ = pw.Write([]byte("abc")); pw.Close() }()
	if b, err := io.ReadAll(pr); err != nil || string(b) != "abc" {
		t.Fatalf("%q, %v", b, err)
	}
}
