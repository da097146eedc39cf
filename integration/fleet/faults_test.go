package fleet_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socify/socify/integration/registrytest"
)

// conversionFor returns the function's conversion lines for the image digest.
func (f *function) conversionsFor(digest string) []logLine {
	var out []logLine
	for _, c := range f.lines("conversion") {
		if c.str("digest") == digest {
			out = append(out, c)
		}
	}
	return out
}

// The invocation deadline comes while a layer is being read: the work is cancelled, nothing is
// tagged, the message is reported failed so that SQS delivers it again, and that retry succeeds.
func TestDeadlineInTheMiddleOfALayer(t *testing.T) {
	w := newWorld(t, map[string]string{"AWS_LAMBDA_FUNCTION_TIMEOUT": "3", "SOCIFY_DEADLINE_MARGIN": "1s"})
	big := gzipLayer(t, 5, 4<<20)
	d := w.push(t, "app:1.0", image(t, big))
	// About 3 s for the layer: the work ends 2 s in, mid-layer.
	slow := w.reg.Proxy.Inject(registrytest.BlobGet(mustDigestOf(t, big)), registrytest.Slow(32<<10, 50*time.Millisecond), 0)
	fn := w.start(t)
	msg := sqsBatch(t, pushEvent(t, "app", "1.0", d))
	start := time.Now()
	failed := fn.invokeSQS(msg)
	if !slices.Equal(failed, []string{"msg-0"}) {
		t.Fatalf("failed messages %v, want [msg-0]", failed)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("the function answered after %s, past its 3 s timeout", el)
	}
	if slow.Hits() == 0 {
		t.Fatal("the layer was never read")
	}
	if got := w.head(t, "app:1.0-soci"); got != "" {
		t.Fatalf("app:1.0-soci was tagged (%s) by a cancelled conversion", got)
	}
	c := fn.conversionsFor(d)
	if len(c) != 1 || c[0].str("Outcome") != "failed" || !strings.Contains(c[0].str("error"), "deadline") || c[0]["retry"] != true {
		t.Fatalf("conversion lines %v", c)
	}
	if got := w.head(t, "app:1.0"); got != d {
		t.Fatalf("the source tag moved to %s", got)
	}

	slow.Remove()
	if failed := fn.invokeSQS(msg); len(failed) != 0 {
		t.Fatalf("the retry failed: %v", failed)
	}
	if n := w.sociIndexes(t, "app:1.0-soci"); n != 1 {
		t.Fatalf("after the retry app:1.0-soci lists %d SOCI indexes", n)
	}
}

// Bursts of 5xx answers and 429 throttling (with Retry-After) from the registry on manifests,
// blob downloads and uploads: the registry client waits and retries, every message succeeds.
func TestRegistryErrorBursts(t *testing.T) {
	w := newWorld(t, nil)
	a := w.push(t, "app:a", image(t, gzipLayer(t, 11, 200<<10)))
	b := w.push(t, "app:b", image(t, gzipLayer(t, 12, 200<<10)))
	faults := []*registrytest.Injection{
		w.reg.Proxy.Inject(registrytest.AnyManifest, registrytest.Fail(http.StatusServiceUnavailable), 2),
		w.reg.Proxy.Inject(registrytest.AnyBlobGet, registrytest.Fail(http.StatusInternalServerError), 2),
		w.reg.Proxy.Inject(registrytest.AnyBlobGet, registrytest.Throttle(time.Second), 1),
		w.reg.Proxy.Inject(registrytest.AnyUpload, registrytest.Fail(http.StatusBadGateway), 1),
		w.reg.Proxy.Inject(registrytest.AnyManifestPut, registrytest.Throttle(time.Second), 1),
	}
	fn := w.start(t)
	if failed := fn.invokeSQS(sqsBatch(t, pushEvent(t, "app", "a", a), pushEvent(t, "app", "b", b))); len(failed) != 0 {
		t.Fatalf("failed messages %v", failed)
	}
	for i, f := range faults {
		if f.Hits() == 0 {
			t.Errorf("fault %d was never met", i)
		}
	}
	for _, tag := range []string{"app:a-soci", "app:b-soci"} {
		if n := w.sociIndexes(t, tag); n != 1 {
			t.Errorf("%s lists %d SOCI indexes", tag, n)
		}
	}
}

