package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	kgzip "github.com/klauspost/compress/gzip"

	"github.com/socify/socify/integration/registrytest"
	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/location"
	"github.com/socify/socify/pkg/socify"
)

// e2eResult is what an end-to-end child prints.
type e2eResult struct {
	Name     string             `json:"name"`
	Seconds  float64            `json:"seconds"`
	MaxRSS   int64              `json:"max_rss_bytes"`
	TempByte int64              `json:"temp_bytes"`
	CPU      float64            `json:"cpu_seconds,omitempty"` // user + system time of the child (set by the parent)
	Extra    map[string]float64 `json:"extra,omitempty"`
}

// buildImages writes (once, cached) two OCI archives: img.tar with the big
// layer plus small layers, and two.tar with two equal-size big layers.
func buildImages(layer string) (img, two string, err error) {
	dir := filepath.Dir(layer)
	img = filepath.Join(dir, "img.tar")
	two = filepath.Join(dir, "two.tar")
	if _, err := os.Stat(two); err == nil {
		return img, two, nil
	}
	// A second layer of the same size and different bytes: the same tar
	// recompressed at level 5.
	layer2 := filepath.Join(dir, "layer-b.tar.gz")
	if _, err := os.Stat(layer2); err != nil {
		fmt.Fprintln(os.Stderr, "making a second big layer (gzip -5 of the same tar)...")
		cmd := exec.Command("bash", "-c", fmt.Sprintf("set -o pipefail; gzip -dc %q | gzip -5 -n > %q.tmp && mv %q.tmp %q", layer, layer2, layer2, layer2))
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return "", "", err
		}
	}
	big := func(p string) (v1Layer, error) {
		return tarball.LayerFromFile(p, tarball.WithMediaType(types.OCILayer))
	}
	l1, err := big(layer)
	if err != nil {
		return "", "", err
	}
	l2, err := big(layer2)
	if err != nil {
		return "", "", err
	}
	var smalls []v1Layer
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 3; i++ {
		data := make([]byte, 64<<10)
		rng.Read(data)
		l, err := smallLayer(fmt.Sprintf("small-%d", i), data)
		if err != nil {
			return "", "", err
		}
		smalls = append(smalls, l)
	}
	write := func(path string, layers ...v1Layer) error {
		im, err := mutate.AppendLayers(empty.Image, layers...)
		if err != nil {
			return err
		}
		im = mutate.MediaType(im, types.OCIManifestSchema1)
		im = mutate.ConfigMediaType(im, types.OCIConfigJSON)
		cf, _ := im.ConfigFile()
		cf.OS, cf.Architecture = "linux", "amd64"
		if im, err = mutate.ConfigFile(im, cf); err != nil {
			return err
		}
		idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{Add: im})
		sink, err := location.NewSink(location.MustParseReference("oci-archive:" + path))
		if err != nil {
			return err
		}
		_, err = sink.Write(context.Background(), idx)
		return err
	}
	fmt.Fprintln(os.Stderr, "writing benchmark images...")
	if err := write(img, append([]v1Layer{l1}, smalls...)...); err != nil {
		return "", "", err
	}
	return img, two, write(two, l1, l2)
}

var (
	e2eProfile = flag.String("e2e-profile", "", "write a CPU profile of one more, untimed registry -> registry conversion (socify.Convert, what the CLI runs, alone in a child process) to `FILE`, and print its breakdown")
	convertOne = flag.String("convert-one", "", "internal: SRC,DST of the profiled conversion child")
)

// profiledConvert converts src into dst (registries over plain HTTP) with
// socify.Convert, as `socify convert --no-cache --plain-http` does, under a
// CPU profile written to file.
func profiledConvert(refs, file string) error {
	src, dst, _ := strings.Cut(refs, ",")
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	_, err = socify.Convert(context.Background(), src, dst, socify.WithPlainHTTP(true))
	pprof.StopCPUProfile()
	return err
}

// e2eNames are the cases of the e2e suite, in the order each run takes them.
var e2eNames = []string{"layers-klauspost", "archive", "cli-archive", "cli-registry", "registry", "parallel"}

