package main

import (
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// profileCategories, in the order the breakdown prints them. A sample goes
// to the category of its innermost frame that names one (so the CRC-32 the
// decoder calls counts as CRC, not inflate), except that anything under a
// GC worker or an allocation counts as GC/alloc.
var profileCategories = []struct{ name, desc string }{
	{"inflate", "Huffman decoding, match copies (pkg/ztoc/internal/inflate)"},
	{"CRC", "gzip CRC-32 (hash/crc32)"},
	{"hashing", "span and blob SHA-256"},
	{"tar", "tar header parsing (archive/tar or socify's parser)"},
	{"TOC", "TOC and checkpoint building, Marshal (pkg/ztoc, flatbuffers)"},
	{"GC/alloc", "garbage collection, allocation, write barriers"},
	{"I/O", "reading the layer file"},
	{"other", ""},
}

func categorize(stack []string) string {
	for _, f := range stack {
		if strings.HasPrefix(f, "runtime.gcBgMarkWorker") || strings.HasPrefix(f, "runtime.gcAssist") ||
			strings.HasPrefix(f, "runtime.mallocgc") || strings.HasPrefix(f, "runtime.bgsweep") ||
			strings.HasPrefix(f, "runtime.bgscavenge") || strings.HasPrefix(f, "runtime.gcWriteBarrier") ||
			strings.HasPrefix(f, "runtime.wbBuf") || strings.HasPrefix(f, "runtime.growslice") {
			return "GC/alloc"
		}
	}
	for _, f := range stack {
		switch {
		case f == "runtime.asyncPreempt":
			continue // a preemption sample: the frame below is what ran
		case strings.HasPrefix(f, "hash/crc32."):
			return "CRC"
		case strings.Contains(f, "sha256"):
			return "hashing"
		case strings.HasPrefix(f, "archive/tar."), strings.Contains(f, "pkg/ztoc.(*tarParser)"), strings.Contains(f, "pkg/ztoc.parse"),
			strings.Contains(f, "pkg/ztoc.headerChecksums"), strings.Contains(f, "pkg/ztoc.cString"), strings.Contains(f, "pkg/ztoc.tryReadFull"):
			return "tar"
		case strings.Contains(f, "pkg/ztoc/internal/inflate."):
			return "inflate"
		case strings.Contains(f, "pkg/ztoc."), strings.Contains(f, "flatbuffers"):
			return "TOC"
		case strings.HasPrefix(f, "syscall."), strings.HasPrefix(f, "os.(*File).Read"), strings.HasPrefix(f, "internal/poll."):
			return "I/O"
		}
	}
	return "other"
}

// printBreakdown prints the share of CPU time per category of a profile,
// read with `go tool pprof -traces` (no extra dependency).
func printBreakdown(profile string) error {
	out, err := exec.Command("go", "tool", "pprof", "-traces", profile).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof -traces %s: %w", profile, err)
	}
	sum := map[string]time.Duration{}
	other := map[string]time.Duration{}
	var total time.Duration
	var stack []string
	var val time.Duration
	flush := func() {
		if len(stack) > 0 {
			c := categorize(stack)
			sum[c] += val
			if c == "other" {
				other[stack[0]] += val
			}
			total += val
		}
		stack, val = nil, 0
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "-----------+") {
			flush()
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(stack) == 0 && len(f) >= 2 {
			d, err := time.ParseDuration(f[0])
			if err != nil {
				continue // a header line
			}
			val = d
			stack = append(stack, f[1])
			continue
		}
		if len(stack) > 0 {
			stack = append(stack, f[0])
		}
	}
	flush()
	if total == 0 {
		return fmt.Errorf("empty profile %s", profile)
	}
	fmt.Printf("CPU profile of the socify case (%s, %.2f s sampled):", profile, total.Seconds())
	for _, c := range profileCategories {
		if sum[c.name] > 0 {
			fmt.Printf("  %s %.1f%%", c.name, 100*float64(sum[c.name])/float64(total))
		}
	}
	fmt.Println()
	type kv struct {
		k string
		v time.Duration
	}
	var top []kv
	for k, v := range other {
		top = append(top, kv{k, v})
	}
	sort.Slice(top, func(i, j int) bool { return top[i].v > top[j].v })
	if len(top) > 3 {
		top = top[:3]
	}
	for _, t := range top {
		fmt.Printf("  other: %s %.1f%%\n", t.k, 100*float64(t.v)/float64(total))
	}
	return nil
}
