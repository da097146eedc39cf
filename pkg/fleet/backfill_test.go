package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrapi "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/socify/socify/pkg/ecr/ecrtest"
)

// recordingQueue keeps what was sent and fails some entries on its side once.
type recordingQueue struct {
	mu     sync.Mutex
	bodies []string
	calls  int
	failed map[string]bool
}

func (q *recordingQueue) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if len(in.Entries) > 10 {
		return nil, fmt.Errorf("%d entries", len(in.Entries))
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		if q.failed[*e.Id] {
			delete(q.failed, *e.Id)
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), SenderFault: false})
			continue
		}
		q.bodies = append(q.bodies, *e.MessageBody)
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// The listing pages through DescribeRepositories and DescribeImages (two items a page here) of
// the ECR API stand-in with the real SDK client, keeps the repositories and tags the patterns
// match, and queues one EventBridge-shaped event per tag, ten per SendMessageBatch, retrying
// what SQS failed on its side.
func TestBackfillQueue(t *testing.T) {
	s := ecrtest.New(t, ecrtest.WithCredentials("AKID", "secret"), ecrtest.WithPageSize(2))
	for r := range 4 {
		repo := fmt.Sprintf("team/app%d", r)
		for i := range 4 {
			s.AddImage(repo, ecrtest.Image{Digest: fmt.Sprintf("sha256:%064d", r*10+i), Tags: []string{fmt.Sprintf("v%d", i)}})
		}
		s.AddImage(repo, ecrtest.Image{Digest: fmt.Sprintf("sha256:%064d", r*10+9)}) // untagged
		s.AddImage(repo, ecrtest.Image{Digest: fmt.Sprintf("sha256:%064d", r*10+8), Tags: []string{"v9-soci"}})
	}
	s.AddImage("legacy/app", ecrtest.Image{Digest: fmt.Sprintf("sha256:%064d", 99), Tags: []string{"v1"}})
	s.AddImage(DefaultCacheRepository, ecrtest.Image{Digest: fmt.Sprintf("sha256:%064d", 98), Tags: []string{"ztoc-x"}})

	client := ecrapi.New(ecrapi.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(s.URL),
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
		})),
	})
	var logs bytes.Buffer
	f, err := New(mustConfig(t, EnvRepositories, "team/**"), WithLogOutput(&logs))
	if err != nil {
		t.Fatal(err)
	}
	q := &recordingQueue{failed: map[string]bool{"3": true}}
	rep, err := f.Backfill(context.Background(), BackfillOptions{ECR: client, Region: "eu-west-1", Queue: q, QueueURL: "https://sqs/q", Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	if rep.Repositories != 4 || rep.Images != 20 || rep.Counts["queue"] != 16 || rep.Counts[CodeOwnTag] != 4 {
		t.Errorf("report %+v", rep.Counts)
	}
	if len(q.bodies) != 16 || q.calls != 3 {
		t.Errorf("%d messages in %d calls, want 16 in 3 (two batches, one retry)", len(q.bodies), q.calls)
	}
	var tags []string
	for _, b := range q.bodies {
		ev, err := ParseEvent([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Account != "123456789012" || ev.Region != "eu-west-1" || ev.ActionType != "PUSH" {
			t.Errorf("%+v", ev)
		}
		tags = append(tags, ev.RepositoryName+":"+ev.ImageTag)
	}
	slices.Sort(tags)
	if tags[0] != "team/app0:v0" || tags[15] != "team/app3:v3" {
		t.Errorf("%v", tags)
	}
	pages := 0
	for _, c := range s.Calls() {
		if strings.HasSuffix(c.Target, ".DescribeImages") {
			pages++
		}
	}
	if pages != 4*3 {
		t.Errorf("%d DescribeImages pages, want 12 (5 tagged images, 2 a page, in each of 4 repositories)", pages)
	}

	// A dry run sends nothing.
	q2 := &recordingQueue{}
	rep, err = f.Backfill(context.Background(), BackfillOptions{ECR: client, Region: "eu-west-1", Queue: q2, QueueURL: "https://sqs/q", DryRun: true})
	if err != nil || q2.calls != 0 || rep.Counts["queue"] != 16 || !strings.Contains(rep.Items[0].Reason+rep.Items[1].Reason, "would send") {
		t.Errorf("dry run: %v, %d calls, %+v", err, q2.calls, rep.Counts)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(logs.String(), "\n", 2)[0]), &line); err != nil || line["msg"] != "decision" {
		t.Errorf("log %q", logs.String())
	}
}

// TestFromFlags: the CLI's flag names reach the function's parser, errors name the flags, and
// a run outside Lambda has no deadline margin.
func TestFromFlags(t *testing.T) {
	flags := map[string]string{"repositories": "team/**", "tag-children": "true", "concurrency": "0", "untagged-tag-template": "x-{digest}"}
	c, err := FromFlags(func(f string) string { return flags[f] })
	if err != nil {
		t.Fatal(err)
	}
	if !c.Repositories.Match("team/app") || c.Repositories.Match("other/app") || !c.TagChildren || c.Concurrency != 1 || c.DeadlineMargin != 0 || c.UntaggedTemplate != "x-{digest}" {
		t.Errorf("config %+v", c)
	}
	flags = map[string]string{"repositories": "team/[ab]", "tag-template": "{nope}"}
	_, err = FromFlags(func(f string) string { return flags[f] })
	if err == nil || !strings.Contains(err.Error(), `--repositories="team/[ab]"`) || !strings.Contains(err.Error(), "--tag-template") || strings.Contains(err.Error(), "SOCIFY_") {
		t.Errorf("err %v", err)
	}
	// A value is echoed as given, even when it looks like a variable name.
	flags = map[string]string{"log-level": "SOCIFY_TAGS"}
	if _, err = FromFlags(func(f string) string { return flags[f] }); err == nil || !strings.Contains(err.Error(), `--log-level="SOCIFY_TAGS"`) {
		t.Errorf("err %v", err)
	}
	// The function's own parser still names variables.
	if _, err = FromEnv(func(k string) string { return map[string]string{EnvSpanSize: "2000000000"}[k] }); err == nil || !strings.Contains(err.Error(), EnvSpanSize+": must be at most 1 GiB") {
		t.Errorf("err %v", err)
	}
}

// TestBackfillReportText: one line per image, failures first-class, the skips summed.
func TestBackfillReportText(t *testing.T) {
	rep := &BackfillReport{Repositories: 1, Images: 3, DryRun: true, Items: []BackfillItem{
		{Image: "team/app:v1@sha256:1", Decision: CodeConvert, Target: "team/app:v1-soci"},
		{Image: "team/app:v2@sha256:2", Decision: CodeConversionFailure, Error: "boom"},
		{Image: "team/app:v1-soci@sha256:3", Decision: CodeOwnTag, Reason: "a tag this function writes"},
	}, Counts: map[string]int{CodeConvert: 1, CodeConversionFailure: 1, CodeOwnTag: 1}}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "convert      team/app:v1@sha256:1 -> team/app:v1-soci\n" +
		"failed       team/app:v2@sha256:2: boom\n" +
		"own-tag      team/app:v1-soci@sha256:3: a tag this function writes\n" +
		"1 repositories, 3 images (dry run: nothing written or sent): 1 convert, 1 failed, 1 skipped\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestLoadAWS: the region given wins, none at all is ErrNoRegion, a profile that does not exist
// fails, and the ECR keychain gets the same profile and region.
func TestLoadAWS(t *testing.T) {
	ctx := context.Background()
	ecrtest.IsolateAWS(t, "AKIDTEST", "secret")
	cfg, ecrOpts, err := LoadAWS(ctx, "", "eu-west-1")
	if err != nil || cfg.Region != "eu-west-1" || len(ecrOpts) != 2 {
		t.Errorf("region: %q, %d ECR options, %v", cfg.Region, len(ecrOpts), err)
	}
	if _, _, err := LoadAWS(ctx, "", ""); !errors.Is(err, ErrNoRegion) {
		t.Errorf("no region: %v", err)
	}
	if _, _, err := LoadAWS(ctx, "no-such-profile", "eu-west-1"); err == nil || errors.Is(err, ErrNoRegion) {
		t.Errorf("missing profile: %v", err)
	}
}
