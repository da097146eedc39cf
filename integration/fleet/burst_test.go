package fleet_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/socify/socify/integration/registrytest"
)

// 50 push events for 10 images, delivered in five SQS batches the way SQS and EventBridge do it:
// at least once (every push three times, some in the same batch, some batches later), out of
// order (an old push of a re-pushed tag arriving after the new one), and followed by the events
// the function's own pushes raise (its {tag}-soci tags, the SOCI indexes and manifests it pushes
// by digest). Each image is converted exactly once, nothing else is converted, and no message
// fails.
func TestBurstOfDuplicatesAndOwnPushes(t *testing.T) {
	w := newWorld(t, nil)
	base := gzipLayer(t, 100, 400<<10)
	type img struct {
		repo, tag, digest string
		layer             v1.Layer
	}
	var imgs []img
	for i := range 10 {
		repo := fmt.Sprintf("team-%d/svc", i%3)
		tag := fmt.Sprintf("v%d", i)
		own := gzipLayer(t, uint64(i+1), 100<<10)
		imgs = append(imgs, img{repo: repo, tag: tag, layer: own, digest: w.push(t, repo+":"+tag, image(t, base, own))})
	}
	// Image 9's tag was pushed twice: the first push's event comes last and must not win.
	stale := imgs[9]
	imgs[9].layer = gzipLayer(t, 999, 100<<10)
	imgs[9].digest = w.push(t, stale.repo+":"+stale.tag, image(t, base, imgs[9].layer))

	var evs [][]byte
	for _, im := range imgs {
		for range 3 {
			evs = append(evs, pushEvent(t, im.repo, im.tag, im.digest))
		}
	}
	r := rand.New(rand.NewPCG(7, 7))
	r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	evs = append(evs, pushEvent(t, stale.repo, stale.tag, stale.digest))

	fn := w.start(t)
	run := func(batch [][]byte) {
		t.Helper()
		if failed := fn.invokeSQS(sqsBatch(t, batch...)); len(failed) > 0 {
			t.Fatalf("failed messages %v", failed)
		}
	}
	run(evs[:10])
	run(evs[10:20])
	run(evs[20:31])

	// The events of the function's own pushes: its tags, and the SOCI indexes and rewritten
	// manifests it pushed by digest (untagged).
	var own [][]byte
	for _, im := range imgs {
		target := im.tag + "-soci"
		own = append(own, pushEvent(t, im.repo, target, w.head(t, im.repo+":"+target)))
	}
	for _, im := range imgs[:4] {
		ref, _ := name.NewTag(w.reg.BackendRef(im.repo+":"+im.tag+"-soci"), name.Insecure)
		idx, err := remote.Index(ref, basic)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := idx.IndexManifest()
		for _, d := range m.Manifests {
			own = append(own, pushEvent(t, im.repo, "", d.Digest.String()))
		}
	}
	if len(own) != 18 {
		t.Fatalf("%d own-push events, want 18", len(own))
	}
	// One more late duplicate of an original push, after its result exists: a no-op that reads
	// no layer (the zTOCs come from the shared cache).
	before := w.reg.Proxy.Stats(registrytest.BlobGet(mustDigestOf(t, imgs[0].layer)))
	run(slices.Concat(own[:9], [][]byte{pushEvent(t, imgs[0].repo, imgs[0].tag, imgs[0].digest)}))
	run(own[9:])
	if after := w.reg.Proxy.Stats(registrytest.BlobGet(mustDigestOf(t, imgs[0].layer))); after.Requests != before.Requests {
		t.Errorf("the late duplicate read image 0's layer again (%d requests, before %d)", after.Requests, before.Requests)
	}

	conversions := map[string]int{}
	for _, c := range fn.lines("conversion") {
		if c.str("Outcome") != "converted" {
			t.Errorf("conversion failed: %v", c)
		}
		conversions[c.str("digest")]++
	}
	for i, im := range imgs {
		if conversions[im.digest] != 1 {
			t.Errorf("image %d (%s:%s) converted %d times, want once", i, im.repo, im.tag, conversions[im.digest])
		}
		if n := w.sociIndexes(t, im.repo+":"+im.tag+"-soci"); n != 1 {
			t.Errorf("%s:%s-soci lists %d SOCI indexes", im.repo, im.tag, n)
		}
	}
	if len(conversions) != len(imgs) {
		t.Errorf("%d images converted, want %d: %v", len(conversions), len(imgs), conversions)
	}
	codes := map[string]int{}
	for _, d := range fn.lines("decision") {
		codes[d.str("code")]++
	}
	want := map[string]int{
		"convert":            10,
		"duplicate-in-batch": codes["duplicate-in-batch"],
		"up-to-date":         20 + 1 - codes["duplicate-in-batch"],
		"superseded":         1,
		"own-tag":            10,
		"untagged":           8,
	}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("decisions %v, want %v", codes, want)
	}
	if codes["duplicate-in-batch"] == 0 {
		t.Errorf("no duplicate in a batch was recognised: %v", codes)
	}
	// The base layer is read for the first image only; the others take its zTOC from the cache.
	bd := mustDigestOf(t, base)
	if st := w.reg.Proxy.Stats(registrytest.Match{Method: http.MethodGet, Path: registrytest.BlobGet(bd).Path}); st.Requests != 1 {
		t.Errorf("the shared base layer was downloaded %d times, want once", st.Requests)
	}
}

type digester interface{ Digest() (v1.Hash, error) }

func mustDigestOf(t *testing.T, l digester) string {
	t.Helper()
	h, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}
