package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

// handle is @user@host of a fedtest user.
func handle(s *fedtest.Server, user string) string {
	return "@" + user + "@" + strings.TrimPrefix(s.URL(), "http://")
}

// dm sends the community a direct message as Mastodon writes one: to the
// community and every account it mentions, with Mention tags, and the
// mentions shown as @user links in the content.
func dm(t *testing.T, a *testAgora, s *fedtest.Server, user, group, text string, mentioned ...string) {
	t.Helper()
	id := fmt.Sprintf("%s/statuses/dm%d", s.ActorIRI(user), activitySeq.Add(1))
	to := []string{group}
	tags := []map[string]string{{"type": "Mention", "href": group, "name": "@" + group[strings.LastIndex(group, "/")+1:] + "@" + strings.TrimPrefix(a.base(), "http://")}}
	content := `<p><span class="h-card"><a href="` + group + `" class="u-url mention">@<span>` + group[strings.LastIndex(group, "/")+1:] + `</span></a></span> `
	words := strings.Fields(text)
	for i, w := range words {
		for _, m := range mentioned {
			user := m[strings.LastIndex(m, "/")+1:]
			if w == "@"+user {
				w = `<span class="h-card"><a href="` + m + `" class="u-url mention">@<span>` + user + `</span></a></span>`
			}
		}
		if i > 0 {
			content += " "
		}
		content += w
	}
	content += "</p>"
	for _, m := range mentioned {
		to = append(to, m)
		u := m[strings.LastIndex(m, "/")+1:]
		tags = append(tags, map[string]string{"type": "Mention", "href": m, "name": "@" + u + "@" + strings.TrimPrefix(m[:strings.Index(m, "/users/")], "http://")})
	}
	body, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       id + "/activity",
		"type":     "Create",
		"actor":    s.ActorIRI(user),
		"to":       to,
		"cc":       []string{},
		"object": map[string]any{
			"id": id, "type": "Note", "attributedTo": s.ActorIRI(user), "content": content,
			"to": to, "cc": []string{}, "tag": tags, "published": "2026-01-01T00:00:00Z",
		},
	})
	post(t, s, a.base()+"/inbox", user, body)
}

// messages returns the text of the direct messages a remote user got.
func messages(t *testing.T, s *fedtest.Server, user string) []string {
	t.Helper()
	var out []string
	for _, r := range s.Received() {
		var c struct {
			Type   string   `json:"type"`
			To     []string `json:"to"`
			Object struct {
				Type    string   `json:"type"`
				Content string   `json:"content"`
				To      []string `json:"to"`
			} `json:"object"`
		}
		json.Unmarshal(r.Body, &c)
		if c.Type != "Create" || c.Object.Type != "Note" || !contains(c.Object.To, s.ActorIRI(user)) {
			continue
		}
		if !r.Verified {
			t.Errorf("message to %s not verified: %v", user, r.VerifyErr)
		}
		if len(c.To) != 1 || len(c.Object.To) != 1 || contains(c.To, asPublic) {
			t.Errorf("message to %s is not direct: to %v", user, c.To)
		}
		out = append(out, federation.PlainText(c.Object.Content))
	}
	return out
}

// reply waits for the next direct message to user (the n+1th) and returns it.
func reply(t *testing.T, s *fedtest.Server, user string, n int) string {
	t.Helper()
	var ms []string
	waitUntil(t, fmt.Sprintf("message %d to %s", n+1, user), func() bool {
		ms = messages(t, s, user)
		return len(ms) > n
	})
	return ms[n]
}

// count counts activities of a type at a remote whose embedded object has
// innerType ("" for an IRI object), optionally with a target.
func count(t *testing.T, s *fedtest.Server, typ, innerType, target string) int {
	t.Helper()
	n := 0
	for _, r := range s.Received() {
		var g struct {
			Type   string          `json:"type"`
			Target string          `json:"target"`
			Object json.RawMessage `json:"object"`
		}
		json.Unmarshal(r.Body, &g)
		if g.Type != typ || (target != "" && g.Target != target) {
			continue
		}
		if (got{Object: g.Object}).innerType() == innerType {
			n++
		}
	}
	return n
}

