package fleet_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/socify/socify/integration/registrytest"
)

// A push event through SQS: the image is converted under {tag}-soci, with one decision line
// and one conversion line carrying the figures and their embedded metrics.
func TestConvertOnePush(t *testing.T) {
	w := newWorld(t, nil)
	d := w.push(t, "team/app:1.0", image(t, gzipLayer(t, 1, 300<<10), gzipLayer(t, 2, 200<<10)))
	fn := w.start(t)
	if failed := fn.invokeSQS(sqsBatch(t, pushEvent(t, "team/app", "1.0", d))); len(failed) > 0 {
		t.Fatalf("failed messages %v", failed)
	}
	if n := w.sociIndexes(t, "team/app:1.0-soci"); n != 1 {
		t.Fatalf("team/app:1.0-soci lists %d SOCI indexes, want 1", n)
	}
	conv := fn.lines("conversion")
	if len(conv) != 1 {
		t.Fatalf("%d conversion lines, want 1", len(conv))
	}
	c := conv[0]
	if c.str("result") != w.head(t, "team/app:1.0-soci") || c.num("layersIndexed") != 2 || c.num("bytesRead") == 0 || c.str("Outcome") != "converted" {
		t.Errorf("conversion line %v", c)
	}
	aws, _ := c["_aws"].(map[string]any)
	if aws == nil || !strings.Contains(mustJSON(aws), `"BytesRead"`) {
		t.Errorf("no embedded metrics in %v", c)
	}
	dec := fn.lines("decision")
	if len(dec) != 1 || dec[0].str("decision") != "convert" || dec[0].str("messageId") != "msg-0" {
		t.Errorf("decision lines %v", dec)
	}
	if !slices.ContainsFunc(w.ecr.Calls(), func(c ecrCall) bool { return c.Status == 200 }) {
		t.Errorf("the function got no ECR token: %v", w.ecr.Calls())
	}
}

// The zTOC cache lives in the registry: a second image in another repository, converted by
// another execution environment, that shares a base layer with the first indexes only its own
// layer; the base layer's zTOC is read from the cache repository and mounted into the target
// repository instead of uploaded.
func TestSharedZtocCache(t *testing.T) {
	w := newWorld(t, nil)
	base := gzipLayer(t, 51, 500<<10)
	a := w.push(t, "one/app:1", image(t, base, gzipLayer(t, 52, 100<<10)))
	b := w.push(t, "two/app:1", image(t, base, gzipLayer(t, 53, 100<<10)))
	if failed := w.start(t).invokeSQS(sqsBatch(t, pushEvent(t, "one/app", "1", a))); len(failed) != 0 {
		t.Fatal(failed)
	}
	w.reg.Proxy.Reset()
	fn := w.start(t)
	if failed := fn.invokeSQS(sqsBatch(t, pushEvent(t, "two/app", "1", b))); len(failed) != 0 {
		t.Fatal(failed)
	}
	c := fn.conversionsFor(b)
	if len(c) != 1 || c[0].num("layersIndexed") != 1 || c[0].num("layersCached") != 1 {
		t.Fatalf("conversion lines %v, want 1 layer indexed and 1 cached", c)
	}
	if st := w.reg.Proxy.Stats(registrytest.BlobGet(mustDigestOf(t, base))); st.Requests != 0 {
		t.Errorf("the base layer was downloaded %d times for the second image", st.Requests)
	}
	mounted := false
	for _, r := range w.reg.Proxy.Records() {
		if r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/v2/two/app/blobs/uploads") && r.Query.Get("from") == "socify-ztoc-cache" && r.Status == http.StatusCreated {
			mounted = true
		}
	}
	if !mounted {
		t.Error("the cached zTOC was not mounted from socify-ztoc-cache into two/app")
	}
	if n := w.sociIndexes(t, "two/app:1-soci"); n != 1 {
		t.Errorf("two/app:1-soci lists %d SOCI indexes", n)
	}
}

// In place, with per-platform child tags: the pushed tag itself becomes SOCI-enabled and the
// platform manifest gets <tag>-<os>-<arch>. The events raised by those pushes (the same tag
// with a new digest, the child tag) are recognised as SOCI-enabled, and the original event,
// delivered again, as superseded: nothing is converted twice, nothing loops.
func TestInPlaceWithChildTags(t *testing.T) {
	w := newWorld(t, map[string]string{"SOCIFY_TAG_TEMPLATE": "{tag}", "SOCIFY_TAG_CHILDREN": "true"})
	d := w.push(t, "app:3.0", image(t, gzipLayer(t, 71, 200<<10)))
	fn := w.start(t)
	if failed := fn.invokeSQS(sqsBatch(t, pushEvent(t, "app", "3.0", d))); len(failed) != 0 {
		t.Fatal(failed)
	}
	now := w.head(t, "app:3.0")
	if now == d || w.sociIndexes(t, "app:3.0") != 1 {
		t.Fatalf("app:3.0 was not converted in place (%s)", now)
	}
	child := w.head(t, "app:3.0-linux-amd64")
	if child == "" {
		t.Fatal("no child tag app:3.0-linux-amd64")
	}
	if failed := fn.invokeSQS(sqsBatch(t, pushEvent(t, "app", "3.0", now), pushEvent(t, "app", "3.0-linux-amd64", child), pushEvent(t, "app", "3.0", d))); len(failed) != 0 {
		t.Fatal(failed)
	}
	var codes []string
	for _, l := range fn.lines("decision") {
		codes = append(codes, l.str("code"))
	}
	slices.Sort(codes)
	if want := []string{"already-soci", "already-soci", "convert", "superseded"}; !slices.Equal(codes, want) {
		t.Errorf("decisions %v, want %v", codes, want)
	}
	if n := len(fn.lines("conversion")); n != 1 {
		t.Errorf("%d conversions, want 1", n)
	}
}

// A bad setting fails the function's init with a message naming the variable, before any
// message is touched.
func TestBadConfigurationFailsInit(t *testing.T) {
	w := newWorld(t, map[string]string{"SOCIFY_CONCURRENCY": "0", "SOCIFY_TAG_TEMPLATE": "{nope}"})
	fn := w.start(t)
	status, body := fn.invoke(sqsBatch(t, pushEvent(t, "app", "1.0", "sha256:"+strings.Repeat("a", 64))))
	if status == http.StatusOK && !strings.Contains(string(body), "error") {
		t.Errorf("invoke answered %d %s", status, body)
	}
	wants := []string{"bad configuration", "SOCIFY_CONCURRENCY", "SOCIFY_TAG_TEMPLATE"}
	out := fn.awaitOutput(wants...)
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
}
