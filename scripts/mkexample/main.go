// Command mkexample writes a small, deterministic multi-platform container
// image as an OCI archive (or an OCI layout directory), so that socify can be
// tried on a machine with no network and no docker:
//
//	go run ./scripts/mkexample example.tar
//	go run ./cmd/socify convert oci-archive:example.tar oci-archive:example-soci.tar
//
// The image looks like what "docker buildx build --platform
// linux/amd64,linux/arm64 --output type=oci,dest=example.tar" writes: an
// index.json pointing at an image index with one manifest per platform and,
// unless -attestations=false, one buildx-style attestation manifest per
// platform (platform unknown/unknown, vnd.docker.reference.* annotations).
// Every platform has a gzip layer larger than socify's default
// --min-layer-size (10 MiB), which gets a zTOC, and a small layer, which
// does not. The same flags always give the same bytes, for a given Go
// version (compress/gzip output may change between Go releases).
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	mtIndex     = "application/vnd.oci.image.index.v1+json"
	mtManifest  = "application/vnd.oci.image.manifest.v1+json"
	mtConfig    = "application/vnd.oci.image.config.v1+json"
	mtLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtInToto    = "application/vnd.in-toto+json"
)

// epoch is the modification time of every file, so that the output does
// not depend on when it was generated.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

// options select what the image contains.
type options struct {
	bigMiB int
	// sharedBig gives every platform the same big layer (identical SOCI
	// indexes for all platforms: a case converters and verifiers must get
	// right).
	sharedBig    bool
	platforms    []platform
	attestations bool
	tag          string
}