// modCount counts the moderation activities of type typ (with an object
// of innerType, and target, when not "") that s received from community
// group and that Lemmy would take (crates/apub/src/activities: block,
// community/collection_add, deletion; verify_mod_action): in the
// community's Announce, signed by the community, or, sent as it is, signed
// by its actor; public; its actor a Person on the community's host (the
// moderation Person, checked by checkModerationPerson). A Delete of a post
// counts only with a summary: Lemmy takes that for a moderator's removal.
// The community's own Update or Delete of itself, sent as it is, is the
// microblog form and not counted. One that breaks a rule fails the test.
func modCount(t *testing.T, a *testAgora, s *fedtest.Server, group, typ, innerType, target string) int {
	t.Helper()
	moderation := a.base() + "/moderation"
	n := 0
	for _, r := range s.Received() {
		var outer map[string]json.RawMessage
		json.Unmarshal(r.Body, &outer)
		inner, signer := r.Body, moderation
		if typeOf(outer["type"]) == "Announce" {
			inner, signer = outer["object"], group
			if typeOf(outer["actor"]) != group {
				continue
			}
		}
		var act struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Actor   string          `json:"actor"`
			To      []string        `json:"to"`
			Target  string          `json:"target"`
			Summary string          `json:"summary"`
			Object  json.RawMessage `json:"object"`
		}
		if json.Unmarshal(inner, &act) != nil || act.Type != typ || (target != "" && act.Target != target) ||
			(got{Object: act.Object}).innerType() != innerType || (typ == "Delete" && act.Summary == "" && idOf(act.Object) != group) {
			continue
		}
		if signer != group && act.Actor == group && idOf(act.Object) == group {
			continue // the community's own Update or Delete of itself, as Mastodon takes it
		}
		switch {
		case !r.Verified || r.KeyID != signer+"#main-key":
			t.Fatalf("%s: signed by %q (verified %v: %v), want %s's key", act.Type, r.KeyID, r.Verified, r.VerifyErr, signer)
		case act.Actor != moderation:
			t.Fatalf("%s %s: actor %q, want the moderation Person %s", act.Type, act.ID, act.Actor, moderation)
		case !slices.Contains(act.To, asPublic):
			t.Fatalf("%s %s: not public (to %v)", act.Type, act.ID, act.To)
		case !strings.HasPrefix(act.ID, a.base()+"/"):
			t.Fatalf("%s %s: id not on the community's host", act.Type, act.ID)
		}
		n++
	}
	return n
}

// idOf returns the id of an object given by its id or embedded.
func idOf(raw json.RawMessage) string {
	if s := typeOf(raw); s != "" {
		return s
	}
	var o struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &o)
	return o.ID
}

