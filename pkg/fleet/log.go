package fleet

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/socify/socify/pkg/convert"
)

func newLogger(w io.Writer, debug bool) *slog.Logger {
	lvl := slog.LevelInfo
	if debug {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}

func eventAttrs(ev ImageEvent) []any {
	a := []any{"repository", ev.RepositoryName, "tag", ev.ImageTag, "digest", ev.ImageDigest}
	if ev.MessageID != "" {
		a = append(a, "messageId", ev.MessageID)
	}
	if ev.ID != "" {
		a = append(a, "eventId", ev.ID)
	}
	return a
}

// logDecision writes one line per decision, carrying a Decisions metric by decision code.
func (f *Function) logDecision(ev ImageEvent, d Decision) {
	lvl, what := slog.LevelInfo, "skip"
	switch {
	case d.Convert:
		what = "convert"
	case d.Code == CodeConversionFailure || d.Code == CodeDeadline:
		lvl, what = slog.LevelError, "fail"
	}
	args := append([]any{"decision", what, "code", d.Code, "reason", d.Reason}, eventAttrs(ev)...)
	args = append(args, "_aws", f.emf([]string{"Decision"}, metric{"Decisions", "Count"}), "Decision", d.Code, "Decisions", 1)
	f.log.Log(context.Background(), lvl, "decision", args...)
}

// logInvocation ends every invocation with one line: its kind (sqs, event, or rejected for a
// payload that is neither), how many messages it took and how many go back to be retried. It
// is written last, so a reader of the log that has seen it has seen every decision and
// conversion of that invocation.
func (f *Function) logInvocation(kind string, messages, retried int, d time.Duration) {
	lvl := slog.LevelInfo
	if retried > 0 {
		lvl = slog.LevelWarn
	}
	f.log.Log(context.Background(), lvl, "invocation", "kind", kind, "messages", messages, "retried", retried, "durationMs", d.Milliseconds())
}

// Figures of one conversion, in the log line and as metrics.
type figures struct {
	LayersIndexed, LayersCached, LayersSkipped int
	BytesRead, BytesWritten                    int64
}

func figuresOf(rep *convert.Report) figures {
	var fg figures
	if rep == nil {
		return fg
	}
	for _, l := range rep.Layers {
		switch l.Status {
		case convert.LayerIndexed:
			fg.LayersIndexed++
		case convert.LayerCached:
			fg.LayersCached++
		case convert.LayerSkipped:
			fg.LayersSkipped++
		}
	}
	fg.BytesRead, fg.BytesWritten = rep.BytesRead, rep.BytesWritten
	return fg
}

// logConversion writes one line per conversion: source, result, layers indexed, cached and
// skipped, bytes read and written, duration; the same figures as embedded metrics.
func (f *Function) logConversion(o *Outcome, d time.Duration) {
	var rep *convert.Report
	outcome, digest := "converted", ""
	if o.Result != nil {
		rep = o.Result.Conversion
		digest = o.Result.Digest
	}
	fg := figuresOf(rep)
	args := append([]any{"source", o.Event.String(), "target", o.Target, "result", digest}, eventAttrs(o.Event)...)
	lvl := slog.LevelInfo
	if o.Err != nil {
		outcome, lvl = "failed", slog.LevelError
		args = append(args, "error", o.Err.Error(), "retry", o.retry(&f.cfg), "permanent", o.Permanent)
	}
	if o.Result != nil && len(o.Result.ChildTags) > 0 {
		args = append(args, "childTags", o.Result.ChildTags)
	}
	args = append(args,
		"layersIndexed", fg.LayersIndexed, "layersCached", fg.LayersCached, "layersSkipped", fg.LayersSkipped,
		"bytesRead", fg.BytesRead, "bytesWritten", fg.BytesWritten, "durationMs", d.Milliseconds(),
		"_aws", f.emf([]string{"Outcome"},
			metric{"Conversions", "Count"}, metric{"LayersIndexed", "Count"}, metric{"LayersCached", "Count"},
			metric{"LayersSkipped", "Count"}, metric{"BytesRead", "Bytes"}, metric{"BytesWritten", "Bytes"},
			metric{"Duration", "Milliseconds"}),
		"Outcome", outcome, "Conversions", 1,
		"LayersIndexed", fg.LayersIndexed, "LayersCached", fg.LayersCached, "LayersSkipped", fg.LayersSkipped,
		"BytesRead", fg.BytesRead, "BytesWritten", fg.BytesWritten, "Duration", d.Milliseconds(),
	)
	f.log.Log(context.Background(), lvl, "conversion", args...)
}

type metric struct{ Name, Unit string }

// emf is the "_aws" member of a CloudWatch embedded metric format log line: CloudWatch Logs
// turns the named top-level members of the line into metrics, so the log line and the metric
// cannot disagree.
func (f *Function) emf(dims []string, ms ...metric) map[string]any {
	defs := make([]map[string]string, len(ms))
	for i, m := range ms {
		defs[i] = map[string]string{"Name": m.Name, "Unit": m.Unit}
	}
	return map[string]any{
		"Timestamp": time.Now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  f.cfg.MetricsNamespace,
			"Dimensions": [][]string{dims},
			"Metrics":    defs,
		}},
	}
}
