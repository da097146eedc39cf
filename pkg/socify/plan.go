package socify

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/socify/socify/pkg/location"
)

// refName is the org.opencontainers.image.ref.name an archive or layout
// source gives its image, "" when none.
func refName(s *location.Source) string {
	if s.Ref.Kind == location.Registry {
		return ""
	}
	return s.Descriptor.Annotations[ocispec.AnnotationRefName]
}

// tagOf is the tag a ref name holds: "latest" for "latest" and for
// "docker.io/library/app:latest" (containerd writes full names).
func tagOf(ref string) string {
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.Contains(ref[i:], "/") {
		return ref[i+1:]
	}
	if strings.Contains(ref, "/") {
		return ""
	}
	return ref
}

// blobRef is one blob or manifest the result references.
type blobRef struct {
	d        v1.Descriptor
	manifest bool
}

// present asks the registry which of refs repo holds, skipping those known
// already.
func present(ctx context.Context, a *access, repo name.Repository, refs []blobRef, known map[v1.Hash]bool) (map[v1.Hash]bool, error) {
	out := map[v1.Hash]bool{}
	var mu sync.Mutex
	ro := a.remoteOptions(ctx)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, r := range refs {
		if ok, done := known[r.d.Digest]; done {
			out[r.d.Digest] = ok
			continue
		}
		g.Go(func() error {
			var ok bool
			if r.manifest {
				_, err := remote.Head(repo.Digest(r.d.Digest.String()), append(ro, remote.WithContext(gctx))...)
				ok = err == nil
			} else {
				var err error
				if ok, err = a.client.Exists(gctx, repo, r.d.Digest); err != nil {
					return fmt.Errorf("checking blob %s in %s: %w", r.d.Digest, repo, err)
				}
			}
			mu.Lock()
			out[r.d.Digest] = ok
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

// refsOf lists every manifest and blob idx references, idx itself included.
func refsOf(idx v1.ImageIndex) ([]blobRef, error) {
	var refs []blobRef
	if err := collect(idx, &refs, map[v1.Hash]bool{}, 0); err != nil {
		return nil, err
	}
	h, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return nil, err
	}
	return append(refs, blobRef{d: v1.Descriptor{Digest: h, Size: int64(len(raw))}, manifest: true}), nil
}

// registryWrite tells what writing idx to tag uploads and what the
// registry held already. before holds the answers asked before the
// conversion, when the layers had not been copied in the same pass yet.
// Changed is false when the tag already named idx.
func registryWrite(ctx context.Context, a *access, idx v1.ImageIndex, tag name.Tag, before map[v1.Hash]bool) (*WriteReport, bool, error) {
	refs, err := refsOf(idx)
	if err != nil {
		return nil, false, err
	}
	have, err := present(ctx, a, tag.Context(), refs, before)
	if err != nil {
		return nil, false, err
	}
	w := &WriteReport{}
	for _, r := range refs {
		if have[r.d.Digest] {
			w.BlobsExisting++
			w.BytesExisting += r.d.Size
		} else {
			w.BlobsWritten++
			w.BytesWritten += r.d.Size
		}
	}
	h, _ := idx.Digest()
	d, err := remote.Head(tag, a.remoteOptions(ctx)...)
	changed := err != nil || d.Digest != h
	return w, changed, nil
}

// collect lists every manifest and blob idx references, once each.
func collect(idx v1.ImageIndex, out *[]blobRef, seen map[v1.Hash]bool, depth int) error {
	if depth > 8 {
		return fmt.Errorf("image indexes nested too deep")
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		*out = append(*out, blobRef{d: d, manifest: true})
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return err
			}
			if err := collect(child, out, seen, depth+1); err != nil {
				return err
			}
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		im, err := img.Manifest()
		if err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		for _, b := range append([]v1.Descriptor{im.Config}, im.Layers...) {
			// A foreign layer is not pushed: the registry never holds it.
			if seen[b.Digest] || !b.MediaType.IsDistributable() {
				continue
			}
			seen[b.Digest] = true
			*out = append(*out, blobRef{d: b})
		}
	}
	return nil
}

// sourcePresence asks which of the source's blobs and manifests the
// destination repository holds.
func sourcePresence(ctx context.Context, a *access, src v1.ImageIndex, tag name.Tag) (map[v1.Hash]bool, error) {
	refs, err := refsOf(src)
	if err != nil {
		return nil, err
	}
	return present(ctx, a, tag.Context(), refs, nil)
}
