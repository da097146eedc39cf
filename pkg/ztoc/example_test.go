package ztoc_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/socify/socify/pkg/ztoc"
)

// layer makes a small gzip-compressed tar layer, as a registry would serve
// its blob.
func layer(files map[string]string, names ...string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range names {
		body := files[name]
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			log.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			log.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

// noise is incompressible, so that the layer's size, and its span count,
// do not depend on the compressor.
func noise(n int) string {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

// Building the zTOC of a layer blob: one pass over the stream gives the
// table of contents, the checkpoints and the digests.
func ExampleBuild() {
	blob := layer(map[string]string{
		"etc/os-release": "ID=example\n",
		"usr/bin/app":    noise(200 << 10),
	}, "etc/os-release", "usr/bin/app")

	z, err := ztoc.Build(context.Background(), bytes.NewReader(blob), ztoc.WithSpanSize(64<<10))
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range z.TOC {
		fmt.Println(f.Name, f.UncompressedSize)
	}
	fmt.Println("spans:", z.MaxSpanID+1)
	// The digest of the bytes read: the caller checks the layer digest
	// without hashing the stream again.
	fmt.Println("layer digest checked:", z.BlobDigest == fmt.Sprintf("sha256:%x", sha256.Sum256(blob)))
	// Serialized, it is the blob a SOCI index lists for the layer.
	if _, err := ztoc.Marshal(z); err != nil {
		log.Fatal(err)
	}
	// Output:
	// etc/os-release 11
	// usr/bin/app 204800
	// spans: 3
	// layer digest checked: true
}

// Reading one file of a layer through its zTOC, as the SOCI snapshotter
// does: only the spans that hold the file are inflated, starting from the
// checkpoint before them, so a file at the end of a large layer costs a few
// MiB, not the whole layer.
func ExampleReader_ExtractFile() {
	blob := layer(map[string]string{
		"big/data":       strings.Repeat("y", 300<<10),
		"etc/os-release": "ID=example\n",
	}, "big/data", "etc/os-release")
	z, err := ztoc.Build(context.Background(), bytes.NewReader(blob), ztoc.WithSpanSize(64<<10))
	if err != nil {
		log.Fatal(err)
	}
	// Any io.ReaderAt over the compressed blob works: a file, or ranged
	// reads from a registry.
	r, err := ztoc.NewReader(z, bytes.NewReader(blob))
	if err != nil {
		log.Fatal(err)
	}
	if err := r.ExtractFile(context.Background(), "etc/os-release", os.Stdout); err != nil {
		log.Fatal(err)
	}
	// Output:
	// ID=example
}
