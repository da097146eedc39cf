package main

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/socify/socify/pkg/socify"
)

// The image vectors: inputs and what soci v0.16.1 made of them.
const imageDir = "../../testdata/images"

type imageRecord struct {
	Case  string   `json:"case"`
	Label string   `json:"label"`
	Flags []string `json:"flags"`
	RC    int      `json:"rc"`
	Top   struct {
		Digest string `json:"digest"`
	} `json:"top"`
	dir string
}

func loadImageRecords(t *testing.T) []imageRecord {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(imageDir, "*", "expected", "*", "record.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no image vectors under %s (%v)", imageDir, err)
	}
	var out []imageRecord
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r imageRecord
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		r.dir = filepath.Dir(f)
		out = append(out, r)
	}
	return out
}

func (r imageRecord) input() string { return filepath.Join(imageDir, r.Case, "IN.tar") }

// socifyFlags translates the soci command line of a record into socify
// flags with the same meaning. soci converts the host platform (amd64 where
// the vectors were made) unless --all-platforms; socify converts every
// platform unless --platform.
func (r imageRecord) socifyFlags() []string {
	// soci's exact file: soci drops the source's ref name (socify's default
	// order keeps it, TestConvertKeepsRefName).
	args := []string{"--build-tool-identifier", "AWS SOCI CLI v0.2", "--no-cache", "--archive-order", "soci"}
	all := false
	for i := 0; i < len(r.Flags); i++ {
		switch r.Flags[i] {
		case "--all-platforms":
			all = true
		case "--min-layer-size", "--span-size":
			args = append(args, r.Flags[i], r.Flags[i+1])
			i++
		}
	}
	if !all && strings.Contains(r.Case, "platform") {
		args = append(args, "--platform", "linux/amd64")
	}
	return args
}

// archiveFile returns the content of name in the tar file path.
func archiveFile(t *testing.T, path, name string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("%s has no %s", path, name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// TestConvertParity: "socify convert" reproduces soci's images digest for
// digest, and fails like soci (exit 4, no output) when no layer qualifies.
func TestConvertParity(t *testing.T) {
	for _, r := range loadImageRecords(t) {
		t.Run(r.Case+"/"+r.Label, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "OUT.tar")
			args := append(append([]string{"convert"}, r.socifyFlags()...), "oci-archive:"+r.input(), "oci-archive:"+out)
			res := runCLI(t, args...)
			if r.RC != 0 {
				if res.code != exitNothingToDo {
					t.Fatalf("soci failed (rc %d); socify should exit %d: %s", r.RC, exitNothingToDo, res)
				}
				if !strings.Contains(res.stderr, "--allow-empty") && !strings.Contains(res.stderr, "min-layer-size") {
					t.Errorf("the error should say why and how to proceed: %s", res.stderr)
				}
				if names := listDir(t, dir); len(names) != 0 {
					t.Errorf("left behind: %v", names)
				}
				return
			}
			if res.code != 0 {
				t.Fatalf("convert: %s", res)
			}
			want, err := os.ReadFile(filepath.Join(r.dir, "index.json"))
			if err != nil {
				t.Fatal(err)
			}
			if got := archiveFile(t, out, "index.json"); string(got) != string(want) {
				t.Errorf("index.json differs from soci's:\n got %s\nwant %s", got, want)
			}
			if !strings.Contains(res.stdout, "digest   "+r.Top.Digest) {
				t.Errorf("the text report does not show the result digest %s:\n%s", r.Top.Digest, res.stdout)
			}
		})
	}
}

func findRecord(t *testing.T, caseName, label string) imageRecord {
	t.Helper()
	for _, r := range loadImageRecords(t) {
		if r.Case == caseName && r.Label == label {
			return r
		}
	}
	t.Fatalf("no vector %s/%s", caseName, label)
	return imageRecord{}
}

