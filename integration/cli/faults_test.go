package cli_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/socify/socify/integration/registrytest"
)

// TestConvertResumesBrokenDownload breaks the download of the biggest layer half-way, once: the
// conversion resumes it with a Range request and makes the same image as an undisturbed run.
func TestConvertResumesBrokenDownload(t *testing.T) {
	want := loadExpected(t)
	reg := registrytest.New(t)
	pushVector(t, reg, "app:v1")
	layer, size := biggestLayer(t)

	// An undisturbed run (nothing written) for the reference digest.
	undisturbed := parseConvert(t, mustSucceed(t, "", args("convert", "--dry-run", "--output", "json", reg.Ref("app:v1"), sociFlags)...))
	if undisturbed.Digest != want.top {
		t.Fatalf("undisturbed dry run: %s, soci made %s", undisturbed.Digest, want.top)
	}

	reg.Proxy.Reset()
	cut := size / 2
	inj := reg.Proxy.Inject(registrytest.BlobGet(layer.String()), registrytest.Cut(cut), 1)
	r := mustSucceed(t, "", args("convert", "--output", "json", reg.Ref("app:v1"), reg.Ref("app:v1-soci"), sociFlags)...)
	if got := parseConvert(t, r).Digest; got != undisturbed.Digest {
		t.Fatalf("with a broken download: %s, undisturbed: %s", got, undisturbed.Digest)
	}
	if d := head(t, reg, "app:v1-soci"); d != want.top {
		t.Errorf("app:v1-soci is %q, want %s", d, want.top)
	}
	if inj.Hits() != 1 {
		t.Fatalf("the cut was applied %d times", inj.Hits())
	}
	// The second request for the layer picks up where the first broke; nothing is read twice.
	var ranges []string
	var bytesOut int64
	for _, rec := range reg.Proxy.Records() {
		if rec.Method == http.MethodGet && strings.HasSuffix(rec.Path, "/blobs/"+layer.String()) {
			ranges = append(ranges, rec.Range)
			bytesOut += rec.BytesOut
		}
	}
	if want := []string{"", fmt.Sprintf("bytes=%d-", cut)}; fmt.Sprint(ranges) != fmt.Sprint(want) {
		t.Errorf("layer requests had ranges %q, want %q", ranges, want)
	}
	if bytesOut != size {
		t.Errorf("%d bytes of the %d-byte layer crossed the wire", bytesOut, size)
	}
	if !strings.Contains(r.stderr, "resuming") {
		t.Errorf("stderr does not mention the resumed download:\n%s", r.stderr)
	}
}

// TestConvertRetriesIndexPut fails the image index upload once with 500: the push retries it.
func TestConvertRetriesIndexPut(t *testing.T) {
	want := loadExpected(t)
	reg := registrytest.New(t)
	pushVector(t, reg, "app:v1")
	reg.Proxy.Reset()

	// The image index is the manifest PUT under the destination tag (its children go by digest).
	inj := reg.Proxy.Inject(registrytest.ManifestPut("app", "v1-soci"), registrytest.Fail(http.StatusInternalServerError), 1)
	r := mustSucceed(t, "", args("convert", "--output", "json", reg.Ref("app:v1"), reg.Ref("app:v1-soci"), sociFlags)...)
	if got := parseConvert(t, r).Digest; got != want.top {
		t.Fatalf("converted to %s, want %s", got, want.top)
	}
	if inj.Hits() != 1 {
		t.Fatalf("the fault was applied %d times", inj.Hits())
	}
	var statuses []int
	for _, rec := range reg.Proxy.Records() {
		if rec.Method == http.MethodPut && strings.HasSuffix(rec.Path, "/manifests/v1-soci") {
			statuses = append(statuses, rec.Status)
		}
	}
	if fmt.Sprint(statuses) != fmt.Sprint([]int{500, 201}) {
		t.Errorf("PUTs of the tag answered %v, want [500 201]", statuses)
	}
	if d := head(t, reg, "app:v1-soci"); d != want.top {
		t.Errorf("app:v1-soci is %q, want %s", d, want.top)
	}
	if !strings.Contains(r.stderr, "retrying") {
		t.Errorf("stderr does not mention the retry:\n%s", r.stderr)
	}
}

// TestConvertTagPutKeepsFailing fails every upload of the destination tag: the conversion fails
// with exit code 1 and a message naming what failed, and the tag is not created.
func TestConvertTagPutKeepsFailing(t *testing.T) {
	reg := registrytest.New(t)
	srcDigest := pushVector(t, reg, "app:v1")
	reg.Proxy.Reset()

	inj := reg.Proxy.Inject(registrytest.ManifestPut("app", "v1-soci"), failNow(http.StatusInternalServerError), 0)
	start := time.Now()
	r := socify(t, "", args("convert", "--output", "json", reg.Ref("app:v1"), reg.Ref("app:v1-soci"), sociFlags)...)
	took := time.Since(start)
	if r.code != 1 {
		t.Fatalf("want exit 1\n%s", r)
	}
	t.Logf("failed after %s and %d attempts at the tag", took.Round(time.Millisecond), inj.Hits())
	// The message says what failed: the upload of the manifest under the destination tag, and
	// the registry's answer.
	for _, p := range []string{"socify: write " + reg.Ref("app:v1-soci"), "/manifests/v1-soci", "registrytest: injected 500"} {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("stderr lacks %q:\n%s", p, r.stderr)
		}
	}
	var je struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exitCode"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &je); err != nil || je.ExitCode != 1 || je.Error == "" {
		t.Errorf("--output json on failure: %+v (%v)\n%s", je, err, r.stdout)
	}
	if d := head(t, reg, "app:v1-soci"); d != "" {
		t.Errorf("the failed conversion left app:v1-soci pointing at %s", d)
	}
	if d := head(t, reg, "app:v1"); d != srcDigest {
		t.Errorf("the source tag moved to %s", d)
	}
	t.Run("attempts bounded", func(t *testing.T) {
		// pkg/registry's transport makes up to 6 attempts per request (WithMaxAttempts default);
		// go-containerregistry's own retries are meant to be off for what the transport retried.
		if n := inj.Hits(); n < 2 || n > 6 {
			t.Errorf("the tag upload was tried %d times, want 2 to 6: a persistent 500 is retried by the "+
				"transport and then again by go-containerregistry (remote.WithRetryPredicate(uploadRetryable) "+
				"retries a final 5xx response, which is not a *RetryError); with Fail(500)'s real backoff that "+
				"is about 45 s instead of about 12 s", n)
		}
	})
}

// failNow is registrytest.Fail(status) with "Retry-After: 0", so that socify retries at once
// instead of backing off for seconds: a persistent failure then costs attempts, not minutes.
func failNow(status int) registrytest.Action {
	return registrytest.Respond(status, http.Header{"Content-Type": {"application/json"}, "Retry-After": {"0"}},
		fmt.Sprintf(`{"errors":[{"code":"UNKNOWN","message":"registrytest: injected %d"}]}`, status))
}
