package inflate

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"sort"
	"strings"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

var update = flag.Bool("update", false, "rewrite testdata/error-offsets.golden")

// outcome digests what decoding comp reports: the output, every boundary
// with its window, and the error with its input and output offsets.
func outcome(comp []byte) string {
	h := sha256.New()
	d := NewDecoder(bytes.NewReader(comp), Options{OnBoundary: func(b *Boundary) error {
		fmt.Fprintf(h, "%d/%d/%d/%d/%v;", b.In, b.Out, b.Bits, b.LastByte, b.Header)
		h.Write(b.Window)
		return nil
	}})
	_, err := io.Copy(h, d)
	if err != nil {
		fmt.Fprintf(h, "error %s", err)
		var e *Error
		if errors.As(err, &e) {
			fmt.Fprintf(h, " at %d/%d", e.In, e.Out)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)[:8])
}

// TestErrorOffsetsGolden pins what the decoder reports (output, boundaries,
// error text and offsets) for clean, corrupt and truncated streams, so that
// a change of the tables or the loops cannot move an error: the decoder's
// errors must stay those soci's users see, at the same offsets. The streams
// come from klauspost/compress at the version go.mod pins (stable output,
// unlike the standard library's across Go releases). Regenerate, only for
// an intended change, with
//
//	go test ./pkg/ztoc/internal/inflate -run TestErrorOffsetsGolden -update
func TestErrorOffsetsGolden(t *testing.T) {
	corp := corpus()
	var got []string
	for _, name := range []string{"text", "mixed", "random", "zeros"} {
		for _, lvl := range []int{-2, 0, 1, 5, 9} {
			var b bytes.Buffer
			w, _ := kgzip.NewWriterLevel(&b, lvl)
			w.Write(corp[name][:min(len(corp[name]), 200<<10)])
			w.Close()
			comp := b.Bytes()
			key := fmt.Sprintf("%s/klauspost%d", name, lvl)
			got = append(got, key+" "+outcome(comp))
			rng := rand.New(rand.NewSource(int64(len(comp))))
			for i := 0; i < 20; i++ {
				bad := append([]byte(nil), comp...)
				for k := 0; k < 1+i%3; k++ {
					bad[10+rng.Intn(len(bad)-10)] ^= byte(1 << rng.Intn(8))
				}
				if i%4 == 3 {
					bad = bad[:10+rng.Intn(len(bad)-10)]
				}
				got = append(got, fmt.Sprintf("%s/bad%d %s", key, i, outcome(bad)))
			}
			for i := 0; i < 12; i++ {
				cut := len(comp) - 1 - rng.Intn(min(len(comp)-1, 300))
				got = append(got, fmt.Sprintf("%s/cut%d %s", key, cut, outcome(comp[:cut])))
			}
		}
	}
	const path = "testdata/error-offsets.golden"
	if *update {
		if err := os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		want = append(want, sc.Text())
	}
	if len(want) != len(got) {
		t.Fatalf("%d outcomes, the golden file has %d", len(got), len(want))
	}
	var bad []string
	for i := range want {
		if got[i] != want[i] {
			bad = append(bad, strings.Fields(want[i])[0])
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("%d of %d outcomes changed, e.g. %v", len(bad), len(want), bad[:min(len(bad), 8)])
	}
}
