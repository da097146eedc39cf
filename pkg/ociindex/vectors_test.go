package ociindex

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The vectors are copies of /work/shared/testvectors/images made by
// `TZ=UTC soci convert --standalone` v0.16.1.
const vectorsDir = "../../testdata/images"

type vector struct {
	name  string // case directory
	label string // expected/<label>
	span  int64
	// nested: index.json points at an index, which is the image.
	platforms []ocispec.Platform // converted platforms, in soci's order
}

var (
	amd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = ocispec.Platform{OS: "linux", Architecture: "arm64"}
)

func vectors() []vector {
	return []vector{
		{name: "a-img1-single", label: "defaultspan", span: 4194304, platforms: []ocispec.Platform{amd64}},
		{name: "a-img1-single", label: "span64k", span: 65536, platforms: []ocispec.Platform{amd64}},
		{name: "a-img2-2platform", label: "allplatforms-span64k", span: 65536, platforms: []ocispec.Platform{amd64, arm64}},
		{name: "a-img2-2platform", label: "hostplatform-span64k", span: 65536, platforms: []ocispec.Platform{amd64}},
	}
}

// blobs holds every blob of the input layout and of the expected output.
type blobs map[digest.Digest][]byte

func readLayoutTar(t *testing.T, path string) (index []byte, bs blobs) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bs = blobs{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case h.Name == "index.json":
			index = b
		case strings.HasPrefix(h.Name, "blobs/sha256/"):
			bs[digest.NewDigestFromEncoded(digest.SHA256, strings.TrimPrefix(h.Name, "blobs/sha256/"))] = b
		}
	}
	return index, bs
}

func (v vector) load(t *testing.T) (srcIndex []byte, in blobs, outIndex []byte, out blobs) {
	t.Helper()
	srcIndex, in = readLayoutTar(t, filepath.Join(vectorsDir, v.name, "IN.tar"))
	dir := filepath.Join(vectorsDir, v.name, "expected", v.label)
	outIndex, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	out = blobs{}
	es, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		d := digest.FromBytes(b)
		if d.Encoded() != e.Name() {
			t.Fatalf("vector blob %s has digest %s", e.Name(), d)
		}
		out[d] = b
	}
	return srcIndex, in, outIndex, out
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestVectorsByteExact rebuilds every JSON document of soci's output from the
// input image and the expected zTOC blobs alone, and compares bytes.
func TestVectorsByteExact(t *testing.T) {
	for _, v := range vectors() {
		t.Run(v.name+"/"+v.label, func(t *testing.T) {
			srcIndexJSON, in, outIndexJSON, out := v.load(t)

			// Resolve the image the way soci standalone does: index.json has one
			// entry, which is the image (a manifest or a nested index).
			var layout ocispec.Index
			mustUnmarshal(t, srcIndexJSON, &layout)
			if len(layout.Manifests) != 1 {
				t.Fatalf("layout has %d entries", len(layout.Manifests))
			}
			target := layout.Manifests[0]

			var src ocispec.Index
			if IsIndexType(target.MediaType) {
				var err error
				src, err = ParseIndex(in[target.Digest], target.MediaType)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				var cfg ocispec.Platform
				m, err := ParseManifest(in[target.Digest], target.MediaType)
				if err != nil {
					t.Fatal(err)
				}
				mustUnmarshal(t, in[m.Config.Digest], &cfg)
				src = WrapManifest(target, NormalizePlatform(cfg))
			}

			// zTOCs by layer digest, from the expected output.
			ztocs := map[digest.Digest]ocispec.Descriptor{}
			for d, b := range out {
				if _, isInput := in[d]; isInput || b[0] == '{' {
					continue
				}
				ztocs[d] = ocispec.Descriptor{Digest: d, Size: int64(len(b))}
			}

			updates := map[digest.Digest]ChildUpdate{}
			var socis []SociEntry
			for _, p := range v.platforms {
				var md ocispec.Descriptor
				for _, d := range src.Manifests {
					if d.Platform != nil && MatchPlatform(p, *d.Platform) {
						md = d
						break
					}
				}
				m, err := ParseManifest(in[md.Digest], md.MediaType)
				if err != nil {
					t.Fatal(err)
				}
				var descs []ocispec.Descriptor
				for _, l := range m.Layers {
					z := findZtocFor(t, out, ztocs, l.Digest)
					descs = append(descs, ZtocDescriptor(z.Digest, z.Size, l, v.span, false))
				}
				si, err := NewSociIndex(descs, "AWS SOCI CLI v0.2")
				if err != nil {
					t.Fatal(err)
				}
				if want, ok := out[si.Descriptor.Digest]; !ok || !bytes.Equal(want, si.Bytes) {
					t.Fatalf("SOCI index for %v:\n got %s\n(%s) not among expected blobs", p, si.Bytes, si.Descriptor.Digest)
				}
				mb, _, err := RewriteManifest(in[md.Digest], md.MediaType, si.Descriptor.Digest)
				if err != nil {
					t.Fatal(err)
				}
				if want, ok := out[mb.Descriptor.Digest]; !ok || !bytes.Equal(want, mb.Bytes) {
					t.Fatalf("manifest for %v:\n got %s\n(%s) not among expected blobs", p, mb.Bytes, mb.Descriptor.Digest)
				}
				updates[md.Digest] = UpdateFromBlob(mb)
				socis = append(socis, SociEntry{Index: si.Descriptor, Platform: p, SourceManifest: md.Digest})
			}
			// soci re-encodes the manifests it did not convert too.
			for _, d := range src.Manifests {
				if _, done := updates[d.Digest]; done {
					continue
				}
				mb, _, err := RewriteManifest(in[d.Digest], d.MediaType, "")
				if err != nil {
					t.Fatal(err)
				}
				updates[d.Digest] = UpdateFromBlob(mb)
			}

			ib, _, err := ConvertIndex(src, updates, socis)
			if err != nil {
				t.Fatal(err)
			}
			var top ocispec.Index
			mustUnmarshal(t, outIndexJSON, &top)
			if top.Manifests[0].Digest != ib.Descriptor.Digest || top.Manifests[0].Size != ib.Descriptor.Size {
				t.Fatalf("image index:\n got %s %s\nwant %s", ib.Descriptor.Digest, ib.Bytes, out[top.Manifests[0].Digest])
			}
			lb, err := Marshal(LayoutIndex(ib.Descriptor, ""))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(lb, outIndexJSON) {
				t.Fatalf("index.json:\n got %s\nwant %s", lb, outIndexJSON)
			}
		})
	}
}

// findZtocFor finds the expected zTOC of a layer through the expected SOCI
// indexes' annotations (the zTOC bytes themselves are pkg/ztoc's business).
func findZtocFor(t *testing.T, out blobs, ztocs map[digest.Digest]ocispec.Descriptor, layer digest.Digest) ocispec.Descriptor {
	t.Helper()
	for _, b := range out {
		var m ocispec.Manifest
		if json.Unmarshal(b, &m) != nil || m.Config.MediaType != ArtifactTypeSociIndexV2 {
			continue
		}
		for _, l := range m.Layers {
			if l.Annotations[AnnotationImageLayerDigest] == layer.String() {
				z, ok := ztocs[l.Digest]
				if !ok {
					t.Fatalf("zTOC %s not among expected blobs", l.Digest)
				}
				return z
			}
		}
	}
	t.Fatalf("no zTOC for layer %s", layer)
	return ocispec.Descriptor{}
}