func main() {
	var (
		bigMiB       = flag.Int("big-mib", 12, "size of each platform's big layer in MiB (random data, so the gzip layer is about as large)")
		platforms    = flag.String("platforms", "linux/amd64,linux/arm64", "comma-separated OS/ARCH[/VARIANT] list")
		attestations = flag.Bool("attestations", true, "add a buildx-style attestation manifest per platform")
		tag          = flag.String("tag", "latest", "org.opencontainers.image.ref.name of the image in index.json")
		layout       = flag.Bool("layout", false, "write an OCI layout directory at OUT instead of an OCI archive")
		sharedBig    = flag.Bool("shared-big-layer", false, "give every platform the same big layer (and so the same SOCI index)")
	)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mkexample [flags] OUT\n\nWrites a deterministic example image as an OCI archive (or a layout with -layout).\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	o := options{bigMiB: *bigMiB, attestations: *attestations, tag: *tag, sharedBig: *sharedBig}
	for _, p := range strings.Split(*platforms, ",") {
		parts := strings.Split(strings.TrimSpace(p), "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			fmt.Fprintf(os.Stderr, "mkexample: bad platform %q (want OS/ARCH[/VARIANT])\n", p)
			os.Exit(2)
		}
		pl := platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) == 3 {
			pl.Variant = parts[2]
		}
		o.platforms = append(o.platforms, pl)
	}
	if o.bigMiB < 0 {
		fmt.Fprintln(os.Stderr, "mkexample: -big-mib must not be negative")
		os.Exit(2)
	}
	img, err := build(o)
	if err == nil {
		if *layout {
			err = img.writeLayout(flag.Arg(0))
		} else {
			err = img.writeArchive(flag.Arg(0))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkexample:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s: image index %s (%d platforms)\n", flag.Arg(0), img.root.Digest, len(o.platforms))
}

// image is an OCI layout in memory: its blobs and its index.json.
type image struct {
	blobs     map[string][]byte // digest -> bytes
	indexJSON []byte
	root      descriptor
}

func (img *image) add(mediaType string, b []byte) descriptor {
	sum := sha256.Sum256(b)
	d := "sha256:" + hex.EncodeToString(sum[:])
	img.blobs[d] = b
	return descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func (img *image) addJSON(mediaType string, v any) (descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return descriptor{}, err
	}
	return img.add(mediaType, b), nil
}

func build(o options) (*image, error) {
	img := &image{blobs: map[string][]byte{}}
	var children, atts []descriptor
	for i, p := range o.platforms {
		seed, bp := uint64(i), p
		if o.sharedBig {
			seed, bp = 0, platform{OS: "any", Architecture: "any"}
		}
		big, bigDiff, err := bigLayer(o.bigMiB, seed, bp)
		if err != nil {
			return nil, err
		}
		bigDesc := img.add(mtLayerGzip, big)
		small, smallDiff, err := smallLayer(p)
		if err != nil {
			return nil, err
		}
		smallDesc := img.add(mtLayerGzip, small)
		cfg := map[string]any{
			"architecture": p.Architecture,
			"os":           p.OS,
			"created":      epoch.Format(time.RFC3339),
			"config": map[string]any{
				"Cmd":        []string{"/usr/bin/example"},
				"Env":        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
				"WorkingDir": "/",
			},
			"rootfs": map[string]any{"type": "layers", "diff_ids": []string{bigDiff, smallDiff}},
			"history": []map[string]any{
				{"created": epoch.Format(time.RFC3339), "created_by": "mkexample: " + platformString(p) + " data layer"},
				{"created": epoch.Format(time.RFC3339), "created_by": "mkexample: " + platformString(p) + " release file"},
			},
		}
		if p.Variant != "" {
			cfg["variant"] = p.Variant
		}
		cfgDesc, err := img.addJSON(mtConfig, cfg)
		if err != nil {
			return nil, err
		}
		m, err := img.addJSON(mtManifest, manifest{SchemaVersion: 2, MediaType: mtManifest, Config: cfgDesc, Layers: []descriptor{bigDesc, smallDesc}})
		if err != nil {
			return nil, err
		}
		pl := p
		m.Platform = &pl
		children = append(children, m)
		if o.attestations {
			a, err := attestation(img, m, p)
			if err != nil {
				return nil, err
			}
			atts = append(atts, a)
		}
	}
	idx, err := img.addJSON(mtIndex, index{SchemaVersion: 2, MediaType: mtIndex, Manifests: append(children, atts...)})
	if err != nil {
		return nil, err
	}
	idx.Annotations = map[string]string{"org.opencontainers.image.ref.name": o.tag}
	img.root = idx
	img.indexJSON, err = json.Marshal(index{SchemaVersion: 2, MediaType: mtIndex, Manifests: []descriptor{idx}})
	return img, err
}

// attestation adds a minimal in-toto provenance statement about the image
// manifest m, wrapped the way buildx does it.
func attestation(img *image, m descriptor, p platform) (descriptor, error) {
	stmt := map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": "https://slsa.dev/provenance/v0.2",
		"subject": []map[string]any{{
			"name":   "pkg:docker/example@latest?platform=" + strings.ReplaceAll(platformString(p), "/", "%2F"),
			"digest": map[string]string{"sha256": strings.TrimPrefix(m.Digest, "sha256:")},
		}},
		"predicate": map[string]any{"builder": map[string]string{"id": "mkexample"}, "buildType": "https://github.com/socify/socify/scripts/mkexample"},
	}
	layer, err := img.addJSON(mtInToto, stmt)
	if err != nil {
		return descriptor{}, err
	}
	layer.Annotations = map[string]string{"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}
	cfg, err := img.addJSON(mtConfig, map[string]any{
		"architecture": "unknown", "os": "unknown",
		"config": map[string]any{}, "rootfs": map[string]any{"type": "layers", "diff_ids": []string{layer.Digest}},
	})
	if err != nil {
		return descriptor{}, err
	}
	a, err := img.addJSON(mtManifest, manifest{SchemaVersion: 2, MediaType: mtManifest, Config: cfg, Layers: []descriptor{layer}})
	if err != nil {
		return descriptor{}, err
	}
	a.Platform = &platform{Architecture: "unknown", OS: "unknown"}
	a.Annotations = map[string]string{
		"vnd.docker.reference.digest": m.Digest,
		"vnd.docker.reference.type":   "attestation-manifest",
	}
	return a, nil
}

func platformString(p platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

type file struct {
	name string
	mode int64
	data []byte
	dir  bool
	link string
}

// tarGzip writes files as a tar and gzips it; it returns the gzip blob and
// the tar's diff ID.
func tarGzip(files []file) ([]byte, string, error) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: epoch, Uname: "root", Gname: "root", Format: tar.FormatPAX}
		switch {
		case f.dir:
			h.Typeflag = tar.TypeDir
		case f.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(tb.Bytes())
	var gb bytes.Buffer
	gw, err := gzip.NewWriterLevel(&gb, gzip.DefaultCompression)
	if err != nil {
		return nil, "", err
	}
	if _, err := gw.Write(tb.Bytes()); err != nil {
		return nil, "", err
	}
	if err := gw.Close(); err != nil {
		return nil, "", err
	}
	return gb.Bytes(), "sha256:" + hex.EncodeToString(sum[:]), nil
}

// bigLayer is a platform's large layer: text that compresses and random
// data that does not, so the gzip blob is about mib MiB. Each platform gets
// its own content, as real images have per-architecture binaries.
func bigLayer(mib int, seed uint64, p platform) ([]byte, string, error) {
	rng := rand.New(rand.NewPCG(2024, seed))
	files := []file{
		{name: "usr/", mode: 0o755, dir: true},
		{name: "usr/bin/", mode: 0o755, dir: true},
		{name: "usr/share/", mode: 0o755, dir: true},
		{name: "usr/share/example/", mode: 0o755, dir: true},
		{name: "usr/share/example/data/", mode: 0o755, dir: true},
		{name: "usr/bin/example", mode: 0o755, data: []byte("#!/bin/sh\necho 'hello from a lazily loaded " + platformString(p) + " image'\n")},
	}
	words := strings.Fields("soci ztoc span checkpoint layer gzip index manifest lazy load snapshot registry digest tar offset window deflate block image platform")
	for i := 0; i < 32; i++ {
		var b strings.Builder
		for b.Len() < 16<<10 {
			b.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(12) == 0 {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		}
		files = append(files, file{name: fmt.Sprintf("usr/share/example/doc-%02d.txt", i), mode: 0o644, data: []byte(b.String())})
	}
	const chunk = 1 << 20
	for i := 0; i < mib; i++ {
		data := make([]byte, chunk)
		for j := 0; j < chunk; j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				data[j+k] = byte(v >> (8 * k))
			}
		}
		files = append(files, file{name: fmt.Sprintf("usr/share/example/data/blob-%03d.bin", i), mode: 0o644, data: data})
	}
	files = append(files, file{name: "usr/share/example/data/latest.bin", mode: 0o777, link: fmt.Sprintf("blob-%03d.bin", max(mib-1, 0))})
	return tarGzip(files)
}

