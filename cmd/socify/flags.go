package main

import (
	"strings"

	"github.com/socify/socify/internal/cliargs"
	"github.com/urfave/cli/v2"
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

func listFlag(name string, aliases []string, cat, usage string) *cli.GenericFlag {
	return &cli.GenericFlag{Name: name, Aliases: aliases, Category: cat, Usage: usage, Value: &cliargs.List{}, EnvVars: envs(name)}
}

// listOf returns the values of a listFlag.
func listOf(c *cli.Context, name string) []string {
	if l, ok := c.Generic(name).(*cliargs.List); ok {
		return l.Items
	}
	return nil
}

func sizeFlag(name, cat string, value int64, usage string) *cli.GenericFlag {
	return &cli.GenericFlag{Name: name, Category: cat, Usage: usage + " (`SIZE`: 65536, 64KiB, 4MiB, 1G; binary units)",
		Value: &cliargs.Size{N: value}, EnvVars: envs(name)}
}

// sizeOf returns the value of a sizeFlag.
func sizeOf(c *cli.Context, name string) int64 {
	if v, ok := c.Generic(name).(*cliargs.Size); ok {
		return v.N
	}
	return 0
}
