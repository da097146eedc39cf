package ztoc

import "testing"

func TestModeString(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		mode int64
		want string
	}{
		{"reg", 0o644, "-rw-r--r--"},
		{"reg", 0o4755, "-rwsr-xr-x"},
		{"reg", 0o4644, "-rwSr--r--"},
		{"dir", 0o1777, "drwxrwxrwt"},
		{"dir", 0o1776, "drwxrwxrwT"},
		{"reg", 0o2755, "-rwxr-sr-x"},
		{"symlink", 0o777, "lrwxrwxrwx"},
		{"char", 0o666, "crw-rw-rw-"},
		{"block", 0o660, "brw-rw----"},
		{"fifo", 0o644, "prw-r--r--"},
		{"hardlink", 0o644, "hrw-r--r--"},
	} {
		if got := ModeString(tc.typ, tc.mode); got != tc.want {
			t.Errorf("ModeString(%s, %o) = %s, want %s", tc.typ, tc.mode, got, tc.want)
		}
	}
}
