package cliargs

import (
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func testApp() *cli.App {
	return &cli.App{
		Name:  "socify",
		Flags: []cli.Flag{&cli.StringFlag{Name: "output"}},
		Commands: []*cli.Command{
			{Name: "convert", Flags: []cli.Flag{&cli.StringFlag{Name: "platform", Aliases: []string{"p"}}, &cli.BoolFlag{Name: "dry-run"}}},
			{Name: "ztoc", Subcommands: []*cli.Command{
				{Name: "build", Flags: []cli.Flag{&cli.StringFlag{Name: "out", Aliases: []string{"o"}}, &cli.BoolFlag{Name: "uncompressed"}}},
				{Name: "list"},
			}},
		},
	}
}

func TestPermute(t *testing.T) {
	app := testApp()
	for _, tc := range []struct{ in, want string }{
		{"socify ztoc build L -o O", "socify ztoc build -o O L"},
		{"socify ztoc build --uncompressed L -o=O", "socify ztoc build --uncompressed -o=O L"},
		// A boolean takes no value: L stays positional.
		{"socify convert --dry-run SRC -p linux/amd64 DST", "socify convert --dry-run -p linux/amd64 SRC DST"},
		{"socify --output json convert SRC", "socify --output json convert SRC"},
		// After "--" everything is positional, and a positional that looks like a flag keeps its "--".
		{"socify convert SRC -- -weird", "socify convert -- SRC -weird"},
		{"socify convert - DST", "socify convert - DST"},
		{"socify", "socify"},
	} {
		if got := strings.Join(Permute(app, strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("Permute(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCommandPath(t *testing.T) {
	app := testApp()
	for in, want := range map[string]string{
		"socify ztoc build L -o O":           "socify ztoc build",
		"socify --output json convert --bad": "socify convert",
		"socify frobnicate":                  "socify",
		"socify -- ztoc":                     "socify",
	} {
		if got := CommandPath(app, strings.Fields(in)); got != want {
			t.Errorf("CommandPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	cmds := testApp().Commands
	for typed, want := range map[string]string{
		"conver":     `; did you mean "convert"?`,
		"zotc":       `; did you mean "ztoc"?`,
		"co":         `; did you mean "convert"?`,
		"frobnicate": "",
	} {
		if got := Suggest(cmds, typed); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", typed, got, want)
		}
	}
}

func TestValues(t *testing.T) {
	var l List
	for _, s := range []string{"linux/amd64, linux/arm64", "linux/amd64", ""} {
		if err := l.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(l.Items, []string{"linux/amd64", "linux/arm64"}) || l.String() != "linux/amd64,linux/arm64" {
		t.Errorf("list %q", l.Items)
	}
	var p Paths
	_ = p.Set("a,b")
	_ = p.Set("c")
	if !slices.Equal(p.Items, []string{"a,b", "c"}) {
		t.Errorf("paths %q", p.Items)
	}
	for in, want := range map[string]string{"65536": "64KiB", "4MiB": "4MiB", "1G": "1GiB", "1000": "1000", "0": "0"} {
		var s Size
		if err := s.Set(in); err != nil || s.String() != want {
			t.Errorf("size %q: %q (%v), want %q", in, s.String(), err, want)
		}
	}
	var s Size
	if err := s.Set("12 parsecs"); err == nil {
		t.Errorf("a bad size was accepted: %d", s.N)
	}
}

// TestStringBool: a flag given before the command name is seen by the command, one given after
// it wins, and a flag set nowhere takes the caller's default.
func TestStringBool(t *testing.T) {
	common := func() []cli.Flag {
		return []cli.Flag{&cli.StringFlag{Name: "output", Value: "text"}, &cli.BoolFlag{Name: "quiet"}}
	}
	var out string
	var quiet bool
	app := &cli.App{Name: "socify", Flags: common(), Commands: []*cli.Command{{Name: "version", Flags: common(),
		Action: func(c *cli.Context) error { out, quiet = String(c, "output", "default"), Bool(c, "quiet"); return nil }}}}
	for _, tc := range []struct {
		args  string
		out   string
		quiet bool
	}{
		{"socify version", "default", false},
		{"socify --output json --quiet version", "json", true},
		{"socify --output json version --output text", "text", false},
	} {
		if err := app.Run(strings.Fields(tc.args)); err != nil || out != tc.out || quiet != tc.quiet {
			t.Errorf("%s: output %q quiet %v (%v), want %q %v", tc.args, out, quiet, err, tc.out, tc.quiet)
		}
	}
}
