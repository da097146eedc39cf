package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

const appDescription = `socify turns any container image into a SOCI-enabled image (SOCI index
manifest v2) so that the SOCI snapshotter can lazily load it. It reads the
image from a registry, an OCI layout, an OCI archive or a docker save tarball,
builds a zTOC for each large layer while streaming it once, and writes the
converted image to a registry, a layout or an archive. No containerd, no root,
no cgo, no temporary copies of layers.

EXAMPLES:
   # Convert an OCI archive written by "docker buildx build --output type=oci,dest=img.tar"
   socify convert oci-archive:img.tar oci-archive:img-soci.tar

   # Convert a multi-arch image in place in its registry (all platforms)
   socify convert 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0 \
                  123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0

   # Check that an image will be lazily loaded
   socify verify docker://registry.example.com/app:1.0

EXIT CODES:
   0    success
   1    failure (I/O, registry, corrupt input, ...)
   2    usage error (unknown flag, missing argument, bad value)
   3    verify: the image will not be lazily loaded
   4    convert: no layer qualified for a zTOC (see --allow-empty)
   5    the registry refused the credentials (HTTP 401/403)
   130  interrupted (SIGINT/SIGTERM); no output was left behind

Every flag can also be set with an environment variable: SOCIFY_ and the flag
name in upper case with - replaced by _, for example SOCIFY_SPAN_SIZE=65536.`

// newApp builds the command tree. stdin, stdout and stderr are the streams
// the commands use; tests pass buffers.
func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "socify",
		Usage:                "convert container images to SOCI-enabled images, without containerd",
		UsageText:            "socify [global options] command [command options] [arguments...]",
		Description:          appDescription,
		Version:              currentBuild().String(),
		HideVersion:          true,
		Writer:               stdout,
		ErrWriter:            stderr,
		Reader:               stdin,
		Metadata:             map[string]any{},
		Flags:                commonFlags(),
		EnableBashCompletion: true,
		Commands: []*cli.Command{
			convertCommand(),
			inspectCommand(),
			verifyCommand(),
			ztocCommand(),
			authCommand(),
			versionCommand(),
			backfillCommand(),
		},
		// A bare "socify" prints help; an unknown command is a usage error
		// (urfave/cli would exit 3, which here means "verify failed").
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("unknown command %q%s", c.Args().First(), suggest(c.App.Commands, c.Args().First()))
			}
			return cli.ShowAppHelp(c)
		},
		// Errors are printed and mapped to exit codes by run, not by the
		// library, which would call os.Exit.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageErrorf("%v", err)
		},
	}
	for _, cmd := range app.Commands {
		prepareCommand(cmd)
	}
	return app
}

// prepareCommand makes flag errors usage errors and groups reject unknown
// subcommands, recursively.
func prepareCommand(cmd *cli.Command) {
	cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return usageErrorf("%v", err)
	}
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		cmd.Action = func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("unknown command %q for \"socify %s\"%s", c.Args().First(), c.Command.FullName(), suggest(c.Command.Subcommands, c.Args().First()))
			}
			return cli.ShowSubcommandHelp(c)
		}
	}
	for _, sub := range cmd.Subcommands {
		prepareCommand(sub)
	}
}

// suggest names the command closest to a mistyped one: at most two edits
// away, or one it is a prefix of.
func suggest(cmds []*cli.Command, typed string) string {
	best, bestDist := "", 3
	for _, c := range cmds {
		for _, n := range c.Names() {
			d := editDistance(typed, n)
			if strings.HasPrefix(n, typed) && len(typed) >= 2 {
				d = 1
			}
			if d < bestDist {
				best, bestDist = n, d
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// run executes socify with args (args[0] is the program name) and returns
// the exit code. Errors go to stderr; with --output json a JSON error object
// also goes to stdout, so that a CI step parsing the report always gets JSON.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	err := app.RunContext(ctx, permuteArgs(app, args))
	code := exitCodeOf(ctx, err)
	if err == nil {
		return code
	}
	msg := errorMessage(err)
	if code == exitInterrupted {
		msg = "interrupted: " + msg
	}
	fmt.Fprintf(stderr, "socify: %s\n", msg)
	if code == exitUsage {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", commandPath(app, args))
	}
	var ee *exitError
	reported := errors.As(err, &ee) && ee.reported
	if f, _ := app.Metadata["format"].(string); f == formatJSON && !reported {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Error    string `json:"error"`
			ExitCode int    `json:"exitCode"`
		}{msg, code})
	}
	return code
}

// commandPath names the command args invoke ("socify ztoc build"), for the
// hint after a usage error.
func commandPath(app *cli.App, args []string) string {
	path := []string{app.Name}
	flags, cmds := app.Flags, app.Commands
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") {
			if !strings.Contains(a, "=") && takesValue(flags, a) {
				i++
			}
			continue
		}
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(a) {
				next = c
			}
		}
		if next == nil {
			break
		}
		path = append(path, next.Name)
		flags, cmds = next.Flags, next.Subcommands
	}
	return strings.Join(path, " ")
}

// permuteArgs moves flags in front of positional arguments, command level by
// command level, because urfave/cli (like Go's flag package) stops parsing
// flags at the first positional argument, and the documented forms put
// flags last: "socify ztoc build LAYER -o OUT". "--" ends flag parsing.
func permuteArgs(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	out := []string{args[0]}
	flags, cmds := app.Flags, app.Commands
	rest := args[1:]
	for {
		var fl, pos []string
		var sub *cli.Command
		i := 0
		for ; i < len(rest); i++ {
			a := rest[i]
			if a == "--" {
				pos = append(pos, rest[i+1:]...)
				i = len(rest)
				break
			}
			if len(a) > 1 && a[0] == '-' {
				fl = append(fl, a)
				if !strings.Contains(a, "=") && takesValue(flags, a) && i+1 < len(rest) {
					i++
					fl = append(fl, rest[i])
				}
				continue
			}
			if len(pos) == 0 && len(cmds) > 0 {
				for _, c := range cmds {
					if c.HasName(a) {
						sub = c
					}
				}
				if sub != nil {
					break
				}
			}
			pos = append(pos, a)
		}
		out = append(out, fl...)
		if sub != nil {
			out = append(out, rest[i])
			flags, cmds, rest = sub.Flags, sub.Subcommands, rest[i+1:]
			continue
		}
		for _, p := range pos {
			if strings.HasPrefix(p, "-") && p != "-" {
				out = append(out, "--")
				break
			}
		}
		return append(out, pos...)
	}
}

// takesValue reports whether the flag token a names a flag that takes a
// value (anything but a boolean).
func takesValue(flags []cli.Flag, a string) bool {
	name := strings.TrimLeft(a, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			_, isBool := f.(*cli.BoolFlag)
			return !isBool
		}
	}
	return false
}
