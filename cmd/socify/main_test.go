package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/socify/socify/internal/cliargs"
	"github.com/urfave/cli/v2"
)

// TestMain isolates the tests from the user's environment: the zTOC cache
// and the docker configuration live under a temporary HOME.
func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "socify-cli-test-")
	if err != nil {
		panic(err)
	}
	// The tests that build socify need the real Go caches, which default
	// to locations under HOME: pin them before HOME moves.
	if out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output(); err == nil {
		v := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(v) == 3 {
			os.Setenv("GOCACHE", v[0])
			os.Setenv("GOMODCACHE", v[1])
			os.Setenv("GOPATH", v[2])
		}
	}
	os.Setenv("HOME", home)
	os.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
	os.Setenv("DOCKER_CONFIG", filepath.Join(home, ".docker"))
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "SOCIFY_") {
			os.Unsetenv(strings.SplitN(e, "=", 2)[0])
		}
	}
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

// result is the outcome of one in-process run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the CLI in-process with args, as the shell would run
// "socify args...".
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	return socifyStdin(t, nil, args...)
}

func socifyStdin(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"socify"}, args...), bytes.NewReader(stdin), &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout:\n" + r.stdout + "\n--- stderr:\n" + r.stderr
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"ztoc", "frobnicate"}, `unknown command "frobnicate" for "socify ztoc"`},
		{"unknown flag", []string{"ztoc", "info", "--frobnicate", "x"}, "flag provided but not defined"},
		{"missing argument", []string{"ztoc", "info"}, "takes one ZTOC argument"},
		{"too many arguments", []string{"ztoc", "list", "a", "b", "c"}, "takes one ZTOC argument, or IMAGE LAYER"},
		{"missing -o", []string{"ztoc", "build", "layer.tar.gz"}, "-o OUT is required"},
		{"bad output format", []string{"ztoc", "info", "--output", "yaml", "x"}, "--output must be text or json"},
		{"bad progress", []string{"ztoc", "info", "--progress", "fancy", "x"}, "--progress must be"},
		{"negative span", []string{"ztoc", "build", "--span-size", "-1", "l", "-o", "o"}, "--span-size: span size -1 is not between 1 and 1.0 GiB"},
		{"zero span", []string{"ztoc", "build", "--span-size", "0", "l", "-o", "o"}, "--span-size: span size 0 is not between"},
		{"get-file arguments", []string{"ztoc", "get-file", "z", "l"}, "takes ZTOC LAYER PATH"},
		{"get-file layer on stdin", []string{"ztoc", "get-file", "z", "-", "p"}, "LAYER must be a file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.args...)
			if r.code != exitUsage {
				t.Fatalf("want exit %d, got %s", exitUsage, r)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not mention %q:\n%s", tc.want, r)
			}
			if !strings.Contains(r.stderr, "--help' for usage") {
				t.Errorf("stderr does not point to --help:\n%s", r)
			}
		})
	}
}

func TestJSONErrorObject(t *testing.T) {
	r := runCLI(t, "--output", "json", "ztoc", "info", "/nonexistent/x.ztoc")
	if r.code != exitFailure {
		t.Fatalf("want exit 1, got %s", r)
	}
	want := `"exitCode": 1`
	if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, `"error":`) {
		t.Errorf("stdout is not a JSON error object:\n%s", r)
	}
}

func TestNoArgumentsShowsHelp(t *testing.T) {
	r := runCLI(t)
	if r.code != exitOK || !strings.Contains(r.stdout, "COMMANDS:") {
		t.Fatalf("bare socify should print help, got %s", r)
	}
}

// TestEveryCommandHelpHasExample walks the command tree: each command's
// --help must show an example.
func TestEveryCommandHelpHasExample(t *testing.T) {
	app := newApp(nil, nil, nil)
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Name == "help" {
				continue
			}
			p := append(append([]string{}, path...), c.Name)
			t.Run(strings.Join(p, " "), func(t *testing.T) {
				r := runCLI(t, append(p, "--help")...)
				if r.code != exitOK {
					t.Fatalf("--help failed: %s", r)
				}
				if !strings.Contains(r.stdout, "EXAMPLES:") || !strings.Contains(r.stdout, "socify "+strings.Join(p, " ")) {
					t.Errorf("--help has no example of %q:\n%s", strings.Join(p, " "), r.stdout)
				}
			})
			walk(p, c.Subcommands)
		}
	}
	walk(nil, app.Commands)
	if r := runCLI(t, "--help"); !strings.Contains(r.stdout, "EXIT CODES:") {
		t.Errorf("socify --help does not document the exit codes:\n%s", r.stdout)
	}
}

