package inflate

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

// corpus returns deterministic inputs with different statistics.
func corpus() map[string][]byte {
	rng := rand.New(rand.NewSource(1))
	random := make([]byte, 300<<10)
	rng.Read(random)
	var text bytes.Buffer
	words := []string{"layer", "span", "checkpoint", "deflate", "window", "tar", "gzip", "\n", "the", "a"}
	for text.Len() < 400<<10 {
		text.WriteString(words[rng.Intn(len(words))])
		text.WriteByte(' ')
	}
	mixed := append(append(append([]byte{}, text.Bytes()[:100<<10]...), make([]byte, 150<<10)...), random[:80<<10]...)
	return map[string][]byte{
		"empty":  {},
		"one":    {'x'},
		"random": random,
		"text":   text.Bytes(),
		"zeros":  make([]byte, 500<<10),
		"mixed":  mixed,
	}
}

type compressor struct {
	name string
	fn   func(t *testing.T, data []byte) []byte
}

func compressors() []compressor {
	var cs []compressor
	for lvl := -2; lvl <= 9; lvl++ {
		lvl := lvl
		cs = append(cs, compressor{fmt.Sprintf("go-%d", lvl), func(t *testing.T, data []byte) []byte {
			var b bytes.Buffer
			w, err := gzip.NewWriterLevel(&b, lvl)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(data)
			w.Close()
			return b.Bytes()
		}})
	}
	cs = append(cs,
		compressor{"go-flushes", func(t *testing.T, data []byte) []byte {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Flush() // an empty stored block first: a second checkpoint at out=0
			for i := 0; i < len(data); i += 70000 {
				w.Write(data[i:min(i+70000, len(data))])
				w.Flush()
			}
			w.Close()
			return b.Bytes()
		}},
		compressor{"klauspost-5", func(t *testing.T, data []byte) []byte {
			var b bytes.Buffer
			w, _ := kgzip.NewWriterLevel(&b, 5)
			w.Write(data)
			w.Close()
			return b.Bytes()
		}},
		compressor{"three-members", func(t *testing.T, data []byte) []byte {
			var b bytes.Buffer
			for _, part := range [][]byte{data[:len(data)/3], {}, data[len(data)/3:]} {
				w := gzip.NewWriter(&b)
				w.Name = "part"
				w.Comment = "c"
				w.Extra = []byte{1, 2, 3, 4}
				w.Write(part)
				w.Close()
			}
			return b.Bytes()
		}},
	)
	return cs
}

// TestDecodeAndBoundaries checks the output against the input, and every
// boundary against the output: its window is the 32 KiB before it, and
// decoding raw from (In, Bits, Window) reproduces the rest of the stream,
// which only works if the bit position is exact.
func TestDecodeAndBoundaries(t *testing.T) {
	for name, data := range corpus() {
		for _, c := range compressors() {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				comp := c.fn(t, data)
				var bds []Boundary
				var seen bytes.Buffer
				d := NewDecoder(bytes.NewReader(comp), Options{
					OnInput: func(p []byte) { seen.Write(p) },
					OnBoundary: func(b *Boundary) error {
						if int64(seen.Len()) != b.In {
							t.Errorf("boundary at in=%d but %d input bytes flushed", b.In, seen.Len())
						}
						if b.In > 0 && comp[b.In-1] != b.LastByte {
							t.Errorf("LastByte mismatch at %d", b.In)
						}
						c := *b
						c.Window = append([]byte(nil), b.Window...)
						bds = append(bds, c)
						return nil
					},
				})
				got, err := io.ReadAll(d)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("output differs: got %d bytes want %d", len(got), len(data))
				}
				if !bytes.Equal(seen.Bytes(), comp) {
					t.Fatalf("OnInput saw %d bytes, stream has %d", seen.Len(), len(comp))
				}
				if len(bds) == 0 || !bds[0].Header || bds[0].Out != 0 {
					t.Fatalf("first boundary must follow the gzip header: %+v", bds)
				}
				for i, b := range bds {
					if i > 0 && (b.In <= bds[i-1].In || b.Out < bds[i-1].Out) {
						t.Fatalf("boundary %d does not advance: %d/%d after %d/%d", i, b.In, b.Out, bds[i-1].In, bds[i-1].Out)
					}
					want := make([]byte, WindowSize)
					lo := max(0, b.Out-WindowSize)
					copy(want[WindowSize-(b.Out-lo):], data[lo:b.Out])
					if !bytes.Equal(b.Window, want) {
						t.Fatalf("boundary %d: window is not the 32 KiB before out=%d", i, b.Out)
					}
				}
				// Raw restarts from a sample of boundaries.
				for i := 0; i < len(bds); i += 1 + len(bds)/7 {
					b := bds[i]
					start := b.In
					if b.Bits != 0 {
						start--
					}
					rd := NewDecoder(bytes.NewReader(comp[start:]), Options{Raw: true, Window: b.Window, StartBits: b.Bits})
					if b.Header {
						continue // raw mode starts at a block header, which this is too
					}
					rest, err := io.ReadAll(rd)
					if err != nil {
						t.Fatalf("raw restart at boundary %d (in=%d bits=%d): %v", i, b.In, b.Bits, err)
					}
					if !bytes.Equal(rest, data[b.Out:]) {
						t.Fatalf("raw restart at boundary %d: output differs", i)
					}
				}
			})
		}
	}
}

