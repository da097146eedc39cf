package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/socify/socify/pkg/socify"
	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// The documentation and packaging files are part of the product: these
// tests check that they parse, that every socify command they show is a
// valid command line, and that the CI recipes run.

const repoRoot = "../.."

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ciRecipes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "docs", "ci", "*"))
	if err != nil || len(files) < 4 {
		t.Fatalf("docs/ci recipes: %v %v", files, err)
	}
	var rel []string
	for _, f := range files {
		rel = append(rel, filepath.ToSlash(strings.TrimPrefix(f, repoRoot+string(filepath.Separator))))
	}
	return rel
}

func parseYAML(t *testing.T, rel string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(readRepoFile(t, rel)), &m); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return m
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asList(v any) []any         { l, _ := v.([]any); return l }

// actionFile is the parsed action.yml.
type actionFile struct {
	Inputs map[string]struct {
		Required bool   `yaml:"required"`
		Default  string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			ID    string            `yaml:"id"`
			Shell string            `yaml:"shell"`
			Env   map[string]string `yaml:"env"`
			Run   string            `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

func loadAction(t *testing.T) actionFile {
	t.Helper()
	var a actionFile
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "action.yml")), &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return a
}

func TestActionYAML(t *testing.T) {
	a := loadAction(t)
	text := readRepoFile(t, "action.yml")
	if a.Runs.Using != "composite" || len(a.Runs.Steps) != 2 {
		t.Fatalf("want a composite action with install and convert steps: %+v", a.Runs)
	}
	for _, m := range regexp.MustCompile(`\$\{\{\s*inputs\.([a-z-]+)\s*\}\}`).FindAllStringSubmatch(text, -1) {
		if _, ok := a.Inputs[m[1]]; !ok {
			t.Errorf("action.yml uses undeclared input %q", m[1])
		}
	}
	for name := range a.Inputs {
		if !strings.Contains(text, "inputs."+name+" }}") {
			t.Errorf("input %q is declared but never used", name)
		}
	}
	ids := map[string]bool{}
	for _, s := range a.Runs.Steps {
		ids[s.ID] = true
		if s.Shell != "bash" {
			t.Errorf("step %s: shell %q, want bash (runs on every runner OS)", s.ID, s.Shell)
		}
		// Inputs reach scripts through env only: an expression inside run
		// would be a script-injection hole.
		if strings.Contains(s.Run, "${{") {
			t.Errorf("step %s interpolates an expression into its script", s.ID)
		}
	}
	for name, o := range a.Outputs {
		m := regexp.MustCompile(`steps\.([a-z-]+)\.outputs\.([a-z-]+)`).FindStringSubmatch(o.Value)
		if m == nil || !ids[m[1]] {
			t.Errorf("output %s: %q names no step of the action", name, o.Value)
		}
	}
	// Every flag the convert step passes exists.
	flags := flagNames(findCommand(t, "convert"))
	for _, m := range regexp.MustCompile(`(?:opt|flag) (--[a-z-]+)|args=\(([^)]*)\)|args\+=\(([^)]*)\)`).FindAllStringSubmatch(a.Runs.Steps[1].Run, -1) {
		for _, tok := range strings.Fields(m[1] + " " + m[2] + " " + m[3]) {
			if strings.HasPrefix(tok, "--") && !flags[strings.TrimPrefix(tok, "--")] {
				t.Errorf("action passes unknown flag %s to socify convert", tok)
			}
		}
	}
}

func TestGoReleaserYAML(t *testing.T) {
	m := parseYAML(t, ".goreleaser.yaml")
	if m["version"] != 2 {
		t.Errorf("version: %v", m["version"])
	}
	builds := asList(m["builds"])
	if len(builds) != 2 {
		t.Fatalf("builds: %v", builds)
	}
	// The Lambda function's package: bootstrap alone at the root of a zip per architecture, the
	// name deploy/terraform's package variable documents.
	lb, la := asMap(builds[1]), asMap(asList(m["archives"])[1])
	if lb["main"] != "./cmd/socify-lambda" || lb["binary"] != "bootstrap" || fmt.Sprint(lb["goos"]) != "[linux]" ||
		fmt.Sprint(lb["goarch"]) != "[amd64 arm64]" || fmt.Sprint(lb["env"]) != "[CGO_ENABLED=0]" {
		t.Errorf("lambda build: %v", lb)
	}
	if la["name_template"] != "socify-lambda_{{ .Version }}_{{ .Os }}_{{ .Arch }}" || fmt.Sprint(la["formats"]) != "[zip]" ||
		fmt.Sprint(la["files"]) != "[none*]" || !strings.Contains(readRepoFile(t, "deploy/terraform/variables.tf"), "socify-lambda_<version>_linux_") {
		t.Errorf("lambda archive: %v", la)
	}
	b := asMap(builds[0])
	if b["main"] != "./cmd/socify" || fmt.Sprint(b["env"]) != "[CGO_ENABLED=0]" {
		t.Errorf("build: %v", b)
	}
	if fmt.Sprint(b["goos"]) != "[linux darwin windows]" || fmt.Sprint(b["goarch"]) != "[amd64 arm64]" {
		t.Errorf("targets: %v %v", b["goos"], b["goarch"])
	}
	if !strings.Contains(fmt.Sprint(b["ldflags"]), "-X main.version={{ .Version }}") {
		t.Errorf("ldflags do not set main.version: %v", b["ldflags"])
	}
	// action.yml and the recipes download socify_<version>_<os>_<arch>.
	arch := asMap(asList(m["archives"])[0])
	if arch["name_template"] != "{{ .ProjectName }}_{{ .Version }}_{{ .Os }}_{{ .Arch }}" {
		t.Errorf("archive names changed: %v; update action.yml and docs/ci", arch["name_template"])
	}
	if asMap(m["checksum"])["name_template"] != "checksums.txt" {
		t.Errorf("checksum file: %v", m["checksum"])
	}
}

func TestCIRecipesParse(t *testing.T) {
	for _, rel := range ciRecipes(t) {
		if !strings.HasSuffix(rel, ".yml") {
			continue
		}
		t.Run(rel, func(t *testing.T) {
			m := parseYAML(t, rel)
			if strings.Contains(rel, "gitlab") {
				if len(asList(m["stages"])) == 0 {
					t.Fatal("no stages")
				}
				for _, st := range asList(m["stages"]) {
					found := false
					for name, job := range m {
						if j := asMap(job); j != nil && j["stage"] == st {
							found = true
							if len(asList(j["script"])) == 0 {
								t.Errorf("job %s has no script", name)
							}
						}
					}
					if !found {
						t.Errorf("stage %v has no job", st)
					}
				}
				return
			}
			a := loadAction(t)
			jobs := asMap(m["jobs"])
			if m["on"] == nil || len(jobs) == 0 {
				t.Fatalf("not a workflow: %v", m)
			}
			for name, j := range jobs {
				job := asMap(j)
				if job["runs-on"] == nil || len(asList(job["steps"])) == 0 {
					t.Errorf("job %s: no runs-on or steps", name)
				}
				for _, s := range asList(job["steps"]) {
					step := asMap(s)
					if step["uses"] != "socify/socify@v1" {
						continue
					}
					with := asMap(step["with"])
					if with["source"] == nil {
						t.Errorf("job %s: socify step without source", name)
					}
					for k := range with {
						if _, ok := a.Inputs[k]; !ok {
							t.Errorf("job %s: socify step uses unknown input %q", name, k)
						}
					}
				}
			}
		})
	}
}

// TestCIDocEmbedsRecipes: docs/ci.md shows the tested files, verbatim.
func TestCIDocEmbedsRecipes(t *testing.T) {
	doc := readRepoFile(t, "docs/ci.md")
	for _, rel := range ciRecipes(t) {
		if !strings.Contains(doc, strings.TrimRight(readRepoFile(t, rel), "\n")+"\n```") {
			t.Errorf("docs/ci.md does not contain %s verbatim", rel)
		}
	}
}

