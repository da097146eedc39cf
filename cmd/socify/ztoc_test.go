package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/socify/socify/pkg/socify"

	"github.com/socify/socify/pkg/ztoc"
)

// The zTOC vectors made by soci v0.16.1 (copied into pkg/ztoc/testdata).
const vectorDir = "../../pkg/ztoc/testdata/vectors"

type vectorCase struct {
	Case       string `json:"case"`
	LayerFile  string `json:"layer_file"`
	LayerDig   string `json:"layer_digest"`
	LayerSize  int64  `json:"layer_size"`
	MediaType  string `json:"layer_mediaType"`
	SpanSize   int64  `json:"span_size"`
	Tool       string `json:"build_tool_identifier"`
	Expect     string `json:"expect"`
	ZtocDigest string `json:"ztoc_digest"`
	ZtocSize   int64  `json:"ztoc_size"`
	ZtocFile   string `json:"ztoc_file"`
	Summary    struct {
		Version          string `json:"version"`
		Compression      string `json:"compression_algorithm"`
		CompressedSize   int64  `json:"compressed_archive_size"`
		UncompressedSize int64  `json:"uncompressed_archive_size"`
		MaxSpanID        int    `json:"max_span_id"`
		NumFiles         int    `json:"num_files"`
	} `json:"summary"`
}

func (v vectorCase) uncompressed() bool { return !strings.HasSuffix(v.MediaType, "gzip") }
func (v vectorCase) layer() string      { return filepath.Join(vectorDir, v.LayerFile) }
func (v vectorCase) ztoc() string       { return filepath.Join(vectorDir, v.ZtocFile) }

func loadVectors(t *testing.T) []vectorCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectorDir, "cases", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no vectors under %s", vectorDir)
	}
	var out []vectorCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v vectorCase
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if v.Expect == "ok" {
			out = append(out, v)
		}
	}
	return out
}

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// listDir returns the names in dir, to check that no temporary file is left.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func buildArgs(v vectorCase, out string) []string {
	args := []string{"ztoc", "build", v.layer(), "-o", out,
		"--span-size", strconv.FormatInt(v.SpanSize, 10), "--build-tool-identifier", v.Tool}
	if v.uncompressed() {
		args = append(args, "--uncompressed")
	}
	return args
}

// TestZtocBuildMatchesSoci: "socify ztoc build" writes the very bytes soci
// wrote for every vector, and its report agrees with soci's summary.
func TestZtocBuildMatchesSoci(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Case+"@"+strconv.FormatInt(v.SpanSize, 10), func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.ztoc")
			r := runCLI(t, append(buildArgs(v, out), "--output", "json")...)
			if r.code != 0 {
				t.Fatalf("ztoc build: %s", r)
			}
			if got := fileDigest(t, out); got != v.ZtocDigest {
				t.Errorf("zTOC digest %s, soci wrote %s", got, v.ZtocDigest)
			}
			var rep socify.ZtocBuildReport
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("report is not JSON: %v\n%s", err, r)
			}
			if rep.Digest != v.ZtocDigest || rep.Size != v.ZtocSize || rep.LayerDigest != v.LayerDig ||
				rep.LayerSize != v.LayerSize || rep.Spans != v.Summary.MaxSpanID+1 || rep.Files != v.Summary.NumFiles ||
				rep.Compression != v.Summary.Compression {
				t.Errorf("report %+v does not match the vector %+v", rep, v)
			}
			if names := listDir(t, dir); len(names) != 1 {
				t.Errorf("left behind: %v", names)
			}
		})
	}
}

func TestZtocBuildToStdout(t *testing.T) {
	v := loadVectors(t)[0]
	r := runCLI(t, buildArgs(v, "-")...)
	if r.code != 0 {
		t.Fatalf("ztoc build -o -: %s", r)
	}
	sum := sha256.Sum256([]byte(r.stdout))
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != v.ZtocDigest {
		t.Errorf("stdout digest %s, want %s", got, v.ZtocDigest)
	}
	if !strings.Contains(r.stderr, "stdout: zTOC "+v.ZtocDigest) {
		t.Errorf("the report should go to stderr when stdout carries the zTOC:\n%s", r.stderr)
	}
}