func typeOf(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// checkModerationPerson fetches the moderation Person as Lemmy does and
// checks what Lemmy's Person requires (crates/apub/src/protocol/objects/
// person.rs: type Person or Service, preferredUsername, inbox, outbox,
// publicKey owned by it), and that group lists it among its moderators.
func checkModerationPerson(t *testing.T, a *testAgora, group string) {
	t.Helper()
	iri := a.base() + "/moderation"
	code, doc := getJSON(t, iri)
	if code != 200 {
		t.Fatalf("moderation Person: %d", code)
	}
	key, _ := doc["publicKey"].(map[string]any)
	for _, bad := range []bool{
		doc["id"] != iri, doc["type"] != "Person", doc["preferredUsername"] == nil || doc["preferredUsername"] == "",
		doc["inbox"] == nil, doc["outbox"] == nil, key == nil, key["id"] != iri+"#main-key", key["owner"] != iri,
	} {
		if bad {
			t.Fatalf("moderation Person as Lemmy reads it: %v", doc)
		}
	}
	if pemText, _ := key["publicKeyPem"].(string); !strings.Contains(pemText, "BEGIN PUBLIC KEY") {
		t.Fatalf("moderation Person's key: %q", pemText)
	}
	if mods := collectionItems(t, group+"/moderators"); !slices.Contains(mods, iri) {
		t.Fatalf("moderators of %s: %v, without the moderation Person", group, mods)
	}
}

// answered tells whether a remote got an Accept or Reject of user's Follow.
func answered(s *fedtest.Server, typ, user string) int {
	n := 0
	for _, r := range received(s, typ) {
		var g struct {
			Object struct {
				Actor string `json:"actor"`
			} `json:"object"`
		}
		json.Unmarshal(r.Body, &g)
		if g.Object.Actor == s.ActorIRI(user) {
			n++
		}
	}
	return n
}

func memberState(t *testing.T, a *testAgora, name, actor string) community.MemberState {
	t.Helper()
	c, err := a.srv.App.Svc.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.srv.App.DB.Member(context.Background(), c.ID, actor)
	if err != nil {
		return ""
	}
	return m.State
}

func join(t *testing.T, a *testAgora, s *fedtest.Server, user, name string) {
	t.Helper()
	body, _ := follow(s, user, a.base()+"/c/"+name)
	post(t, s, a.base()+"/inbox", user, body)
}

func collectionItems(t *testing.T, url string) []string {
	t.Helper()
	code, doc := getJSON(t, url)
	if code != 200 {
		t.Fatalf("%s: %d", url, code)
	}
	var out []string
	items, _ := doc["orderedItems"].([]any)
	for _, it := range items {
		s, _ := it.(string)
		out = append(out, s)
	}
	return out
}

func TestModerationByDirectMessage(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob", "carol"}, Software: "mastodon"})
	lemmy := fedtest.NewServer(t, fedtest.Options{Users: []string{"dave"}, Software: "lemmy"})
	plain := fedtest.NewServer(t, fedtest.Options{Users: []string{"erin"}})
	group := a.base() + "/c/gardening"
	alice, bob, carol, dave := mastodon.ActorIRI("alice"), mastodon.ActorIRI("bob"), mastodon.ActorIRI("carol"), lemmy.ActorIRI("dave")

	for _, j := range []struct {
		s    *fedtest.Server
		user string
	}{{mastodon, "alice"}, {mastodon, "bob"}, {mastodon, "carol"}, {lemmy, "dave"}, {plain, "erin"}} {
		join(t, a, j.s, j.user, "gardening")
	}
	waitUntil(t, "five members", func() bool { return followersCount(t, a, "gardening") == 5 })

	// The admin makes alice (on Mastodon) the owner: threadiverse and
	// unknown servers are told with Add{alice} to the moderators collection.
	out := a.mustCLI("mod", "add", "gardening", handle(mastodon, "alice"), "--owner")
	if !strings.Contains(out, alice) {
		t.Fatalf("mod add printed %q", out)
	}
	waitUntil(t, "Add to moderators", func() bool {
		return modCount(t, a, lemmy, group, "Add", "", group+"/moderators") == 1 && modCount(t, a, plain, group, "Add", "", group+"/moderators") == 1
	})
	if n := count(t, mastodon, "Add", "", ""); n != 0 {
		t.Errorf("Mastodon got %d Add activities; microblog peers get none", n)
	}
	if got := collectionItems(t, group+"/moderators"); len(got) != 2 || got[0] != alice {
		t.Fatalf("moderators collection %v", got)
	}
	checkModerationPerson(t, a, group)
	if _, actor := getJSON(t, group); actor["attributedTo"] != group+"/moderators" {
		t.Fatalf("Group attributedTo = %v", actor["attributedTo"])
	}

	// bob and carol post; both are announced.
	bobPost := note{id: mastodon.URL() + "/notes/bob1", content: "<p>tomatoes</p>", to: []string{asPublic}, cc: []string{group}, mentions: []string{group},
		url: mastodon.URL() + "/@bob/1"}
	carolPost := note{id: mastodon.URL() + "/notes/carol1", content: "<p>buy now</p>", to: []string{asPublic}, cc: []string{group}, mentions: []string{group}}
	bobPost.publish(t, a, mastodon, "bob")
	carolPost.publish(t, a, mastodon, "carol")
	// Every member's server has both before lemmy's count is taken: a late
	// Announce would look like a non-moderator's command federating.
	waitUntil(t, "two announces", func() bool {
		return len(activities(t, mastodon, "Announce")) == 2 && count(t, lemmy, "Announce", "Create", "") == 2 &&
			count(t, plain, "Announce", "Create", "") == 2
	})

	// Nothing a non-moderator sends changes anything: bob is answered once
	// with a refusal, and only once however many commands he sends.
	lemmyBefore := len(lemmy.Received())
	for _, cmd := range []string{
		"ban @carol spam", "remove " + carolPost.id, "pin " + bobPost.id, "addmod @bob",
		"block " + strings.TrimPrefix(plain.URL(), "http://"), "delmod " + alice, "unban @carol", "help",
	} {
		dm(t, a, mastodon, "bob", group, cmd, carol, bob)
	}
	if r := reply(t, mastodon, "bob", 0); !strings.Contains(r, "only the moderators") {
		t.Fatalf("refusal to bob: %q", r)
	}
	a.quiet()
	if n := len(messages(t, mastodon, "bob")); n != 1 {
		t.Fatalf("bob got %d refusals, want 1 (rate-limited)", n)
	}
	if memberState(t, a, "gardening", carol) != community.Joined || followersCount(t, a, "gardening") != 5 {
		t.Fatalf("a non-moderator changed membership")
	}
	if p := postOf(t, a, "gardening", carolPost.id); !p.Announced() {
		t.Fatalf("a non-moderator removed a post: %s", p.Reason)
	}
	if got := collectionItems(t, group+"/featured"); len(got) != 0 {
		t.Fatalf("a non-moderator pinned %v", got)
	}
	if got := collectionItems(t, group+"/moderators"); len(got) != 2 {
		t.Fatalf("a non-moderator changed moderators: %v", got)
	}
	if len(lemmy.Received()) != lemmyBefore || len(messages(t, mastodon, "alice")) != 0 {
		t.Fatalf("a non-moderator's commands federated something")
	}

	// help, and what is not a command, are answered with the commands.
	n := 0
	dm(t, a, mastodon, "alice", group, "help")
	if r := reply(t, mastodon, "alice", n); !strings.Contains(r, "ban @user@host") {
		t.Fatalf("help: %q", r)
	}
	n++
	dm(t, a, mastodon, "alice", group, "frobnicate the roses")
	if r := reply(t, mastodon, "alice", n); !strings.Contains(r, "did not understand") || !strings.Contains(r, "Commands:") {
		t.Fatalf("unknown command: %q", r)
	}
	n++

	// remove: Undo{Announce} to Mastodon, Announce{Delete} with the reason
	// to Lemmy, both to the unknown server; the page is gone.
	dm(t, a, mastodon, "alice", group, "remove "+bobPost.id+" off-topic")
	if r := reply(t, mastodon, "alice", n); !strings.Contains(r, "Removed") {
		t.Fatalf("remove: %q", r)
	}
	n++
	waitUntil(t, "removal federated", func() bool {
		return count(t, mastodon, "Undo", "Announce", "") == 1 && count(t, lemmy, "Announce", "Delete", "") == 1 &&
			count(t, plain, "Undo", "Announce", "") == 1 && count(t, plain, "Announce", "Delete", "") == 1
	})
	for _, r := range received(lemmy, "Announce") {
		if strings.Contains(string(r.Body), `"type":"Delete"`) && !strings.Contains(string(r.Body), "off-topic") {
			t.Errorf("Announce{Delete} without the reason: %s", r.Body)
		}
	}
	bp := postOf(t, a, "gardening", bobPost.id)
	if bp.Reason != community.ReasonRemoved || bp.Announced() {
		t.Fatalf("removed post: %s %s", bp.Decision, bp.Reason)
	}
	// A removed post is gone (410), not unknown (issue 16).
	if resp, err := http.Get(fmt.Sprintf("%s/p/%d", group, bp.ID)); err != nil || resp.StatusCode != http.StatusGone {
		t.Fatalf("removed post page: %v %v", resp.StatusCode, err)
	}

	// restore announces it again.
	dm(t, a, mastodon, "alice", group, "restore "+bobPost.id)
	if r := reply(t, mastodon, "alice", n); !strings.Contains(r, "Restored") {
		t.Fatalf("restore: %q", r)
	}
	n++
	waitUntil(t, "re-announced", func() bool { return len(activities(t, mastodon, "Announce")) == 3 })

	// pin and unpin: featured collection, Add/Remove to threadiverse. The
	// post is named by the link people see (Mastodon's /@bob/1), not its id.
	dm(t, a, mastodon, "alice", group, "pin "+bobPost.url)
	if r := reply(t, mastodon, "alice", n); !strings.Contains(r, "Pinned") {
		t.Fatalf("pin: %q", r)
	}
	n++
	waitUntil(t, "Add to featured", func() bool { return modCount(t, a, lemmy, group, "Add", "", group+"/featured") == 1 })
	if got := collectionItems(t, group+"/featured"); len(got) != 1 || got[0] != bobPost.id {
		t.Fatalf("featured %v", got)
	}
	dm(t, a, mastodon, "alice", group, "unpin "+bobPost.id)
	if r := reply(t, mastodon, "alice", n); !strings.Contains(r, "Unpinned") {
		t.Fatalf("unpin: %q", r)
	}
	n++
	waitUntil(t, "Remove from featured", func() bool { return modCount(t, a, lemmy, group, "Remove", "", group+"/featured") == 1 })

	// ban (with a Mastodon mention, and removing her posts): carol's
	// server is sent Reject{Follow}, threadiverse servers Block, her post
	// is withdrawn everywhere.
	dm(t, a, mastodon, "alice", group, "ban @carol --remove-posts spam", carol)
	if r := reply(t, mastodon, "alice", n); !strings.Contains(r, "Banned "+carol) {
		t.Fatalf("ban: %q", r)
	}
	n++
	waitUntil(t, "ban federated", func() bool {
		return answered(mastodon, "Reject", "carol") == 1 && modCount(t, a, lemmy, group, "Block", "", "") == 1 &&
			count(t, mastodon, "Undo", "Announce", "") == 2 && count(t, lemmy, "Announce", "Delete", "") == 2 &&
			modCount(t, a, lemmy, group, "Delete", "", "") == 2
	})
	if count(t, mastodon, "Block", "", "") != 0 || count(t, mastodon, "Announce", "Block", "") != 0 {
		t.Errorf("a microblog peer got Block")
	}
	if memberState(t, a, "gardening", carol) != community.Banned || followersCount(t, a, "gardening") != 4 {
		t.Fatalf("carol not banned")
	}
	// Her next Follow gets Reject and her next post is not announced.
	join(t, a, mastodon, "carol", "gardening")
	waitUntil(t, "Reject of banned follow", func() bool { return answered(mastodon, "Reject", "carol") == 2 })
	again := note{id: mastodon.URL() + "/notes/carol2", content: "<p>buy more</p>", to: []string{asPublic}, cc: []string{group}, mentions: []string{group}}
	again.publish(t, a, mastodon, "carol")
	if p := postOf(t, a, "gardening", again.id); p.Reason != community.ReasonBanned {
		t.Fatalf("banned member's post: %s (%s)", p.Decision, p.Reason)
	}

	// unban by handle (looked up by WebFinger): Undo{Block}; she may join again.
	dm(t, a, mastodon, "alice", group, "unban "+handle(mastodon, "carol"))
	if r := reply(t, mastodon, "alice", n); !strings.Contains(r, "Unbanned") {
		t.Fatalf("unban: %q", r)
	}
	n++
	waitUntil(t, "Undo{Block}", func() bool { return modCount(t, a, lemmy, group, "Undo", "Block", "") == 1 })
	join(t, a, mastodon, "carol", "gardening")
	waitUntil(t, "carol back", func() bool { return answered(mastodon, "Accept", "carol") == 2 })

	// addmod is for owners; dave (a moderator) cannot appoint.
	dm(t, a, mastodon, "alice", group, "addmod "+handle(lemmy, "dave"))
	if r := reply(t, mastodon, "alice", n); !strings.Contains(r, "moderator of gardening now") {
		t.Fatalf("addmod: %q", r)
	}
	n++
	waitUntil(t, "Add dave", func() bool { return modCount(t, a, lemmy, group, "Add", "", group+"/moderators") == 2 })
	dm(t, a, lemmy, "dave", group, "addmod "+handle(mastodon, "bob"))
	if r := reply(t, lemmy, "dave", 0); !strings.Contains(r, "only owners") {
		t.Fatalf("addmod by a moderator: %q", r)
	}
	dm(t, a, lemmy, "dave", group, "mods")
	if r := reply(t, lemmy, "dave", 1); !strings.Contains(r, alice+" (owner)") || !strings.Contains(r, dave+" (moderator)") {
		t.Fatalf("mods: %q", r)
	}
	dm(t, a, mastodon, "alice", group, "delmod "+dave)
	if r := reply(t, mastodon, "alice", n); !strings.Contains(r, "no longer") {
		t.Fatalf("delmod: %q", r)
	}
	n++
	waitUntil(t, "Remove dave", func() bool { return modCount(t, a, lemmy, group, "Remove", "", group+"/moderators") == 1 })

	// block a domain in the community: its member is dropped and told so
	// (Reject of the Follow), a new Follow rejected, its posts refused.
	plainHost := strings.TrimPrefix(plain.URL(), "http://")
	dm(t, a, mastodon, "alice", group, "block "+plainHost+" spam server")
	if r := reply(t, mastodon, "alice", n); !strings.Contains(r, "1 members") {
		t.Fatalf("block: %q", r)
	}
	n++
	if memberState(t, a, "gardening", plain.ActorIRI("erin")) != "" {
		t.Fatalf("member of a blocked domain kept")
	}
	waitUntil(t, "Reject of the dropped member", func() bool { return answered(plain, "Reject", "erin") == 1 })
	join(t, a, plain, "erin", "gardening")
	waitUntil(t, "Reject of a blocked domain", func() bool { return answered(plain, "Reject", "erin") == 2 })
	erinPost := note{id: plain.URL() + "/notes/e1", content: "<p>hi</p>", to: []string{asPublic}, cc: []string{group}, mentions: []string{group}}
	erinPost.publish(t, a, plain, "erin")
	if p := postOf(t, a, "gardening", erinPost.id); p.Reason != community.ReasonDomainBlocked {
		t.Fatalf("blocked domain's post: %s", p.Reason)
	}
	dm(t, a, mastodon, "alice", group, "unblock "+plainHost)
	if r := reply(t, mastodon, "alice", n); !strings.Contains(r, "Unblocked") {
		t.Fatalf("unblock: %q", r)
	}
	n++
	join(t, a, plain, "erin", "gardening")
	waitUntil(t, "erin back", func() bool { return answered(plain, "Accept", "erin") == 2 })

	// Every action is in the log, with who did it and why.
	log := a.mustCLI("mod", "log", "gardening")
	for _, want := range []string{"addmod", "remove", "restore", "pin", "unpin", "ban", "spam", "unban", "delmod", "block", "unblock", "off-topic", alice, community.Admin} {
		if !strings.Contains(log, want) {
			t.Errorf("mod log lacks %q:\n%s", want, log)
		}
	}
	// The log is private until the community makes it public.
	if resp, err := http.Get(group + "/modlog"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("private mod log: %v %v", resp.StatusCode, err)
	}
	a.mustCLI("mod", "log", "gardening", "--public=true")
	resp, err := http.Get(group + "/modlog")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("public mod log: %d\n%s", resp.StatusCode, page)
	}
	// In words, by "an administrator" or "a moderator", never a login
	// name or an action's code.
	for _, want := range []string{"A moderator removed a post", "off-topic", "banned", "spam",
		"lifted the ban of", "blocked the server", "made this log public"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("public mod log lacks %q:\n%s", want, page)
		}
	}
	for _, bad := range []string{">admin<", "local:", "addmod", "delmod", "log-public", ">remove<"} {
		if strings.Contains(string(page), bad) {
			t.Errorf("public mod log shows %q:\n%s", bad, page)
		}
	}
}