func TestVersion(t *testing.T) {
	r := runCLI(t, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "socify ") {
		t.Fatalf("version: %s", r)
	}
	for _, args := range [][]string{{"version", "--output", "json"}, {"--output", "json", "version"}, {"version", "--output=json"}} {
		r = runCLI(t, args...)
		if r.code != 0 || !strings.Contains(r.stdout, `"version": "`) || !strings.Contains(r.stdout, `"goVersion"`) {
			t.Errorf("%v: %s", args, r)
		}
	}
	t.Setenv("SOCIFY_OUTPUT", "json")
	if r = runCLI(t, "version"); !strings.Contains(r.stdout, `"version": "`) {
		t.Errorf("SOCIFY_OUTPUT=json ignored: %s", r)
	}
	// A flag on the command line wins over the environment.
	if r = runCLI(t, "version", "--output", "text"); !strings.HasPrefix(r.stdout, "socify ") {
		t.Errorf("--output text did not override SOCIFY_OUTPUT: %s", r)
	}
}

func TestDefaultBuildToolIdentifier(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v1.2.3"
	if got := currentBuild().BuildToolIdentifier(); got != "socify v1.2.3" {
		t.Errorf("got %q", got)
	}
	version = ""
	if got := currentBuild().BuildToolIdentifier(); !strings.HasPrefix(got, "socify ") || got == "socify " {
		t.Errorf("got %q", got)
	}
}

func TestPermuteArgs(t *testing.T) {
	app := newApp(nil, nil, nil)
	for _, tc := range []struct{ in, want string }{
		{"socify ztoc build L -o O", "socify ztoc build -o O L"},
		{"socify ztoc build L -o - --span-size 65536", "socify ztoc build -o - --span-size 65536 L"},
		{"socify ztoc build --uncompressed L -o=O", "socify ztoc build --uncompressed -o=O L"},
		{"socify --output json ztoc info Z --quiet", "socify --output json ztoc info --quiet Z"},
		{"socify ztoc get-file Z L -- -weird", "socify ztoc get-file -- Z L -weird"},
		{"socify ztoc get-file Z - P", "socify ztoc get-file Z - P"},
		{"socify version", "socify version"},
		{"socify", "socify"},
	} {
		got := strings.Join(cliargs.Permute(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("Permute(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExitCodeOf(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"nil", ctx, nil, exitOK},
		{"plain", ctx, errString("boom"), exitFailure},
		{"usage", ctx, usageErrorf("bad"), exitUsage},
		{"wrapped usage", ctx, wrap(usageErrorf("bad")), exitUsage},
		{"canceled", canceled, wrap(context.Canceled), exitInterrupted},
		{"canceled context but other error", canceled, errString("disk full"), exitFailure},
	} {
		if got := exitCodeOf(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

type wrapped struct{ err error }

func (w wrapped) Error() string { return "context: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func wrap(err error) error { return wrapped{err} }

// TestHelpAndSuggestions: a mistyped command gets a suggestion; every
// command lists --help, and --quiet's help speaks of no one command
// (issue 11 item 11).
func TestHelpAndSuggestions(t *testing.T) {
	for args, want := range map[string]string{
		"conver x":   `unknown command "conver"; did you mean "convert"?`,
		"verfy x":    `did you mean "verify"?`,
		"ztoc lst x": `unknown command "lst" for "socify ztoc"; did you mean "list"?`,
	} {
		r := runCLI(t, strings.Fields(args)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: want %q: %s", args, want, r)
		}
	}
	if r := runCLI(t, "frobnicate"); strings.Contains(r.stderr, "did you mean") {
		t.Errorf("a suggestion for a word like no command: %s", r)
	}
	for _, cmd := range [][]string{{"convert"}, {"inspect"}, {"verify"}, {"ztoc", "build"}, {"auth", "check"}, {"version"}} {
		r := runCLI(t, append(cmd, "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "--help, -h") || !strings.Contains(r.stdout, "--quiet") {
			t.Errorf("%v --help does not list --help and --quiet: %s", cmd, r)
		}
		for _, line := range strings.Split(r.stdout, "\n") {
			if strings.Contains(line, "--quiet") && strings.Contains(line, "convert") {
				t.Errorf("%v: --quiet's help mentions convert: %s", cmd, line)
			}
		}
	}
}