func TestZtocBuildFromEnvironment(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.uncompressed() || v.SpanSize == 4194304 {
			continue
		}
		out := filepath.Join(t.TempDir(), "out.ztoc")
		t.Setenv("SOCIFY_SPAN_SIZE", strconv.FormatInt(v.SpanSize, 10))
		t.Setenv("SOCIFY_BUILD_TOOL_IDENTIFIER", v.Tool)
		if r := runCLI(t, "ztoc", "build", v.layer(), "-o", out); r.code != 0 {
			t.Fatalf("%s", r)
		}
		if got := fileDigest(t, out); got != v.ZtocDigest {
			t.Errorf("SOCIFY_SPAN_SIZE/SOCIFY_BUILD_TOOL_IDENTIFIER ignored: digest %s, want %s", got, v.ZtocDigest)
		}
		return
	}
	t.Fatal("no gzip vector with a small span")
}

// TestZtocBuildFailuresLeaveNothing: bad layers fail with exit 1, never
// create OUT, never replace an existing OUT, and leave no temporary file.
func TestZtocBuildFailuresLeaveNothing(t *testing.T) {
	var gz, plain vectorCase
	for _, v := range loadVectors(t) {
		if v.uncompressed() {
			plain = v
		} else {
			gz = v
		}
	}
	layer, err := os.ReadFile(gz.layer())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.tar.gz")
	garbage := filepath.Join(dir, "garbage.tar.gz")
	if err := os.WriteFile(truncated, layer[:len(layer)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(garbage, append(append([]byte{}, layer...), "trailing garbage"...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		want  string
		exist bool
	}{
		{"truncated gzip", []string{truncated}, "truncated.tar.gz", false},
		{"trailing garbage", []string{garbage}, "garbage.tar.gz", false},
		{"uncompressed without --uncompressed", []string{plain.layer()}, "--uncompressed", false},
		{"missing layer", []string{filepath.Join(dir, "nope.tar.gz")}, "nope.tar.gz", false},
		{"existing output kept", []string{truncated}, "truncated.tar.gz", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outDir := t.TempDir()
			out := filepath.Join(outDir, "out.ztoc")
			if tc.exist {
				if err := os.WriteFile(out, []byte("previous"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := runCLI(t, append([]string{"ztoc", "build", "-o", out}, tc.args...)...)
			if r.code != exitFailure {
				t.Fatalf("want exit 1, got %s", r)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("error does not mention %q: %s", tc.want, r.stderr)
			}
			names := listDir(t, outDir)
			switch {
			case tc.exist:
				if b, _ := os.ReadFile(out); string(b) != "previous" || len(names) != 1 {
					t.Errorf("existing output touched: %q, dir %v", b, names)
				}
			case len(names) != 0:
				t.Errorf("left behind: %v", names)
			}
		})
	}
}

func TestZtocInfo(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Case+"@"+strconv.FormatInt(v.SpanSize, 10), func(t *testing.T) {
			r := runCLI(t, "ztoc", "info", v.ztoc())
			if r.code != 0 {
				t.Fatalf("%s", r)
			}
			var info ztoc.Info
			if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
				t.Fatalf("ztoc info prints JSON by default: %v\n%s", err, r.stdout)
			}
			s := v.Summary
			if info.Digest != v.ZtocDigest || info.Version != s.Version || info.BuildToolIdentifier != v.Tool ||
				info.Compression != s.Compression || info.CompressedArchiveSize != s.CompressedSize ||
				info.UncompressedArchiveSize != s.UncompressedSize || info.SpanCount != s.MaxSpanID+1 ||
				info.FileCount != s.NumFiles || info.SpanSize != v.SpanSize || len(info.Spans) != s.MaxSpanID+1 {
				t.Errorf("info %+v does not match vector summary %+v", info, v)
			}
			if v.uncompressed() {
				if len(info.Checkpoints) != 0 {
					t.Errorf("uncompressed layer with checkpoints: %v", info.Checkpoints)
				}
			} else {
				if len(info.Checkpoints) != s.MaxSpanID+1 {
					t.Errorf("%d checkpoints for %d spans", len(info.Checkpoints), s.MaxSpanID+1)
				}
				for i := 1; i < len(info.Checkpoints); i++ {
					if info.Checkpoints[i].In <= info.Checkpoints[i-1].In || info.Checkpoints[i].Out <= info.Checkpoints[i-1].Out {
						t.Errorf("checkpoints do not rise: %+v", info.Checkpoints)
					}
				}
			}
			for i, sp := range info.Spans {
				if sp.ID != i || sp.End <= sp.Start || sp.End > s.CompressedSize || !strings.HasPrefix(sp.Digest, "sha256:") {
					t.Errorf("bad span %+v", sp)
				}
			}
			txt := runCLI(t, "ztoc", "info", "--output", "text", v.ztoc())
			if txt.code != 0 || !strings.Contains(txt.stdout, "build tool identifier: "+v.Tool) ||
				!strings.Contains(txt.stdout, "spans:                 "+strconv.Itoa(s.MaxSpanID+1)) {
				t.Errorf("text info:\n%s", txt)
			}
		})
	}
}

func TestZtocInfoFromStdinAndBadInput(t *testing.T) {
	v := loadVectors(t)[0]
	b, err := os.ReadFile(v.ztoc())
	if err != nil {
		t.Fatal(err)
	}
	r := socifyStdin(t, b, "ztoc", "info", "-")
	if r.code != 0 || !strings.Contains(r.stdout, v.ZtocDigest) {
		t.Fatalf("info from stdin: %s", r)
	}
	for _, bad := range [][]byte{nil, []byte("not a ztoc"), b[:len(b)/3], append([]byte{0xff, 0xff, 0xff, 0x7f}, b[4:]...)} {
		r := socifyStdin(t, bad, "ztoc", "info", "-")
		if r.code != exitFailure || !strings.Contains(r.stderr, "stdin") {
			t.Errorf("malformed zTOC (%d bytes): want exit 1 naming stdin, got %s", len(bad), r)
		}
	}
}

// tarEntries reads the layer with archive/tar: the reference the listings
// and extractions are compared against.
func tarEntries(t *testing.T, v vectorCase) (hdrs []*tar.Header, data map[string][]byte) {
	t.Helper()
	f, err := os.Open(v.layer())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if !v.uncompressed() {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	data = map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, h)
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			data[h.Name] = b
		}
	}
}