func TestModerationApprovalAndInstanceBlocks(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "club", "--approval")
	a.mustCLI("community", "create", "open")
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob", "carol"}, Software: "mastodon"})
	lemmy := fedtest.NewServer(t, fedtest.Options{Users: []string{"dave"}, Software: "lemmy"})
	group := a.base() + "/c/club"
	a.mustCLI("mod", "add", "club", mastodon.ActorIRI("alice"), "--owner")

	join(t, a, mastodon, "bob", "club")
	join(t, a, mastodon, "carol", "club")
	waitUntil(t, "two pending", func() bool {
		return memberState(t, a, "club", mastodon.ActorIRI("bob")) == community.Pending &&
			memberState(t, a, "club", mastodon.ActorIRI("carol")) == community.Pending
	})
	dm(t, a, mastodon, "alice", group, "pending")
	if r := reply(t, mastodon, "alice", 0); !strings.Contains(r, mastodon.ActorIRI("bob")) || !strings.Contains(r, mastodon.ActorIRI("carol")) {
		t.Fatalf("pending: %q", r)
	}
	// A non-moderator cannot approve anyone, herself included.
	dm(t, a, mastodon, "carol", group, "approve @carol", mastodon.ActorIRI("carol"))
	reply(t, mastodon, "carol", 0)
	dm(t, a, mastodon, "alice", group, "approve @bob", mastodon.ActorIRI("bob"))
	if r := reply(t, mastodon, "alice", 1); !strings.Contains(r, "Approved") {
		t.Fatalf("approve: %q", r)
	}
	dm(t, a, mastodon, "alice", group, "reject "+handle(mastodon, "carol"))
	if r := reply(t, mastodon, "alice", 2); !strings.Contains(r, "Rejected") {
		t.Fatalf("reject: %q", r)
	}
	waitUntil(t, "answers", func() bool {
		return answered(mastodon, "Accept", "bob") == 1 && answered(mastodon, "Reject", "carol") == 1
	})
	if answered(mastodon, "Accept", "carol") != 0 || memberState(t, a, "club", mastodon.ActorIRI("carol")) != "" {
		t.Fatalf("carol approved herself")
	}
	dm(t, a, mastodon, "alice", group, "approve @carol", mastodon.ActorIRI("carol"))
	if r := reply(t, mastodon, "alice", 3); !strings.Contains(r, "could not") {
		t.Fatalf("approve without a request: %q", r)
	}

	// The CLI has the same effects: ban and unban, remove a post.
	join(t, a, lemmy, "dave", "open")
	waitUntil(t, "dave in open", func() bool { return followersCount(t, a, "open") == 1 })
	a.mustCLI("mod", "ban", "open", lemmy.ActorIRI("dave"), "--reason", "rude")
	if memberState(t, a, "open", lemmy.ActorIRI("dave")) != community.Banned {
		t.Fatalf("CLI ban")
	}
	waitUntil(t, "Reject and Block of the CLI ban", func() bool {
		return answered(lemmy, "Reject", "dave") == 1 && modCount(t, a, lemmy, a.base()+"/c/open", "Block", "", "") == 1
	})
	// dave was open's only member: his server got the Block itself, signed
	// by the moderation Person (whose key it fetched), not an Announce.
	if count(t, lemmy, "Block", "", "") != 1 {
		t.Fatalf("the banned actor's server did not get the Block itself")
	}
	if _, err := a.cli("mod", "ban", "open", lemmy.ActorIRI("dave")); err == nil {
		t.Fatalf("banning twice succeeded")
	}
	a.mustCLI("mod", "unban", "open", handle(lemmy, "dave"))
	if memberState(t, a, "open", lemmy.ActorIRI("dave")) != "" {
		t.Fatalf("CLI unban")
	}
	join(t, a, lemmy, "dave", "open")
	waitUntil(t, "dave back", func() bool { return followersCount(t, a, "open") == 1 })

	// An instance-wide domain block drops the domain's members everywhere
	// and all its traffic: 202, then nothing.
	lemmyHost := strings.TrimPrefix(lemmy.URL(), "http://")
	rejects := answered(lemmy, "Reject", "dave")
	out := a.mustCLI("domain", "block", lemmyHost, "--reason", "spam")
	if !strings.Contains(out, "1 members") {
		t.Fatalf("domain block: %q", out)
	}
	if list := a.mustCLI("domain", "list"); !strings.Contains(list, lemmyHost) {
		t.Fatalf("domain list: %q", list)
	}
	// dave is told he was dropped (the CLI queues it; serve delivers).
	waitUntil(t, "Reject of the dropped member", func() bool { return answered(lemmy, "Reject", "dave") == rejects+1 })
	rejects++
	join(t, a, lemmy, "dave", "open")
	p := note{id: lemmy.URL() + "/notes/d1", content: "hi", to: []string{asPublic}, cc: []string{a.base() + "/c/open"}, mentions: []string{a.base() + "/c/open"}}
	p.publish(t, a, lemmy, "dave")
	a.quiet()
	if followersCount(t, a, "open") != 0 || answered(lemmy, "Reject", "dave") != rejects {
		t.Fatalf("a blocked domain's traffic was processed: %d followers, %d rejects (had %d)", followersCount(t, a, "open"), answered(lemmy, "Reject", "dave"), rejects)
	}
	ps, _ := a.srv.App.Posts.ByObject(context.Background(), p.id)
	if len(ps) != 0 {
		t.Fatalf("a blocked domain's post was stored")
	}
	a.mustCLI("domain", "unblock", lemmyHost)
	join(t, a, lemmy, "dave", "open")
	waitUntil(t, "dave back after unblock", func() bool { return followersCount(t, a, "open") == 1 })

	// In a moderators-only community a moderator's post is announced, a
	// member's is not: the decision knows the roles.
	a.mustCLI("community", "create", "news", "--posting", "moderators")
	a.mustCLI("mod", "add", "news", mastodon.ActorIRI("alice"))
	news := a.base() + "/c/news"
	join(t, a, mastodon, "bob", "news")
	waitUntil(t, "bob in news", func() bool { return followersCount(t, a, "news") == 1 })
	byMod := note{id: mastodon.URL() + "/notes/news1", content: "news", to: []string{asPublic}, cc: []string{news}, mentions: []string{news}}
	byMod.publish(t, a, mastodon, "alice")
	byMember := note{id: mastodon.URL() + "/notes/news2", content: "me too", to: []string{asPublic}, cc: []string{news}, mentions: []string{news}}
	byMember.publish(t, a, mastodon, "bob")
	if p := postOf(t, a, "news", byMod.id); !p.Announced() {
		t.Fatalf("moderator's post in a moderators-only community: %s", p.Reason)
	}
	if p := postOf(t, a, "news", byMember.id); p.Reason != community.ReasonNotModerator {
		t.Fatalf("member's post in a moderators-only community: %s", p.Reason)
	}

	if _, err := a.cli("domain", "block", "not a domain"); err == nil {
		t.Fatalf("blocking a bad domain succeeded")
	}
	if _, err := a.cli("mod", "remove", "club", mastodon.ActorIRI("alice")); err == nil {
		t.Fatalf("removing the last owner succeeded")
	}
}

