// Command socify-bench measures socify's zTOC builder against the inflaters
// it competes with, on a large real-content gzip layer, and prints medians
// and ratios to klauspost/compress measured in the same run.
//
//	cd integration && go run ./cmd/socify-bench [-runs 5] [-min-size 300000000] [-layer FILE]
//
// Without -layer it makes (once, cached under the user cache dir) a tar of
// real trees on this machine (the Go toolchain, the module cache, /usr/share,
// /usr/lib) compressed with `gzip -6`. Every measurement runs in a fresh child
// process so peak RSS is per measurement.
package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"time"

	sociztoc "github.com/awslabs/soci-snapshotter/ztoc"
	kgzip "github.com/klauspost/compress/gzip"

	"github.com/socify/socify/pkg/ztoc"
)

// cliPath is the socify binary an end-to-end child runs (set by the parent).
var cliPath = flag.String("cli", "", "internal: the socify binary for end-to-end children")

type result struct {
	Name     string  `json:"name"`
	Seconds  float64 `json:"seconds"`
	MaxRSS   int64   `json:"max_rss_bytes"`
	PeakHeap uint64  `json:"peak_heap_bytes,omitempty"`
}

var cases = []struct{ name, desc string }{
	{"klauspost", "klauspost/compress gzip → io.Discard (baseline)"},
	{"stdlib", "Go compress/gzip → io.Discard"},
	{"socify", "socify ztoc.Build (single pass: inflate + tar TOC + span and blob sha256)"},
	{"soci", "soci v0.16.1 ztoc BuildZtoc (cgo zlib + Go gzip + span hashing)"},
}

func main() {
	one := flag.String("one", "", "internal: run one measurement in this process")
	e2eOne := flag.String("e2e-one", "", "internal: run one end-to-end measurement in this process")
	suites := flag.String("suite", "ztoc,e2e", "which suites to run: ztoc (builder vs inflaters), e2e (conversions)")
	layer := flag.String("layer", "", "gzip layer to use (default: generate one)")
	runs := flag.Int("runs", 5, "runs per case (median reported)")
	minSize := flag.Int64("min-size", 300_000_000, "minimum compressed size of the generated layer")
	span := flag.Int64("span", ztoc.DefaultSpanSize, "span size")
	only := flag.String("cases", "klauspost,stdlib,socify,soci", "comma-separated cases")
	flag.Parse()
	if *one != "" {
		if err := measure(*one, *layer, *span); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *e2eOne != "" {
		if err := e2eMeasure(*e2eOne, *layer); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *layer == "" {
		var err error
		if *layer, err = generate(*minSize); err != nil {
			fmt.Fprintln(os.Stderr, "generating layer:", err)
			os.Exit(1)
		}
	}
	st, err := os.Stat(*layer)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("layer: %s (%.1f MB gzip)\nmachine: %d CPUs, %s/%s, %s\nruns per case: %d (interleaved), span %d\n\n",
		*layer, float64(st.Size())/1e6, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), *runs, *span)
	self, _ := os.Executable()
	if strings.Contains(*suites, "ztoc") {
		runZtoc(self, *layer, *only, *runs, *span)
	}
	if strings.Contains(*suites, "e2e") {
		if err := runE2E(self, *layer, *runs); err != nil {
			fmt.Fprintln(os.Stderr, "end to end:", err)
			os.Exit(1)
		}
	}
}

func runZtoc(self, layer, only string, runs int, span int64) {
	want := map[string]bool{}
	for _, c := range strings.Split(only, ",") {
		want[c] = true
	}
	all := map[string][]result{}
	// Interleave the cases so drift on a noisy machine hits all of them alike.
	for i := 0; i < runs; i++ {
		for _, c := range cases {
			if !want[c.name] {
				continue
			}
			r, err := child(self, c.name, layer, span)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", c.name, err)
				os.Exit(1)
			}
			all[c.name] = append(all[c.name], r)
		}
	}
	base := median(all["klauspost"], func(r result) float64 { return r.Seconds })
	fmt.Printf("%-10s %10s %8s %12s %12s  %s\n", "case", "median s", "ratio", "peak RSS", "peak heap", "what")
	for _, c := range cases {
		rs := all[c.name]
		if len(rs) == 0 {
			continue
		}
		s := median(rs, func(r result) float64 { return r.Seconds })
		rss := median(rs, func(r result) float64 { return float64(r.MaxRSS) })
		heap := median(rs, func(r result) float64 { return float64(r.PeakHeap) })
		ratio := "-"
		if base > 0 {
			ratio = fmt.Sprintf("%.2fx", s/base)
		}
		h := "-"
		if heap > 0 {
			h = fmt.Sprintf("%.1f MiB", heap/(1<<20))
		}
		fmt.Printf("%-10s %10.3f %8s %8.1f MiB %12s  %s\n", c.name, s, ratio, rss/(1<<20), h, c.desc)
	}
}

func median(rs []result, f func(result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func child(self, name, layer string, span int64) (result, error) {
	cmd := exec.Command(self, "-one", name, "-layer", layer, "-span", fmt.Sprint(span))
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		return result{}, err
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("child output %q: %w", out, err)
	}
	r.MaxRSS = maxRSS(cmd)
	return r, nil
}

func measure(name, layer string, span int64) error {
	f, err := os.Open(layer)
	if err != nil {
		return err
	}
	defer f.Close()
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // sample the live heap: the builder's working set
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak {
				peak = v
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	br := bufio.NewReaderSize(f, 1<<20)
	switch name {
	case "klauspost":
		r, err := kgzip.NewReader(br)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, r)
		if err != nil {
			return err
		}
	case "stdlib":
		r, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		if _, err = io.Copy(io.Discard, r); err != nil {
			return err
		}
	case "socify":
		z, err := ztoc.Build(context.Background(), f, ztoc.WithSpanSize(span))
		if err != nil {
			return err
		}
		if _, err := ztoc.Marshal(z); err != nil {
			return err
		}
	case "soci":
		z, err := sociztoc.NewBuilder("AWS SOCI CLI v0.2").BuildZtoc(layer, span)
		if err != nil {
			return err
		}
		if _, _, err := sociztoc.Marshal(z); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown case %q", name)
	}
	el := time.Since(start)
	close(stop)
	<-done
	r := result{Name: name, Seconds: el.Seconds()}
	if name == "socify" {
		r.PeakHeap = peak
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// generate makes a gzip -6 layer of real files, cached across runs: a tar
// of whole files from real trees (repeated under copyN/ prefixes if needed)
// piped through GNU gzip -6 until the compressed size reaches minSize.
func generate(minSize int64) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "socify-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
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
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	cmd := exec.Command("gzip", "-6", "-n")
	cmd.Stdout = f
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	tw := tar.NewWriter(stdin)
	var written int64
	full := func() bool {
		st, err := f.Stat()
		return err == nil && st.Size() >= minSize
	}
	for pass := 0; pass < 20 && !full(); pass++ {
		for _, root := range roots {
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
				if written > 64<<20 {
					written = 0
					if full() {
						return fs.SkipAll
					}
				}
				return nil
			})
			if err != nil {
				return "", err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return out, os.Rename(tmp, out)
}