// runE2E runs the end-to-end cases named in which (comma-separated) and
// prints their table. Wall times on a shared machine move with its load;
// the CPU times (user + system from rusage) are the figures to compare then.
func runE2E(self, layer string, runs int, which string) error {
	want := map[string]bool{"layers-klauspost": true}
	for _, n := range strings.Split(which, ",") {
		if !slices.Contains(e2eNames, n) {
			return fmt.Errorf("unknown e2e case %q (cases: %s)", n, strings.Join(e2eNames, ", "))
		}
		want[n] = true
	}
	img, two, err := buildImages(layer)
	if err != nil {
		return err
	}
	cli, err := buildCLI()
	if err != nil {
		return fmt.Errorf("building socify: %w", err)
	}
	fmt.Printf("\nend to end (issue 3): %s = big layer + 3 small layers; %s = two equal big layers\n", filepath.Base(img), filepath.Base(two))
	load0 := loadAverage()
	all := map[string][]e2eResult{}
	for i := 0; i < runs; i++ {
		for _, n := range e2eNames {
			if !want[n] {
				continue
			}
			var r e2eResult
			var err error
			switch n {
			case "cli-archive":
				r, err = cliArchive(cli, img)
			case "cli-registry":
				var more []string
				if i == 0 && *e2eProfile != "" {
					more = []string{"-e2e-profile", *e2eProfile}
				}
				r, err = e2eChild(self, n+"="+cli, img, two, more...)
			default:
				r, err = e2eChild(self, n, img, two)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			all[n] = append(all[n], r)
		}
	}
	fmt.Printf("load average (1, 5, 15 min): %s at the start, %s at the end\n", load0, loadAverage())
	if want["cli-registry"] && *e2eProfile != "" {
		if err := printBreakdown(*e2eProfile); err != nil {
			return err
		}
	}
	med := func(n string, f func(e2eResult) float64) float64 {
		rs := make([]result, len(all[n]))
		for i, r := range all[n] {
			rs[i] = result{Seconds: f(r)}
		}
		return median(rs, func(r result) float64 { return r.Seconds })
	}
	wall := func(r e2eResult) float64 { return r.Seconds }
	cpu := func(r e2eResult) float64 { return r.CPU }
	rss := func(r e2eResult) float64 { return float64(r.MaxRSS) }
	x := func(n, k string) float64 { return med(n, func(r e2eResult) float64 { return r.Extra[k] }) }
	base, baseCPU := med("layers-klauspost", wall), med("layers-klauspost", cpu)
	row := func(name string, s, c, rss float64, more string) {
		fmt.Printf("%-36s %8.3f %7.2fx %8.3f %7.2fx %7.1f MiB  %s\n", name, s, s/base, c, c/baseCPU, rss/(1<<20), more)
	}
	fmt.Printf("%-36s %8s %8s %8s %8s %11s\n", "case (medians)", "wall s", "ratio", "CPU s", "ratio", "peak RSS")
	row("klauspost gunzip of all its layers", base, baseCPU, med("layers-klauspost", rss), "(the baseline process)")
	if want["archive"] {
		row("oci-archive -> oci-archive", med("archive", wall), med("archive", cpu), med("archive", rss),
			fmt.Sprintf("temp-file bytes: %.0f", med("archive", func(r e2eResult) float64 { return float64(r.TempByte) })))
	}
	if want["cli-archive"] {
		row("socify CLI: oci-archive -> archive", med("cli-archive", wall), med("cli-archive", cpu), med("cli-archive", rss),
			fmt.Sprintf("temp-file bytes: %.0f", med("cli-archive", func(r e2eResult) float64 { return float64(r.TempByte) })))
	}
	if want["cli-registry"] {
		n := "cli-registry"
		row("socify CLI: registry -> other reg.", x(n, "cli_s"), x(n, "cli_cpu_s"), x(n, "cli_rss"),
			fmt.Sprintf("no proxy in the path; the two registries used %.3f s CPU", x(n, "registries_cpu_s")))
		fmt.Printf("%-36s source served %.4fx its unique blobs; destination received %.0f upload bytes for %.0f layer bytes (the rest: zTOCs, configs); %.0f token requests, %.0f connections to the source\n",
			"  the same through counting proxies:", x(n, "served_ratio"), x(n, "received_bytes"), x(n, "layer_bytes"), x(n, "token_requests"), x(n, "connections"))
	}
	if want["registry"] {
		fmt.Printf("%-36s %8.3f %7.2fx            uploaded %.0f bytes (zTOCs+manifests %.0f), layer bytes uploaded %.0f\n",
			"registry -> same registry (cold)", x("registry", "cold_s"), x("registry", "cold_s")/base, x("registry", "uploaded"), x("registry", "new_blob_bytes"), x("registry", "layer_bytes_uploaded"))
		fmt.Printf("%-36s %8.3f %7.1f%% of cold\n", "registry re-convert (warm cache)", x("registry", "warm_s"), 100*x("registry", "warm_s")/x("registry", "cold_s"))
	}
	if want["parallel"] {
		fmt.Printf("%-36s %8.3f\n%-36s %8.3f   speed-up %.2fx\n", "two big layers, --jobs 1", x("parallel", "jobs1_s"), "two big layers, --jobs 2", x("parallel", "jobs2_s"), x("parallel", "jobs1_s")/x("parallel", "jobs2_s"))
	}
	return nil
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func e2eChild(self, name, img, two string, more ...string) (e2eResult, error) {
	name, cli, _ := strings.Cut(name, "=")
	cmd := exec.Command(self, append([]string{"-e2e-one", name, "-layer", img + "," + two, "-cli", cli}, more...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return e2eResult{}, err
	}
	var r e2eResult
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("child output %q: %w", out, err)
	}
	r.MaxRSS, r.CPU = maxRSS(cmd), cpuTime(cmd.ProcessState)
	return r, nil
}

// e2eMeasure runs one end-to-end case in this process.
func e2eMeasure(name, images string) error {
	img, two, _ := strings.Cut(images, ",")
	ctx := context.Background()
	r := e2eResult{Name: name, Extra: map[string]float64{}}
	tmp, err := os.MkdirTemp("", "socify-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	switch name {
	case "layers-klauspost":
		src, err := location.Open(ctx, location.MustParseReference("oci-archive:"+img))
		if err != nil {
			return err
		}
		defer src.Close()
		m, _ := src.Index.IndexManifest()
		im, err := src.Index.Image(m.Manifests[0].Digest)
		if err != nil {
			return err
		}
		ls, _ := im.Layers()
		for _, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				return err
			}
			zr, err := kgzip.NewReader(bufio.NewReaderSize(rc, 1<<20))
			if err != nil {
				return err
			}
			if _, err := io.Copy(io.Discard, zr); err != nil {
				return err
			}
			rc.Close()
		}
	case "archive":
		w0 := wchar()
		out := filepath.Join(tmp, "out.tar")
		src, err := location.Open(ctx, location.MustParseReference("oci-archive:"+img))
		if err != nil {
			return err
		}
		defer src.Close()
		res, _, err := convert.Convert(ctx, src.Index)
		if err != nil {
			return err
		}
		sink, _ := location.NewSink(location.MustParseReference("oci-archive:" + out))
		if _, err := sink.Write(ctx, res); err != nil {
			return err
		}
		st, _ := os.Stat(out)
		// Everything written that is not the output archive went to temp files.
		r.TempByte = max(0, wchar()-w0-st.Size())
	case "registry":
		var berr error
		testing.Benchmark(func(b *testing.B) {
			berr = registryCase(b, img, r.Extra)
		})
		if berr != nil {
			return berr
		}
	case "cli-registry":
		var berr error
		testing.Benchmark(func(b *testing.B) {
			berr = cliRegistryCase(b, img, r.Extra)
		})
		if berr != nil {
			return berr
		}
	case "parallel":
		for _, jobs := range []int{1, 2} {
			src, err := location.Open(ctx, location.MustParseReference("oci-archive:"+two))
			if err != nil {
				return err
			}
			t := time.Now()
			if _, _, err := convert.Convert(ctx, src.Index, convert.WithJobs(jobs)); err != nil {
				return err
			}
			r.Extra["jobs"+strconv.Itoa(jobs)+"_s"] = time.Since(t).Seconds()
			src.Close()
		}
	default:
		return fmt.Errorf("unknown case %q", name)
	}
	r.Seconds = time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(r)
}