// flagFixture reads a Flag from the shared fixtures, skipping without them.
func flagFixture(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "fixtures", "fediverse", path))
	if err != nil {
		t.Skipf("fixtures absent (%v): run with ../shared/fixtures/fediverse beside the repository", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReportsReachModerators(t *testing.T) {
	mastoFlag := flagFixture(t, "mastodon/activities/flag.json")
	mbinFlag := flagFixture(t, "mbin/activities/flag.json")
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "gardening")
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "carol", "actor"}, Software: "mastodon"})
	mbin := fedtest.NewServer(t, fedtest.Options{Users: []string{"benti"}, Software: "mbin"})
	lemmy := fedtest.NewServer(t, fedtest.Options{Users: []string{"dave"}, Software: "lemmy"})
	group := a.base() + "/c/gardening"
	a.mustCLI("mod", "add", "gardening", mastodon.ActorIRI("alice"), "--owner")
	a.mustCLI("mod", "add", "gardening", lemmy.ActorIRI("dave"))
	join(t, a, mastodon, "carol", "gardening")
	waitUntil(t, "carol joined", func() bool { return followersCount(t, a, "gardening") == 1 })
	spam := note{id: mastodon.URL() + "/notes/spam", content: "<p>spam</p>", to: []string{asPublic}, cc: []string{group}, mentions: []string{group}}
	spam.publish(t, a, mastodon, "carol")
	postOf(t, a, "gardening", spam.id)

	// Mastodon's report names the account, then its posts, and is
	// addressed to the account's server, not to the community.
	mastoFlag["id"] = mastodon.URL() + "/flags/1"
	mastoFlag["actor"] = mastodon.ActorIRI("actor")
	mastoFlag["object"] = []string{mastodon.ActorIRI("carol"), spam.id}
	mastoFlag["to"] = mastodon.ActorIRI("carol")
	body, _ := json.Marshal(mastoFlag)
	post(t, mastodon, a.base()+"/inbox", "actor", body)
	r := reply(t, mastodon, "alice", 0)
	if !strings.Contains(r, "report #1") || !strings.Contains(r, "Please take a look") || !strings.Contains(r, spam.id) {
		t.Fatalf("report message: %q", r)
	}
	if r := reply(t, lemmy, "dave", 0); !strings.Contains(r, "report #1") {
		t.Fatalf("report to the second moderator: %q", r)
	}
	// The same Flag again is not a second report.
	post(t, mastodon, a.base()+"/inbox", "actor", body)

	// Mbin's names the post then its author and is addressed to the community.
	mbinFlag["id"] = mbin.URL() + "/reports/1"
	mbinFlag["actor"] = mbin.ActorIRI("benti")
	mbinFlag["object"] = []string{spam.id, mastodon.ActorIRI("carol")}
	mbinFlag["to"] = []string{group}
	mbinFlag["audience"] = group
	body, _ = json.Marshal(mbinFlag)
	post(t, mbin, a.base()+"/c/gardening/inbox", "benti", body)
	if r := reply(t, mastodon, "alice", 1); !strings.Contains(r, "report #2") || !strings.Contains(r, "dikjhgasdpas") {
		t.Fatalf("mbin report message: %q", r)
	}
	a.quiet()
	if n := len(messages(t, mastodon, "alice")); n != 2 {
		t.Fatalf("alice got %d messages, want 2 (a repeated Flag is one report)", n)
	}

	dm(t, a, mastodon, "alice", group, "reports")
	if r := reply(t, mastodon, "alice", 2); !strings.Contains(r, "#1") || !strings.Contains(r, "#2") {
		t.Fatalf("reports: %q", r)
	}
	dm(t, a, mastodon, "alice", group, "resolve 1")
	if r := reply(t, mastodon, "alice", 3); !strings.Contains(r, "resolved") {
		t.Fatalf("resolve: %q", r)
	}
	out := a.mustCLI("mod", "reports", "gardening")
	if strings.Contains(out, mastodon.ActorIRI("actor")) || !strings.Contains(out, mbin.ActorIRI("benti")) {
		t.Fatalf("open reports after resolve:\n%s", out)
	}
	// A Flag about nothing here is dropped.
	mbinFlag["id"] = mbin.URL() + "/reports/2"
	mbinFlag["object"] = []string{mbin.URL() + "/posts/elsewhere"}
	mbinFlag["to"] = []string{mbin.URL() + "/m/elsewhere"}
	delete(mbinFlag, "audience")
	body, _ = json.Marshal(mbinFlag)
	post(t, mbin, a.base()+"/inbox", "benti", body)
	a.quiet()
	if out := a.mustCLI("mod", "reports", "gardening", "--all"); strings.Count(out, "\n") != 3 {
		t.Fatalf("reports after an unrelated Flag:\n%s", out)
	}
}

