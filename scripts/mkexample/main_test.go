package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestExampleImage: the README's example is deterministic, has a gzip layer
// above socify's default --min-layer-size per platform and a small one, and
// buildx-style attestations.
func TestExampleImage(t *testing.T) {
	o := options{bigMiB: 11, attestations: true, tag: "latest",
		platforms: []platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}}
	dir := t.TempDir()
	var archives [][]byte
	for i := 0; i < 2; i++ {
		img, err := build(o)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "example.tar")
		if err := img.writeArchive(p); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		archives = append(archives, b)

		var idx index
		if err := json.Unmarshal(img.blobs[img.root.Digest], &idx); err != nil {
			t.Fatal(err)
		}
		if len(idx.Manifests) != 4 {
			t.Fatalf("%d manifests, want 2 images + 2 attestations", len(idx.Manifests))
		}
		for _, d := range idx.Manifests[:2] {
			var m manifest
			if err := json.Unmarshal(img.blobs[d.Digest], &m); err != nil {
				t.Fatal(err)
			}
			if len(m.Layers) != 2 || m.Layers[0].Size <= 10<<20 || m.Layers[1].Size >= 10<<20 {
				t.Errorf("%s layers: %+v", d.Platform.Architecture, m.Layers)
			}
		}
		for _, d := range idx.Manifests[2:] {
			if d.Platform.OS != "unknown" || d.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
				t.Errorf("attestation descriptor: %+v", d)
			}
		}
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Error("two runs gave different archives")
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Errorf("temporary files left: %v", names)
	}
}

func TestWriteLayoutRefusesNonEmptyDir(t *testing.T) {
	img, err := build(options{bigMiB: 0, platforms: []platform{{OS: "linux", Architecture: "amd64"}}, tag: "x"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := img.writeLayout(filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	if err := img.writeLayout(filepath.Join(dir, "l")); err == nil {
		t.Error("wrote into a non-empty directory")
	}
}
