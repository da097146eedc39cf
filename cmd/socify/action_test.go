package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// actionRunner runs action.yml's steps the way the GitHub runner does: each step's script under
// bash, its env block filled from the inputs (or their defaults), GITHUB_OUTPUT, GITHUB_PATH and
// GITHUB_STEP_SUMMARY pointing at files.
type actionRunner struct {
	t                     *testing.T
	bash                  string
	a                     actionFile
	root, tmp             string
	ghPath, ghOut, ghSumm string
	env                   []string
}

func newActionRunner(t *testing.T, extraEnv ...string) *actionRunner {
	t.Helper()
	r := &actionRunner{t: t, bash: needBash(t), a: loadAction(t), tmp: t.TempDir()}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	r.root = root
	runnerOS := map[string]string{"linux": "Linux", "darwin": "macOS", "windows": "Windows"}[runtime.GOOS]
	runnerArch := map[string]string{"amd64": "X64", "arm64": "ARM64"}[runtime.GOARCH]
	if runnerOS == "" || runnerArch == "" {
		t.Skipf("no GitHub runner has %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	r.ghPath, r.ghOut, r.ghSumm = filepath.Join(r.tmp, "github_path"), filepath.Join(r.tmp, "github_output"), filepath.Join(r.tmp, "step_summary")
	r.env = append(append(os.Environ(), "RUNNER_TEMP="+r.tmp, "RUNNER_OS="+runnerOS, "RUNNER_ARCH="+runnerArch,
		"GITHUB_PATH="+r.ghPath, "GITHUB_OUTPUT="+r.ghOut, "GITHUB_STEP_SUMMARY="+r.ghSumm,
		"GITHUB_RUN_ID=1", "GITHUB_RUN_ATTEMPT=1", "CGO_ENABLED=0"), extraEnv...)
	return r
}

var inputRef = regexp.MustCompile(`^\$\{\{\s*inputs\.([a-z-]+)\s*\}\}$`)

// run runs step i and returns its combined output.
func (r *actionRunner) run(i int, inputs map[string]string) (string, error) {
	r.t.Helper()
	s := r.a.Runs.Steps[i]
	env := append([]string{}, r.env...)
	for k, v := range s.Env {
		m := inputRef.FindStringSubmatch(v)
		switch {
		case m != nil:
			val, ok := inputs[m[1]]
			if !ok {
				val = r.a.Inputs[m[1]].Default
			}
			env = append(env, k+"="+val)
		case strings.Contains(v, "github.action_path"):
			env = append(env, k+"="+r.root)
		default:
			r.t.Fatalf("step %s: env %s=%s is not an input", s.ID, k, v)
		}
	}
	cmd := exec.Command(r.bash, "-c", s.Run)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *actionRunner) mustRun(i int, inputs map[string]string) string {
	r.t.Helper()
	out, err := r.run(i, inputs)
	if err != nil {
		r.t.Fatalf("step %s: %v\n%s", r.a.Runs.Steps[i].ID, err, out)
	}
	return out
}

// usePath puts what the install step added to GITHUB_PATH in front of PATH, as the runner does
// between steps.
func (r *actionRunner) usePath() string {
	r.t.Helper()
	b, err := os.ReadFile(r.ghPath)
	if err != nil {
		r.t.Fatal(err)
	}
	dir := strings.TrimSpace(string(b))
	r.env = append(r.env, "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

func (r *actionRunner) outputs() map[string]string {
	r.t.Helper()
	b, err := os.ReadFile(r.ghOut)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		out[k] = v
	}
	return out
}

// TestActionSteps runs both steps of action.yml as the runner would: install (building this
// checkout, install: source) then convert, and checks the step outputs, the summary in the job
// log and the one in $GITHUB_STEP_SUMMARY.
func TestActionSteps(t *testing.T) {
	r := newActionRunner(t)
	if out := r.mustRun(0, map[string]string{"install": "source"}); !strings.Contains(out, "socify ") {
		t.Errorf("install step did not run socify version:\n%s", out)
	}
	r.usePath()

	rec := findRecord(t, "a-img2-2platform", "hostplatform-span64k")
	in, err := filepath.Abs(rec.input())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(r.tmp, "out.tar")
	log := r.mustRun(1, map[string]string{
		"source":                "oci-archive:" + in,
		"destination":           "oci-archive:" + out,
		"platforms":             "linux/amd64",
		"span-size":             "65536",
		"min-layer-size":        "0",
		"build-tool-identifier": "AWS SOCI CLI v0.2",
		"no-cache":              "true",
	})
	outputs := r.outputs()
	if outputs["digest"] != rec.Top.Digest {
		t.Errorf("digest output %q, want soci's %s (outputs %v)", outputs["digest"], rec.Top.Digest, outputs)
	}
	var socis []map[string]string
	if err := json.Unmarshal([]byte(outputs["soci-indexes"]), &socis); err != nil || len(socis) != 1 || socis[0]["platform"] != "linux/amd64" {
		t.Fatalf("soci-indexes output %q (%v)", outputs["soci-indexes"], err)
	}
	rep, err := os.ReadFile(outputs["report"])
	if err != nil {
		t.Fatalf("report output: %v", err)
	}
	var res struct {
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal(rep, &res); err != nil || res.Digest != rec.Top.Digest {
		t.Errorf("report file: %v %s", err, rep)
	}
	for name := range r.a.Outputs {
		if _, ok := outputs[name]; !ok {
			t.Errorf("action output %q was not set", name)
		}
	}
	// The archive keeps the source's ref name, so its reference is also its one tag.
	if want, _ := json.Marshal([]string{outputs["reference"]}); !strings.HasPrefix(outputs["reference"], "oci-archive:"+out+":") || outputs["tags"] != string(want) {
		t.Errorf("reference output %q, tags output %q", outputs["reference"], outputs["tags"])
	}
	if outputs["changed"] != "true" {
		t.Errorf("changed output %q, want true for a new archive", outputs["changed"])
	}
	// The job log and the step summary say what was made, for a person.
	for _, want := range []string{
		"socify: oci-archive:" + in + " -> ",
		"  digest     " + rec.Top.Digest,
		"  changed    true",
		"  tags       " + outputs["reference"],
		"  platform   linux/amd64: SOCI index " + socis[0]["sociIndex"],
	} {
		if !strings.Contains(log, want) {
			t.Errorf("job log lacks %q:\n%s", want, log)
		}
	}
	summary, err := os.ReadFile(r.ghSumm)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"### socify", "| digest | `" + rec.Top.Digest + "` |", "| changed | true |",
		"| linux/amd64 | SOCI index `" + socis[0]["sociIndex"] + "` |",
	} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("step summary lacks %q:\n%s", want, summary)
		}
	}

	// A failing conversion fails the step and says so in the summary too.
	if log, err := r.run(1, map[string]string{"source": "oci-archive:" + filepath.Join(r.tmp, "missing.tar")}); err == nil {
		t.Errorf("convert of a missing archive succeeded:\n%s", log)
	}
	if summary, _ := os.ReadFile(r.ghSumm); !strings.Contains(string(summary), "failed (exit") {
		t.Errorf("step summary does not report the failure:\n%s", summary)
	}
}

// fakeReleases is a local stand-in for https://github.com/socify/socify/releases: /latest
// redirects the way GitHub does (to /releases/tag/<tag>, or to /releases when nothing is
// published), and /download/<tag>/<file> serves the given files.
func fakeReleases(t *testing.T, latest string, files map[string][]byte) string {
	mux := http.NewServeMux()
	mux.HandleFunc("/socify/releases/latest", func(w http.ResponseWriter, r *http.Request) {
		if latest == "" {
			http.Redirect(w, r, "/socify/releases", http.StatusFound)
			return
		}
		http.Redirect(w, r, "/socify/releases/tag/"+latest, http.StatusFound)
	})
	mux.HandleFunc("/socify/releases", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>releases</html>") })
	mux.HandleFunc("/socify/releases/tag/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>a release</html>") })
	mux.HandleFunc("/socify/releases/download/", func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[strings.TrimPrefix(r.URL.Path, "/socify/releases/download/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/socify/releases"
}

// releaseArchive packs the test's socify binary the way .goreleaser.yaml does.
func releaseArchive(t *testing.T) []byte {
	bin, err := os.ReadFile(socifyBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range map[string][]byte{"socify": bin, "README.md": []byte("socify\n")} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestActionInstallRelease runs the install step with install: release against a local stand-in
// for GitHub's release pages: before the first release it must say so and name install: source,
// not fail with a 404 for a version called "releases".
func TestActionInstallRelease(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("release archives for windows are zip files; the tar.gz path is tested on linux and darwin")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed (the action downloads with it); .ci/run installs it")
	}
	archive := releaseArchive(t)
	name := fmt.Sprintf("socify_0.0.1-test_%s_%s.tar.gz", runtime.GOOS, runtime.GOARCH)
	sum := sha256.Sum256(archive)
	goodSums := []byte(hex.EncodeToString(sum[:]) + "  " + name + "\n")
	badSums := []byte(strings.Repeat("0", 64) + "  " + name + "\n")
	for _, c := range []struct {
		name, latest, version string
		files                 map[string][]byte
		want                  []string // in the output; an empty want means the step succeeds
		notWant               string
	}{
		{name: "no release yet", version: "latest",
			want: []string{"socify/socify has no published release yet", "install: source", "socify/socify@main"}, notWant: "download/releases"},
		{name: "latest", latest: "v0.0.1-test", version: "latest",
			files: map[string][]byte{"v0.0.1-test/" + name: archive, "v0.0.1-test/checksums.txt": goodSums}},
		{name: "pinned", version: "v0.0.1-test",
			files: map[string][]byte{"v0.0.1-test/" + name: archive, "v0.0.1-test/checksums.txt": goodSums}},
		{name: "unknown version", latest: "v0.0.1-test", version: "v9.9.9",
			files: map[string][]byte{"v0.0.1-test/" + name: archive, "v0.0.1-test/checksums.txt": goodSums},
			want:  []string{"answered HTTP 404", "release v9.9.9 has no such file", "install: source"}},
		{name: "checksum mismatch", latest: "v0.0.1-test", version: "latest",
			files: map[string][]byte{"v0.0.1-test/" + name: archive, "v0.0.1-test/checksums.txt": badSums},
			want:  []string{"checksum mismatch for " + name}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newActionRunner(t, "SOCIFY_RELEASES_URL="+fakeReleases(t, c.latest, c.files))
			out, err := r.run(0, map[string]string{"install": "release", "version": c.version})
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("install: %v\n%s", err, out)
				}
				dir := r.usePath()
				if !strings.Contains(out, "socify ") {
					t.Errorf("install did not run socify version:\n%s", out)
				}
				if _, err := os.Stat(filepath.Join(dir, "socify")); err != nil {
					t.Error(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("install succeeded, want failure:\n%s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if c.notWant != "" && strings.Contains(out, c.notWant) {
				t.Errorf("output contains %q:\n%s", c.notWant, out)
			}
			if !strings.Contains(out, "::error::") {
				t.Errorf("no ::error:: annotation:\n%s", out)
			}
		})
	}
}