func TestZtocList(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.SpanSize != 65536 {
			continue
		}
		t.Run(v.Case, func(t *testing.T) {
			hdrs, _ := tarEntries(t, v)
			r := runCLI(t, "ztoc", "list", v.ztoc())
			if r.code != 0 {
				t.Fatalf("%s", r)
			}
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if len(lines) != len(hdrs) {
				t.Fatalf("%d lines for %d tar entries", len(lines), len(hdrs))
			}
			text := r.stdout
			for _, h := range hdrs {
				want := " " + h.Name
				switch h.Typeflag {
				case tar.TypeSymlink:
					want += " -> " + h.Linkname
				case tar.TypeLink:
					want += " link to " + h.Linkname
				}
				if !strings.Contains(text, want+"\n") {
					t.Errorf("listing lacks %q", want)
				}
				if h.Typeflag == tar.TypeChar && !strings.Contains(text, strconv.FormatInt(h.Devmajor, 10)+","+strconv.FormatInt(h.Devminor, 10)) {
					t.Errorf("device %s listed without major,minor", h.Name)
				}
			}
			js := runCLI(t, "ztoc", "list", "--output", "json", v.ztoc())
			var entries []ztoc.Entry
			if err := json.Unmarshal([]byte(js.stdout), &entries); err != nil || len(entries) != len(hdrs) {
				t.Fatalf("json list (%v): %s", err, js)
			}
			byName := map[string]ztoc.Entry{}
			for _, e := range entries {
				byName[e.Name] = e
			}
			for _, h := range hdrs {
				e, ok := byName[h.Name]
				if !ok {
					t.Errorf("json list lacks %s", h.Name)
					continue
				}
				if h.Typeflag == tar.TypeReg && e.Size != h.Size {
					t.Errorf("%s: size %d, tar says %d", h.Name, e.Size, h.Size)
				}
				if e.UID != uint32(h.Uid) || e.Uname != h.Uname || !e.ModTime.Equal(h.ModTime) {
					t.Errorf("%s: %+v does not match the tar header", h.Name, e)
				}
			}
		})
	}
}

