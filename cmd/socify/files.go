package main

import (
	"bufio"
	"fmt"
	"io"

	"github.com/socify/socify/internal/atomicfile"
)

// writeOutput writes the output of a command to path, or to stdout when path
// is "-". A file is written under a temporary name in the same directory and
// renamed into place only when write succeeded, so a failure or Ctrl-C never
// leaves a partial file, and an existing file is replaced whole or not at all.
func writeOutput(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		bw := bufio.NewWriterSize(stdout, 1<<16)
		if err := write(bw); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("writing to stdout: %w", err)
		}
		return nil
	}
	return atomicfile.WriteOutput(path, 0o644, func(f io.Writer) error {
		bw := bufio.NewWriterSize(f, 1<<16)
		if err := write(bw); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	})
}