func gz(data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func TestErrors(t *testing.T) {
	data := corpus()["mixed"]
	good := gz(data)
	hcrc := []byte{0x1f, 0x8b, 8, 0x02, 0, 0, 0, 0, 0, 0xff, 0, 0}
	cases := map[string][]byte{
		"empty":             {},
		"trailing garbage":  append(append([]byte{}, good...), 'x'),
		"trailing zeros":    append(append([]byte{}, good...), make([]byte, 512)...),
		"truncated":         good[:len(good)/2],
		"no trailer":        good[:len(good)-8],
		"half trailer":      good[:len(good)-3],
		"bad magic":         append([]byte{0x1f, 0x8c}, good[2:]...),
		"bad method":        append([]byte{0x1f, 0x8b, 7}, good[3:]...),
		"reserved flags":    append([]byte{0x1f, 0x8b, 8, 0x20}, good[4:]...),
		"bad header crc":    hcrc,
		"crc mismatch":      append(append([]byte{}, good[:len(good)-8]...), 0, 0, 0, 0, 0, 0, 0, 0),
		"invalid block":     {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x07},
		"bad stored length": {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x01, 5, 0, 5, 0},
		"zlib stream":       {0x78, 0x9c, 3, 0, 0, 0, 0, 1},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			d := NewDecoder(bytes.NewReader(in), Options{OnBoundary: func(*Boundary) error { return nil }})
			_, err := io.ReadAll(d)
			if err == nil {
				t.Fatal("no error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if e.In < 0 || e.In > int64(len(in)) {
				t.Fatalf("error offset %d outside input of %d bytes", e.In, len(in))
			}
		})
	}
}

// TestCorruptionNeverPanics flips bytes all over a valid stream.
func TestCorruptionNeverPanics(t *testing.T) {
	good := gz(corpus()["text"][:60<<10])
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < 400; i++ {
		bad := append([]byte(nil), good...)
		for k := 0; k < 1+i%4; k++ {
			bad[10+rng.Intn(len(bad)-10)] ^= byte(1 + rng.Intn(255))
		}
		d := NewDecoder(bytes.NewReader(bad), Options{})
		out, err := io.ReadAll(d)
		if err == nil && !bytes.Equal(out, corpus()["text"][:60<<10]) {
			t.Fatalf("corrupt stream %d decoded without error to different data", i)
		}
	}
}

