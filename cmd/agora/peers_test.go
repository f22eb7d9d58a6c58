package main

import (
	"context"
	"testing"
	"time"
)

// TestWhatPeersSee: NodeInfo names the instance as its settings do, the
// outboxes the instance's actors advertise answer, and those actors keep
// their published date across restarts (issue 16, item 6).
func TestWhatPeersSee(t *testing.T) {
	dir := t.TempDir()
	a := startAgora(t, dir, "", nil)
	ctx := context.Background()
	if err := a.srv.App.DB.SetSetting(ctx, "name", "Jardins partagés"); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.App.DB.SetSetting(ctx, "description", "Communities about **gardens** and [seeds](https://seeds.example)."); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"2.0", "2.1"} {
		code, doc := getJSON(t, a.base()+"/nodeinfo/"+v)
		meta, _ := doc["metadata"].(map[string]any)
		if code != 200 || meta["nodeName"] != "Jardins partagés" || meta["nodeDescription"] != "Communities about gardens and seeds." {
			t.Errorf("nodeinfo %s: %d metadata %v", v, code, meta)
		}
	}

	published := map[string]any{}
	for _, actor := range []string{"/actor", "/moderation"} {
		code, doc := getJSON(t, a.base()+actor)
		if code != 200 || doc["published"] == nil {
			t.Fatalf("%s: %d, published %v", actor, code, doc["published"])
		}
		published[actor] = doc["published"]
		outbox, _ := doc["outbox"].(string)
		if outbox != a.base()+actor+"/outbox" {
			t.Errorf("%s advertises outbox %q", actor, outbox)
		}
		code, box := getJSON(t, outbox)
		if code != 200 || box["type"] != "OrderedCollection" || box["id"] != outbox {
			t.Errorf("%s: %d %v", outbox, code, box)
		}
		code, page := getJSON(t, outbox+"?page=1")
		if code != 200 || page["type"] != "OrderedCollectionPage" || page["partOf"] != outbox {
			t.Errorf("%s?page=1: %d %v", outbox, code, page)
		}
	}

	// published is given to the second: restart once the clock is past
	// the first start's, so that a date taken at start would differ.
	first, err := time.Parse(time.RFC3339, published["/actor"].(string))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the next second", func() bool { return time.Now().Truncate(time.Second).After(first) })
	addr := a.addr
	a.stop()
	b := startAgora(t, dir, addr, nil)
	for actor, was := range published {
		if _, doc := getJSON(t, b.base()+actor); doc["published"] != was {
			t.Errorf("%s: published %v after a restart, was %v", actor, doc["published"], was)
		}
	}
}
