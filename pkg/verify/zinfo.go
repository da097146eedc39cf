package verify

import (
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"
)

// tarZinfo is the nested TarZinfo flatbuffer of an uncompressed layer's zTOC.
type tarZinfo struct {
	version  int32
	spanSize int64
	size     int64
}

// parseTarZinfo reads the TarZinfo table (version:int32, span_size:int64,
// size:int64) the way soci's generated accessors do; a malformed buffer is an
// error rather than a panic.
func parseTarZinfo(b []byte) (t tarZinfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed tar zinfo flatbuffer: %v", r)
		}
	}()
	if len(b) < 8 {
		return t, fmt.Errorf("tar zinfo of %d bytes is too short", len(b))
	}
	tab := flatbuffers.Table{Bytes: b, Pos: flatbuffers.GetUOffsetT(b)}
	if o := flatbuffers.UOffsetT(tab.Offset(4)); o != 0 {
		t.version = tab.GetInt32(o + tab.Pos)
	}
	if o := flatbuffers.UOffsetT(tab.Offset(6)); o != 0 {
		t.spanSize = tab.GetInt64(o + tab.Pos)
	}
	if o := flatbuffers.UOffsetT(tab.Offset(8)); o != 0 {
		t.size = tab.GetInt64(o + tab.Pos)
	}
	return t, nil
}

// tarMaxSpanID is the snapshotter's TarZinfo.MaxSpanID (span must be > 0;
// the snapshotter divides by zero otherwise).
func tarMaxSpanID(size, span int64) int64 {
	n := size / span
	if size%span == 0 {
		n--
	}
	return n
}

// span is one span's byte range in the layer blob and in the tar stream, as
// the snapshotter's span manager computes them.
type span struct {
	start, end   int64 // compressed [start, end): what the digest covers
	uStart, uEnd int64 // uncompressed
	digest       string
}