// TestMatchesStdlibFlate cross-checks raw deflate decoding of unusual
// streams produced by compress/flate's dictionary and flush modes.
func TestMatchesStdlibFlate(t *testing.T) {
	data := corpus()["text"]
	for _, lvl := range []int{flate.HuffmanOnly, flate.BestSpeed, flate.BestCompression} {
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, lvl)
		for i := 0; i < len(data); i += 1000 {
			w.Write(data[i:min(i+1000, len(data))])
			if i%7000 == 0 {
				w.Flush()
			}
		}
		w.Close()
		got, err := io.ReadAll(NewDecoder(bytes.NewReader(b.Bytes()), Options{}))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("level %d: err=%v equal=%v", lvl, err, bytes.Equal(got, data))
		}
	}
}

type decodeRecord struct {
	out []byte
	err string
	bds []Boundary
}

func decodeAll(d *Decoder, comp []byte, raw *Boundary) decodeRecord {
	var rec decodeRecord
	opts := Options{OnBoundary: func(b *Boundary) error {
		c := *b
		c.Window = append([]byte(nil), b.Window...)
		rec.bds = append(rec.bds, c)
		return nil
	}}
	src := comp
	if raw != nil {
		opts.Raw, opts.Window, opts.StartBits = true, raw.Window, raw.Bits
		start := raw.In
		if raw.Bits != 0 {
			start--
		}
		src = comp[start:]
	}
	if d == nil {
		d = NewDecoder(bytes.NewReader(src), opts)
	} else {
		d.Reset(bytes.NewReader(src), opts)
	}
	var err error
	rec.out, err = io.ReadAll(d)
	if err != nil {
		rec.err = err.Error()
	}
	return rec
}

// TestResetMatchesFresh reuses one decoder for every stream of the corpus,
// corrupt ones and raw restarts included, and requires exactly what a fresh
// decoder gives: output, error, and every boundary with its window (a stale
// history would show in the first windows).
func TestResetMatchesFresh(t *testing.T) {
	reused := NewDecoder(bytes.NewReader(nil), Options{})
	var streams [][]byte
	for _, data := range corpus() {
		for _, c := range compressors() {
			comp := c.fn(t, data)
			streams = append(streams, comp)
			if len(comp) > 40 {
				bad := append([]byte(nil), comp...)
				bad[len(bad)/2] ^= 0x55
				streams = append(streams, bad, comp[:len(comp)/2])
			}
		}
	}
	for i, comp := range streams {
		fresh := decodeAll(nil, comp, nil)
		got := decodeAll(reused, comp, nil)
		compareRecords(t, fmt.Sprintf("stream %d", i), got, fresh)
		if len(fresh.bds) > 2 && fresh.err == "" {
			b := fresh.bds[len(fresh.bds)/2]
			if b.Header {
				continue
			}
			compareRecords(t, fmt.Sprintf("stream %d raw", i), decodeAll(reused, comp, &b), decodeAll(nil, comp, &b))
		}
	}
}

func compareRecords(t *testing.T, what string, got, want decodeRecord) {
	t.Helper()
	if !bytes.Equal(got.out, want.out) || got.err != want.err || len(got.bds) != len(want.bds) {
		t.Fatalf("%s: after Reset: %d bytes, error %q, %d boundaries; fresh: %d bytes, error %q, %d boundaries",
			what, len(got.out), got.err, len(got.bds), len(want.out), want.err, len(want.bds))
	}
	for j := range got.bds {
		g, w := got.bds[j], want.bds[j]
		if g.In != w.In || g.Out != w.Out || g.Bits != w.Bits || g.LastByte != w.LastByte || g.Header != w.Header || !bytes.Equal(g.Window, w.Window) {
			t.Fatalf("%s: boundary %d differs after Reset", what, j)
		}
	}
}

// TestResetDoesNotAllocate: decoding a stream with a reset decoder costs no
// allocation, so indexing many layers or reading many ranges makes no garbage
// per stream.
func TestResetDoesNotAllocate(t *testing.T) {
	comp := gz(corpus()["mixed"])
	br := bytes.NewReader(comp)
	d := NewDecoder(br, Options{})
	bd := Options{OnBoundary: func(*Boundary) error { return nil }}
	allocs := testing.AllocsPerRun(20, func() {
		br.Reset(comp)
		d.Reset(br, bd)
		if err := d.Drain(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per reset and decode, want 0", allocs)
	}
}
