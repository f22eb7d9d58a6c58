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

// TestFollowersListsNobody (issue 15, item 8): a community's followers
// collection, its pages too, tells how many members it has and not who:
// for an approval-only community, whom it accepted is the moderators'
// business. The console still lists them.
func TestFollowersListsNobody(t *testing.T) {
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob"}, Software: "mastodon"})
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "club", "--title", "Club", "--approval")
	group := a.base() + "/c/club"
	for _, user := range []string{"alice", "bob"} {
		body, _ := follow(mastodon, user, group)
		post(t, mastodon, a.base()+"/inbox", user, body)
	}
	waitUntil(t, "two pending", func() bool {
		out, _ := a.cli("community", "members", "club", "--pending")
		return strings.Count(out, mastodon.ActorIRI("")) == 2
	})
	a.mustCLI("community", "approve", "club", mastodon.ActorIRI("alice"))
	a.mustCLI("community", "approve", "club", mastodon.ActorIRI("bob"))
	waitUntil(t, "two members", func() bool { return followersCount(t, a, "club") == 2 })
	for _, path := range []string{"/followers", "/followers?page=1", "/followers?page=1&after=" + mastodon.ActorIRI("alice")} {
		code, doc := getJSON(t, group+path)
		raw, _ := json.Marshal(doc)
		if code != 200 || doc["totalItems"] != float64(2) || strings.Contains(string(raw), mastodon.URL()) {
			t.Errorf("%s: %d %s; want totalItems 2 and no member", path, code, raw)
		}
	}
	if out := a.mustCLI("community", "members", "club"); !strings.Contains(out, mastodon.ActorIRI("alice")) {
		t.Errorf("the CLI no longer lists the members: %s", out)
	}
}