// TestREADMELibraryExample: the README shows the code of examples/convert,
// which go vet and its own test check.
func TestREADMELibraryExample(t *testing.T) {
	src := readRepoFile(t, "examples/convert/main.go")
	i := strings.Index(src, "func run(")
	if i < 0 {
		t.Fatal("examples/convert/main.go has no run function")
	}
	if !strings.Contains(readRepoFile(t, "README.md"), "```go\n"+src[i:]+"```") {
		t.Error("README.md's library example differs from examples/convert/main.go (copy the run function)")
	}
}

func TestREADMEStartsWithTheTwoCommands(t *testing.T) {
	readme := readRepoFile(t, "README.md")
	first := strings.Index(readme, "```sh\n")
	if first < 0 || first > 400 {
		t.Fatal("README.md must start with the commands")
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(readme, 2)
	if len(blocks) < 2 || !strings.Contains(blocks[0][1], "scripts/mkexample") ||
		!strings.Contains(blocks[0][1], "socify convert oci-archive:example.tar") || strings.TrimSpace(blocks[1][1]) != "bash .ci/run" {
		t.Errorf("first two code blocks: %q", blocks)
	}
}

func findCommand(t *testing.T, path ...string) *cli.Command {
	t.Helper()
	cmds := newApp(nil, nil, nil).Commands
	var c *cli.Command
	for _, p := range path {
		c = nil
		for _, cc := range cmds {
			if cc.HasName(p) {
				c = cc
			}
		}
		if c == nil {
			t.Fatalf("no command %v", path)
		}
		cmds = c.Subcommands
	}
	return c
}

func flagNames(c *cli.Command) map[string]bool {
	m := map[string]bool{"help": true, "h": true}
	for _, f := range c.Flags {
		for _, n := range f.Names() {
			m[n] = true
		}
	}
	return m
}

// positional bounds per command: min, max.
var positionalArgs = map[string][2]int{
	"convert": {1, 2}, "inspect": {1, 1}, "verify": {1, 1},
	"ztoc build": {1, 1}, "ztoc info": {1, 2}, "ztoc list": {1, 2}, "ztoc get-file": {3, 3},
	"auth check": {1, 1}, "version": {0, 0}, "backfill": {0, 0},
}

// checkCommandLine checks the words after "socify" against the command
// tree: the command exists, every flag exists (values consumed), and the
// number of positional arguments fits.
func checkCommandLine(app *cli.App, words []string) error {
	flags, cmds := app.Flags, app.Commands
	var path []string
	npos := 0
	help := false
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			npos += len(words) - i - 1
			break
		}
		if strings.HasPrefix(w, "-") && len(w) > 1 {
			name := strings.TrimLeft(w, "-")
			name, _, hasValue := strings.Cut(name, "=")
			if name == "help" || name == "h" {
				help = true
				continue
			}
			var f cli.Flag
			for _, ff := range flags {
				for _, n := range ff.Names() {
					if n == name {
						f = ff
					}
				}
			}
			if f == nil {
				return fmt.Errorf("socify %s: unknown flag %s", strings.Join(path, " "), w)
			}
			if _, isBool := f.(*cli.BoolFlag); !isBool && !hasValue {
				i++
			}
			continue
		}
		if len(cmds) > 0 {
			var next *cli.Command
			for _, c := range cmds {
				if c.HasName(w) {
					next = c
				}
			}
			if next == nil {
				return fmt.Errorf("socify %s: unknown command %q", strings.Join(path, " "), w)
			}
			path = append(path, next.Name)
			flags, cmds = next.Flags, next.Subcommands
			continue
		}
		npos++
	}
	key := strings.Join(path, " ")
	b, ok := positionalArgs[key]
	switch {
	case help || (len(cmds) > 0 && npos == 0):
		return nil
	case !ok:
		return fmt.Errorf("socify %s: not a command", key)
	case npos < b[0] && !(key == "convert" && npos == 1):
		return fmt.Errorf("socify %s: %d arguments, want at least %d", key, npos, b[0])
	case npos > b[1]:
		return fmt.Errorf("socify %s: %d arguments, want at most %d", key, npos, b[1])
	}
	return nil
}

