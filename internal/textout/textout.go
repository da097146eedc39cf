// Package textout is the one writer behind socify's text reports (the CLI's
// and pkg/socify's): it keeps the first write error, so that a report is a
// run of plain Printf calls checked once at the end. JSON is the one form of
// every JSON report.
package textout

import (
	"encoding/json"
	"fmt"
	"io"
)

// Writer writes to W until a write fails; Err is that first failure.
type Writer struct {
	W   io.Writer
	Err error
}

// Printf formats to W unless an earlier write failed.
func (t *Writer) Printf(format string, args ...any) {
	if t.Err == nil {
		_, t.Err = fmt.Fprintf(t.W, format, args...)
	}
}

// JSON writes v as indented JSON, "<", ">" and "&" unescaped (reports are
// read by jq and people, never embedded in HTML).
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
