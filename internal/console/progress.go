package console

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socify/socify/internal/units"
)

// Progress shows the advance of long tasks (one per layer). Start and
// Finish may be called from several goroutines; Update may be called for
// every buffer read, so implementations make it cheap.
type Progress interface {
	Start(id, label string, total int64)
	// Total sets the size of a task whose size became known after Start.
	Total(id string, total int64)
	Update(id string, done int64)
	Finish(id, result string)
	Close()
}

func newProgress(mode string, quiet, tty bool, con *console, log *slog.Logger) (Progress, error) {
	switch mode {
	case "auto", "bar", "plain", "none":
	default:
		return nil, fmt.Errorf("--progress must be auto, bar, plain or none, not %q", mode)
	}
	if mode == "none" || (quiet && mode == "auto") {
		return noProgress{}, nil
	}
	if mode == "bar" || (mode == "auto" && tty) {
		return newBarProgress(con), nil
	}
	return newPlainProgress(log, 15*time.Second), nil
}

type noProgress struct{}

func (noProgress) Start(string, string, int64) {}
func (noProgress) Update(string, int64)        {}
func (noProgress) Total(string, int64)         {}
func (noProgress) Finish(string, string)       {}
func (noProgress) Close()                      {}

type task struct {
	label   string
	total   atomic.Int64
	done    atomic.Int64
	started time.Time
	order   int
}

// tasks is the registry shared by both displays.
type tasks struct {
	mu    sync.Mutex
	m     map[string]*task
	count int
}

func (t *tasks) start(id, label string, total int64) *task {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*task{}
	}
	k := &task{label: label, started: time.Now(), order: t.count}
	k.total.Store(total)
	t.count++
	t.m[id] = k
	return k
}

func (t *tasks) Total(id string, total int64) {
	if k := t.get(id); k != nil {
		k.total.Store(total)
	}
}

func (t *tasks) get(id string) *task {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[id]
}

func (t *tasks) remove(id string) *task {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.m[id]
	delete(t.m, id)
	return k
}

func (t *tasks) active() []*task {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*task, 0, len(t.m))
	for _, k := range t.m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order < out[j].order })
	return out
}

// plainProgress is for CI logs: a line when a task starts, one per task
// every interval while it runs, and one when it ends. No cursor movement.
type plainProgress struct {
	tasks
	log  *slog.Logger
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newPlainProgress(log *slog.Logger, every time.Duration) *plainProgress {
	p := &plainProgress{log: log, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				for _, k := range p.active() {
					p.log.Info(k.label, "progress", percent(k.done.Load(), k.total.Load()), "done", units.FormatSize(k.done.Load()))
				}
			}
		}
	}()
	return p
}

func (p *plainProgress) Start(id, label string, total int64) {
	p.start(id, label, total)
	if total > 0 {
		p.log.Info(label, "state", "started", "size", units.FormatSize(total))
	} else {
		p.log.Info(label, "state", "started")
	}
}

func (p *plainProgress) Update(id string, done int64) {
	if k := p.get(id); k != nil {
		k.done.Store(done)
	}
}

func (p *plainProgress) Finish(id, result string) {
	k := p.remove(id)
	if k == nil {
		return
	}
	p.log.Info(k.label, "state", result, "took", time.Since(k.started))
}

func (p *plainProgress) Close() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
	})
}

// barProgress draws one bar per running task under the log lines, redrawn a
// few times a second; finished tasks become a log line above the bars.
type barProgress struct {
	tasks
	con  *console
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// width is the terminal width; COLUMNS when the shell exports it.
	width int
}

func newBarProgress(con *console) *barProgress {
	p := &barProgress{con: con, stop: make(chan struct{}), width: 80}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n >= 40 {
		p.width = n
	}
	con.mu.Lock()
	con.redraw = p.render
	con.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				con.refresh()
			}
		}
	}()
	return p
}

func (p *barProgress) Start(id, label string, total int64) { p.start(id, label, total) }

func (p *barProgress) Update(id string, done int64) {
	if k := p.get(id); k != nil {
		k.done.Store(done)
	}
}

func (p *barProgress) Finish(id, result string) {
	k := p.remove(id)
	if k == nil {
		return
	}
	line := fmt.Sprintf("%s: %s (%s)\n", k.label, result, time.Since(k.started).Round(time.Millisecond))
	p.con.writeLine([]byte(line))
}

// render is called with the console lock held.
func (p *barProgress) render() []string {
	const maxBars = 8
	act := p.active()
	var lines []string
	for i, k := range act {
		if i == maxBars {
			lines = append(lines, fmt.Sprintf("... and %d more", len(act)-maxBars))
			break
		}
		lines = append(lines, p.bar(k))
	}
	return lines
}

func (p *barProgress) bar(k *task) string {
	const barWidth, statsWidth = 24, 26
	done, total := k.done.Load(), k.total.Load()
	stats := units.FormatSize(done)
	if total > 0 {
		stats = fmt.Sprintf("%4s %s/%s", percent(done, total), units.FormatSize(done), units.FormatSize(total))
	}
	labelWidth := max(p.width-barWidth-statsWidth-5, 8)
	label := k.label
	if len(label) > labelWidth {
		label = label[:labelWidth-1] + "…"
	}
	fill := 0
	if total > 0 {
		fill = int(min(done, total) * int64(barWidth) / total)
	}
	return fmt.Sprintf("%-*s [%s%s] %s", labelWidth, label, strings.Repeat("=", fill), strings.Repeat(" ", barWidth-fill), stats)
}

func (p *barProgress) Close() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		p.con.mu.Lock()
		p.con.eraseLocked()
		p.con.redraw = nil
		p.con.mu.Unlock()
	})
}

func percent(done, total int64) string {
	if total <= 0 {
		return "?"
	}
	return fmt.Sprintf("%d%%", min(done, total)*100/total)
}
