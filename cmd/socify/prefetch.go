package main

import (
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/socify/socify/internal/cliargs"
	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/prefetch"
)

// prefetchFlags are soci's --prefetch-file and --prefetch-files-json.
func prefetchFlags(category string) []cli.Flag {
	return []cli.Flag{
		&cli.GenericFlag{
			Name:     "prefetch-file",
			Category: category,
			Usage:    "add a soci prefetch artifact so that the snapshotter fetches `PATH` (a file in the image) right after mounting its layer (repeatable; experimental in soci)",
			Value:    &cliargs.Paths{},
		},
		&cli.StringFlag{
			Name:     "prefetch-files-json",
			Category: category,
			Usage:    "read prefetch paths from `FILE`, a JSON array of strings (entries are trimmed, empty ones dropped, as in soci)",
			EnvVars:  envs("prefetch-files-json"),
		},
	}
}

// prefetchOption gathers both flags into convert.WithPrefetchFiles, or nil
// when neither is given.
func prefetchOption(c *cli.Context) (convert.Option, error) {
	var paths []string
	if p, ok := c.Generic("prefetch-file").(*cliargs.Paths); ok {
		for _, s := range p.Items {
			if strings.TrimSpace(s) == "" {
				return nil, usageErrorf("--prefetch-file: empty path")
			}
			paths = append(paths, s)
		}
	}
	if f := c.String("prefetch-files-json"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, usageErrorf("--prefetch-files-json: %v", err)
		}
		list, err := prefetch.ParsePathsJSON(b)
		if err != nil {
			return nil, usageErrorf("--prefetch-files-json %s: %v", f, err)
		}
		paths = append(paths, list...)
	}
	if len(paths) == 0 {
		return nil, nil
	}
	return convert.WithPrefetchFiles(paths...), nil
}
