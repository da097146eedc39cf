package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/registry"
	"github.com/socify/socify/pkg/socify"
)

// Exit codes. They are part of the interface: CI scripts branch on them, and
// README.md and docs/usage.md list them.
const (
	exitOK          = 0   // success
	exitFailure     = 1   // the operation failed: I/O, registry, corrupt input, ...
	exitUsage       = 2   // bad command line: unknown flag, missing argument, bad value
	exitVerify      = 3   // verify: the image will not be lazily loaded
	exitNothingToDo = 4   // convert: no layer qualified for a zTOC (see --allow-empty)
	exitAuth        = 5   // the registry refused the credentials (401/403)
	exitInterrupted = 130 // interrupted by SIGINT/SIGTERM; no output was left behind
)

// exitError carries the exit code an error maps to.
type exitError struct {
	code int
	err  error
	// reported: the command already printed its report (verify's failed
	// verdict), so no JSON error object follows it on stdout.
	reported bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// reportedExit is an error whose details are in the report already printed.
func reportedExit(code int, err error) error {
	return &exitError{code: code, err: err, reported: true}
}

// usageErrorf reports a command-line mistake: exit code 2, and the error
// message suggests --help.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// exitCodeOf maps an error returned by a command to the process exit code.
// ctx is the context the command ran under: an error caused by its
// cancellation (Ctrl-C) is an interruption, whatever layer reported it.
func exitCodeOf(ctx context.Context, err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ae *socify.ArgError
	if errors.As(err, &ae) {
		return exitUsage
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err())) {
		return exitInterrupted
	}
	if errors.Is(err, convert.ErrEmptyIndex) {
		return exitNothingToDo
	}
	if registry.IsAuth(err) {
		return exitAuth
	}
	return exitFailure
}

// errorMessage is how run prints err: the library names options the way
// the flags are named, without the dashes.
func errorMessage(err error) string {
	msg := err.Error()
	var ae *socify.ArgError
	if errors.As(err, &ae) && ae.Arg != "" && ae.Arg[0] >= 'a' && ae.Arg[0] <= 'z' {
		msg = strings.Replace(msg, ae.Error(), "--"+ae.Error(), 1)
	}
	return msg
}
