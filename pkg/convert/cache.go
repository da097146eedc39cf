package convert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/socify/socify/internal/atomicfile"
	"github.com/socify/socify/pkg/ztoc"
)

// Cache stores built zTOCs so that a layer seen before is neither read nor
// indexed again. Implementations must be safe for concurrent use; the engine
// calls Get before reading a layer and Put after building its zTOC.
//
// A miss (ok false) or an error never fails a conversion: an error is logged
// and listed in Report.Warnings, and the layer is indexed. The engine checks
// what Get returns (meta.Ztoc is the digest of ztoc, meta.LayerSize the
// layer's size) and treats a mismatch as a miss, so an implementation may be
// a plain key-value store.
type Cache interface {
	Get(ctx context.Context, key CacheKey) (ztoc []byte, meta CacheMeta, ok bool, err error)
	Put(ctx context.Context, key CacheKey, ztoc []byte, meta CacheMeta) error
}

// CacheKey names a zTOC: the same key gives the same bytes.
type CacheKey struct {
	Layer       digest.Digest
	Compression ztoc.Compression
	SpanSize    int64
	// Tool is the build tool identifier written into the zTOC.
	Tool string
	// ZtocVersion is the zTOC format version (ztoc.Version09).
	ZtocVersion string
}

// cacheSchema versions the cache layout and the builder's output. Bump it when
// pkg/ztoc starts writing different bytes for the same input, so old entries
// stop matching.
const cacheSchema = "socify-ztoc-cache/1"

// ID is a stable name for the key (hex sha256 of all its fields and the
// cache schema), usable as a file name, object key or tag suffix.
func (k CacheKey) ID() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%d\n%s\n%s\n", cacheSchema, k.Layer, k.Compression, k.SpanSize, k.ZtocVersion, k.Tool)
	return hex.EncodeToString(h.Sum(nil))
}

// CacheMeta is what the engine needs besides the zTOC bytes to use a cached
// zTOC without reading the layer.
type CacheMeta struct {
	LayerSize int64         `json:"layerSize"`
	Ztoc      digest.Digest `json:"ztoc"`
	Spans     int           `json:"spans"`
	Files     int           `json:"files"`
	HasXattrs bool          `json:"hasXattrs"`
	Warnings  []string      `json:"warnings,omitempty"`
}

// DirCache keeps zTOCs in a local directory. Each entry is two files named
// after CacheKey.ID: <id>.ztoc (the blob) and <id>.json (the key and
// CacheMeta). Both are written to a temporary name in the same directory and
// renamed, so concurrent conversions may share the directory and readers
// never see partial files; the meta names the blob digest, so an entry whose
// two files come from different writers is detected and ignored.
type DirCache struct {
	dir string
}

// NewDirCache returns a cache in dir (created on first Put).
func NewDirCache(dir string) *DirCache { return &DirCache{dir: dir} }

var _ Cache = (*DirCache)(nil)

// dirEntry is the .json file: the key is stored to detect hash collisions and
// entries of other schemas.
type dirEntry struct {
	Schema      string        `json:"schema"`
	Layer       digest.Digest `json:"layer"`
	Compression string        `json:"compression"`
	SpanSize    int64         `json:"spanSize"`
	Tool        string        `json:"tool"`
	ZtocVersion string        `json:"ztocVersion"`
	CacheMeta
}

func (c *DirCache) paths(k CacheKey) (blob, meta string) {
	n := k.ID()
	d := filepath.Join(c.dir, n[:2])
	return filepath.Join(d, n+".ztoc"), filepath.Join(d, n+".json")
}

// Get returns the cached zTOC for k. A damaged or mismatching entry is a
// miss (the next Put rewrites it).
func (c *DirCache) Get(_ context.Context, k CacheKey) ([]byte, CacheMeta, bool, error) {
	bp, mp := c.paths(k)
	mb, err := os.ReadFile(mp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, CacheMeta{}, false, nil
	}
	if err != nil {
		return nil, CacheMeta{}, false, fmt.Errorf("read zTOC cache: %w", err)
	}
	var e dirEntry
	if json.Unmarshal(mb, &e) != nil || e.Schema != cacheSchema || e.Layer != k.Layer || e.Compression != string(k.Compression) ||
		e.SpanSize != k.SpanSize || e.Tool != k.Tool || e.ZtocVersion != k.ZtocVersion {
		return nil, CacheMeta{}, false, nil
	}
	b, err := os.ReadFile(bp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, CacheMeta{}, false, nil
	}
	if err != nil {
		return nil, CacheMeta{}, false, fmt.Errorf("read zTOC cache: %w", err)
	}
	return b, e.CacheMeta, true, nil
}

// Put stores a zTOC under k.
func (c *DirCache) Put(_ context.Context, k CacheKey, b []byte, m CacheMeta) error {
	bp, mp := c.paths(k)
	if err := os.MkdirAll(filepath.Dir(bp), 0o755); err != nil {
		return fmt.Errorf("zTOC cache: %w", err)
	}
	mb, err := json.Marshal(dirEntry{Schema: cacheSchema, Layer: k.Layer, Compression: string(k.Compression),
		SpanSize: k.SpanSize, Tool: k.Tool, ZtocVersion: k.ZtocVersion, CacheMeta: m})
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

// DefaultCacheDir is where the CLI keeps zTOCs: <user cache dir>/socify/ztoc.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "socify", "ztoc"), nil
}
