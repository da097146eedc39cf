package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/registry"
)

func readDoc(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// words collapses whitespace, so that wrapped text compares with one line.
func words(s string) string { return strings.Join(strings.Fields(s), " ") }

// godoc returns the doc comment of function fn in the Go files of dir.
func godoc(t *testing.T, dir, fn string) string {
	t.Helper()
	pkgs, err := parser.ParseDir(token.NewFileSet(), filepath.Join("..", "..", dir), func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == fn && fd.Doc != nil {
					return fd.Doc.Text()
				}
			}
		}
	}
	t.Fatalf("no documented func %s in %s", fn, dir)
	return ""
}

// TestCredentialOrderEverywhere: the default credential order is stated in
// one sentence (registry.CredentialOrder), word for word in --help, the user
// docs and the godoc of both WithDefaultKeychain options.
func TestCredentialOrderEverywhere(t *testing.T) {
	want := words(registry.CredentialOrder)
	r := runCLI(t, "auth", "--help")
	places := map[string]string{
		"socify auth --help":                    r.stdout,
		"docs/usage.md":                         readDoc(t, "docs/usage.md"),
		"docs/ecr.md":                           readDoc(t, "docs/ecr.md"),
		"godoc of registry.WithDefaultKeychain": godoc(t, "pkg/registry", "WithDefaultKeychain"),
		"godoc of socify.WithDefaultKeychain":   godoc(t, "pkg/socify", "WithDefaultKeychain"),
	}
	for where, text := range places {
		if !strings.Contains(words(text), want) {
			t.Errorf("%s does not state registry.CredentialOrder word for word", where)
		}
	}
}

var ecrAction = regexp.MustCompile(`ecr:[A-Z][A-Za-z]+`) // actions, not "arn:aws:ecr:eu-west-1"

// TestECRActionsAgree: docs/ci.md names the same IAM actions as the
// pull-and-push policy of docs/ecr.md.
func TestECRActionsAgree(t *testing.T) {
	ci := readDoc(t, "docs/ci.md")
	i := strings.Index(ci, "- **Amazon ECR.**")
	if i < 0 {
		t.Fatal("docs/ci.md has no Amazon ECR note")
	}
	note := ci[i:]
	if j := strings.Index(note[1:], "\n- **"); j >= 0 {
		note = note[:j+1]
	}
	ecr := readDoc(t, "docs/ecr.md")
	i = strings.Index(ecr, "### Pull and push")
	if i < 0 {
		t.Fatal("docs/ecr.md has no pull-and-push policy")
	}
	policy := ecr[i:]
	start := strings.Index(policy, "```json")
	end := strings.Index(policy[start+1:], "```")
	policy = policy[start : start+1+end]
	set := func(s string) []string {
		as := ecrAction.FindAllString(s, -1)
		slices.Sort(as)
		return slices.Compact(as)
	}
	if a, b := set(note), set(policy); !slices.Equal(a, b) || len(a) < 8 {
		t.Errorf("docs/ci.md names %v, docs/ecr.md's pull-and-push policy %v", a, b)
	}
}

var placeholderRE = regexp.MustCompile(`\{[a-z]+\}`)

// TestTagTemplatePlaceholders: the placeholders the docs list for
// --tag-template are exactly those the CLI accepts.
func TestTagTemplatePlaceholders(t *testing.T) {
	vars := registry.TagVars{Tag: "v1", Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}}
	accepted := func(p string) bool {
		_, err := registry.ExpandTag("x"+p, vars)
		return err == nil
	}
	usage := readDoc(t, "docs/usage.md")
	var row string
	for _, l := range strings.Split(usage, "\n") {
		if strings.HasPrefix(l, "| `--tag-template") {
			row = l
		}
	}
	ecr := readDoc(t, "docs/ecr.md")
	i := strings.Index(ecr, "| placeholder | value |")
	if row == "" || i < 0 {
		t.Fatal("no --tag-template row in docs/usage.md or placeholder table in docs/ecr.md")
	}
	table := ecr[i:]
	table = table[:strings.Index(table, "\n\n")]
	cells := regexp.MustCompile("(?m)^\\| `([^|]*)` \\|").FindAllStringSubmatch(table, -1)
	var inTable []string
	for _, c := range cells {
		inTable = append(inTable, placeholderRE.FindAllString(c[1], -1)...)
	}
	// The row's default and example ({tag}-soci) use only listed ones.
	for where, ps := range map[string][]string{"docs/usage.md": placeholderRE.FindAllString(row, -1), "docs/ecr.md": inTable} {
		slices.Sort(ps)
		ps = slices.Compact(ps)
		if !slices.Equal(ps, []string{"{digest}", "{tag}"}) {
			t.Errorf("%s documents %v for --tag-template, want {tag} and {digest}", where, ps)
		}
		for _, p := range ps {
			if !accepted(p) {
				t.Errorf("%s documents %s, which --tag-template refuses", where, p)
			}
		}
	}
	for _, p := range []string{"{platform}", "{os}", "{arch}", "{variant}"} {
		if accepted(p) {
			t.Errorf("--tag-template accepts %s, which the docs do not list", p)
		}
	}
}

// TestDefaultCacheDirDocumented: the default zTOC cache directory the docs
// give is the one convert.DefaultCacheDir returns.
func TestDefaultCacheDirDocumented(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the documented Linux path is checked on Linux")
	}
	t.Setenv("HOME", "/home/u")
	t.Setenv("XDG_CACHE_HOME", "")
	d, err := convert.DefaultCacheDir()
	if err != nil || d != "/home/u/.cache/socify/ztoc" {
		t.Fatalf("DefaultCacheDir = %q, %v", d, err)
	}
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if d, _ := convert.DefaultCacheDir(); d != "/xdg/socify/ztoc" {
		t.Fatalf("DefaultCacheDir with XDG_CACHE_HOME = %q", d)
	}
	usage := readDoc(t, "docs/usage.md")
	r := runCLI(t, "convert", "--help")
	for where, s := range map[string]string{"docs/usage.md": usage, "convert --help": r.stdout} {
		if !strings.Contains(s, "~/.cache/socify/ztoc") || !strings.Contains(s, "XDG_CACHE_HOME") {
			t.Errorf("%s does not give the default cache directory ~/.cache/socify/ztoc ($XDG_CACHE_HOME)", where)
		}
	}
}

// TestREADMEActionSnippet: the README's action step takes the registry from
// the environment, not from an amazon-ecr-login step the docs say is not
// needed.
func TestREADMEActionSnippet(t *testing.T) {
	readme := readDoc(t, "README.md")
	if strings.Contains(readme, "steps.ecr") || strings.Contains(readme, "amazon-ecr-login@") {
		t.Error("README.md uses an amazon-ecr-login step (steps.ecr), which socify does not need")
	}
}

// TestREADMEOutputsIgnored: the files the README's first command writes are
// git-ignored, so that trying it leaves the clone clean.
func TestREADMEOutputsIgnored(t *testing.T) {
	readme := readDoc(t, "README.md")
	ignore := strings.Split(readDoc(t, ".gitignore"), "\n")
	first := readme[strings.Index(readme, "```"):]
	first = first[:strings.Index(first[3:], "```")+3]
	outs := regexp.MustCompile(`(?:mkexample |oci-archive:)([\w.-]+\.tar)`).FindAllStringSubmatch(first, -1)
	if len(outs) < 2 {
		t.Fatalf("no output files found in the README's first command:\n%s", first)
	}
	for _, o := range outs {
		if !slices.Contains(ignore, "/"+o[1]) {
			t.Errorf("%s, written by the README's first command, is not in .gitignore", o[1])
		}
	}
}
