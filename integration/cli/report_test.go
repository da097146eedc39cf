package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/socify/socify/integration/registrytest"
)

// TestConvertReportsRegistryWrites: a registry destination's report says
// what was uploaded and what the registry had, in counts and bytes, and
// whether anything changed; a dry run says what would be uploaded; the same
// conversion again changes nothing (issue 11 item 10).
func TestConvertReportsRegistryWrites(t *testing.T) {
	reg := registrytest.New(t)
	pushVector(t, reg, "app:v1")
	want := loadExpected(t)

	dry := parseConvert(t, mustSucceed(t, "", args("convert", "--dry-run", reg.Ref("app:v1"), reg.Ref("app:v1-soci"), sociFlags, "--output", "json")...))
	if dry.Write == nil || dry.Write.BlobsWritten == 0 || dry.Write.BlobsExisting == 0 || !dry.Changed {
		t.Fatalf("dry run report: %+v", dry.Write)
	}
	first := parseConvert(t, mustSucceed(t, "", args("convert", reg.Ref("app:v1"), reg.Ref("app:v1-soci"), sociFlags, "--output", "json")...))
	w := first.Write
	// The layers and configs were there (same repository); the zTOCs, the
	// SOCI index config and the new manifests were uploaded.
	if w == nil || !first.Changed || w.BlobsWritten < len(want.uploads) || w.BytesWritten == 0 || w.BlobsExisting == 0 || w.BytesExisting == 0 {
		t.Fatalf("report: %+v", w)
	}
	if *w != *dry.Write {
		t.Errorf("the dry run predicted %+v, the push did %+v", *dry.Write, *w)
	}
	again := parseConvert(t, mustSucceed(t, "", args("convert", reg.Ref("app:v1"), reg.Ref("app:v1-soci"), sociFlags, "--output", "json")...))
	if again.Changed || again.Write == nil || again.Write.BlobsWritten != 0 {
		t.Errorf("the same conversion again: changed %v, %+v", again.Changed, again.Write)
	}
}

// TestConvertUnreachableDestinationFailsFirst: a destination that cannot be
// reached fails in seconds, before any layer is read, naming the host
// (issue 11 item 3).
func TestConvertUnreachableDestinationFailsFirst(t *testing.T) {
	reg := registrytest.New(t)
	pushVector(t, reg, "app:v1")
	start := time.Now()
	r := socify(t, "", args("convert", "--progress", "plain", reg.Ref("app:v1"), "127.0.0.1:1/app:1.0", sociFlags)...)
	took := time.Since(start)
	if r.code == 0 || !strings.Contains(r.stderr, "127.0.0.1:1") || strings.Contains(r.stderr, "layer sha256:") {
		t.Fatalf("want a failure naming the host before any layer: %s", r)
	}
	if took > 3*time.Second {
		t.Errorf("took %s; the destination check should answer within about 2 s", took)
	}
}
