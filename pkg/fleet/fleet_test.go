package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/socify/socify/pkg/convert"
	"github.com/socify/socify/pkg/registry"
)

const testDigest = "sha256:0173d2ec56831944620fd6afa4a50b796c437019802de1f392200c301575dda8"

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   []string
		check func(Config) error
		errs  []string // each must appear in the error
	}{
		{name: "defaults", check: func(c Config) error {
			if c.TagTemplate != "{tag}-soci" || c.CacheRepository != DefaultCacheRepository || c.ConvertUntagged || c.Concurrency != 1 || c.DeadlineMargin != 10*time.Second {
				return fmt.Errorf("%+v", c)
			}
			if !c.Repositories.Match("a/b/c") || c.ExcludeRepositories.Match("a") {
				return errors.New("default patterns")
			}
			return nil
		}},
		{name: "cache off", env: []string{EnvCacheRepository, "off"}, check: func(c Config) error {
			if c.CacheRepository != "" {
				return errors.New(c.CacheRepository)
			}
			return nil
		}},
		{name: "in place", env: []string{EnvTagTemplate, "{tag}"}, check: func(c Config) error {
			if !c.InPlace() {
				return errors.New("not in place")
			}
			return nil
		}},
		{name: "every problem at once, each naming its variable", env: []string{
			EnvConvertUntagged, "yes please", EnvDeadlineMargin, "soon", EnvConcurrency, "0",
			EnvTagTemplate, "{nope}", EnvRepositories, "team/[ab]", EnvPermanentErrors, "ignore", EnvSpanSize, "-1",
		}, errs: []string{EnvConvertUntagged, EnvDeadlineMargin, EnvConcurrency, EnvTagTemplate + ": tag template \"{nope}\"", EnvRepositories, EnvPermanentErrors, EnvSpanSize}},
		{name: "untagged template needs no tag", env: []string{EnvConvertUntagged, "true", EnvUntaggedTemplate, "{tag}-x"}, errs: []string{EnvUntaggedTemplate}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromEnv(env(tc.env...))
			if len(tc.errs) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, e := range tc.errs {
					if !strings.Contains(err.Error(), e) {
						t.Errorf("error %q does not mention %q", err, e)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.check(c); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestPatterns(t *testing.T) {
	for _, tc := range []struct {
		pat   string
		match []string
		miss  []string
	}{
		{"**", []string{"a", "a/b/c"}, nil},
		{"team/*", []string{"team/app"}, []string{"team/app/x", "team", "other/app"}},
		{"team/**", []string{"team/app", "team/a/b"}, []string{"teams/app"}},
		{"app-?", []string{"app-1"}, []string{"app-12", "app-/"}},
		{"a, b/*  c", []string{"a", "b/x", "c"}, []string{"b"}},
		{"", nil, []string{"a", ""}},
		{"v1.*", []string{"v1.2"}, []string{"v1x2"}},
	} {
		p, err := ParsePatterns(tc.pat)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tc.match {
			if !p.Match(n) {
				t.Errorf("%q does not match %q", tc.pat, n)
			}
		}
		for _, n := range tc.miss {
			if p.Match(n) {
				t.Errorf("%q matches %q", tc.pat, n)
			}
		}
	}
}

func mustConfig(t *testing.T, kv ...string) Config {
	t.Helper()
	c, err := FromEnv(env(kv...))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDecide(t *testing.T) {
	push := func(repo, tag string) ImageEvent {
		return ImageEvent{ImageAction: ImageAction{Result: "SUCCESS", ActionType: "PUSH", RepositoryName: repo, ImageTag: tag, ImageDigest: testDigest}}
	}
	withAction := func(ev ImageEvent, action, result string) ImageEvent {
		ev.ActionType, ev.Result = action, result
		return ev
	}
	filters := []string{EnvRepositories, "team/**", EnvExcludeRepositories, "team/legacy", EnvExcludeTags, "*-debug", EnvTags, "v*,latest"}
	for _, tc := range []struct {
		name string
		env  []string
		ev   ImageEvent
		want string
	}{
		{"a push", nil, push("app", "1.0"), CodeConvert},
		{"a deletion", nil, withAction(push("app", "1.0"), "DELETE", "SUCCESS"), CodeNotPush},
		{"a failed push", nil, withAction(push("app", "1.0"), "PUSH", "FAILURE"), CodeFailedAction},
		{"untagged", nil, push("app", ""), CodeUntagged},
		{"untagged when configured", []string{EnvConvertUntagged, "true"}, push("app", ""), CodeConvert},
		{"own tag", nil, push("app", "1.0-soci"), CodeOwnTag},
		{"own child tag", nil, push("app", "1.0-soci-linux-arm64-v8"), CodeOwnTag},
		{"own untagged result", []string{EnvConvertUntagged, "true"}, push("app", "sha256-"+strings.Repeat("a", 64)+"-soci"), CodeOwnTag},
		{"custom template", []string{EnvTagTemplate, "soci-{tag}"}, push("app", "soci-1.0"), CodeOwnTag},
		{"custom template, user tag", []string{EnvTagTemplate, "soci-{tag}"}, push("app", "1.0-soci"), CodeConvert},
		{"in place converts the pushed tag", []string{EnvTagTemplate, "{tag}"}, push("app", "1.0-soci"), CodeConvert},
		{"the cache repository", nil, push(DefaultCacheRepository, "ztoc-abc"), CodeCacheRepository},
		{"included repository", filters, push("team/app", "v1"), CodeConvert},
		{"repository not included", filters, push("other/app", "v1"), CodeRepoNotIncluded},
		{"repository excluded", filters, push("team/legacy", "v1"), CodeRepoExcluded},
		{"tag not included", filters, push("team/app", "dev"), CodeTagNotIncluded},
		{"tag excluded", filters, push("team/app", "v1-debug"), CodeTagExcluded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustConfig(t, tc.env...)
			r, err := newRules(&cfg)
			if err != nil {
				t.Fatal(err)
			}
			d := r.decide(tc.ev)
			if d.Code != tc.want || d.Convert != (tc.want == CodeConvert) || d.Reason == "" {
				t.Errorf("got %+v, want %s", d, tc.want)
			}
		})
	}
}

func TestParseEvent(t *testing.T) {
	good := `{"version":"0","id":"e1","detail-type":"ECR Image Action","source":"aws.ecr","account":"123456789012","region":"eu-west-1",
		"detail":{"result":"SUCCESS","repository-name":"team/app","image-digest":"` + testDigest + `","action-type":"PUSH","image-tag":"1.0"}}`
	ev, err := ParseEvent([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if ev.String() != "team/app:1.0@"+testDigest || ev.Account != "123456789012" || ev.Region != "eu-west-1" || ev.ID != "e1" {
		t.Errorf("%+v", ev)
	}
	for name, bad := range map[string]string{
		"not JSON":        `{`,
		"another source":  strings.Replace(good, `"aws.ecr"`, `"aws.s3"`, 1),
		"another type":    strings.Replace(good, "ECR Image Action", "ECR Image Scan", 1),
		"no repository":   strings.Replace(good, `"repository-name":"team/app",`, "", 1),
		"bad digest":      strings.Replace(good, testDigest, "sha256:xyz", 1),
		"detail not JSON": strings.Replace(good, `"detail":{`, `"detail":7,"x":{`, 1),
	} {
		if _, err := ParseEvent([]byte(bad)); !errors.Is(err, ErrNotImageAction) {
			t.Errorf("%s: %v, want ErrNotImageAction", name, err)
		}
	}
	for name, tc := range map[string]struct {
		payload string
		sqs     bool
		err     string
	}{
		"sqs":      {`{"Records":[{"messageId":"m","eventSource":"aws:sqs","body":"{}"}]}`, true, ""},
		"direct":   {good, false, ""},
		"sns":      {`{"Records":[{"EventSource":"aws:sns"}]}`, false, "aws:sns"},
		"unknown":  {`{"hello":1}`, false, "neither"},
		"not JSON": {`[1]`, false, "not a JSON object"},
	} {
		inv, err := parseInvocation([]byte(tc.payload))
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case (inv.sqs != nil) != tc.sqs:
			t.Errorf("%s: sqs %v", name, inv.sqs != nil)
		}
	}
}

func TestSociState(t *testing.T) {
	for _, tc := range []struct {
		name string
		mt   types.MediaType
		raw  string
		want string // "" for a plain image
	}{
		{"plain image", types.OCIManifestSchema1, `{"config":{"mediaType":"application/vnd.oci.image.config.v1+json"}}`, ""},
		{"converted image manifest", types.OCIManifestSchema1, `{"annotations":{"com.amazon.soci.index-digest":"sha256:x"}}`, CodeAlreadySoci},
		{"SOCI index", types.OCIManifestSchema1, `{"artifactType":"application/vnd.amazon.soci.index.v2+json"}`, CodeSociIndex},
		{"SOCI index by config", types.OCIManifestSchema1, `{"config":{"mediaType":"application/vnd.amazon.soci.index.v2+json"}}`, CodeSociIndex},
		{"converted index", types.OCIImageIndex, `{"manifests":[{"mediaType":"x"},{"artifactType":"application/vnd.amazon.soci.index.v2+json"}]}`, CodeAlreadySoci},
		{"plain index", types.DockerManifestList, `{"manifests":[{"mediaType":"x"}]}`, ""},
		{"garbage", types.OCIManifestSchema1, `{`, ""},
	} {
		d := sociState(tc.mt, []byte(tc.raw))
		switch {
		case tc.want == "" && d != nil:
			t.Errorf("%s: %+v", tc.name, d)
		case tc.want != "" && (d == nil || d.Code != tc.want):
			t.Errorf("%s: %+v, want %s", tc.name, d, tc.want)
		}
	}
}

func TestExplain(t *testing.T) {
	f := &Function{}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name      string
		ctx       context.Context
		err       error
		permanent bool
		want      string
	}{
		{"deadline", done, errors.New("read: operation was canceled"), false, "deadline"},
		{"immutable", context.Background(), &transport.Error{StatusCode: 400, Errors: []transport.Diagnostic{{Code: "TAG_INVALID", Message: "cannot be overwritten because the repository is immutable"}}}, true, "immutable"},
		{"empty index", context.Background(), fmt.Errorf("x: %w", convert.ErrEmptyIndex), true, "no layer"},
		{"corrupt layer", context.Background(), &convert.LayerError{Layer: testDigest, Err: errors.New("flate: corrupt input")}, true, "cannot be indexed"},
		{"layer read broken", context.Background(), &convert.LayerError{Layer: testDigest, Err: &registry.RetryError{Err: errors.New("reset")}}, false, ""},
		{"throttled", context.Background(), &transport.Error{StatusCode: 429}, false, ""},
		{"5xx", context.Background(), &transport.Error{StatusCode: 503}, false, ""},
	} {
		err, perm := f.explain(tc.ctx, nil, tc.err)
		if perm != tc.permanent || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: permanent %v, %v", tc.name, perm, err)
		}
	}
}

// A batch whose deadline has come: every message goes back to the queue; skips need no time
// and messages that are no ECR event are dropped.
func TestHandleSQSDeadlineAndDuplicates(t *testing.T) {
	var out bytes.Buffer
	f, err := New(mustConfig(t), WithLogOutput(&out))
	if err != nil {
		t.Fatal(err)
	}
	body := func(tag string) string {
		b, _ := json.Marshal(map[string]any{"source": "aws.ecr", "detail-type": "ECR Image Action", "account": "1", "region": "r",
			"detail": map[string]any{"result": "SUCCESS", "action-type": "PUSH", "repository-name": "app", "image-digest": testDigest, "image-tag": tag}})
		return string(b)
	}
	batch := &events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "a", Body: body("1.0")}, {MessageId: "b", Body: body("1.0")}, {MessageId: "c", Body: "not json"},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp := f.HandleSQS(ctx, batch)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "a" {
		t.Errorf("failures %+v, want [a] (b is a duplicate of a, c no event)", resp.BatchItemFailures)
	}
	log := out.String()
	for _, want := range []string{`"code":"deadline"`, `"code":"duplicate-in-batch"`, `"code":"not-an-image-action"`, `"_aws":{`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}

	// Skips (here: own tags) are decided without the registry, before any deadline matters.
	out.Reset()
	batch = &events.SQSEvent{Records: []events.SQSMessage{{MessageId: "d", Body: body("1.0-soci")}}}
	if resp := f.HandleSQS(context.Background(), batch); len(resp.BatchItemFailures) != 0 {
		t.Errorf("failures %+v", resp.BatchItemFailures)
	}
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", out.String())
	}
	if line["code"] != CodeOwnTag || line["messageId"] != "d" || line["Decisions"] != 1.0 {
		t.Errorf("%v", line)
	}
}

func TestMemoryLimit(t *testing.T) {
	if n := MemoryLimit(env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")); n != 768<<20 {
		t.Errorf("1024 MB: %d", n)
	}
	if n := MemoryLimit(env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024", "GOMEMLIMIT", "100MiB")); n != 0 {
		t.Errorf("with GOMEMLIMIT: %d", n)
	}
	if n := MemoryLimit(env()); n != 0 {
		t.Errorf("outside Lambda: %d", n)
	}
}

// Every invocation, of either kind, ends with one "invocation" line that counts its messages
// and retries: operators read it per invocation, and the integration harness waits for it
// before reading the decisions.
func TestInvokeEndsWithInvocationLine(t *testing.T) {
	var out bytes.Buffer
	f, err := New(mustConfig(t), WithLogOutput(&out))
	if err != nil {
		t.Fatal(err)
	}
	ev := func(tag string) map[string]any {
		return map[string]any{"source": "aws.ecr", "detail-type": "ECR Image Action", "account": "1", "region": "r",
			"detail": map[string]any{"result": "SUCCESS", "action-type": "PUSH", "repository-name": "app", "image-digest": testDigest, "image-tag": tag}}
	}
	body, _ := json.Marshal(ev("1.0-soci"))
	sqs, _ := json.Marshal(map[string]any{"Records": []map[string]any{
		{"messageId": "a", "eventSource": "aws:sqs", "body": string(body)},
		{"messageId": "b", "eventSource": "aws:sqs", "body": "not json"},
	}})
	direct, _ := json.Marshal(ev("2.0-soci"))
	for _, tc := range []struct {
		name     string
		payload  []byte
		kind     string
		messages float64
		lines    int
	}{
		{"sqs", sqs, "sqs", 2, 3},
		{"direct", direct, "event", 1, 2},
		{"rejected", []byte(`{"neither":"sqs nor an event"}`), "rejected", 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out.Reset()
			if _, err := f.Invoke(context.Background(), tc.payload); (err != nil) != (tc.kind == "rejected") {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != tc.lines {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), tc.lines, out.String())
			}
			var last map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
				t.Fatal(err)
			}
			if last["msg"] != "invocation" || last["kind"] != tc.kind || last["messages"] != tc.messages || last["retried"] != 0.0 {
				t.Errorf("last line %v", last)
			}
		})
	}
}
