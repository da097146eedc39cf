package console

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the progress goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLineHandler(t *testing.T) {
	var buf syncBuffer
	con := &console{w: &buf}
	h := newLineHandler(con, slog.LevelInfo, true)
	at := time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.FixedZone("X", 3600))
	log := slog.New(h)
	r := slog.NewRecord(at, slog.LevelWarn, "blob download broke", 0)
	r.AddAttrs(slog.String("blob", "sha256:ab"), slog.String("err", `connection reset by "peer"`), slog.Duration("wait", 1500*time.Millisecond))
	if err := log.With("image", "oci:x").WithGroup("g").Handler().Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	log.Debug("hidden")
	want := `2025-01-02T02:04:05.006Z warning: blob download broke image=oci:x g.blob=sha256:ab g.err="connection reset by \"peer\"" g.wait=1.5s` + "\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}

	buf = syncBuffer{}
	con = &console{w: &buf}
	slog.New(newLineHandler(con, slog.LevelDebug, false)).Debug("zTOC from cache", "layer", "sha256:cd")
	if got := buf.String(); got != "debug: zTOC from cache layer=sha256:cd\n" {
		t.Errorf("terminal form: %q", got)
	}
}

func TestQuietInfo(t *testing.T) {
	for _, debug := range []bool{false, true} {
		var buf syncBuffer
		level := slog.LevelInfo
		if debug {
			level = slog.LevelDebug
		}
		l := slog.New(QuietInfo{newLineHandler(&console{w: &buf}, level, false)})
		l.Info("layer skipped", "layer", "sha256:1")
		l.Warn("layer has sparse files")
		got := buf.String()
		if strings.Contains(got, "layer skipped") != debug || !strings.Contains(got, "warning: layer has sparse files") {
			t.Errorf("debug=%v: %q", debug, got)
		}
	}
}

func TestBarProgress(t *testing.T) {
	var buf syncBuffer
	con := &console{w: &buf}
	p := newBarProgress(con)
	p.Start("l1", "layer sha256:0123456789ab", 1000)
	p.Update("l1", 500)
	con.refresh()
	out := buf.String()
	if !strings.Contains(out, "layer sha256:0123456789ab") || !strings.Contains(out, "[============            ]") || !strings.Contains(out, "50%") {
		t.Fatalf("bar not drawn: %q", out)
	}
	// A log line erases the bars, prints, and draws them again below.
	before := len(buf.String())
	con.writeLine([]byte("a log line\n"))
	after := buf.String()[before:]
	if !strings.HasPrefix(after, "\x1b[1A\r\x1b[J"+"a log line\n") || !strings.Contains(after, "50%") {
		t.Errorf("log line during progress: %q", after)
	}
	p.Finish("l1", "indexed")
	p.Close()
	if !strings.Contains(buf.String(), "layer sha256:0123456789ab: indexed (") {
		t.Errorf("finish line missing: %q", buf.String())
	}
	// Closed: no bars left on screen, later lines are plain.
	before = len(buf.String())
	con.writeLine([]byte("done\n"))
	if got := buf.String()[before:]; got != "done\n" {
		t.Errorf("after Close: %q", got)
	}
}

func TestPlainProgress(t *testing.T) {
	var buf syncBuffer
	log := slog.New(newLineHandler(&console{w: &buf}, slog.LevelInfo, true))
	p := newPlainProgress(log, 20*time.Millisecond)
	p.Start("l1", "layer sha256:0123456789ab", 4<<20)
	p.Update("l1", 1<<20)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "progress=25%") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.Finish("l1", "indexed")
	p.Close()
	out := buf.String()
	for _, want := range []string{
		`layer sha256:0123456789ab state=started size="4.0 MiB"`,
		`layer sha256:0123456789ab progress=25% done="1.0 MiB"`,
		`layer sha256:0123456789ab state=indexed took=`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("escape sequences in a CI log: %q", out)
	}
}

func TestNewProgressModes(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	con := &console{w: &syncBuffer{}}
	for _, tc := range []struct {
		mode       string
		quiet, tty bool
		want       string
	}{
		{"auto", false, true, "*console.barProgress"},
		{"auto", false, false, "*console.plainProgress"},
		{"auto", true, true, "console.noProgress"},
		{"plain", true, false, "*console.plainProgress"},
		{"bar", false, false, "*console.barProgress"},
		{"none", false, true, "console.noProgress"},
	} {
		p, err := newProgress(tc.mode, tc.quiet, tc.tty, con, log)
		if err != nil {
			t.Fatal(err)
		}
		if got := typeName(p); got != tc.want {
			t.Errorf("%+v: %s", tc, got)
		}
		p.Close()
	}
	if _, err := newProgress("fancy", false, false, con, log); err == nil {
		t.Error("bad mode accepted")
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *barProgress:
		return "*console.barProgress"
	case *plainProgress:
		return "*console.plainProgress"
	case noProgress:
		return "console.noProgress"
	}
	return "?"
}
