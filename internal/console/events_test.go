package console

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/socify/socify/pkg/socify"
)

type recorder struct{ calls []string }

func (r *recorder) Start(id, label string, total int64) {
	r.calls = append(r.calls, fmt.Sprintf("start %s %q %d", id, label, total))
}
func (r *recorder) Total(id string, total int64) {
	r.calls = append(r.calls, fmt.Sprintf("total %s %d", id, total))
}
func (r *recorder) Update(id string, done int64) {
	r.calls = append(r.calls, fmt.Sprintf("update %s %d", id, done))
}
func (r *recorder) Finish(id, result string) {
	r.calls = append(r.calls, fmt.Sprintf("finish %s %q", id, result))
}
func (r *recorder) Close() {}

// TestEvents: layers by short digest with their count, a layer file by its name, the write,
// and failures shown as failed.
func TestEvents(t *testing.T) {
	l := digest.Digest("sha256:" + strings.Repeat("ab", 32))
	var r recorder
	show := Events(&r)
	for _, e := range []socify.Event{
		{Kind: socify.EventLayerStart, Layer: l, Total: 10},
		{Kind: socify.EventLayerProgress, Layer: l, Total: 10, Complete: 4},
		{Kind: socify.EventLayerDone, Layer: l, Done: 1, Count: 2},
		{Kind: socify.EventLayerCached, Layer: l, Total: 10, Done: 2, Count: 2},
		{Kind: socify.EventLayerStart, Name: "dir/layer.tar.gz", Total: 7},
		{Kind: socify.EventLayerDone, Name: "dir/layer.tar.gz"},
		{Kind: socify.EventLayerDone, Name: "dir/layer.tar.gz", Err: fmt.Errorf("boom")},
		{Kind: socify.EventWriteStart, Destination: "r.example/app:1", Registry: true},
		{Kind: socify.EventWriteProgress, Total: 100, Complete: 50},
		{Kind: socify.EventWriteDone},
		{Kind: socify.EventWriteDone, Err: fmt.Errorf("boom")},
	} {
		show(e)
	}
	want := []string{
		`start ` + l.String() + ` "layer sha256:abababababab" 10`,
		`update ` + l.String() + ` 4`,
		`finish ` + l.String() + ` "indexed (1/2)"`,
		`start ` + l.String() + ` "layer sha256:abababababab" 10`,
		`finish ` + l.String() + ` "zTOC from cache (2/2)"`,
		`start build:dir/layer.tar.gz "zTOC of layer.tar.gz" 7`,
		`finish build:dir/layer.tar.gz "indexed"`,
		`finish build:dir/layer.tar.gz "failed"`,
		`start write "push r.example/app:1" 0`,
		`total write 100`,
		`update write 50`,
		`finish write "written"`,
		`finish write "failed"`,
	}
	if !slices.Equal(r.calls, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(r.calls, "\n"), strings.Join(want, "\n"))
	}
}