// shellWords splits a command line like a shell, enough for documentation:
// quotes, and the end of the command at a pipe, redirection, ; && || or #.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case ch == '\'' || ch == '"':
			quote, inWord = ch, true
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '|' || ch == ';' || ch == '&' || ch == '>' || ch == '<' || ch == ')' || (ch == '#' && !inWord):
			if inWord {
				words = append(words, cur.String())
			}
			if ch == '>' && inWord && strings.HasSuffix(cur.String(), "2") {
				words = words[:len(words)-1]
			}
			return words
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// socifyCall matches socify in command position: at the start of a line
// (or of a YAML list item or run: value), or after | && || ; $( or an
// "exec ... --" wrapper.
var socifyCall = regexp.MustCompile(`(?:^\s*(?:-\s+|run:\s+)?|\|\s*|&&\s*|;\s*|\$\(\s*|\s--\s+)(?:\./|bin/|"\$socify"\s+)?socify\s`)

// commandLines finds the socify invocations in shell text: continuation
// lines joined, comments skipped, one entry per invocation.
func commandLines(text string) []string {
	text = strings.ReplaceAll(text, "\\\n", " ")
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, loc := range socifyCall.FindAllStringIndex(line, -1) {
			rest := line[loc[1]:]
			if strings.HasPrefix(rest, "\"$") || strings.HasPrefix(rest, "$") {
				// "$socify" "${args[@]}": built at run time; TestShellRecipe runs it.
				continue
			}
			out = append(out, rest)
		}
	}
	return out
}