// A pinned post its author deletes is featured no more (a moderator's
// removal unpins it; an author's Delete leaves the pin, and
// Documents.Featured leaves the post out).
func TestFeaturedSkipsDeletedPinnedPost(t *testing.T) {
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	a, group := gardening(t, nil, joiner{mastodon, "alice"})
	hello := note{id: mastodon.URL() + "/notes/pinned", content: "<p>rules of the garden</p>", to: []string{asPublic},
		cc: []string{group}, mentions: []string{group}}
	hello.publish(t, a, mastodon, "alice")
	if p := postOf(t, a, "gardening", hello.id); !p.Announced() {
		t.Fatalf("post not announced: %s %s", p.Decision, p.Reason)
	}
	a.mustCLI("mod", "pin", "gardening", hello.id)
	if got := collectionItems(t, group+"/featured"); len(got) != 1 || got[0] != hello.id {
		t.Fatalf("featured %v, want the pinned post", got)
	}
	del, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": hello.id + "/delete", "type": "Delete", "actor": mastodon.ActorIRI("alice"),
		"object": map[string]any{"id": hello.id, "type": "Tombstone"}, "to": []string{asPublic}})
	post(t, mastodon, a.base()+"/inbox", "alice", del)
	waitUntil(t, "deleted", func() bool { return !postOf(t, a, "gardening", hello.id).DeletedAt.IsZero() })
	if got := collectionItems(t, group+"/featured"); len(got) != 0 {
		t.Errorf("featured after its author deleted the post: %v", got)
	}
}