func TestConvertJSONReportAndDryRun(t *testing.T) {
	r := findRecord(t, "a-img2-2platform", "allplatforms-span64k")
	dir := t.TempDir()
	out := filepath.Join(dir, "OUT.tar")
	base := append(append([]string{"convert"}, r.socifyFlags()...), "--output", "json", "oci-archive:"+r.input(), "oci-archive:"+out)

	res := runCLI(t, append(base, "--dry-run")...)
	if res.code != 0 {
		t.Fatalf("dry run: %s", res)
	}
	var dry socify.Result
	if err := json.Unmarshal([]byte(res.stdout), &dry); err != nil {
		t.Fatalf("dry-run report: %v\n%s", err, res.stdout)
	}
	if !dry.DryRun || dry.Digest != r.Top.Digest || dry.Write != nil || len(dry.Conversion.NewBlobs) == 0 {
		t.Errorf("dry run report: %+v", dry)
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Fatalf("--dry-run wrote %v", names)
	}

	res = runCLI(t, base...)
	if res.code != 0 {
		t.Fatalf("convert: %s", res)
	}
	var rep socify.Result
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, res.stdout)
	}
	if rep.Digest != r.Top.Digest || rep.Reference != "oci-archive:"+out || rep.Write == nil || rep.Write.BlobsWritten == 0 {
		t.Errorf("report: %+v", rep)
	}
	socis := 0
	for _, p := range rep.Conversion.Platforms {
		if p.SociIndex != "" {
			socis++
		}
	}
	if socis != 2 {
		t.Errorf("%d platforms converted, want 2: %+v", socis, rep.Conversion.Platforms)
	}
	// stdout is one JSON document; logs went to stderr.
	if strings.Contains(res.stdout, "state=") || !strings.Contains(res.stderr, "state=") {
		t.Errorf("logs and report mixed:\nstdout %s\nstderr %s", res.stdout, res.stderr)
	}
}

func TestConvertQuietPrintsDigestOnly(t *testing.T) {
	r := findRecord(t, "a-img1-single", "defaultspan")
	out := filepath.Join(t.TempDir(), "OUT.tar")
	res := runCLI(t, append(append([]string{"convert", "-q"}, r.socifyFlags()...), "oci-archive:"+r.input(), "oci-archive:"+out)...)
	if res.code != 0 || res.stdout != r.Top.Digest+"\n" || res.stderr != "" {
		t.Fatalf("--quiet should print the digest alone and nothing on stderr: %s", res)
	}
}

