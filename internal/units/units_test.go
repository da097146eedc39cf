package units

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"65536", 65536, true},
		{"0", 0, true},
		{"-1", -1, true},
		{"1k", 1024, true},
		{"1K", 1024, true},
		{"512KiB", 512 << 10, true},
		{"512 KiB", 512 << 10, true},
		{"4MiB", 4 << 20, true},
		{"4mb", 4 << 20, true},
		{"10M", 10 << 20, true},
		{"1G", 1 << 30, true},
		{"2b", 2, true},
		{"", 0, false},
		{"k", 0, false},
		{"1.5M", 0, false},
		{"4 megs", 0, false},
		{"1x", 0, false},
		{"99999999999T", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 12676043: "12.1 MiB", 5 << 30: "5.0 GiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %s, want %s", n, got, want)
		}
	}
}
