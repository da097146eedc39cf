package main

import (
	"errors"

	"github.com/socify/socify/pkg/convert"
)

// libraryExitCode maps typed errors of the socify packages to exit codes.
func libraryExitCode(err error) (int, bool) {
	if errors.Is(err, convert.ErrEmptyIndex) {
		return exitNothingToDo, true
	}
	return registryExitCode(err)
}
