package socify

import (
	"github.com/opencontainers/go-digest"

	"github.com/socify/socify/pkg/convert"
)

// EventKind tells what an Event reports.
type EventKind string

// Event kinds: the indexing of each layer, then the write of the result.
const (
	EventLayerStart    EventKind = "layer-start"    // a layer is being indexed
	EventLayerProgress EventKind = "layer-progress" // Complete bytes of the layer read
	EventLayerDone     EventKind = "layer-done"     // its zTOC is built
	EventLayerCached   EventKind = "layer-cached"   // its zTOC came from the cache, the layer was not read
	EventLayerSkipped  EventKind = "layer-skipped"  // no zTOC (Reason)
	EventWriteStart    EventKind = "write-start"    // the result is being written to Destination
	EventWriteProgress EventKind = "write-progress" // Complete of Total bytes written or uploaded
	EventWriteDone     EventKind = "write-done"     // written (Err nil) or failed
)

// Event is the one progress notification of Convert: layer events while
// indexing, write events while the result is written or uploaded.
type Event struct {
	Kind EventKind
	// Layer is the layer of layer events; Name names a layer given as a
	// file (BuildZtocFile), whose digest is known only once it is read.
	Layer digest.Digest
	Name  string
	// Destination names the write target of write events; Registry is set
	// when it is a registry (the write is an upload).
	Destination string
	Registry    bool
	// Total is the size of the task in bytes (the layer; the bytes to write,
	// 0 until known), Complete the bytes done.
	Total, Complete int64
	// Reason says why a layer was skipped.
	Reason string
	// Done and Count count the layers to index (cached ones included).
	Done, Count int
	// Err is set on a failed EventWriteDone or EventLayerDone.
	Err error
}

// fromConvert maps the converter's layer events.
func fromConvert(f func(Event)) func(convert.Event) {
	return func(e convert.Event) {
		ev := Event{Layer: e.Layer, Total: e.Size, Complete: e.Read, Reason: e.Reason, Done: e.Done, Count: e.Total}
		switch e.Kind {
		case convert.EventLayerStart:
			ev.Kind = EventLayerStart
		case convert.EventLayerProgress:
			ev.Kind = EventLayerProgress
		case convert.EventLayerDone:
			ev.Kind = EventLayerDone
		case convert.EventLayerCached:
			ev.Kind = EventLayerCached
		case convert.EventLayerSkipped:
			ev.Kind = EventLayerSkipped
		default:
			return
		}
		f(ev)
	}
}
