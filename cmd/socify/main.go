// Command socify converts container images to SOCI-enabled images (SOCI
// index manifest v2) without containerd, root or cgo. It is a thin shell
// over the socify packages: every behaviour is a library call, the command
// only parses flags, composes credentials, shows progress and prints reports.
//
// Run "socify --help" for the commands and the exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// The first signal cancels the context: every command stops promptly and
	// removes partial output. A second signal kills the process the default
	// way, for the impatient.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