// registryCase converts an image into its own registry: cold (no zTOC cache), then warm. Both are
// timed with no proxy in the path; the uploads are counted in a third, untimed cold conversion
// through the proxy into another repository of the registry (layers mounted, new blobs uploaded),
// since the timed ones left the new blobs in the source's repository.
func registryCase(b *testing.B, img string, extra map[string]float64) error {
	ctx := context.Background()
	reg := registrytest.New(b)
	src, err := location.Open(ctx, location.MustParseReference("oci-archive:"+img))
	if err != nil {
		return err
	}
	defer src.Close()
	sink, err := location.NewSink(location.MustParseReference(reg.BackendRef("bench/app:v1")))
	if err != nil {
		return err
	}
	if _, err := sink.Write(ctx, src.Index); err != nil {
		return err
	}
	conv := func(from, to, cache string) (*convert.Report, error) {
		in, err := location.Open(ctx, location.MustParseReference(from))
		if err != nil {
			return nil, err
		}
		defer in.Close()
		res, rep, err := convert.Convert(ctx, in.Index, convert.WithCacheStore(convert.NewDirCache(cache)))
		if err != nil {
			return nil, err
		}
		out, err := location.NewSink(location.MustParseReference(to))
		if err != nil {
			return nil, err
		}
		_, err = out.Write(ctx, res)
		return rep, err
	}
	cache := b.TempDir()
	for _, phase := range []string{"cold", "warm"} {
		t := time.Now()
		if _, err := conv(reg.BackendRef("bench/app:v1"), reg.BackendRef("bench/app:"+phase), cache); err != nil {
			return err
		}
		extra[phase+"_s"] = time.Since(t).Seconds()
	}
	reg.Proxy.Reset()
	rep, err := conv(reg.Ref("bench/app:v1"), reg.Ref("bench/counted:v1"), b.TempDir())
	if err != nil {
		return err
	}
	var up int64
	for _, rec := range reg.Proxy.Records() {
		up += rec.BytesIn
	}
	extra["uploaded"] = float64(up)
	extra["new_blob_bytes"] = float64(rep.BytesWritten)
	var layerUp float64
	for _, d := range reg.Proxy.UploadedBlobs() {
		for _, l := range rep.Layers {
			if l.Digest.String() == d {
				layerUp += float64(l.Size)
			}
		}
	}
	extra["layer_bytes_uploaded"] = layerUp
	return nil
}

