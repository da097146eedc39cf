package textout

import (
	"errors"
	"strings"
	"testing"
)

type failAfter struct {
	n   int
	out strings.Builder
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return f.out.Write(p)
}

// TestFirstErrorKept: after a failed write nothing more is written and the
// first error is the one reported.
func TestFirstErrorKept(t *testing.T) {
	w := &failAfter{n: 1}
	tw := &Writer{W: w}
	tw.Printf("a%d ", 1)
	tw.Printf("b")
	tw.Printf("c")
	if got := w.out.String(); got != "a1 " {
		t.Errorf("wrote %q, want only the first line", got)
	}
	if tw.Err == nil || tw.Err.Error() != "disk full" {
		t.Errorf("Err = %v, want the first write's error", tw.Err)
	}
}

// TestJSON: two-space indentation and no HTML escaping, in every JSON report.
func TestJSON(t *testing.T) {
	var b strings.Builder
	if err := JSON(&b, map[string]string{"message": "a <none> & b"}); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"message\": \"a <none> & b\"\n}\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
