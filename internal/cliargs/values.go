package cliargs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/socify/socify/internal/units"
)

// List is a repeatable flag whose values may also be comma-separated
// ("-p linux/amd64 -p linux/arm64" or "-p linux/amd64,linux/arm64", and
// SOCIFY_PLATFORM=linux/amd64,linux/arm64 from the environment). Unlike
// cli.StringSliceFlag it shows as one short entry in --help.
type List struct{ Items []string }

func (l *List) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		// urfave/cli sets a flag with an alias once per name: keep each
		// value once.
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(l.Items, v) {
			l.Items = append(l.Items, v)
		}
	}
	return nil
}

func (l *List) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.Items, ",")
}

// Size is a byte size with an optional binary unit (units.SizeFormat).
type Size struct{ N int64 }

func (v *Size) Set(s string) error {
	n, err := units.ParseSize(s)
	if err != nil {
		return err
	}
	v.N = n
	return nil
}

func (v *Size) String() string {
	if v == nil {
		return ""
	}
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v.N != 0 && v.N%u.size == 0 {
			return fmt.Sprintf("%d%s", v.N/u.size, u.unit)
		}
	}
	return fmt.Sprint(v.N)
}

// Paths is a repeatable flag whose values are kept whole: file names may
// hold commas, so unlike List it does not split.
type Paths struct{ Items []string }

func (p *Paths) Set(s string) error { p.Items = append(p.Items, s); return nil }
func (p *Paths) String() string {
	if p == nil {
		return ""
	}
	return strings.Join(p.Items, " ")
}