// cliRegistryCase times the real CLI converting an image from one registry to another, both real
// distribution registries on 127.0.0.1 in this process. The timed run talks to the registries
// directly: the counting proxies would copy every byte twice more on the same cores. A second,
// untimed run into another repository goes through the proxies and counts: the source's served
// bytes and the destination's received bytes against the image's unique blobs tell whether each
// layer crossed the wire once.
func cliRegistryCase(b *testing.B, img string, extra map[string]float64) error {
	ctx := context.Background()
	from, to := registrytest.New(b), registrytest.New(b)
	src, err := location.Open(ctx, location.MustParseReference("oci-archive:"+img))
	if err != nil {
		return err
	}
	defer src.Close()
	sink, err := location.NewSink(location.MustParseReference(from.BackendRef("bench/app:v1")))
	if err != nil {
		return err
	}
	if _, err := sink.Write(ctx, src.Index); err != nil {
		return err
	}
	var unique, layers int64
	if err := uniqueBlobs(src.Index, func(size int64, layer bool) {
		unique += size
		if layer {
			layers += size
		}
	}); err != nil {
		return err
	}
	convert := func(from, to string) (*exec.Cmd, error) {
		cmd := exec.Command(*cliPath, "convert", "--no-cache", "--quiet", "--plain-http", from, to)
		cmd.Stderr = os.Stderr
		return cmd, cmd.Run()
	}
	self0 := selfCPU()
	t := time.Now()
	// Neither destination repository is named like the source's: go-containerregistry would mount
	// the small layers from a destination repository of that name (the timed run's) instead of
	// copying them, and the counted run would not count them.
	cmd, err := convert(from.BackendRef("bench/app:v1"), to.BackendRef("bench/timed:v1-soci"))
	if err != nil {
		return err
	}
	extra["cli_s"] = time.Since(t).Seconds()
	// This process is the two registries (and nothing else while the CLI runs).
	extra["registries_cpu_s"] = selfCPU() - self0
	extra["cli_cpu_s"] = cpuTime(cmd.ProcessState)
	extra["cli_rss"] = float64(maxRSS(cmd))

	from.Proxy.Reset()
	to.Proxy.Reset()
	conns := from.Proxy.Connections()
	if _, err := convert(from.Ref("bench/app:v1"), to.Ref("bench/counted:v1-soci")); err != nil {
		return err
	}
	var served int64
	var tokens float64
	for _, rec := range from.Proxy.Records() {
		served += rec.BytesOut
		if strings.Contains(rec.Path, "token") || rec.Path == "/v2/" {
			tokens++
		}
	}
	extra["served_ratio"] = float64(served) / float64(unique)
	// Uploads carry the layers and the new blobs (zTOCs, configs); manifests are PUT elsewhere.
	extra["received_bytes"] = float64(to.Proxy.Stats(registrytest.AnyUpload).BytesIn)
	extra["layer_bytes"] = float64(layers)
	extra["token_requests"] = tokens
	extra["connections"] = float64(from.Proxy.Connections() - conns)
	if *e2eProfile != "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cmd := exec.Command(self, "-convert-one", from.BackendRef("bench/app:v1")+","+to.BackendRef("bench/profiled:v1-soci"), "-e2e-profile", *e2eProfile)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("profiled conversion: %w", err)
		}
	}
	return nil
}

