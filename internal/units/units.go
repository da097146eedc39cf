// Package units formats and parses byte sizes the way socify's reports and
// flags show them: binary units (1 KiB = 1024 bytes).
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SizeFormat names what ParseSize accepts, for help texts and errors.
const SizeFormat = "a number of bytes, optionally with a binary unit: 65536, 64k, 64KiB, 4M, 4MiB, 1G (k = KiB = KB = 1024, case-insensitive)"

// FormatSize formats n with binary units ("12.1 MiB").
func FormatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

var multipliers = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// ParseSize parses a size in the SizeFormat. Negative sizes parse (the
// caller's validation names the flag that cannot take them).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	if i < len(t) && (t[i] == '-' || t[i] == '+') {
		i++
	}
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	m, ok := multipliers[unit]
	if num == "" || num == "-" || num == "+" || !ok {
		return 0, fmt.Errorf("%q is not a size: want %s", s, SizeFormat)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/m || n < math.MinInt64/m {
		return 0, fmt.Errorf("%q is not a size: out of range", s)
	}
	return n * m, nil
}
