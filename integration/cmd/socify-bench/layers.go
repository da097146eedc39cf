package main

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/socify/socify/pkg/location"
)

// benchLayer is one layer of the ztoc suite.
type benchLayer struct {
	name string // short label in the tables
	desc string
	path string
}

// benchDir is where generated layers are cached across runs.
func benchDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "socify-bench")
	return dir, os.MkdirAll(dir, 0o755)
}

// gzipTo runs `gzip -6 -n` into out (via a temporary name, renamed when
// complete) and feeds it the tar that write produces.
func gzipTo(out string, write func(tw *tar.Writer, compressed func() int64) error) error {
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	cmd := exec.Command("gzip", "-6", "-n")
	cmd.Stdout = f
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	tw := tar.NewWriter(stdin)
	size := func() int64 {
		st, err := f.Stat()
		if err != nil {
			return 0
		}
		return st.Size()
	}
	if err := write(tw, size); err != nil {
		stdin.Close()
		cmd.Wait()
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// smallFilesLayer makes (once, cached) a node_modules-like layer: n files of
// 0-2 KiB of real source text (consecutive pieces of the Go toolchain's
// sources, under their real names) in directories of about 300 files each.
func smallFilesLayer(n int) (string, error) {
	dir, err := benchDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, fmt.Sprintf("small-files-%d.tar.gz", n))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	src := filepath.Join(runtime.GOROOT(), "src")
	var names []string
	filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() && strings.HasSuffix(p, ".go") {
			names = append(names, p)
		}
		return nil
	})
	if len(names) == 0 {
		return "", fmt.Errorf("no Go sources under %s to make small files from", src)
	}
	fmt.Fprintf(os.Stderr, "generating %s (%d files of 0-2 KiB from %s, gzip -6)...\n", out, n, src)
	rng := rand.New(rand.NewSource(42))
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return out, gzipTo(out, func(tw *tar.Writer, _ func() int64) error {
		var text []byte // the rest of the current source file
		next := 0
		for i := 0; i < n; i++ {
			if i%300 == 0 {
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("app/node_modules/pkg%d/", i/300), Mode: 0o755, ModTime: mtime}); err != nil {
					return err
				}
			}
			size := rng.Intn(2049)
			for len(text) < size {
				b, err := os.ReadFile(names[next%len(names)])
				if err != nil {
					return err
				}
				text = append(text, b...)
				next++
			}
			rel, _ := filepath.Rel(src, names[(next+len(names)-1)%len(names)])
			hdr := &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("app/node_modules/pkg%d/%d-%s", i/300, i, strings.ReplaceAll(rel, "/", "_")),
				Mode: 0o644, Size: int64(size), ModTime: mtime, Uid: 1000, Gid: 1000}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := tw.Write(text[:size]); err != nil {
				return err
			}
			text = text[size:]
		}
		return nil
	})
}

// generate makes a gzip -6 layer of real files, cached across runs: a tar
// of whole files from real trees (repeated under copyN/ prefixes if needed)
// piped through GNU gzip -6 until the compressed size reaches minSize.
func generate(minSize int64) (string, error) {
	dir, err := benchDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, fmt.Sprintf("layer-%d.tar.gz", minSize))
	if st, err := os.Stat(out); err == nil && st.Size() >= minSize {
		return out, nil
	}
	var roots []string
	for _, r := range []string{runtime.GOROOT(), filepath.Join(os.Getenv("HOME"), "go/pkg/mod"), "/usr/share", "/usr/lib"} {
		if _, err := os.Stat(r); err == nil {
			roots = append(roots, r)
		}
	}
	fmt.Fprintf(os.Stderr, "generating %s from %v (tar | gzip -6, until %d MB)...\n", out, roots, minSize/1e6)
	return out, gzipTo(out, func(tw *tar.Writer, compressed func() int64) error {
		var written int64
		full := func() bool { return compressed() >= minSize }
		for pass := 0; pass < 20 && !full(); pass++ {
			for _, root := range roots {
				if full() {
					break
				}
				err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
					if err != nil || !de.Type().IsRegular() {
						return nil
					}
					info, err := de.Info()
					if err != nil {
						return nil
					}
					src, err := os.Open(p)
					if err != nil {
						return nil
					}
					defer src.Close()
					hdr, _ := tar.FileInfoHeader(info, "")
					hdr.Name = fmt.Sprintf("copy%d%s", pass, p)
					hdr.Uname, hdr.Gname = "", ""
					if err := tw.WriteHeader(hdr); err != nil {
						return err
					}
					n, err := io.CopyN(tw, src, info.Size())
					if err != nil {
						// A file that shrank: pad so the archive stays valid.
						if _, err := tw.Write(make([]byte, info.Size()-n)); err != nil {
							return err
						}
					}
					written += info.Size()
					if written > 8<<20 {
						written = 0
						if full() {
							return fs.SkipAll
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// layerImage makes (once, cached next to the layer) an OCI archive of a
// linux/amd64 image whose only layer is layer, for the CLI convert case.
func layerImage(layer string) (string, error) {
	out := strings.TrimSuffix(layer, ".tar.gz") + ".oci.tar"
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	l, err := tarball.LayerFromFile(layer, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return "", err
	}
	im, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return "", err
	}
	im = mutate.ConfigMediaType(mutate.MediaType(im, types.OCIManifestSchema1), types.OCIConfigJSON)
	cf, err := im.ConfigFile()
	if err != nil {
		return "", err
	}
	cf.OS, cf.Architecture = "linux", "amd64"
	if im, err = mutate.ConfigFile(im, cf); err != nil {
		return "", err
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{Add: im})
	tmp := out + ".tmp"
	sink, err := location.NewSink(location.MustParseReference("oci-archive:" + tmp))
	if err != nil {
		return "", err
	}
	if _, err := sink.Write(context.Background(), idx); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return out, os.Rename(tmp, out)
}
