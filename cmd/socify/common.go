package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/socify/socify/internal/cliargs"
	"github.com/socify/socify/internal/console"
	"github.com/socify/socify/internal/textout"
)

const (
	formatText = "text"
	formatJSON = "json"
)

// commonFlags are accepted by the application and by every command, before
// or after the command name: `socify --output json version` and `socify
// version --output json` mean the same.
func commonFlags() []cli.Flag {
	return []cli.Flag{
		stringFlag("output", "", "", "`FORMAT` of the report on stdout: text or json (logs and progress go to stderr)"),
		boolFlag("quiet", "", "print only errors and the result; no progress unless --progress asks for it", "q"),
		boolFlag("debug", "", "log debug details to stderr"),
		stringFlag("progress", "", "auto", "progress display: auto (bars on a terminal, timestamped lines otherwise), bar, plain or none"),
		// Listed explicitly: urfave/cli leaves its own out of the help of
		// commands whose flags have categories.
		cli.HelpFlag,
	}
}

// withCommon lists a command's own flags first, then the common ones, as
// --help shows them.
func withCommon(flags ...cli.Flag) []cli.Flag {
	return append(flags, commonFlags()...)
}

// session is what a command needs besides its flags: where to write, how to
// log, how to show progress. It is built from the common flags by setup.
type session struct {
	stdout   io.Writer
	stderr   io.Writer
	stdin    io.Reader
	format   string
	quiet    bool
	log      *slog.Logger
	progress console.Progress
}

// ioFromApp returns the streams the application was given (tests pass
// buffers; main passes the process streams).
func ioFromApp(c *cli.Context) (stdin io.Reader, stdout, stderr io.Writer) {
	stdin, stdout, stderr = c.App.Reader, c.App.Writer, c.App.ErrWriter
	if stdin == nil {
		stdin = os.Stdin
	}
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	return stdin, stdout, stderr
}

// setup reads the common flags; the default report format is text.
func setup(c *cli.Context) (*session, error) { return setupFormat(c, formatText) }

// setupFormat is setup for commands whose documented default output is not
// text (ztoc info prints JSON unless --output text).
func setupFormat(c *cli.Context, defFormat string) (*session, error) {
	stdin, stdout, stderr := ioFromApp(c)
	s := &session{stdin: stdin, stdout: stdout, stderr: stderr}
	s.format = cliargs.String(c, "output", defFormat)
	switch s.format {
	case formatText, formatJSON:
	default:
		return nil, usageErrorf("--output must be text or json, not %q", s.format)
	}
	c.App.Metadata["format"] = s.format
	s.quiet = cliargs.Bool(c, "quiet")
	log, p, err := console.Setup(stderr, cliargs.String(c, "progress", "auto"), s.quiet, cliargs.Bool(c, "debug"))
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	s.log, s.progress = log, p
	return s, nil
}

// libLogger is the logger handed to the socify packages: their Info
// records show only with --debug.
func (s *session) libLogger() *slog.Logger {
	return slog.New(console.QuietInfo{Handler: s.log.Handler()})
}

// close stops the progress display; call it before printing the report.
func (s *session) close() {
	if s.progress != nil {
		s.progress.Close()
	}
}

// emit writes a command's result: v as indented JSON, or the text form
// that text writes.
func (s *session) emit(v any, text func(io.Writer) error) error {
	s.close()
	var err error
	if s.format == formatJSON {
		err = textout.JSON(s.stdout, v)
	} else if text != nil {
		err = text(s.stdout)
	}
	if err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// emitText is emit for reports with nothing to say with --quiet.
func (s *session) emitText(v any, text func(io.Writer) error) error {
	if s.quiet {
		text = nil
	}
	return s.emit(v, text)
}

// report is what the library's reports write: JSON, text, and with --quiet
// the result alone.
type report interface {
	WriteJSON(io.Writer) error
	WriteText(io.Writer) error
	WriteSummary(io.Writer) error
}

// print writes rep in the form the common flags ask for.
func (s *session) print(rep report) error {
	s.close()
	var err error
	switch {
	case s.format == formatJSON:
		err = rep.WriteJSON(s.stdout)
	case s.quiet:
		err = rep.WriteSummary(s.stdout)
	default:
		err = rep.WriteText(s.stdout)
	}
	if err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}
