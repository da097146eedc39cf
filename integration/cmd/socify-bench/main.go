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
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
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
	ZtocSize int64   `json:"ztoc_bytes,omitempty"`
	CPU      float64 `json:"cpu_seconds,omitempty"` // user + system time of the child
	Files    int     `json:"files,omitempty"`
}

var cases = []struct{ name, desc string }{
	{"klauspost", "klauspost/compress gzip → io.Discard (baseline)"},
	{"stdlib", "Go compress/gzip → io.Discard"},
	{"socify", "library ztoc.BuildEncoded in the benchmark binary (single pass: inflate + tar TOC + span and blob sha256)"},
	{"socify-w2", "as socify, with ztoc.WithWorkers(2): chunks decoded ahead on a second goroutine"},
	{"cli", "the socify CLI: ztoc build LAYER -o FILE, GOGC untouched"},
	{"cli-convert", "the socify CLI: convert --no-cache oci-archive:IMG oci-archive:OUT of a one-layer image, GOGC untouched"},
	{"soci", "soci v0.16.1 ztoc BuildZtoc (cgo zlib + Go gzip + span hashing)"},
}

func main() {
	one := flag.String("one", "", "internal: run one measurement in this process")
	e2eOne := flag.String("e2e-one", "", "internal: run one end-to-end measurement in this process")
	suites := flag.String("suite", "ztoc,e2e", "which suites to run: ztoc (builder vs inflaters), e2e (conversions)")
	layer := flag.String("layer", "", "gzip layer to use (default: generated ones, see -layers)")
	layers := flag.String("layers", "small,large,files", "generated layers for the ztoc suite: small (~67 MB), large (>= 400 MB), files (many small files), huge (~1.3 GB)")
	huge := flag.Bool("huge", false, "add the ~1.3 GB layer to -layers")
	nfiles := flag.Int("files", 327_660, "files in the small-files layer")
	runs := flag.Int("runs", 5, "runs per case (median reported)")
	minSize := flag.Int64("min-size", 300_000_000, "minimum compressed size of the generated layer of the e2e suite")
	span := flag.Int64("span", ztoc.DefaultSpanSize, "span size")
	only := flag.String("cases", "klauspost,socify,cli", "comma-separated cases: "+caseNames())
	cliBin := flag.String("socify", "", "socify binary for the ztoc suite's cli cases (default: build this repository's)")
	profile := flag.String("profile", "", "write CPU profiles of the socify case into `DIR` and print a breakdown")
	e2eCases := flag.String("e2e-cases", strings.Join(e2eNames, ","), "comma-separated cases of the e2e suite (layers-klauspost is always run: it is the baseline)")
	breakdown := flag.String("breakdown", "", "print the CPU breakdown of an existing profile `FILE` and exit")
	flag.Parse()
	if *breakdown != "" {
		if err := printBreakdown(*breakdown); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *one != "" {
		if err := measure(*one, *layer, *span, *profile); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *convertOne != "" {
		if err := profiledConvert(*convertOne, *e2eProfile); err != nil {
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
	fail := func(what string, err error) {
		fmt.Fprintln(os.Stderr, what+":", err)
		os.Exit(1)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("machine: %d CPUs, %s/%s, %s, load average %s\nruns per case: %d (interleaved), span %d\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), strings.Join(strings.Fields(string(load))[:3], " "), *runs, *span)
	self, _ := os.Executable()
	if strings.Contains(*suites, "ztoc") {
		var ls []benchLayer
		if *layer != "" {
			ls = []benchLayer{{name: filepath.Base(*layer), path: *layer}}
		} else {
			names := *layers
			if *huge {
				names += ",huge"
			}
			for _, n := range strings.Split(names, ",") {
				l, err := makeLayer(n, *nfiles)
				if err != nil {
					fail("generating layer "+n, err)
				}
				ls = append(ls, l)
			}
		}
		cli := *cliBin
		if cli == "" && strings.Contains(*only, "cli") {
			var err error
			if cli, err = buildCLI(); err != nil {
				fail("building socify", err)
			}
		}
		for _, l := range ls {
			if err := runZtoc(self, cli, l, *only, *runs, *span, *profile); err != nil {
				fail(l.name, err)
			}
		}
	}
	if strings.Contains(*suites, "e2e") {
		l := *layer
		if l == "" {
			var err error
			if l, err = generate(*minSize); err != nil {
				fail("generating layer", err)
			}
		}
		if err := runE2E(self, l, *runs, *e2eCases); err != nil {
			fail("end to end", err)
		}
	}
}

func caseNames() string {
	var n []string
	for _, c := range cases {
		n = append(n, c.name)
	}
	return strings.Join(n, ",")
}

// makeLayer returns the generated layer called name.
func makeLayer(name string, files int) (benchLayer, error) {
	var l benchLayer
	var err error
	switch name {
	case "small":
		l = benchLayer{name: name, desc: "real files, gzip -6, >= 67 MB"}
		l.path, err = generate(67_000_000)
	case "large":
		l = benchLayer{name: name, desc: "real files, gzip -6, >= 400 MB"}
		l.path, err = generate(400_000_000)
	case "huge":
		l = benchLayer{name: name, desc: "real files, gzip -6, >= 1.3 GB"}
		l.path, err = generate(1_300_000_000)
	case "files":
		l = benchLayer{name: name, desc: fmt.Sprintf("%d files of 0-2 KiB of real source text, gzip -6", files)}
		l.path, err = smallFilesLayer(files)
	default:
		err = fmt.Errorf("unknown layer %q (small, large, huge, files)", name)
	}
	return l, err
}

func runZtoc(self, cli string, l benchLayer, only string, runs int, span int64, profile string) error {
	want := map[string]bool{}
	for _, c := range strings.Split(only, ",") {
		want[c] = true
	}
	st, err := os.Stat(l.path)
	if err != nil {
		return err
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("layer %s: %s, %.1f MB gzip (%s); load average before: %s\n", l.name, l.desc, float64(st.Size())/1e6, l.path, strings.Join(strings.Fields(string(load))[:3], " "))
	all := map[string][]result{}
	// Interleave the cases so drift on a noisy machine hits all of them alike.
	for i := 0; i < runs; i++ {
		for _, c := range cases {
			if !want[c.name] {
				continue
			}
			var r result
			var err error
			switch c.name {
			case "cli":
				r, err = cliZtoc(cli, l.path, span)
			case "cli-convert":
				r, err = cliConvert(cli, l.path)
			default:
				prof := ""
				if c.name == "socify" && i == 0 && profile != "" {
					prof = filepath.Join(profile, l.name+".pprof")
				}
				r, err = child(self, c.name, l.path, span, prof)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			all[c.name] = append(all[c.name], r)
		}
	}
	base := median(all["klauspost"], func(r result) float64 { return r.Seconds })
	baseCPU := median(all["klauspost"], func(r result) float64 { return r.CPU })
	fmt.Printf("%-11s %9s %7s %8s %7s %12s %12s %11s %16s  %s\n", "case", "median s", "ratio", "CPU s", "ratio", "peak RSS", "peak heap", "zTOC", "1.25×zTOC+40", "what")
	for _, c := range cases {
		rs := all[c.name]
		if len(rs) == 0 {
			continue
		}
		s := median(rs, func(r result) float64 { return r.Seconds })
		rss := median(rs, func(r result) float64 { return float64(r.MaxRSS) })
		heap := median(rs, func(r result) float64 { return float64(r.PeakHeap) })
		z := median(rs, func(r result) float64 { return float64(r.ZtocSize) })
		ratio := "-"
		if base > 0 {
			ratio = fmt.Sprintf("%.2fx", s/base)
		}
		h, zs, budget := "-", "-", "-"
		if heap > 0 {
			h = fmt.Sprintf("%.1f MiB", heap/(1<<20))
		}
		if z > 0 {
			zs = fmt.Sprintf("%.1f MiB", z/(1<<20))
			b := 1.25*z + 40<<20
			mark := "ok"
			if rss > b {
				mark = "OVER"
			}
			budget = fmt.Sprintf("%.1f MiB %s", b/(1<<20), mark)
		}
		cpu := median(rs, func(r result) float64 { return r.CPU })
		cpuRatio := "-"
		if baseCPU > 0 {
			cpuRatio = fmt.Sprintf("%.2fx", cpu/baseCPU)
		}
		fmt.Printf("%-11s %9.3f %7s %8.3f %7s %8.1f MiB %12s %11s %16s  %s\n", c.name, s, ratio, cpu, cpuRatio, rss/(1<<20), h, zs, budget, c.desc)
	}
	if f := all["socify"]; len(f) > 0 && f[0].Files > 0 {
		fmt.Printf("(%d tar entries)\n", f[0].Files)
	}
	if profile != "" && want["socify"] {
		if err := printBreakdown(filepath.Join(profile, l.name+".pprof")); err != nil {
			return err
		}
	}
	fmt.Println()
	return nil
}

// cliZtoc times the real CLI building the zTOC of layer, with the
// environment's GOGC (the product as users run it).
func cliZtoc(cli, layer string, span int64) (result, error) {
	dir, err := os.MkdirTemp("", "socify-bench-ztoc-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "layer.ztoc")
	cmd := exec.Command(cli, "ztoc", "build", "--quiet", "--span-size", fmt.Sprint(span), layer, "-o", out)
	cmd.Stderr = os.Stderr
	t := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, err
	}
	r := result{Name: "cli", Seconds: time.Since(t).Seconds(), MaxRSS: maxRSS(cmd), CPU: cpuSeconds(cmd)}
	st, err := os.Stat(out)
	if err != nil {
		return r, err
	}
	r.ZtocSize = st.Size()
	return r, nil
}

// cliConvert times the real CLI converting a one-layer image of layer
// (archive to archive), with the environment's GOGC. The zTOC size is the
// one blob of that media type in the output.
func cliConvert(cli, layer string) (result, error) {
	img, err := layerImage(layer)
	if err != nil {
		return result{}, err
	}
	dir, err := os.MkdirTemp("", "socify-bench-convert-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "out.tar")
	cmd := exec.Command(cli, "convert", "--no-cache", "--quiet", "--output", "json", "oci-archive:"+img, "oci-archive:"+out)
	cmd.Stderr = os.Stderr
	t := time.Now()
	rep, err := cmd.Output()
	if err != nil {
		return result{}, err
	}
	r := result{Name: "cli-convert", Seconds: time.Since(t).Seconds(), MaxRSS: maxRSS(cmd), CPU: cpuSeconds(cmd)}
	var report any
	if err := json.Unmarshal(rep, &report); err != nil {
		return r, fmt.Errorf("convert report: %w", err)
	}
	r.ZtocSize = int64(sumField(report, "ztocSize"))
	return r, nil
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

func child(self, name, layer string, span int64, profile string) (result, error) {
	cmd := exec.Command(self, "-one", name, "-layer", layer, "-span", fmt.Sprint(span), "-profile", profile)
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
	r.MaxRSS, r.CPU = maxRSS(cmd), cpuSeconds(cmd)
	return r, nil
}

// cpuSeconds is the user and system CPU time of a finished child: on a
// machine shared with other work, CPU time ratios are far steadier than
// wall-clock ones.
func cpuSeconds(cmd *exec.Cmd) float64 {
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

func measure(name, layer string, span int64, profile string) error {
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
	if profile != "" {
		pf, err := os.Create(profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pf.Close()
	}
	r := result{Name: name}
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
	case "socify", "socify-w2":
		workers := 1
		if name == "socify-w2" {
			workers = 2
		}
		z, err := ztoc.BuildEncoded(context.Background(), f, ztoc.WithSpanSize(span), ztoc.WithWorkers(workers))
		if err != nil {
			return err
		}
		r.ZtocSize, r.Files = int64(len(z.Bytes)), z.Files
	case "soci":
		z, err := sociztoc.NewBuilder("AWS SOCI CLI v0.2").BuildZtoc(layer, span)
		if err != nil {
			return err
		}
		rd, _, err := sociztoc.Marshal(z)
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, rd)
		if err != nil {
			return err
		}
		r.ZtocSize = n
	default:
		return fmt.Errorf("unknown case %q", name)
	}
	el := time.Since(start)
	if profile != "" {
		pprof.StopCPUProfile()
	}
	close(stop)
	<-done
	r.Seconds = el.Seconds()
	if strings.HasPrefix(name, "socify") {
		r.PeakHeap = peak
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// sumField adds up every number called key anywhere in a decoded JSON value.
func sumField(v any, key string) float64 {
	var s float64
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if n, ok := x.(float64); ok && k == key {
				s += n
			} else {
				s += sumField(x, key)
			}
		}
	case []any:
		for _, x := range v {
			s += sumField(x, key)
		}
	}
	return s
}
