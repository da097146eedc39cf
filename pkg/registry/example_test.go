package registry_test

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/pkg/ecr"
	"github.com/socify/socify/pkg/registry"
)

// One client for the whole run: the default credential chain (see registry.CredentialOrder),
// one connection pool, one handshake per repository and scope. Layers of the wrapped index resume
// after a broken download and large ones are read over several connections.
func ExampleNewClient() {
	ctx := context.Background()
	c, err := registry.NewClient(
		registry.WithDefaultKeychain(ecr.WithRegion("eu-west-1")),
		registry.WithUserAgent("example/1.0"),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	ref, err := name.ParseReference("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1.0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	idx, err := remote.Index(ref, c.RemoteOptions(ctx)...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	// The consumer below does not hash the layers, so the reader checks their digests.
	idx = c.WrapIndex(ctx, idx, ref.Context())
	im, err := idx.IndexManifest()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return
		}
		layers, _ := img.Layers()
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			fmt.Println(n, err)
		}
	}
}

// Copying a blob between registries in one stream: if the upload breaks, it continues from the
// offset the destination committed, reading the rest of the source with a Range request.
func ExampleClient_Upload() {
	ctx := context.Background()
	c, err := registry.NewClient(registry.WithDefaultKeychain())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	src, _ := name.NewDigest("registry.example.com/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	dst, _ := name.NewRepository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app")
	h, _ := v1.NewHash(src.DigestStr())
	const size = 52_428_800 // from the manifest's layer descriptor
	desc := v1.Descriptor{Digest: h, Size: size}

	if ok, err := c.Exists(ctx, dst, h); err == nil && ok {
		return // already there
	}
	body, err := c.OpenBlob(ctx, src, registry.BlobSize(size), registry.VerifyDigest(false)) // the destination verifies
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer body.Close()
	reopen := func(ctx context.Context, off int64) (io.ReadCloser, error) {
		return c.OpenBlob(ctx, src, registry.BlobSize(size), registry.BlobOffset(off))
	}
	if err := c.Upload(ctx, dst, desc, body, reopen); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
