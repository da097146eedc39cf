// Command socify-fleet-bench measures the Lambda function on the image AWS's own SOCI index
// builder cannot convert: about 5 GB compressed, its largest layer 4 GiB, converted by the
// function's code path (the cmd/socify-lambda bootstrap under the AWS Lambda Runtime Interface
// Emulator, invoked with an SQS event) under a 1024 MB memory limit (a memory cgroup, or
// `prlimit --as` where cgroups cannot be made, plus AWS_LAMBDA_FUNCTION_MEMORY_SIZE, from which
// the function sets its Go memory limit) with no writable temporary directory (TMPDIR points at
// a path that does not exist), against a real distribution registry on 127.0.0.1. It reports
// the function's peak RSS (VmHWM) and the cgroup's peak, the time, the bytes read from the
// registry, and the bytes the function wrote to disk (/proc/PID/io write_bytes, which must be 0).
//
//	cd integration && go run ./cmd/socify-fleet-bench [-largest 4GiB] [-total 5e9] [-memory-mb 1024]
//
// It is not part of CI: it generates and stores the image (random-ish compressible tar
// content, gzip by klauspost/compress at its fastest level) in a temporary registry under the
// system temporary directory, about -total bytes of disk, for several minutes of CPU. Smaller
// runs: -largest 256MiB -total 400e6.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/socify/socify/integration/lambdatest"
	"github.com/socify/socify/integration/registrytest"
)

type result struct {
	ImageBytes       int64   `json:"imageBytes"`
	LargestLayer     int64   `json:"largestLayerBytes"`
	Layers           int     `json:"layers"`
	UncompressedData int64   `json:"uncompressedBytes"`
	MemoryLimitMB    int     `json:"memoryLimitMB"`
	Limit            string  `json:"limit"`
	Seconds          float64 `json:"seconds"`
	PeakRSS          int64   `json:"functionPeakRSSBytes"`
	CgroupPeak       int64   `json:"cgroupPeakBytes,omitempty"`
	RegistryBytesOut int64   `json:"bytesReadFromRegistry"`
	DiskWrites       int64   `json:"functionDiskWriteBytes"`
	Conversion       any     `json:"conversion"`
	GenerateSeconds  float64 `json:"generateSeconds"`
}

func main() {
	largest := flag.String("largest", "4GiB", "compressed size of the largest layer")
	total := flag.Float64("total", 5e9, "compressed size of the whole image, bytes")
	memMB := flag.Int("memory-mb", 1024, "the function's memory")
	flag.Parse()
	big, err := parseSize(*largest)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var (
		res  *result
		rerr error
		once sync.Once
	)
	// registrytest wants a testing.TB for its cleanups.
	testing.Benchmark(func(b *testing.B) {
		once.Do(func() { res, rerr = run(b, big, int64(*total), *memMB) })
	})
	if rerr != nil {
		fmt.Fprintln(os.Stderr, "socify-fleet-bench:", rerr)
		os.Exit(1)
	}
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(out))
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suf, m := range map[string]int64{"GiB": 1 << 30, "MiB": 1 << 20, "KiB": 1 << 10} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSuffix(s, suf), m
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	return int64(f * float64(mult)), nil
}

