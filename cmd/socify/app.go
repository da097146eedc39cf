package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/socify/socify/internal/cliargs"
	"github.com/socify/socify/internal/textout"
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
				return usageErrorf("unknown command %q%s", c.Args().First(), cliargs.Suggest(c.App.Commands, c.Args().First()))
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
				return usageErrorf("unknown command %q for \"socify %s\"%s", c.Args().First(), c.Command.FullName(), cliargs.Suggest(c.Command.Subcommands, c.Args().First()))
			}
			return cli.ShowSubcommandHelp(c)
		}
	}
	for _, sub := range cmd.Subcommands {
		prepareCommand(sub)
	}
}

// run executes socify with args (args[0] is the program name) and returns
// the exit code. Errors go to stderr; with --output json a JSON error object
// also goes to stdout, so that a CI step parsing the report always gets JSON.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	err := app.RunContext(ctx, cliargs.Permute(app, args))
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
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cliargs.CommandPath(app, args))
	}
	var ee *exitError
	reported := errors.As(err, &ee) && ee.reported
	if f, _ := app.Metadata["format"].(string); f == formatJSON && !reported {
		_ = textout.JSON(stdout, struct {
			Error    string `json:"error"`
			ExitCode int    `json:"exitCode"`
		}{msg, code})
	}
	return code
}
