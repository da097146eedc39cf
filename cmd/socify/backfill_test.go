package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/socify/socify/pkg/ecr/ecrtest"
)

// socify backfill lists the registry through the ECR API (the stand-in, reached through the
// SDK's own AWS_ENDPOINT_URL_ECR) and, in a dry run, says what it would send without sending.
func TestBackfillDryRun(t *testing.T) {
	s := ecrtest.New(t, ecrtest.WithCredentials("AKIDCLI", "secret"), ecrtest.WithPageSize(1))
	ecrtest.IsolateAWS(t, "AKIDCLI", "secret")
	t.Setenv("AWS_ENDPOINT_URL_ECR", s.URL)
	for i := range 3 {
		s.AddImage("team/app", ecrtest.Image{Digest: fmt.Sprintf("sha256:%064d", i), Tags: []string{fmt.Sprintf("v%d", i)}})
	}
	s.AddImage("other/app", ecrtest.Image{Digest: fmt.Sprintf("sha256:%064d", 9), Tags: []string{"v1"}})
	s.AddImage("team/app", ecrtest.Image{Digest: fmt.Sprintf("sha256:%064d", 8), Tags: []string{"v1-soci"}})

	r := runCLI(t, "backfill", "--repositories", "team/*", "--queue-url", "https://sqs.us-east-1.amazonaws.com/1/q", "--dry-run", "--aws-region", "us-east-1", "--progress", "none")
	if r.code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{"queue        team/app:v0@sha256:", "would send to https://sqs.us-east-1.amazonaws.com/1/q", "own-tag      team/app:v1-soci@", "1 repositories, 4 images (dry run: nothing written or sent): 3 queue, 1 skipped"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "other/app") {
		t.Errorf("other/app is not included:\n%s", r.stdout)
	}

	r = runCLI(t, "backfill", "--repositories", "team/*", "--queue-url", "https://q", "--dry-run", "--aws-region", "us-east-1", "--output", "json")
	var rep struct {
		Images int            `json:"images"`
		Counts map[string]int `json:"counts"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || rep.Images != 4 || rep.Counts["queue"] != 3 {
		t.Errorf("json: %s", r)
	}
}

func TestBackfillUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--repositories", "team/[ab]"}, "--repositories"},
		{[]string{"--tag-template", "{nope}"}, "--tag-template"},
		{[]string{"some-repo"}, "takes no arguments"},
	} {
		r := runCLI(t, append([]string{"backfill", "--aws-region", "us-east-1"}, tc.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: %s", tc.args, r)
		}
	}
}
