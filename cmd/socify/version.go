package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/socify/socify/internal/textout"
)

// version is set at release time with
// -ldflags "-X main.version=v1.2.3 -X main.commit=abc123 -X main.date=...".
// Left empty, it is taken from the module version recorded by `go install
// module@version`, and is "dev" for a build from a source tree.
var (
	version = ""
	commit  = ""
	date    = ""
)

// buildInfo describes this binary; `socify version` prints it.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func currentBuildInfo() buildInfo {
	b := buildInfo{
		Version:   version,
		Commit:    commit,
		Date:      date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Commit == "":
				b.Commit = s.Value
			case s.Key == "vcs.time" && b.Date == "":
				b.Date = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}

// defaultBuildToolIdentifier is written into every zTOC and SOCI index unless
// --build-tool-identifier says otherwise. It names the version, so a zTOC can
// be traced to the converter that made it.
func defaultBuildToolIdentifier() string {
	return "socify " + currentBuildInfo().Version
}

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
			b := currentBuildInfo()
			return s.emit(b, func(w *textout.Writer) {
				w.Printf("socify %s\n", b.Version)
				if b.Commit != "" {
					w.Printf("commit:   %s\n", b.Commit)
				}
				if b.Date != "" {
					w.Printf("built:    %s\n", b.Date)
				}
				w.Printf("go:       %s\n", b.GoVersion)
				w.Printf("platform: %s\n", b.Platform)
			})
		},
	}
}

func versionString() string {
	b := currentBuildInfo()
	s := b.Version
	if b.Commit != "" {
		c := b.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += fmt.Sprintf(" (%s)", c)
	}
	return s
}
