// Package console is the socify CLI's stderr: log lines (timestamped in CI
// logs, plain on a terminal) and progress, as bars under the log lines on a
// terminal or as periodic lines in a CI log, never interleaved.
package console

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Setup builds the logger and the progress display of a command writing to
// w. mode is auto (bars on a terminal, timestamped lines otherwise), bar,
// plain or none; quiet logs errors only and silences auto progress; debug
// logs debug records too.
func Setup(w io.Writer, mode string, quiet, debug bool) (*slog.Logger, Progress, error) {
	tty := isTerminal(w)
	level := slog.LevelInfo
	switch {
	case debug:
		level = slog.LevelDebug
	case quiet:
		level = slog.LevelError
	}
	// On a terminal the lines are for a person watching: no timestamps. In
	// a CI log they are records: timestamped, one event a line.
	con := &console{w: w}
	timestamps := !tty || mode == "plain"
	log := slog.New(newLineHandler(con, level, timestamps))
	// Progress lines are written at info level even with --quiet, which
	// only silences "auto" progress: --quiet --progress plain gives a CI log
	// with progress and a stdout holding nothing but the result.
	p, err := newProgress(mode, quiet, tty, con, slog.New(newLineHandler(con, slog.LevelInfo, timestamps)))
	if err != nil {
		return nil, nil, err
	}
	return log, p, nil
}

// isTerminal reports whether w is a terminal. A character device is taken
// for one; CI=true and TERM=dumb force the plain form, since CI runners
// sometimes allocate a pseudo-terminal whose log cannot replay cursor moves.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	if os.Getenv("CI") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0 && f.Name() != os.DevNull
}

// console serializes everything written to stderr: log lines and, on a
// terminal, the block of progress bars under them. A log line erases the
// bars, is printed, and the bars are drawn again below it, so the two never
// interleave.
type console struct {
	mu    sync.Mutex
	w     io.Writer
	drawn int // lines of progress bars currently on screen
	// redraw renders the progress block; nil when no bars are shown.
	redraw func() []string
}

func (c *console) writeLine(line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eraseLocked()
	_, _ = c.w.Write(line)
	c.drawLocked()
}

func (c *console) eraseLocked() {
	if c.drawn == 0 {
		return
	}
	// Cursor up to the first bar line, then clear to the end of the screen.
	fmt.Fprintf(c.w, "\x1b[%dA\r\x1b[J", c.drawn)
	c.drawn = 0
}

func (c *console) drawLocked() {
	if c.redraw == nil {
		return
	}
	lines := c.redraw()
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\x1b[K\n")
	}
	_, _ = c.w.Write(b.Bytes())
	c.drawn = len(lines)
}

func (c *console) refresh() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eraseLocked()
	c.drawLocked()
}

// lineHandler is a slog.Handler writing one line per record: "msg key=value
// ...", prefixed by an RFC 3339 UTC timestamp when the output is a log file
// rather than a person's terminal.
type lineHandler struct {
	con        *console
	level      slog.Level
	timestamps bool
	prefix     string // attributes from WithAttrs, preformatted
	group      string
	now        func() time.Time
}

func newLineHandler(con *console, level slog.Level, timestamps bool) *lineHandler {
	return &lineHandler{con: con, level: level, timestamps: timestamps, now: time.Now}
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	if h.timestamps {
		t := r.Time
		if t.IsZero() {
			t = h.now()
		}
		b.WriteString(t.UTC().Format("2006-01-02T15:04:05.000Z"))
		b.WriteByte(' ')
	}
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("error: ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	case r.Level < slog.LevelInfo:
		b.WriteString("debug: ")
	}
	b.WriteString(r.Message)
	b.WriteString(h.prefix)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	h.con.writeLine(b.Bytes())
	return nil
}

func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	var b bytes.Buffer
	for _, a := range attrs {
		appendAttr(&b, h.group, a)
	}
	n.prefix += b.String()
	return &n
}

func (h *lineHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	if n.group != "" {
		n.group += "."
	}
	n.group += name
	return &n
}

func appendAttr(b *bytes.Buffer, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	key := a.Key
	if group != "" {
		key = group + "." + key
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, ga := range a.Value.Group() {
			appendAttr(b, key, ga)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(key)
	b.WriteByte('=')
	var s string
	switch a.Value.Kind() {
	case slog.KindDuration:
		s = a.Value.Duration().Round(time.Millisecond).String()
	case slog.KindTime:
		s = a.Value.Time().UTC().Format(time.RFC3339)
	default:
		s = a.Value.String()
	}
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		s = strconv.Quote(s)
	}
	b.WriteString(s)
}

// QuietInfo lowers a library's Info records to Debug: the libraries narrate
// decisions (a layer skipped, a blob mounted) that the command's report
// already states, so they show only with --debug. Warnings stay warnings.
type QuietInfo struct{ slog.Handler }

func (q QuietInfo) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelInfo {
		l = slog.LevelDebug
	}
	return q.Handler.Enabled(ctx, l)
}

func (q QuietInfo) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
	}
	return q.Handler.Handle(ctx, r)
}

func (q QuietInfo) WithAttrs(attrs []slog.Attr) slog.Handler {
	return QuietInfo{q.Handler.WithAttrs(attrs)}
}

func (q QuietInfo) WithGroup(name string) slog.Handler { return QuietInfo{q.Handler.WithGroup(name)} }
