package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/socify/socify/internal/notfound"
	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/ociindex"
	"github.com/socify/socify/pkg/registry"
)

// Media types of a cache entry: an OCI artifact manifest tagged ztoc-<key id> whose one layer is
// the zTOC and whose annotations carry the key and the metadata.
const (
	ArtifactTypeZtocCache = "application/vnd.socify.ztoc-cache.v1"
	mediaTypeEmpty        = "application/vnd.oci.empty.v1+json"
	annotationCacheKey    = "dev.socify.ztoc-cache.key"
	annotationCacheMeta   = "dev.socify.ztoc-cache.meta"
	// maxCachedZtoc bounds what Get reads: a zTOC is a few percent of its layer at most, and a
	// damaged entry must not make the function read a huge blob into memory.
	maxCachedZtoc = 256 << 20
)

// RegistryCache is a convert.Cache kept in a repository of the registry itself, so that every
// invocation and every repository of an account shares the zTOCs of common base layers without
// another AWS service. An entry is found by its tag, "ztoc-" + CacheKey.ID (layer digest,
// compression, span size, build tool identifier, zTOC format version, cache schema): a hit costs
// one manifest and one blob download and no layer read.
//
// With MountInto, each zTOC found is also mounted (cross-repository blob mount) into the
// conversion's target repository, so the image's write finds it there and uploads nothing.
type RegistryCache struct {
	client *registry.Client
	repo   name.Repository
	target *name.Repository
	log    *slog.Logger
}

var _ convert.Cache = (*RegistryCache)(nil)

// NewRegistryCache keeps entries in repo through client.
func NewRegistryCache(client *registry.Client, repo name.Repository, log *slog.Logger) *RegistryCache {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &RegistryCache{client: client, repo: repo, log: log}
}

// MountInto returns a copy of the cache that mounts the zTOCs it finds into target.
func (c *RegistryCache) MountInto(target name.Repository) *RegistryCache {
	cc := *c
	cc.target = &target
	return &cc
}

func (c *RegistryCache) tag(key convert.CacheKey) name.Tag { return c.repo.Tag("ztoc-" + key.ID()) }

type cacheKeyDoc struct {
	ID string `json:"id"`
	convert.CacheKey
}

// Get implements convert.Cache. A missing or malformed entry is a miss; only registry failures
// are errors (which the engine logs and treats as a miss).
func (c *RegistryCache) Get(ctx context.Context, key convert.CacheKey) ([]byte, convert.CacheMeta, bool, error) {
	var meta convert.CacheMeta
	ro := c.client.RemoteOptions(ctx)
	tag := c.tag(key)
	desc, err := remote.Get(tag, ro...)
	if notfound.Is(err) {
		return nil, meta, false, nil
	}
	if err != nil {
		return nil, meta, false, fmt.Errorf("zTOC cache %s: %w", tag, err)
	}
	var m struct {
		ArtifactType string            `json:"artifactType"`
		Layers       []v1.Descriptor   `json:"layers"`
		Annotations  map[string]string `json:"annotations"`
	}
	if json.Unmarshal(desc.Manifest, &m) != nil || m.ArtifactType != ArtifactTypeZtocCache || len(m.Layers) != 1 {
		return nil, meta, false, nil
	}
	var kd cacheKeyDoc
	if json.Unmarshal([]byte(m.Annotations[annotationCacheKey]), &kd) != nil || kd.ID != key.ID() || kd.CacheKey != key {
		return nil, meta, false, nil
	}
	if json.Unmarshal([]byte(m.Annotations[annotationCacheMeta]), &meta) != nil {
		return nil, meta, false, nil
	}
	l := m.Layers[0]
	if l.Size <= 0 || l.Size > maxCachedZtoc || l.Digest.String() != meta.Ztoc.String() {
		return nil, meta, false, nil
	}
	layer, err := remote.Layer(c.repo.Digest(l.Digest.String()), ro...)
	if err != nil {
		return nil, meta, false, fmt.Errorf("zTOC cache %s: %w", tag, err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, meta, false, fmt.Errorf("zTOC cache %s: %w", tag, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, l.Size+1))
	if err != nil {
		return nil, meta, false, fmt.Errorf("zTOC cache %s: blob %s: %w", tag, l.Digest, err)
	}
	if int64(len(b)) != l.Size || digest.FromBytes(b).String() != l.Digest.String() {
		return nil, meta, false, nil
	}
	if c.target != nil {
		if ok, err := c.client.Mount(ctx, *c.target, c.repo, l.Digest); err != nil || !ok {
			// The image's write uploads the zTOC then; the entry is still good.
			c.log.Debug("zTOC cache: blob not mounted", "ztoc", l.Digest.String(), "into", c.target.String(), "err", err)
		}
	}
	return b, meta, true, nil
}

// Put implements convert.Cache: the zTOC blob, the empty config, then the tagged manifest, so
// that a reader finding the tag finds its blobs.
func (c *RegistryCache) Put(ctx context.Context, key convert.CacheKey, ztoc []byte, meta convert.CacheMeta) error {
	ro := c.client.RemoteOptions(ctx)
	tag := c.tag(key)
	zl := static.NewLayer(ztoc, types.MediaType(ociindex.MediaTypeZtoc))
	cl := static.NewLayer(ociindex.EmptyConfig(), mediaTypeEmpty)
	for _, l := range []v1.Layer{zl, cl} {
		if err := remote.WriteLayer(c.repo, l, ro...); err != nil {
			return fmt.Errorf("zTOC cache %s: %w", tag, err)
		}
	}
	kb, err := json.Marshal(cacheKeyDoc{ID: key.ID(), CacheKey: key})
	if err != nil {
		return err
	}
	mb, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	zd, _ := zl.Digest()
	raw, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     string(types.OCIManifestSchema1),
		"artifactType":  ArtifactTypeZtocCache,
		"config":        map[string]any{"mediaType": mediaTypeEmpty, "digest": ociindex.EmptyConfigDigest, "size": 2},
		"layers":        []any{map[string]any{"mediaType": ociindex.MediaTypeZtoc, "digest": zd.String(), "size": len(ztoc)}},
		"annotations":   map[string]string{annotationCacheKey: string(kb), annotationCacheMeta: string(mb)},
	})
	if err != nil {
		return err
	}
	if err := remote.Put(tag, rawManifest{raw}, ro...); err != nil {
		return fmt.Errorf("zTOC cache %s: %w", tag, err)
	}
	return nil
}

// rawManifest is a manifest remote.Put can push as is.
type rawManifest struct{ b []byte }

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