// An edit and a deletion of the community reach each kind of server the
// way it takes them: Mastodon takes an actor's Update or Delete from that
// actor only; Lemmy takes them as a moderator's action, from a Person, in
// the community's Announce (UpdateCommunity, and Delete of a community:
// verify_mod_action); a server of unknown software gets both.
func TestCommunityUpdateAndDeleteByDialect(t *testing.T) {
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	lemmy := fedtest.NewServer(t, fedtest.Options{Users: []string{"dave"}, Software: "lemmy"})
	plain := fedtest.NewServer(t, fedtest.Options{Users: []string{"erin"}})
	a, group := gardening(t, nil, joiner{mastodon, "alice"}, joiner{lemmy, "dave"}, joiner{plain, "erin"})
	checkModerationPerson(t, a, group)
	byGroup := func(s *fedtest.Server, typ string) int {
		n := 0
		for _, r := range received(s, typ) {
			var g struct {
				Actor  string          `json:"actor"`
				Object json.RawMessage `json:"object"`
			}
			json.Unmarshal(r.Body, &g)
			if g.Actor == group && r.Verified && r.KeyID == group+"#main-key" {
				n++
			}
		}
		return n
	}
	for _, step := range []struct {
		typ, inner string
		cli        []string
	}{
		{"Update", "Group", []string{"community", "edit", "gardening", "--title", "Gardening and more"}},
		{"Delete", "", []string{"community", "delete", "gardening"}},
	} {
		a.mustCLI(step.cli...)
		waitUntil(t, step.typ+" everywhere", func() bool {
			return byGroup(mastodon, step.typ) == 1 && byGroup(plain, step.typ) == 1 &&
				modCount(t, a, lemmy, group, step.typ, step.inner, "") == 1 && modCount(t, a, plain, group, step.typ, step.inner, "") == 1
		})
		if n := len(received(lemmy, step.typ)); n != 0 {
			t.Errorf("the Lemmy-like server got %d %s by the community itself", n, step.typ)
		}
		if n := count(t, mastodon, "Announce", step.typ, ""); n != 0 {
			t.Errorf("the Mastodon-like server got %d Announce{%s}", n, step.typ)
		}
	}
}
