package prefetch

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/socify/socify/pkg/ztoc"
)

// FuzzBuild: Build over an arbitrary zTOC and paths never panics, and what it
// returns parses and is normalized (sorted, ordered, no touching ranges).
func FuzzBuild(f *testing.F) {
	for _, comp := range []ztoc.Compression{ztoc.Uncompressed, ztoc.Gzip} {
		l, _ := layer(f, 1, comp, 4096, entry{name: "a", size: 10000}, entry{name: "b", size: 10})
		f.Add(l.Ztoc, "a\x00b\x00/a/../b\x00missing")
	}
	f.Fuzz(func(t *testing.T, z []byte, paths string) {
		res, err := Build([]Layer{{Digest: digest.FromString("layer"), Ztoc: z}}, strings.Split(paths, "\x00"))
		if err != nil {
			return
		}
		for _, b := range res.Blobs {
			a, err := Parse(b.Bytes)
			if err != nil {
				t.Fatalf("built artifact does not parse: %v", err)
			}
			for i, s := range a.PrefetchSpans {
				if s.StartSpan > s.EndSpan || (i > 0 && s.StartSpan <= a.PrefetchSpans[i-1].EndSpan+1) {
					t.Fatalf("not normalized: %+v", a.PrefetchSpans)
				}
			}
		}
	})
}