// TestDocumentedCommandLines: every socify command in the README, the docs
// and the CI recipes is a valid command line.
func TestDocumentedCommandLines(t *testing.T) {
	app := newApp(nil, nil, nil)
	sources := map[string]string{}
	block := regexp.MustCompile("(?s)```(sh|bash|yaml|yml)\n(.*?)```")
	for _, doc := range []string{"README.md", "docs/usage.md", "docs/ci.md", "docs/architecture.md"} {
		for i, m := range block.FindAllStringSubmatch(readRepoFile(t, doc), -1) {
			sources[fmt.Sprintf("%s block %d", doc, i)] = m[2]
		}
	}
	for _, rel := range ciRecipes(t) {
		sources[rel] = readRepoFile(t, rel)
	}
	// The action builds its command line in an array; its examples are the
	// recipes above.
	n := 0
	for name, text := range sources {
		for _, line := range commandLines(text) {
			words := shellWords(line)
			if len(words) == 0 {
				continue
			}
			n++
			if err := checkCommandLine(app, words); err != nil {
				t.Errorf("%s: %q: %v", name, line, err)
			}
		}
	}
	if n < 40 {
		t.Errorf("only %d command lines found; the extraction is broken", n)
	}
	// The help texts' examples too.
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			_, examples, _ := strings.Cut(c.Description, "EXAMPLES:")
			for _, line := range commandLines(examples) {
				if err := checkCommandLine(app, shellWords(line)); err != nil {
					t.Errorf("--help of %s: %q: %v", strings.Join(append(path, c.Name), " "), line, err)
				}
			}
			walk(append(path, c.Name), c.Subcommands)
		}
	}
	walk(nil, app.Commands)
}

func TestCheckCommandLineCatchesMistakes(t *testing.T) {
	app := newApp(nil, nil, nil)
	for _, bad := range []string{
		"convert --frobnicate oci:a oci:b",
		"convert",
		"convert a b c",
		"ztoc build",
		"ztoc explode x",
		"inspect --deep x",
		"version extra",
	} {
		if err := checkCommandLine(app, shellWords(bad)); err == nil {
			t.Errorf("%q passed", bad)
		}
	}
	for _, good := range []string{
		`convert -p linux/arm64 --span-size 65536 "oci-archive:a b.tar" oci-archive:c.tar`,
		"ztoc build layer.tar.gz -o - | sha256sum",
		"verify --deep x",
		"--output json version",
	} {
		if err := checkCommandLine(app, shellWords(good)); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// socifyBinary builds the socify command once for the tests that run
// scripts.
func socifyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "socify-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "socify"+exeSuffix())
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

func needBash(t *testing.T) string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		// The recipes are bash scripts; a machine without bash cannot run
		// them at all (Windows CI runs them under Git Bash).
		t.Skip("bash is not installed")
	}
	return bash
}

func TestScriptsSyntax(t *testing.T) {
	bash := needBash(t)
	scripts := map[string]string{"docs/ci/convert.sh": readRepoFile(t, "docs/ci/convert.sh")}
	for _, s := range loadAction(t).Runs.Steps {
		scripts["action.yml step "+s.ID] = s.Run
	}
	for name, body := range scripts {
		cmd := exec.Command(bash, "-n")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: bash -n: %v\n%s", name, err, out)
		}
	}
}

