package socify

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Build describes a socify binary (the CLI's "socify version").
type Build struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// CurrentBuild describes the running binary. version, commit and date are
// what the release set (-ldflags -X); left empty they are taken from the
// module version that `go install module@version` records and from the VCS
// stamp, and the version is "dev" for a build from a source tree.
func CurrentBuild(version, commit, date string) Build {
	b := Build{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
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

// BuildToolIdentifier is the identifier a binary writes into zTOCs and SOCI
// indexes by default: it names the version, so a zTOC can be traced to the
// converter that made it.
func (b Build) BuildToolIdentifier() string { return "socify " + b.Version }

// String is the version with the commit's first 12 digits: "v1.2.3 (abc123def456)".
func (b Build) String() string {
	if b.Commit == "" {
		return b.Version
	}
	return fmt.Sprintf("%s (%.12s)", b.Version, b.Commit)
}

// WriteText writes the build, one field a line.
func (b Build) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "socify %s\n", b.Version)
	for _, f := range [][2]string{{"commit:   ", b.Commit}, {"built:    ", b.Date}, {"go:       ", b.GoVersion}, {"platform: ", b.Platform}} {
		if err == nil && f[1] != "" {
			_, err = fmt.Fprintf(w, "%s%s\n", f[0], f[1])
		}
	}
	return err
}
