package fleet_test

import (
	"slices"
	"strings"
	"testing"
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
