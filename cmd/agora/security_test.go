package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agorafed/agora/federation/fedtest"
)

// pageText is the HTML of a page of Agora.
func pageText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestForgedCreateDoesNotPreempt (issue 15, item 5): a Create from
// another server carrying a member's post id before the post exists at
// its origin is refused as not authentic, and takes nothing: the genuine
// Create of that id, later, is decided fresh and announced, and the page
// shows the author's words, never the forger's.
func TestForgedCreateDoesNotPreempt(t *testing.T) {
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	evil := fedtest.NewServer(t, fedtest.Options{Users: []string{"mallory"}, Software: "mastodon"})
	a, group := gardening(t, nil, joiner{mastodon, "alice"})
	id := mastodon.ActorIRI("alice") + "/statuses/preempted"
	forged := note{id: id, author: mastodon.ActorIRI("alice"), to: []string{asPublic}, cc: []string{group},
		mentions: []string{group}, content: "<p>forged words</p>"}
	post(t, evil, a.base()+"/inbox", "mallory", forged.create(evil, "mallory", "Create"))
	quiesce(t, a)

	genuine := note{id: id, to: []string{asPublic}, cc: []string{group}, mentions: []string{group}, content: "<p>genuine words</p>"}
	genuine.publish(t, a, mastodon, "alice")
	waitUntil(t, "the genuine post announced", func() bool {
		for _, g := range activities(t, mastodon, "Announce") {
			if g.innerID() == id {
				return true
			}
		}
		return false
	})
	page := pageText(t, a.base()+"/c/gardening")
	if !strings.Contains(page, "genuine words") || strings.Contains(page, "forged words") {
		t.Errorf("community page: genuine shown %v, forged shown %v", strings.Contains(page, "genuine words"), strings.Contains(page, "forged words"))
	}
}

// TestNarrowingEditWithdraws (issue 15, item 7): an Update that turns an
// announced public post into followers-only takes the boost back, and its
// new text is not on the public page.
func TestNarrowingEditWithdraws(t *testing.T) {
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	a, group := gardening(t, nil, joiner{mastodon, "alice"})
	id := mastodon.ActorIRI("alice") + "/statuses/narrowed"
	n := note{id: id, to: []string{asPublic}, cc: []string{group, mastodon.ActorIRI("alice") + "/followers"},
		mentions: []string{group}, content: "<p>for everyone</p>"}
	n.publish(t, a, mastodon, "alice")
	waitUntil(t, "the post announced", func() bool {
		for _, g := range activities(t, mastodon, "Announce") {
			if g.innerID() == id {
				return true
			}
		}
		return false
	})
	edited := n
	edited.to, edited.cc = []string{mastodon.ActorIRI("alice") + "/followers"}, []string{group}
	edited.content = "<p>for my followers only</p>"
	post(t, mastodon, a.base()+"/inbox", "alice", edited.create(mastodon, "alice", "Update"))
	waitUntil(t, "the boost taken back", func() bool { return len(activities(t, mastodon, "Undo")) == 1 })
	quiesce(t, a)
	if page := pageText(t, a.base()+"/c/gardening"); strings.Contains(page, "for my followers only") || strings.Contains(page, "for everyone") {
		t.Errorf("the community page still shows the post")
	}
}

// TestForeignActivityIDDoesNotBlock (issue 15, item 9): an activity whose
// id is in another server's namespace does not make the genuine activity
// of that id, sent later by its owner, a duplicate.
func TestForeignActivityIDDoesNotBlock(t *testing.T) {
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	evil := fedtest.NewServer(t, fedtest.Options{Users: []string{"mallory"}, Software: "mastodon"})
	a, group := gardening(t, nil)
	genuine, id := follow(mastodon, "alice", group)
	squat, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": id, "type": "Follow", "actor": evil.ActorIRI("mallory"), "object": group})
	post(t, evil, a.base()+"/inbox", "mallory", squat)
	quiesce(t, a)
	post(t, mastodon, a.base()+"/inbox", "alice", genuine)
	waitUntil(t, "alice's Accept", func() bool { return len(received(mastodon, "Accept")) == 1 })
	if _, done, _ := inboxResult(t, a, id); !done {
		t.Errorf("alice's Follow %s not processed", id)
	}
}