func TestConvertProgressLinesInCILogs(t *testing.T) {
	r := findRecord(t, "a-img1-single", "defaultspan")
	out := filepath.Join(t.TempDir(), "OUT.tar")
	res := runCLI(t, append(append([]string{"convert"}, r.socifyFlags()...), "oci-archive:"+r.input(), "oci-archive:"+out)...)
	if res.code != 0 {
		t.Fatal(res)
	}
	// Not a terminal: timestamped lines, no cursor movement.
	stamp := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z layer sha256:[0-9a-f]{12} state=started`)
	if !stamp.MatchString(res.stderr) || strings.Contains(res.stderr, "\x1b[") {
		t.Errorf("stderr is not plain timestamped lines:\n%s", res.stderr)
	}
}

func TestConvertAllowEmpty(t *testing.T) {
	r := findRecord(t, "a-img3-allsmall", "defaults")
	out := filepath.Join(t.TempDir(), "OUT.tar")
	res := runCLI(t, "convert", "--no-cache", "--allow-empty", "oci-archive:"+r.input(), "oci-archive:"+out)
	if res.code != 0 {
		t.Fatalf("--allow-empty: %s", res)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}

func TestConvertCache(t *testing.T) {
	r := findRecord(t, "a-img1-single", "span64k")
	cache := t.TempDir()
	run := func() socify.Result {
		out := filepath.Join(t.TempDir(), "OUT.tar")
		args := []string{"convert", "--cache-dir", cache, "--output", "json", "--build-tool-identifier", "AWS SOCI CLI v0.2",
			"--min-layer-size", "0", "--span-size", "65536", "oci-archive:" + r.input(), "oci-archive:" + out}
		res := runCLI(t, args...)
		if res.code != 0 {
			t.Fatal(res)
		}
		var rep socify.Result
		if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	cold, warm := run(), run()
	if cold.Digest != r.Top.Digest || warm.Digest != r.Top.Digest {
		t.Errorf("digests %s / %s, want %s", cold.Digest, warm.Digest, r.Top.Digest)
	}
	for _, l := range warm.Conversion.Layers {
		if l.Status != "cached" {
			t.Errorf("second run: layer %s %s, want cached", l.Digest, l.Status)
		}
	}
	if warm.Conversion.BytesRead != 0 {
		t.Errorf("second run read %d layer bytes", warm.Conversion.BytesRead)
	}
}

// extractArchive unpacks an OCI archive into a layout directory.
func extractArchive(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConvertInPlaceThenVerify(t *testing.T) {
	r := findRecord(t, "a-img2-2platform", "allplatforms-span64k")
	dir := filepath.Join(t.TempDir(), "layout")
	extractArchive(t, r.input(), dir)
	res := runCLI(t, append(append([]string{"convert", "--in-place", "--output", "json"}, r.socifyFlags()...), "oci:"+dir)...)
	if res.code != 0 {
		t.Fatalf("--in-place: %s", res)
	}
	var rep socify.Result
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil || rep.Digest != r.Top.Digest {
		t.Fatalf("report %+v (%v)", rep, err)
	}
	idx, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil || !strings.Contains(string(idx), r.Top.Digest) {
		t.Fatalf("index.json does not name the result %s: %s (%v)", r.Top.Digest, idx, err)
	}
	v := runCLI(t, "verify", "--min-layer-size", "0", "oci:"+dir)
	if v.code != 0 || !strings.Contains(v.stdout, "OK: the image will be lazily loaded") {
		t.Errorf("verify after convert: %s", v)
	}
	js := runCLI(t, "verify", "--output", "json", "--min-layer-size", "0", "oci:"+dir)
	var vr struct {
		OK bool `json:"ok"`
	}
	if js.code != 0 || json.Unmarshal([]byte(js.stdout), &vr) != nil || !vr.OK {
		t.Errorf("verify --output json: %s", js)
	}
	in := runCLI(t, "inspect", "--output", "json", "oci:"+dir)
	var ir struct {
		Platforms []struct {
			Platform    v1.Platform `json:"platform"`
			SociEnabled bool        `json:"sociEnabled"`
		} `json:"platforms"`
	}
	if in.code != 0 || json.Unmarshal([]byte(in.stdout), &ir) != nil || len(ir.Platforms) != 2 || !ir.Platforms[0].SociEnabled {
		t.Errorf("inspect: %s", in)
	}
}

func TestVerifyUnconvertedImageFails(t *testing.T) {
	r := findRecord(t, "a-img1-single", "defaultspan")
	res := runCLI(t, "verify", "oci-archive:"+r.input())
	if res.code != exitVerify || !strings.Contains(res.stdout, "FAIL") || !strings.Contains(res.stderr, "will not be lazily loaded") {
		t.Fatalf("verify of an unconverted image: %s", res)
	}
	js := runCLI(t, "verify", "--output", "json", "oci-archive:"+r.input())
	var vr map[string]any
	if js.code != exitVerify || json.Unmarshal([]byte(js.stdout), &vr) != nil || vr["ok"] != false {
		t.Fatalf("verify --output json must print exactly the report: %s", js)
	}
}

func TestGitHubOutput(t *testing.T) {
	r := findRecord(t, "a-img1-single", "defaultspan")
	dir := t.TempDir()
	ghout := filepath.Join(dir, "github_output")
	t.Setenv("GITHUB_OUTPUT", ghout)
	out := filepath.Join(dir, "OUT.tar")
	res := runCLI(t, append(append([]string{"convert", "--github-output"}, r.socifyFlags()...), "oci-archive:"+r.input(), "oci-archive:"+out)...)
	if res.code != 0 {
		t.Fatal(res)
	}
	b, err := os.ReadFile(ghout)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{"digest=" + r.Top.Digest + "\n", "source-digest=sha256:", "reference=oci-archive:" + out + "\n", `soci-indexes=[{"platform":"linux/amd64"`} {
		if !strings.Contains(got, want) {
			t.Errorf("$GITHUB_OUTPUT lacks %q:\n%s", want, got)
		}
	}
}

func TestConvertUsageErrors(t *testing.T) {
	in := "oci-archive:" + findRecord(t, "a-img1-single", "defaultspan").input()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no arguments", []string{"convert"}, "convert takes SRC [DST]"},
		{"bad transport", []string{"convert", "ftp://x/y", "oci-archive:o.tar"}, "unknown transport"},
		{"no DST for an archive", []string{"convert", in}, "DST: required for an oci-archive source"},
		{"docker-archive DST", []string{"convert", in, "docker-archive:o.tar"}, "source only"},
		{"bad platform", []string{"convert", "-p", "linux", in, "oci-archive:o.tar"}, "--platform"},
		{"negative span", []string{"convert", "--span-size", "-1", in, "oci-archive:o.tar"}, "--span-size"},
		{"negative min size", []string{"convert", "--min-layer-size", "-5", in, "oci-archive:o.tar"}, "--min-layer-size"},
		{"bad optimization", []string{"convert", "--optimizations", "speed", in, "oci-archive:o.tar"}, "xattr"},
		{"in-place on an archive", []string{"convert", "--in-place", in}, "--in-place: needs an oci:DIR"},
		{"tag-children without registry", []string{"convert", "--tag-children", in, "oci-archive:o.tar"}, "--tag-children: needs a registry"},
		{"password-stdin without username", []string{"convert", "--password-stdin", in, "oci-archive:o.tar"}, "--password-stdin needs --username"},
		{"username without password", []string{"convert", "--username", "ci", in, "oci-archive:o.tar"}, "--username needs a password"},
		{"auth check of a file", []string{"auth", "check", in}, "must name a registry"},
		{"verify arguments", []string{"verify"}, "takes one REF"},
		{"inspect bad ref", []string{"inspect", "oci-archive:"}, "needs a path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			res := runCLI(t, tc.args...)
			if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("want exit 2 mentioning %q, got %s", tc.want, res)
			}
			if names := listDir(t, "."); len(names) != 0 {
				t.Errorf("left behind: %v", names)
			}
		})
	}
}

func TestConvertMissingSource(t *testing.T) {
	dir := t.TempDir()
	res := runCLI(t, "convert", "--no-cache", "oci-archive:"+filepath.Join(dir, "nope.tar"), "oci-archive:"+filepath.Join(dir, "out.tar"))
	if res.code != exitFailure || !strings.Contains(res.stderr, "nope.tar") {
		t.Fatalf("want exit 1 naming the file: %s", res)
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("left behind: %v", names)
	}
}

func TestConvertPlatformFromEnvironment(t *testing.T) {
	r := findRecord(t, "a-img2-2platform", "hostplatform-span64k")
	out := filepath.Join(t.TempDir(), "OUT.tar")
	t.Setenv("SOCIFY_PLATFORM", "linux/amd64")
	t.Setenv("SOCIFY_SPAN_SIZE", "65536")
	t.Setenv("SOCIFY_MIN_LAYER_SIZE", "0")
	t.Setenv("SOCIFY_BUILD_TOOL_IDENTIFIER", "AWS SOCI CLI v0.2")
	t.Setenv("SOCIFY_NO_CACHE", "true")
	t.Setenv("SOCIFY_QUIET", "true")
	res := runCLI(t, "convert", "oci-archive:"+r.input(), "oci-archive:"+out)
	if res.code != 0 || res.stdout != r.Top.Digest+"\n" {
		t.Fatalf("flags from SOCIFY_* did not reproduce soci's host-platform image %s: %s", r.Top.Digest, res)
	}
	// Comma-separated list: both platforms, a different image.
	t.Setenv("SOCIFY_PLATFORM", "linux/amd64,linux/arm64")
	res = runCLI(t, "convert", "oci-archive:"+r.input(), "oci-archive:"+out)
	all := findRecord(t, "a-img2-2platform", "allplatforms-span64k")
	if res.code != 0 || res.stdout != all.Top.Digest+"\n" {
		t.Fatalf("SOCIFY_PLATFORM list: want %s, got %s", all.Top.Digest, res)
	}
}

// TestConvertAlreadySoci: converting the output again gives the same image
// and says that nothing is new (issue 11 item 6).
func TestConvertAlreadySoci(t *testing.T) {
	r := findRecord(t, "a-img1-single", "defaultspan")
	dir := t.TempDir()
	first, again := filepath.Join(dir, "first.tar"), filepath.Join(dir, "again.tar")
	if res := runCLI(t, append(append([]string{"convert"}, r.socifyFlags()...), "oci-archive:"+r.input(), "oci-archive:"+first)...); res.code != 0 {
		t.Fatal(res)
	}
	res := runCLI(t, append(append([]string{"convert"}, r.socifyFlags()...), "oci-archive:"+first, "oci-archive:"+again)...)
	if res.code != 0 || !strings.Contains(res.stdout, "already SOCI-enabled: nothing new") || strings.Contains(res.stdout, "new blobs") {
		t.Fatalf("re-conversion report: %s", res)
	}
	res = runCLI(t, append(append([]string{"convert", "--output", "json"}, r.socifyFlags()...), "oci-archive:"+first, "oci-archive:"+again)...)
	var rep socify.Result
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil || !rep.AlreadySoci || rep.Digest != r.Top.Digest {
		t.Fatalf("JSON report (%v): %s", err, res)
	}
}

// TestConvertSizes: sizes take binary units, and values that cannot work are
// usage errors naming the flag and the accepted format (issue 11 item 7).
func TestConvertSizes(t *testing.T) {
	r := findRecord(t, "a-img2-2platform", "allplatforms-span64k")
	in := "oci-archive:" + r.input()
	for _, tc := range []struct {
		span, min string
		code      int
		want      string
	}{
		{"64KiB", "0", 0, r.Top.Digest},
		{"64k", "0B", 0, r.Top.Digest},
		{"65536", "0", 0, r.Top.Digest},
		{"0", "0", exitUsage, "--span-size: span size 0 is not between 1 and"},
		{"2GiB", "0", exitUsage, "--span-size: span size 2147483648 is not between 1 and"},
		{"4 megs", "0", exitUsage, "binary unit"},
		{"1.5M", "0", exitUsage, "flag -span-size: \"1.5M\" is not a size"},
		{"64KiB", "-1k", exitUsage, "--min-layer-size: minimum layer size -1024 is negative"},
	} {
		t.Run(tc.span+"/"+tc.min, func(t *testing.T) {
			res := runCLI(t, "convert", "-q", "--dry-run", "--build-tool-identifier", "AWS SOCI CLI v0.2", "--span-size", tc.span, "--min-layer-size", tc.min, in)
			out := res.stdout
			if tc.code != 0 {
				out = res.stderr
			}
			if res.code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("want exit %d with %q: %s", tc.code, tc.want, res)
			}
		})
	}
}

// TestVerifyPlatformsAndQuiet: a platform the image lacks is a usage error
// listing the image's platforms; --quiet prints the verdict alone (issue 11
// item 4).
func TestVerifyPlatformsAndQuiet(t *testing.T) {
	r := findRecord(t, "a-img2-2platform", "allplatforms-span64k")
	out := filepath.Join(t.TempDir(), "out.tar")
	if res := runCLI(t, append(append([]string{"convert"}, r.socifyFlags()...), "oci-archive:"+r.input(), "oci-archive:"+out)...); res.code != 0 {
		t.Fatal(res)
	}
	for _, cmd := range []string{"verify", "inspect"} {
		res := runCLI(t, cmd, "-p", "linux/s390x", "oci-archive:"+out)
		if res.code != exitUsage || !strings.Contains(res.stderr, "linux/s390x is not in the image, which has linux/amd64, linux/arm64") ||
			strings.Count(res.stderr, "s390x") != 1 || res.stdout != "" {
			t.Errorf("%s -p linux/s390x: %s", cmd, res)
		}
	}
	res := runCLI(t, "verify", "-q", "oci-archive:"+out)
	if res.code != 0 || !strings.HasPrefix(res.stdout, "OK: the image will be lazily loaded (") || strings.Count(res.stdout, "\n") != 1 || res.stderr != "" {
		t.Errorf("verify -q: %s", res)
	}
	res = runCLI(t, "verify", "-q", "oci-archive:"+r.input())
	if res.code != exitVerify || !strings.HasPrefix(res.stdout, "FAIL: ") || strings.Contains(res.stdout, "warning [") || strings.Contains(res.stdout, "platform linux") {
		t.Errorf("verify -q of an unconverted image: %s", res)
	}
	res = runCLI(t, "inspect", "-q", "oci-archive:"+out)
	if res.code != 0 || res.stdout != "linux/amd64 lazily loaded\nlinux/arm64 lazily loaded\n" {
		t.Errorf("inspect -q: %s", res)
	}
}

// TestConvertKeepsRefName: an archive whose index names its image uses that
// name for {tag} and keeps it in the archive written, so that
// oci-archive:out.tar:NAME finds the result (issue 11 item 8).
func TestConvertKeepsRefName(t *testing.T) {
	dir := t.TempDir()
	// The vector's index.json names its image vectors/a1:latest.
	in := "oci-archive:" + findRecord(t, "a-img1-single", "defaultspan").input()
	out := filepath.Join(dir, "out.tar")
	res := runCLI(t, "convert", "--min-layer-size", "0", in, "oci-archive:"+out)
	if res.code != 0 || !strings.Contains(res.stdout, "result   oci-archive:"+out+":vectors/a1:latest") {
		t.Fatalf("convert: %s", res)
	}
	if res := runCLI(t, "inspect", "oci-archive:"+out+":vectors/a1:latest"); res.code != 0 {
		t.Errorf("inspect by the kept name: %s", res)
	}
	if !strings.Contains(string(archiveFile(t, out, "index.json")), `"org.opencontainers.image.ref.name":"vectors/a1:latest"`) {
		t.Errorf("index.json lost the name: %s", archiveFile(t, out, "index.json"))
	}
	// {tag} is the name's tag: a dry run to a registry names the tag.
	res = runCLI(t, "convert", "--dry-run", "--output", "json", "--min-layer-size", "0", in, "registry.invalid/app")
	var rep socify.Result
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil || rep.Destination != "docker://registry.invalid/app:latest-soci" {
		t.Errorf("{tag} from the ref name (%v): %s", err, res)
	}
}

// TestGitHubOutputChecksFirstAndDryRun: --github-output without
// $GITHUB_OUTPUT fails before anything is written (issue 11 item 9); a dry
// run writes its outputs, naming what would be written (item 10).
func TestGitHubOutputChecksFirstAndDryRun(t *testing.T) {
	r := findRecord(t, "a-img1-single", "defaultspan")
	dir := t.TempDir()
	out := filepath.Join(dir, "OUT.tar")
	t.Setenv("GITHUB_OUTPUT", "")
	res := runCLI(t, append(append([]string{"convert", "--github-output"}, r.socifyFlags()...), "oci-archive:"+r.input(), "oci-archive:"+out)...)
	if res.code != exitUsage || !strings.Contains(res.stderr, "$GITHUB_OUTPUT is not set") || strings.Contains(res.stderr, "layer sha256") {
		t.Errorf("without $GITHUB_OUTPUT: %s", res)
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Fatalf("wrote %v", names)
	}
	ghout := filepath.Join(dir, "github_output")
	t.Setenv("GITHUB_OUTPUT", ghout)
	res = runCLI(t, append(append([]string{"convert", "--dry-run", "--github-output"}, r.socifyFlags()...), "oci-archive:"+r.input(), "oci-archive:"+out)...)
	b, _ := os.ReadFile(ghout)
	for _, want := range []string{"digest=" + r.Top.Digest + "\n", "reference=oci-archive:" + out + "\n", "dry-run=true\n", "changed=false\n"} {
		if res.code != 0 || !strings.Contains(string(b), want) {
			t.Errorf("dry run outputs lack %q: %s\n%s", want, res, b)
		}
	}
}

// TestConvertNoLayerQualifies: one summary line and the hint once; the
// per-layer reasons are in the JSON report (issue 11 item 5).
func TestConvertNoLayerQualifies(t *testing.T) {
	in := "oci-archive:" + findRecord(t, "a-img2-2platform", "allplatforms-span64k").input()
	out := filepath.Join(t.TempDir(), "out.tar")
	res := runCLI(t, "convert", "--no-cache", in, "oci-archive:"+out)
	lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
	if res.code != exitNothingToDo || len(lines) != 2 || len(lines[0]) > 200 || strings.Count(res.stderr, "hint:") != 1 ||
		!strings.Contains(lines[0], "no layer qualifies for a zTOC: 4 layers, the largest 284.3 KiB, --min-layer-size is 10.0 MiB") {
		t.Errorf("text: %s", res)
	}
	res = runCLI(t, "convert", "--no-cache", "--output", "json", in, "oci-archive:"+out)
	var rep socify.Result
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil || res.code != exitNothingToDo || len(rep.Conversion.Layers) != 4 ||
		!strings.Contains(rep.Conversion.Layers[0].Reason, "less than min-layer-size") {
		t.Errorf("json (%v): %s", err, res)
	}
}