// The target tag exists in a repository with immutable tags (ECR answers the manifest PUT with
// TAG_INVALID): a clear error naming the tag, logged as permanent, and the message is not
// retried; the other message of the batch succeeds.
func TestImmutableTargetTag(t *testing.T) {
	w := newWorld(t, nil)
	a := w.push(t, "locked:1.0", image(t, gzipLayer(t, 21, 200<<10)))
	b := w.push(t, "open:1.0", image(t, gzipLayer(t, 22, 200<<10)))
	body := `{"errors":[{"code":"TAG_INVALID","message":"The image tag '1.0-soci' already exists in the 'locked' repository and cannot be overwritten because the repository is immutable."}]}`
	w.reg.Proxy.Inject(registrytest.ManifestPut("locked", "1.0-soci"), registrytest.Respond(http.StatusBadRequest, http.Header{"Content-Type": {"application/json"}}, body), 0)
	fn := w.start(t)
	if failed := fn.invokeSQS(sqsBatch(t, pushEvent(t, "locked", "1.0", a), pushEvent(t, "open", "1.0", b))); len(failed) != 0 {
		t.Fatalf("failed messages %v, want none (an immutable tag is not retried)", failed)
	}
	c := fn.conversionsFor(a)
	if len(c) != 1 || c[0]["permanent"] != true || c[0]["retry"] != false {
		t.Fatalf("conversion lines %v", c)
	}
	if e := c[0].str("error"); !strings.Contains(e, "locked:1.0-soci") || !strings.Contains(e, "immutable") {
		t.Errorf("error %q does not name the tag and the reason", e)
	}
	if n := w.sociIndexes(t, "open:1.0-soci"); n != 1 {
		t.Errorf("open:1.0-soci lists %d SOCI indexes", n)
	}
}

// A corrupt layer and a zstd-only image in one batch with two good images: a clear error for
// each of the two, the good ones converted. By default permanent errors are dropped (logged and
// counted); with SOCIFY_PERMANENT_ERRORS=retry they are reported failed, to end in the
// dead-letter queue.
func TestCorruptAndZstdImagesInABatch(t *testing.T) {
	w := newWorld(t, nil)
	bad := corruptLayer(t, 31, 300<<10)
	good1 := w.push(t, "app:good1", image(t, gzipLayer(t, 32, 200<<10)))
	corrupt := w.push(t, "app:corrupt", image(t, bad))
	zstdOnly := w.push(t, "app:zstd", image(t, zstdLayer(t, 33, 200<<10)))
	good2 := w.push(t, "app:good2", image(t, gzipLayer(t, 34, 200<<10)))
	batch := sqsBatch(t, pushEvent(t, "app", "good1", good1), pushEvent(t, "app", "corrupt", corrupt),
		pushEvent(t, "app", "zstd", zstdOnly), pushEvent(t, "app", "good2", good2))

	fn := w.start(t)
	if failed := fn.invokeSQS(batch); len(failed) != 0 {
		t.Fatalf("failed messages %v, want none by default", failed)
	}
	for _, tag := range []string{"app:good1-soci", "app:good2-soci"} {
		if n := w.sociIndexes(t, tag); n != 1 {
			t.Errorf("%s lists %d SOCI indexes", tag, n)
		}
	}
	for _, tc := range []struct{ digest, tag, want string }{
		{corrupt, "app:corrupt-soci", mustDigestOf(t, bad)},
		{zstdOnly, "app:zstd-soci", "zstd"},
	} {
		c := fn.conversionsFor(tc.digest)
		if len(c) != 1 || c[0].str("Outcome") != "failed" || c[0]["permanent"] != true {
			t.Errorf("%s: conversion lines %v", tc.tag, c)
			continue
		}
		if e := c[0].str("error"); !strings.Contains(e, tc.want) || !strings.Contains(e, "not retried") {
			t.Errorf("%s: error %q does not say %q", tc.tag, e, tc.want)
		}
		if got := w.head(t, tc.tag); got != "" {
			t.Errorf("%s was tagged", tc.tag)
		}
	}

	w.env["SOCIFY_PERMANENT_ERRORS"] = "retry"
	fn2 := w.start(t)
	if failed := fn2.invokeSQS(batch); !slices.Equal(failed, []string{"msg-1", "msg-2"}) {
		t.Fatalf("with SOCIFY_PERMANENT_ERRORS=retry: failed messages %v, want [msg-1 msg-2]", failed)
	}
}

// The same event invoked directly (an EventBridge rule targeting the function): the answer says
// what was decided; a second invocation is a no-op. A payload that is no event is answered with
// an error.
func TestDirectInvocation(t *testing.T) {
	w := newWorld(t, nil)
	d := w.push(t, "app:2.0", image(t, gzipLayer(t, 41, 200<<10)))
	fn := w.start(t)
	var resp struct{ Decision, Reason, Target, Digest, Error string }
	for i, want := range []string{"convert", "up-to-date"} {
		status, body := fn.invoke(pushEvent(t, "app", "2.0", d))
		if err := json.Unmarshal(body, &resp); err != nil || status != http.StatusOK {
			t.Fatalf("invoke %d: %d %s", i, status, body)
		}
		if resp.Decision != want || resp.Error != "" || !strings.HasSuffix(resp.Target, "/app:2.0-soci") {
			t.Fatalf("invoke %d: %s, want decision %s", i, body, want)
		}
	}
	if resp.Digest != "" && resp.Digest != w.head(t, "app:2.0-soci") {
		t.Errorf("answered digest %s", resp.Digest)
	}
	_, body := fn.invoke([]byte(`{"hello":"world"}`))
	if !strings.Contains(string(body), "errorMessage") || !strings.Contains(string(body), "neither an SQS batch") {
		t.Errorf("a payload that is no event: %s", body)
	}
}
