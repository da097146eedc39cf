package convert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/socify/socify/internal/atomicfile"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/socify/socify/pkg/ztoc"
)

// cacheSchema versions the cache layout and the builder's output. Bump it when
// pkg/ztoc starts writing different bytes for the same input, so old entries
// stop matching.
const cacheSchema = "socify-ztoc-cache/1"

// ztocCache keeps zTOC blobs on disk. Each entry is two files named after a
// hash of the key: <key>.ztoc (the blob) and <key>.json (cacheMeta). Both are
// written to a temporary name in the same directory and renamed, so readers
// never see partial files; the meta names the blob digest, so an entry whose
// two files come from different writers is detected and ignored.
type ztocCache struct {
	dir string
}

type cacheKey struct {
	Layer       digest.Digest
	Compression ztoc.Compression
	SpanSize    int64
	Tool        string
}

type cacheMeta struct {
	Schema      string        `json:"schema"`
	Layer       digest.Digest `json:"layer"`
	LayerSize   int64         `json:"layerSize"`
	Compression string        `json:"compression"`
	SpanSize    int64         `json:"spanSize"`
	Tool        string        `json:"tool"`
	ZtocVersion string        `json:"ztocVersion"`
	Ztoc        digest.Digest `json:"ztoc"`
	Spans       int           `json:"spans"`
	Files       int           `json:"files"`
	HasXattrs   bool          `json:"hasXattrs"`
	Warnings    []string      `json:"warnings,omitempty"`
}

func (k cacheKey) name() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%d\n%s\n%s\n", cacheSchema, k.Layer, k.Compression, k.SpanSize, ztoc.Version09, k.Tool)
	return hex.EncodeToString(h.Sum(nil))
}

func (c *ztocCache) paths(k cacheKey) (blob, meta string) {
	n := k.name()
	d := filepath.Join(c.dir, n[:2])
	return filepath.Join(d, n+".ztoc"), filepath.Join(d, n+".json")
}

// get returns the cached zTOC for k, or ok=false. A damaged or mismatching
// entry counts as a miss (it is rewritten by the next put).
func (c *ztocCache) get(k cacheKey, layerSize int64) (b []byte, m cacheMeta, ok bool, err error) {
	bp, mp := c.paths(k)
	mb, err := os.ReadFile(mp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, m, false, nil
	}
	if err != nil {
		return nil, m, false, fmt.Errorf("read zTOC cache: %w", err)
	}
	if json.Unmarshal(mb, &m) != nil || m.Schema != cacheSchema || m.Layer != k.Layer || m.LayerSize != layerSize ||
		m.Compression != string(k.Compression) || m.SpanSize != k.SpanSize || m.Tool != k.Tool || m.ZtocVersion != ztoc.Version09 {
		return nil, m, false, nil
	}
	b, err = os.ReadFile(bp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, m, false, nil
	}
	if err != nil {
		return nil, m, false, fmt.Errorf("read zTOC cache: %w", err)
	}
	if digest.FromBytes(b) != m.Ztoc {
		return nil, m, false, nil
	}
	return b, m, true, nil
}

func (c *ztocCache) put(k cacheKey, b []byte, m cacheMeta) error {
	bp, mp := c.paths(k)
	if err := os.MkdirAll(filepath.Dir(bp), 0o755); err != nil {
		return fmt.Errorf("zTOC cache: %w", err)
	}
	m.Schema, m.Layer, m.Compression, m.SpanSize, m.Tool, m.ZtocVersion = cacheSchema, k.Layer, string(k.Compression), k.SpanSize, k.Tool, ztoc.Version09
	mb, err := json.Marshal(m)
	if err != nil {
		return err
	}
	// The blob goes first: a reader that finds the new meta also finds its blob.
	if err := atomicfile.WriteBytes(bp, 0o644, b); err != nil {
		return fmt.Errorf("zTOC cache: %w", err)
	}
	if err := atomicfile.WriteBytes(mp, 0o644, mb); err != nil {
		return fmt.Errorf("zTOC cache: %w", err)
	}
	return nil
}