func run(b *testing.B, largest, total int64, memMB int) (*result, error) {
	tmp := b.TempDir()
	root, err := filepath.Abs("..")
	if err != nil {
		return nil, err
	}
	bootstrap, err := lambdatest.BuildBootstrap(root, tmp)
	if err != nil {
		return nil, err
	}
	rie, err := lambdatest.BuildRIE(tmp)
	if err != nil {
		return nil, err
	}
	reg := registrytest.New(b)
	res := &result{MemoryLimitMB: memMB}

	// The image: the largest layer, then layers of at most 256 MiB up to the total.
	start := time.Now()
	sizes := []int64{largest}
	for rest := total - largest; rest > 0; rest -= 256 << 20 {
		sizes = append(sizes, min(rest, 256<<20))
	}
	var layers []descriptor
	for i, sz := range sizes {
		d, raw, err := uploadLayer(reg.BackendAddr, "bench/big", uint64(i+1), sz)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		fmt.Fprintf(os.Stderr, "layer %d: %d bytes (%d uncompressed) in %s\n", i, d.Size, raw, time.Since(start).Round(time.Second))
		layers = append(layers, d)
		res.ImageBytes += d.Size
		res.UncompressedData += raw
	}
	res.Layers, res.LargestLayer = len(layers), layers[0].Size
	digest, err := pushManifest(reg.BackendAddr, "bench/big", "1.0", layers)
	if err != nil {
		return nil, err
	}
	res.GenerateSeconds = time.Since(start).Seconds()

	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + tmp,
		"TMPDIR=/nonexistent/socify-fleet-bench-tmp", // nothing may be written there
		"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(memMB),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=900",
		"SOCIFY_REGISTRY=" + reg.Addr, "SOCIFY_PLAIN_HTTP=true",
	}
	em, err := lambdatest.Start(rie, bootstrap, tmp, env)
	if err != nil {
		return nil, err
	}
	cg, limit, err := confine(em.Cmd.Process.Pid, memMB)
	if err != nil {
		em.Stop()
		return nil, err
	}
	// A cgroup can only be removed once its processes are gone.
	defer func() { em.Stop(); cg.remove() }()
	res.Limit = limit

	event, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"messageId": "bench", "eventSource": "aws:sqs",
		"body": fmt.Sprintf(`{"version":"0","id":"bench","detail-type":"ECR Image Action","source":"aws.ecr","account":"123456789012","region":"us-east-1","detail":{"result":"SUCCESS","repository-name":"bench/big","image-digest":%q,"action-type":"PUSH","image-tag":"1.0"}}`, digest),
	}}})
	reg.Proxy.Reset()
	var (
		peak   int64
		writes int64
		done   = make(chan struct{})
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() { // the function's process exists from the first invocation on
		defer wg.Done()
		for {
			if pid := em.RuntimePID(); pid != 0 {
				if v := procField(pid, "status", "VmHWM:"); v > 0 {
					peak = max(peak, v<<10)
				}
				if v := procField(pid, "io", "write_bytes:"); v >= 0 {
					writes = max(writes, v)
				}
			}
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	t0 := time.Now()
	status, body, err := em.Invoke(context.Background(), event)
	res.Seconds = time.Since(t0).Seconds()
	if pid := em.RuntimePID(); pid != 0 {
		peak = max(peak, procField(pid, "status", "VmHWM:")<<10)
		writes = max(writes, procField(pid, "io", "write_bytes:"))
	}
	close(done)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"batchItemFailures":[]`)) && !bytes.Contains(body, []byte(`"batchItemFailures":null`)) {
		return nil, fmt.Errorf("the function failed: %d %s\n%s", status, body, tail(em.Out.String(), 4000))
	}
	res.PeakRSS, res.DiskWrites = peak, writes
	res.CgroupPeak = cg.peak()
	res.RegistryBytesOut = reg.Proxy.Stats(registrytest.AnyBlobGet).BytesOut
	for _, l := range strings.Split(em.Out.String(), "\n") {
		if i := strings.IndexByte(l, '{'); i >= 0 && strings.Contains(l, `"msg":"conversion"`) {
			var m map[string]any
			if json.Unmarshal([]byte(l[i:]), &m) == nil {
				delete(m, "_aws")
				res.Conversion = m
			}
		}
	}
	return res, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// procField reads a number from /proc/PID/file ("VmHWM:" in kB, "write_bytes:" in bytes); -1
// when it cannot.
func procField(pid int, file, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	return -1
}

// cgroup is a memory cgroup (v1 or v2) holding the emulator and the function.
type cgroup struct{ dir, peakFile string }

func (c *cgroup) remove() {
	if c.dir != "" {
		_ = os.Remove(c.dir)
	}
}

func (c *cgroup) peak() int64 {
	if c.dir == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(c.dir, c.peakFile))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// confine puts pid (the emulator; the function it starts inherits) under a memMB limit: a
// memory cgroup when one can be made, else an address-space limit with prlimit.
func confine(pid, memMB int) (*cgroup, string, error) {
	limit := strconv.FormatInt(int64(memMB)<<20, 10)
	name := fmt.Sprintf("socify-fleet-bench-%d", os.Getpid())
	for _, c := range []struct{ dir, limitFile, peakFile string }{
		{"/sys/fs/cgroup/" + name, "memory.max", "memory.peak"},                                 // v2
		{"/sys/fs/cgroup/memory/" + name, "memory.limit_in_bytes", "memory.max_usage_in_bytes"}, // v1
	} {
		if err := os.Mkdir(c.dir, 0o755); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(c.dir, "cgroup.procs")); err != nil {
			// A plain directory (the parent is no cgroup file system of that version).
			_ = os.Remove(c.dir)
			continue
		}
		if os.WriteFile(filepath.Join(c.dir, c.limitFile), []byte(limit), 0o644) != nil ||
			os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644) != nil {
			_ = os.Remove(c.dir)
			continue
		}
		return &cgroup{dir: c.dir, peakFile: c.peakFile}, "memory cgroup " + c.dir + " (" + c.limitFile + ")", nil
	}
	out, err := exec.Command("prlimit", "--pid", strconv.Itoa(pid), "--as="+limit).CombinedOutput()
	if err != nil {
		return nil, "", fmt.Errorf("no memory cgroup and prlimit failed: %v: %s", err, out)
	}
	return &cgroup{}, "prlimit --as (no memory cgroup could be made)", nil
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

type counter struct {
	n int64
	h interface{ Write([]byte) (int, error) }
}

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// uploadLayer streams a generated gzip tar layer of about size compressed bytes into the
// registry (one chunked PATCH, then the PUT with the digest computed on the way).
func uploadLayer(addr, repo string, seed uint64, size int64) (descriptor, int64, error) {
	resp, err := http.Post("http://"+addr+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return descriptor{}, 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return descriptor{}, 0, fmt.Errorf("starting the upload: %s", resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		return descriptor{}, 0, err
	}
	pr, pw := io.Pipe()
	h := sha256.New()
	cnt := &counter{h: h}
	var raw int64
	go func() {
		err := generate(io.MultiWriter(pw, cnt), cnt, seed, size, &raw)
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest(http.MethodPatch, loc.String(), pr)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return descriptor{}, 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return descriptor{}, 0, fmt.Errorf("uploading: %s", resp.Status)
	}
	loc, err = resp.Location()
	if err != nil {
		return descriptor{}, 0, err
	}
	d := "sha256:" + hex.EncodeToString(h.Sum(nil))
	q := loc.Query()
	q.Set("digest", d)
	loc.RawQuery = q.Encode()
	req, _ = http.NewRequest(http.MethodPut, loc.String(), nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return descriptor{}, 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return descriptor{}, 0, fmt.Errorf("committing %s: %s", d, resp.Status)
	}
	return descriptor{MediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", Digest: d, Size: cnt.n}, raw, nil
}

// generate writes a gzip tar of 64 MiB files until the compressed output reaches size. The
// content is random-ish: runs of random bytes between runs of words, about 1.3:1 under gzip.
func generate(w io.Writer, compressed *counter, seed uint64, size int64, raw *int64) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	r := rand.New(rand.NewPCG(seed, seed*7919))
	// Slices of a random pool between runs of words: fast to make, and gzip finds nothing in
	// the pool beyond its 32 KiB window.
	pool := make([]byte, 16<<20)
	for i := 0; i < len(pool); i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			pool[i+k] = byte(v >> (8 * k))
		}
	}
	words := bytes.Repeat([]byte("lazy load span ztoc layer gzip index blob tar soci fleet image lambda queue "), 64)
	buf := make([]byte, 1<<20)
	const file = 64 << 20
	for n := 0; compressed.n < size; n++ {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data/%06d.bin", n), Mode: 0o644, Size: file, Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}); err != nil {
			return err
		}
		for written := 0; written < file; written += len(buf) {
			for i := 0; i < len(buf); {
				run := min(1024+r.IntN(4096), len(buf)-i)
				if r.IntN(10) < 7 {
					off := r.IntN(len(pool) - run)
					copy(buf[i:i+run], pool[off:])
				} else {
					copy(buf[i:i+run], words[r.IntN(64):])
				}
				i += run
			}
			if _, err := tw.Write(buf); err != nil {
				return err
			}
			*raw += int64(len(buf))
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func pushManifest(addr, repo, tag string, layers []descriptor) (string, error) {
	diffIDs := make([]string, len(layers))
	for i := range layers {
		// The conversion does not read diff_ids; the layer digests stand in for them.
		diffIDs[i] = layers[i].Digest
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cd := "sha256:" + hex.EncodeToString(sha(cfg))
	resp, err := http.Post("http://"+addr+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("config: %s: %w", resp.Status, err)
	}
	q := loc.Query()
	q.Set("digest", cd)
	loc.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(cfg))
	req.Header.Set("Content-Type", "application/octet-stream")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("config: %s", resp.Status)
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
		"config": descriptor{MediaType: "application/vnd.docker.container.image.v1+json", Digest: cd, Size: int64(len(cfg))},
		"layers": layers,
	})
	req, _ = http.NewRequest(http.MethodPut, "http://"+addr+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(m))
	req.Header.Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", errors.New("manifest: " + resp.Status)
	}
	return "sha256:" + hex.EncodeToString(sha(m)), nil
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
