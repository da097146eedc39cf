package main

import (
	"strings"
	"testing"
)

// TestLocalPathWithoutTransport: a local archive named without a transport,
// or with a misspelled one, is a usage error naming the transport, not a
// Docker Hub lookup.
func TestLocalPathWithoutTransport(t *testing.T) {
	const archive = "../../testdata/images/a-img1-single/IN.tar"
	for _, args := range [][]string{
		{"convert", archive, "x"},
		{"inspect", "oci-arhive:" + archive},
	} {
		r := runCLI(t, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "did you mean oci-archive:"+archive+"?") || strings.Contains(r.stderr, "index.docker.io") {
			t.Errorf("%v: %s", args, r)
		}
	}
}
