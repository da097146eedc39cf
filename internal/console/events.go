package console

import (
	"fmt"
	"path/filepath"

	"github.com/socify/socify/pkg/socify"
)

// Events shows socify's progress events on p: the layers being indexed
// and the write of the result.
func Events(p Progress) func(socify.Event) {
	return func(e socify.Event) {
		id, label := e.Layer.String(), "layer "+socify.ShortDigest(e.Layer.String())
		if e.Name != "" {
			id, label = "build:"+e.Name, "zTOC of "+filepath.Base(e.Name)
		}
		switch e.Kind {
		case socify.EventLayerStart:
			p.Start(id, label, e.Total)
		case socify.EventLayerProgress:
			p.Update(id, e.Complete)
		case socify.EventLayerDone:
			switch {
			case e.Err != nil:
				p.Finish(id, "failed")
			case e.Count == 0:
				p.Finish(id, "indexed")
			default:
				p.Finish(id, fmt.Sprintf("indexed (%d/%d)", e.Done, e.Count))
			}
		case socify.EventLayerCached:
			p.Start(id, label, e.Total)
			p.Finish(id, fmt.Sprintf("zTOC from cache (%d/%d)", e.Done, e.Count))
		case socify.EventWriteStart:
			verb := "write "
			if e.Registry {
				verb = "push "
			}
			p.Start("write", verb+e.Destination, 0)
		case socify.EventWriteProgress:
			p.Total("write", e.Total)
			p.Update("write", e.Complete)
		case socify.EventWriteDone:
			if e.Err != nil {
				p.Finish("write", "failed")
			} else {
				p.Finish("write", "written")
			}
		}
	}
}