// uniqueBlobs calls f with the size of every distinct blob of idx (manifests, configs, layers)
// and whether it is a layer.
func uniqueBlobs(idx v1.ImageIndex, f func(size int64, layer bool)) error {
	seen := map[v1.Hash]bool{}
	add := func(h v1.Hash, n int64, layer bool) {
		if !seen[h] {
			seen[h] = true
			f(n, layer)
		}
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return err
	}
	h, _ := idx.Digest()
	add(h, int64(len(raw)), false)
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		add(d.Digest, d.Size, false)
		im, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		mf, err := im.Manifest()
		if err != nil {
			return err
		}
		add(mf.Config.Digest, mf.Config.Size, false)
		for _, l := range mf.Layers {
			add(l.Digest, l.Size, true)
		}
	}
	return nil
}

// wchar is the number of bytes this process passed to write(2) so far.
func wchar() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

type v1Layer = v1.Layer

// smallLayer is a gzip tar layer holding one file.
func smallLayer(name string, data []byte) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	tw.Write(data)
	tw.Close()
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, tarball.WithMediaType(types.OCILayer))
}

// cpuTime is the user + system time of a finished process.
func cpuTime(ps *os.ProcessState) float64 {
	if ps == nil {
		return 0
	}
	return (ps.UserTime() + ps.SystemTime()).Seconds()
}

// selfCPU is this process's user + system time so far (children excluded).
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func maxRSS(cmd *exec.Cmd) int64 {
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024
	}
	return 0
}

// buildCLI builds the socify command of this repository.
func buildCLI() (string, error) {
	dir, err := os.MkdirTemp("", "socify-bench-cli-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "socify")
	// Build in the main module (replaced into this one), with its go.sum.
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/socify/socify").Output()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/socify")
	cmd.Dir = strings.TrimSpace(string(root))
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return bin, cmd.Run()
}

// cliArchive times the real CLI converting an OCI archive to an OCI archive,
// with its peak RSS and the bytes it wrote besides the output archive (from
// the kernel's per-process write accounting).
func cliArchive(cli, img string) (e2eResult, error) {
	dir, err := os.MkdirTemp("", "socify-bench-out-")
	if err != nil {
		return e2eResult{}, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "out.tar")
	cmd := exec.Command(cli, "convert", "--no-cache", "--quiet", "oci-archive:"+img, "oci-archive:"+out)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	t := time.Now()
	if err := cmd.Run(); err != nil {
		return e2eResult{}, err
	}
	r := e2eResult{Name: "cli-archive", Seconds: time.Since(t).Seconds(), MaxRSS: maxRSS(cmd), CPU: cpuTime(cmd.ProcessState)}
	st, err := os.Stat(out)
	if err != nil {
		return r, err
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.TempByte = max(0, ru.Oublock*512-st.Size())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		return r, fmt.Errorf("files left in the output/temp dir: %v", ents)
	}
	return r, nil
}
