// Package cliargs holds what socify's CLI needs from urfave/cli/v2 that is not socify's own:
// flags accepted after positional arguments, the closest command to a mistyped one, the
// command path of an argument list, and flag values for lists and byte sizes.
package cliargs

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// Suggest names the command closest to a mistyped one: at most two edits
// away, or one it is a prefix of.
func Suggest(cmds []*cli.Command, typed string) string {
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

// CommandPath names the command args invoke ("socify ztoc build"), for the
// hint after a usage error.
func CommandPath(app *cli.App, args []string) string {
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

// Permute moves flags in front of positional arguments, command level by
// command level, because urfave/cli (like Go's flag package) stops parsing
// flags at the first positional argument, and the documented forms put
// flags last: "socify ztoc build LAYER -o OUT". "--" ends flag parsing.
func Permute(app *cli.App, args []string) []string {
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

// lookup finds a flag in the innermost context where it was set, so
// that a flag given before the command name is not hidden by the command's
// own default.
func lookup(c *cli.Context, name string) (*cli.Context, bool) {
	for _, cc := range c.Lineage() {
		if cc.IsSet(name) {
			return cc, true
		}
	}
	return nil, false
}

// String is the value of the string flag name where it was set last (innermost), or def.
func String(c *cli.Context, name, def string) string {
	if cc, ok := lookup(c, name); ok {
		return cc.String(name)
	}
	return def
}

// Bool is the value of the boolean flag name where it was set last (innermost), or false.
func Bool(c *cli.Context, name string) bool {
	if cc, ok := lookup(c, name); ok {
		return cc.Bool(name)
	}
	return false
}