// TestShellRecipe runs docs/ci/convert.sh on a local image.
func TestShellRecipe(t *testing.T) {
	bash := needBash(t)
	bin := socifyBinary(t)
	r := findRecord(t, "a-img1-single", "defaultspan")
	in, err := filepath.Abs(r.input())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.tar")
	cmd := exec.Command(bash, filepath.Join(repoRoot, "docs", "ci", "convert.sh"), "oci-archive:"+in, "oci-archive:"+out)
	cmd.Env = append(os.Environ(), "SOCIFY="+bin, "SOCIFY_MIN_LAYER_SIZE=0", "SOCIFY_NO_CACHE=true",
		"SOCIFY_BUILD_TOOL_IDENTIFIER=AWS SOCI CLI v0.2")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("convert.sh: %v\nstdout %s\nstderr %s", err, stdout.String(), stderr.String())
	}
	if stdout.String() != r.Top.Digest+"\n" {
		t.Errorf("stdout %q, want the digest %s", stdout.String(), r.Top.Digest)
	}
	if !strings.Contains(stderr.String(), "OK: the image will be lazily loaded") || !strings.Contains(stderr.String(), "state=started") {
		t.Errorf("stderr should hold progress lines and the verify verdict:\n%s", stderr.String())
	}
}

// TestDockerfileBuildStage runs the Dockerfile's go build command (without
// docker, which CI machines may lack) and checks the ldflags set the
// version, and that the final stage is static and non-root.
func TestDockerfileBuildStage(t *testing.T) {
	df := readRepoFile(t, "Dockerfile")
	for _, want := range []string{"CGO_ENABLED=0", "FROM gcr.io/distroless/static", "USER 65532:65532", `ENTRYPOINT ["/usr/local/bin/socify"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	joined := strings.ReplaceAll(df, "\\\n", " ")
	var build string
	for _, line := range strings.Split(joined, "\n") {
		if strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build") {
			build = line[strings.Index(line, "go build"):]
		}
	}
	if build == "" {
		t.Fatal("no go build in the Dockerfile")
	}
	out := filepath.Join(t.TempDir(), "socify"+exeSuffix())
	vars := map[string]string{"${VERSION}": "v9.9.9-docker", "${COMMIT}": "abc123", "/out/socify": out}
	for k, v := range vars {
		build = strings.ReplaceAll(build, k, v)
	}
	// -trimpath changes every compile action's cache key: leave it to the
	// image build, the flags under test are the ldflags.
	words := shellWords(strings.Replace(build, "-trimpath", "", 1))
	cmd := exec.Command(words[0], words[1:]...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, b)
	}
	v, err := exec.Command(out, "version", "--output", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var bi socify.Build
	if err := json.Unmarshal(v, &bi); err != nil || bi.Version != "v9.9.9-docker" || bi.Commit != "abc123" {
		t.Errorf("version of the image's binary: %s (%v)", v, err)
	}
}

// TestREADMEOutput runs the README's first command (in-process for socify)
// and compares the output it shows with the real one. The example's bytes
// depend on Go's compress/gzip, which may change between Go releases.
func TestREADMEOutput(t *testing.T) {
	if !strings.HasPrefix(runtime.Version(), "go1.26") {
		t.Skipf("README digests were made with Go 1.26; this is %s", runtime.Version())
	}
	readme := readRepoFile(t, "README.md")
	m := regexp.MustCompile("(?s)```\n(source   oci-archive:example.tar.*?)```").FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("README shows no conversion output")
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gen := exec.Command("go", "run", "./scripts/mkexample", filepath.Join(dir, "example.tar"))
	gen.Dir = root
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("mkexample: %v\n%s", err, out)
	}
	t.Chdir(dir)
	old := version
	t.Cleanup(func() { version = old })
	version = "dev"
	res := runCLI(t, "convert", "--no-cache", "oci-archive:example.tar", "oci-archive:example-soci.tar")
	if res.code != 0 {
		t.Fatal(res)
	}
	got := strings.Split(res.stdout, "\n")
	for _, line := range strings.Split(m[1], "\n") {
		if strings.HasPrefix(line, "read ") {
			continue // timing
		}
		found := false
		for _, g := range got {
			found = found || g == line
		}
		if !found {
			t.Errorf("README line not in the output: %q\noutput:\n%s", line, res.stdout)
		}
	}
}
