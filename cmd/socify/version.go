package main

import (
	"github.com/urfave/cli/v2"

	"github.com/socify/socify/pkg/socify"
)

// version is set at release time with
// -ldflags "-X main.version=v1.2.3 -X main.commit=abc123 -X main.date=...";
// socify.CurrentBuild fills in what is left empty.
var (
	version = ""
	commit  = ""
	date    = ""
)

func currentBuild() socify.Build { return socify.CurrentBuild(version, commit, date) }

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of socify",
		Description: `Prints the version, commit, Go version and platform of this binary.

EXAMPLES:
   socify version
   socify version --output json | jq -r .version`,
		Flags: commonFlags(),
		Action: func(c *cli.Context) error {
			s, err := setup(c)
			if err != nil {
				return err
			}
			b := currentBuild()
			return s.emit(b, b.WriteText)
		},
	}
}