// smallLayer is specific to one platform and well under 10 MiB.
func smallLayer(p platform) ([]byte, string, error) {
	return tarGzip([]file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/example-release", mode: 0o644, data: []byte("NAME=socify-example\nPLATFORM=" + platformString(p) + "\n")},
	})
}

func (img *image) digests() []string {
	ds := make([]string, 0, len(img.blobs))
	for d := range img.blobs {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	return ds
}

const ociLayout = `{"imageLayoutVersion":"1.0.0"}`

// writeArchive writes the layout as a tar with sorted names and fixed
// metadata, under a temporary name renamed on success.
func (img *image) writeArchive(path string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	tw := tar.NewWriter(tmp)
	add := func(name string, mode int64, data []byte, dir bool) error {
		h := &tar.Header{Name: name, Mode: mode, ModTime: epoch, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(data))}
		if dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add("blobs/", 0o755, nil, true); err != nil {
		return err
	}
	if err := add("blobs/sha256/", 0o755, nil, true); err != nil {
		return err
	}
	for _, d := range img.digests() {
		if err := add("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), 0o444, img.blobs[d], false); err != nil {
			return err
		}
	}
	if err := add("index.json", 0o644, img.indexJSON, false); err != nil {
		return err
	}
	if err := add("oci-layout", 0o444, []byte(ociLayout), false); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeLayout writes an OCI layout directory; the directory must not exist
// or be empty, so that an old layout's blobs never mix with the new ones.
func (img *image) writeLayout(dir string) error {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s exists and is not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return err
	}
	for _, d := range img.digests() {
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")), img.blobs[d], 0o444); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(ociLayout), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "index.json"), img.indexJSON, 0o644)
}
