package oracle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/socify/socify/integration/corpus"
	"github.com/socify/socify/pkg/ztoc"
)

// buildOutcome is a build's result in comparable form: the zTOC bytes, or
// the error with its offsets.
func buildOutcome(blob []byte, span int64, comp string, opts ...ztoc.Option) (string, []byte) {
	opts = append([]ztoc.Option{ztoc.WithSpanSize(span), ztoc.WithBuildToolIdentifier(ztoc.SociBuildToolIdentifier),
		ztoc.WithCompression(ztoc.Compression(comp))}, opts...)
	z, err := ztoc.Build(context.Background(), streamOnly{bytes.NewReader(blob)}, opts...)
	if err != nil {
		var fe *ztoc.FormatError
		if errors.As(err, &fe) {
			return fmt.Sprintf("error at %d/%d: %v", fe.CompressedOffset, fe.UncompressedOffset, err), nil
		}
		return "error: " + err.Error(), nil
	}
	b, err := ztoc.Marshal(z)
	if err != nil {
		return "marshal: " + err.Error(), nil
	}
	return sha(b), b
}

// TestParallelDifferential: over the whole generated corpus (every gzip
// implementation, pigz -i independent blocks, multi-member streams, stored
// and fixed blocks, hand-made block layouts, malformed layers), parallel
// builds with chunks small enough to cut every layer many times give the
// sequential build's exact result, whose bytes TestDifferential proves equal
// to soci's; and on the real-content layer, soci's bytes directly.
func TestParallelDifferential(t *testing.T) {
	for _, l := range layers(t) {
		if l.Compression != corpus.Gzip {
			continue
		}
		t.Run(l.Name, func(t *testing.T) {
			t.Parallel()
			for i, span := range l.Spans {
				want, _ := buildOutcome(l.Blob, span, l.Compression, ztoc.WithWorkers(1))
				chunks := []int{1000}
				if i == 0 {
					chunks = append(chunks, max(64, len(l.Blob)/5))
				}
				for _, c := range chunks {
					got, _ := buildOutcome(l.Blob, span, l.Compression, ztoc.WithWorkers(3), ztoc.WithChunkSize(c))
					if got != want {
						t.Fatalf("span %d, chunk %d: parallel %s, sequential %s", span, c, got, want)
					}
				}
			}
		})
	}
}

func TestParallelRealLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("the 40 MB real-content layer runs without -short")
	}
	ctx := context.Background()
	root, err := corpus.GoRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l, err := corpus.GoSourceLayer(ctx, filepath.Join(root, "src"), 40<<20)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "layer")
	if err := os.WriteFile(path, l.Blob, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, span := range []int64{1 << 20, 4 << 20} {
		t.Run(strconv.FormatInt(span, 10), func(t *testing.T) {
			sb, _, err := sociBuild(path, span, l.Compression)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []int{0, 256 << 10} {
				_, ob := buildOutcome(l.Blob, span, l.Compression, ztoc.WithWorkers(2), ztoc.WithChunkSize(c))
				if !bytes.Equal(ob, sb) {
					t.Fatalf("chunk %d: parallel zTOC differs from soci's: %s vs %s\n%s", c, sha(ob), sha(sb), ztoc.Diff(sb, ob))
				}
			}
		})
	}
}
