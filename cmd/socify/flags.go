package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/socify/socify/internal/units"
)

// envName is the environment variable that sets the flag name: --span-size
// is SOCIFY_SPAN_SIZE. Every flag has one, so CI systems can configure socify
// without editing command lines.
func envName(flag string) string {
	return "SOCIFY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func envs(flag string) []string { return []string{envName(flag)} }

// The flag constructors give every flag its SOCIFY_ variable.

func boolFlag(name, cat, usage string, aliases ...string) *cli.BoolFlag {
	return &cli.BoolFlag{Name: name, Aliases: aliases, Category: cat, Usage: usage, EnvVars: envs(name)}
}

func stringFlag(name, cat, value, usage string, aliases ...string) *cli.StringFlag {
	return &cli.StringFlag{Name: name, Aliases: aliases, Category: cat, Value: value, Usage: usage, EnvVars: envs(name)}
}

func jobsFlag(cat, usage string) *cli.IntFlag {
	return &cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Category: cat, Usage: usage, DefaultText: "number of CPUs", EnvVars: envs("jobs")}
}

// listValue is a repeatable flag whose values may also be comma-separated
// ("-p linux/amd64 -p linux/arm64" or "-p linux/amd64,linux/arm64", and
// SOCIFY_PLATFORM=linux/amd64,linux/arm64 from the environment). Unlike
// cli.StringSliceFlag it shows as one short entry in --help.
type listValue struct{ items []string }

func (l *listValue) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		// urfave/cli sets a flag with an alias once per name: keep each
		// value once.
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(l.items, v) {
			l.items = append(l.items, v)
		}
	}
	return nil
}

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.items, ",")
}

func listFlag(name string, aliases []string, cat, usage string) *cli.GenericFlag {
	return &cli.GenericFlag{Name: name, Aliases: aliases, Category: cat, Usage: usage, Value: &listValue{}, EnvVars: envs(name)}
}

// listOf returns the values of a listFlag.
func listOf(c *cli.Context, name string) []string {
	if l, ok := c.Generic(name).(*listValue); ok {
		return l.items
	}
	return nil
}

// sizeValue is a byte size with an optional binary unit (units.SizeFormat).
type sizeValue struct{ n int64 }

func (v *sizeValue) Set(s string) error {
	n, err := units.ParseSize(s)
	if err != nil {
		return err
	}
	v.n = n
	return nil
}

func (v *sizeValue) String() string {
	if v == nil {
		return ""
	}
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v.n != 0 && v.n%u.size == 0 {
			return fmt.Sprintf("%d%s", v.n/u.size, u.unit)
		}
	}
	return fmt.Sprint(v.n)
}

func sizeFlag(name, cat string, value int64, usage string) *cli.GenericFlag {
	return &cli.GenericFlag{Name: name, Category: cat, Usage: usage + " (`SIZE`: 65536, 64KiB, 4MiB, 1G; binary units)",
		Value: &sizeValue{value}, EnvVars: envs(name)}
}

// sizeOf returns the value of a sizeFlag.
func sizeOf(c *cli.Context, name string) int64 {
	if v, ok := c.Generic(name).(*sizeValue); ok {
		return v.n
	}
	return 0
}