// TestZtocOfAnImage: ztoc list and info given a file that is no zTOC say
// what it is, and given an image and a layer digest they show the zTOC its
// SOCI index holds (issue 11 item 2).
func TestZtocOfAnImage(t *testing.T) {
	r := findRecord(t, "a-img1-single", "defaultspan")
	out := filepath.Join(t.TempDir(), "out.tar")
	if res := runCLI(t, append(append([]string{"convert"}, r.socifyFlags()...), "oci-archive:"+r.input(), "oci-archive:"+out)...); res.code != 0 {
		t.Fatal(res)
	}
	for _, cmd := range []string{"list", "info"} {
		res := runCLI(t, "ztoc", cmd, out)
		if res.code != exitFailure || !strings.Contains(res.stderr, "not a zTOC: this is a tar archive") || !strings.Contains(res.stderr, "IMAGE LAYER") {
			t.Errorf("ztoc %s of a tar: %s", cmd, res)
		}
	}
	const layer = "sha256:0005176c4a49f8566f0859dd6a5e04aa01465d9af8f69ba1887abaa6b504fdef"
	const ztocDigest = "sha256:a124e4a95993e4e07918966da44a9eae5373cc4b15e41cfbab4d7cb559c03023" // soci's, from record.json
	res := runCLI(t, "ztoc", "info", "oci-archive:"+out, layer)
	var info ztoc.Info
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &info) != nil || info.Digest != ztocDigest {
		t.Fatalf("ztoc info IMAGE LAYER: %s", res)
	}
	res = runCLI(t, "ztoc", "list", "oci-archive:"+out, layer)
	if res.code != 0 || len(strings.Split(strings.TrimSpace(res.stdout), "\n")) != info.FileCount {
		t.Fatalf("ztoc list IMAGE LAYER (%d files): %s", info.FileCount, res)
	}
	res = runCLI(t, "ztoc", "list", "oci-archive:"+r.input(), layer)
	if res.code != exitFailure || !strings.Contains(res.stderr, "no zTOC for the layer") {
		t.Errorf("an unconverted image: %s", res)
	}
	res = runCLI(t, "ztoc", "list", "oci-archive:"+out, "0005176c")
	if res.code != exitUsage || !strings.Contains(res.stderr, "LAYER") {
		t.Errorf("a bad digest: %s", res)
	}
}

// TestZtocGetFile extracts every regular file (and every hard link) of each
// vector layer through the zTOC and compares it with archive/tar's view.
func TestZtocGetFile(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.SpanSize != 65536 {
			continue
		}
		t.Run(v.Case, func(t *testing.T) {
			hdrs, data := tarEntries(t, v)
			n := 0
			for _, h := range hdrs {
				want, ok := data[h.Name]
				if h.Typeflag == tar.TypeLink {
					want, ok = data[h.Linkname]
				}
				if !ok {
					continue
				}
				n++
				r := runCLI(t, "ztoc", "get-file", v.ztoc(), v.layer(), h.Name)
				if r.code != 0 {
					t.Errorf("get-file %s: %s", h.Name, r)
					continue
				}
				if !bytes.Equal([]byte(r.stdout), want) {
					t.Errorf("get-file %s: %d bytes differ from the tar's %d", h.Name, len(r.stdout), len(want))
				}
			}
			if n < 10 {
				t.Fatalf("only %d files checked", n)
			}
		})
	}
}

func TestZtocGetFileOutputAndErrors(t *testing.T) {
	var v vectorCase
	for _, c := range loadVectors(t) {
		if !c.uncompressed() && c.SpanSize == 65536 {
			v = c
			break
		}
	}
	_, data := tarEntries(t, v)
	var name string
	for n, b := range data {
		if len(b) > 100000 && strings.HasPrefix(n, "./") {
			name = n
			break
		}
	}
	if name == "" {
		t.Fatal("no large file in the vector")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "file.bin")
	// The name without "./" and with a leading "/" finds the same entry.
	r := runCLI(t, "ztoc", "get-file", v.ztoc(), v.layer(), "/"+strings.TrimPrefix(name, "./"), "-o", out, "--output", "json")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, data[name]) {
		t.Fatalf("-o FILE content differs (%v)", err)
	}
	var rep socify.ExtractReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Name != name || rep.Size != int64(len(data[name])) {
		t.Errorf("report %+v (%v)", rep, err)
	}

	otherLayer := ""
	for _, c := range loadVectors(t) {
		if c.LayerSize != v.LayerSize {
			otherLayer = c.layer()
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no such file", []string{v.ztoc(), v.layer(), "no/such/file"}, "no such file"},
		{"directory", []string{v.ztoc(), v.layer(), "./etc/"}, "not a regular file"},
		{"dot-dot path", []string{v.ztoc(), v.layer(), "../../etc/passwd"}, "no such file"},
		{"wrong layer", []string{v.ztoc(), otherLayer, name}, "not the layer of this zTOC"},
		{"missing zTOC", []string{filepath.Join(dir, "nope.ztoc"), v.layer(), name}, "nope.ztoc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outDir := t.TempDir()
			r := runCLI(t, append([]string{"ztoc", "get-file", "-o", filepath.Join(outDir, "x")}, tc.args...)...)
			if r.code != exitFailure || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("want exit 1 mentioning %q, got %s", tc.want, r)
			}
			if names := listDir(t, outDir); len(names) != 0 {
				t.Errorf("left behind: %v", names)
			}
		})
	}
}
