package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation/fedtest"
)

const asPublic = "https://www.w3.org/ns/activitystreams#Public"

// note is a Mastodon-style status: a Create{Note} from user on remote,
// whose Note is also served at its id by the remote (its origin).
type note struct {
	id, createID string
	to, cc       []string
	mentions     []string
	inReplyTo    string
	content      string
	author       string // attributedTo; the sender when empty
	url          string // the page people see; the id when empty
}

func (n note) object(remote *fedtest.Server, user string) map[string]any {
	author := n.author
	if author == "" {
		author = remote.ActorIRI(user)
	}
	var tags []map[string]string
	for _, m := range n.mentions {
		tags = append(tags, map[string]string{"type": "Mention", "href": m, "name": "@" + m[strings.LastIndex(m, "/")+1:]})
	}
	obj := map[string]any{
		"id":           n.id,
		"type":         "Note",
		"attributedTo": author,
		"content":      n.content,
		"to":           n.to,
		"cc":           n.cc,
		"tag":          tags,
		"published":    time.Now().UTC().Format(time.RFC3339),
		"url":          cmp.Or(n.url, n.id),
	}
	if n.inReplyTo != "" {
		obj["inReplyTo"] = n.inReplyTo
	}
	return obj
}

func (n note) create(remote *fedtest.Server, user, typ string) []byte {
	obj := n.object(remote, user)
	body, _ := json.Marshal(map[string]any{
		"@context": []any{"https://www.w3.org/ns/activitystreams"},
		"id":       n.id + "/" + strings.ToLower(typ) + fmt.Sprint(activitySeq.Add(1)),
		"type":     typ,
		"actor":    remote.ActorIRI(user),
		"object":   obj,
		"to":       n.to,
		"cc":       n.cc,
	})
	return body
}

// publish serves the note at its origin and POSTs its Create to Agora.
func (n note) publish(t *testing.T, a *testAgora, remote *fedtest.Server, user string) {
	t.Helper()
	obj := n.object(remote, user)
	obj["@context"] = "https://www.w3.org/ns/activitystreams"
	doc, _ := json.Marshal(obj)
	remote.PutDocument(strings.TrimPrefix(n.id, remote.URL()), doc)
	post(t, remote, a.base()+"/inbox", user, n.create(remote, user, "Create"))
}

// announces returns the activities of a type that reached a remote, with
// their object as JSON.
type got struct {
	Type   string          `json:"type"`
	Actor  string          `json:"actor"`
	Object json.RawMessage `json:"object"`
	Cc     []string        `json:"cc"`
}

func activities(t *testing.T, remote *fedtest.Server, typ string) []got {
	t.Helper()
	var out []got
	for _, r := range remote.Received() {
		var g got
		json.Unmarshal(r.Body, &g)
		if g.Type != typ {
			continue
		}
		if !r.Verified {
			t.Errorf("%s at %s not verified: %v", typ, r.Path, r.VerifyErr)
		}
		out = append(out, g)
	}
	return out
}

// innerType is the type of an embedded object, or "" for an IRI.
func (g got) innerType() string {
	var o struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(g.Object, &o) != nil {
		return ""
	}
	return o.Type
}

func (g got) innerID() string {
	var s string
	if json.Unmarshal(g.Object, &s) == nil {
		return s
	}
	var o struct {
		ID string `json:"id"`
	}
	json.Unmarshal(g.Object, &o)
	return o.ID
}

func postOf(t *testing.T, a *testAgora, name, objectID string) community.Post {
	t.Helper()
	var p community.Post
	waitUntil(t, "post "+objectID+" in "+name, func() bool {
		c, err := a.srv.App.Svc.Get(context.Background(), name)
		if err != nil {
			return false
		}
		p, err = a.srv.App.DB.PostByObject(context.Background(), c.ID, objectID)
		return err == nil
	})
	return p
}

func TestRelayAcrossServers(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	for _, n := range []string{"gardening", "cooking", "birds", "bikes"} {
		a.mustCLI("community", "create", n, "--title", strings.ToUpper(n[:1])+n[1:])
	}
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob", "carol"}, Software: "mastodon"})
	lemmy := fedtest.NewServer(t, fedtest.Options{Users: []string{"dave"}, Software: "lemmy"})
	plain := fedtest.NewServer(t, fedtest.Options{Users: []string{"erin"}}) // no NodeInfo
	group := a.base() + "/c/gardening"
	followers := group + "/followers"

	// alice and bob (Mastodon), dave (Lemmy) and erin (unknown) join.
	joins := []struct {
		s    *fedtest.Server
		user string
	}{{mastodon, "alice"}, {mastodon, "bob"}, {lemmy, "dave"}, {plain, "erin"}}
	for _, j := range joins {
		body, _ := follow(j.s, j.user, group)
		post(t, j.s, a.base()+"/inbox", j.user, body)
	}
	waitUntil(t, "four members", func() bool { return followersCount(t, a, "gardening") == 4 })
	waitUntil(t, "accepts", func() bool {
		return len(activities(t, mastodon, "Accept")) == 2 && len(activities(t, lemmy, "Accept")) == 1 && len(activities(t, plain, "Accept")) == 1
	})

	// A member posts, mentioning the community (Mastodon public addressing).
	hello := note{id: mastodon.URL() + "/notes/hello", content: "<p>Hello <script>alert(1)</script>gardeners</p>",
		to: []string{asPublic}, cc: []string{mastodon.ActorIRI("alice") + "/followers", group}, mentions: []string{group}}
	hello.publish(t, a, mastodon, "alice")
	waitUntil(t, "announces", func() bool {
		return len(activities(t, mastodon, "Announce")) >= 1 && len(activities(t, lemmy, "Announce")) >= 1 &&
			len(activities(t, plain, "Announce")) >= 2
	})
	a.quiet()
	// Exactly what each dialect asks for: one per host, even with two
	// members on Mastodon (shared inbox).
	m, l, p := activities(t, mastodon, "Announce"), activities(t, lemmy, "Announce"), activities(t, plain, "Announce")
	if len(m) != 1 || m[0].innerType() != "" || m[0].innerID() != hello.id || m[0].Actor != group {
		t.Fatalf("Mastodon got %d Announces %+v, want one Announce{note id}", len(m), m)
	}
	if len(l) != 1 || l[0].innerType() != "Create" {
		t.Fatalf("Lemmy got %+v, want one Announce{Create}", l)
	}
	if len(p) != 2 || p[0].innerType() == p[1].innerType() {
		t.Fatalf("unknown server got %+v, want both dialects", p)
	}
	if !contains(m[0].Cc, followers) || !contains(m[0].Cc, mastodon.ActorIRI("alice")) {
		t.Errorf("Announce cc = %v, want followers and author", m[0].Cc)
	}
	hp := postOf(t, a, "gardening", hello.id)
	if hp.Decision != community.Announce || strings.Contains(hp.Content, "script") || !strings.Contains(hp.Content, "gardeners") {
		t.Fatalf("stored post %+v", hp)
	}

	// The outbox lists the boost; the post has a page at Agora (AS2 and
	// HTML), and the Announce's id can be dereferenced.
	code, outbox := getJSON(t, group+"/outbox")
	if code != 200 || outbox["totalItems"].(float64) != 1 {
		t.Fatalf("outbox: %d %v", code, outbox)
	}
	code, page := getJSON(t, group+"/outbox?page=1")
	items, _ := page["orderedItems"].([]any)
	if code != 200 || len(items) != 1 || items[0].(map[string]any)["object"] != hello.id {
		t.Fatalf("outbox page: %d %v", code, page)
	}
	pageURL := fmt.Sprintf("%s/p/%d", group, hp.ID)
	if code, doc := getJSON(t, pageURL); code != 200 || doc["id"] != pageURL || doc["object"] != hello.id {
		t.Fatalf("post page as AS2: %d %v", code, doc)
	}
	if code, body := get(t, pageURL, "text/html"); code != 200 || !strings.Contains(string(body), "gardeners") ||
		strings.Contains(string(body), "<script>alert") {
		t.Fatalf("post page as HTML: %d %s", code, body)
	}
	if code, doc := getJSON(t, items[0].(map[string]any)["id"].(string)); code != 200 || doc["type"] != "Announce" {
		t.Fatalf("announce id does not dereference: %d %v", code, doc)
	}

	// A retried delivery of the same Create boosts nothing twice.
	post(t, mastodon, a.base()+"/inbox", "alice", hello.create(mastodon, "alice", "Create"))
	a.quiet()
	if n := len(activities(t, mastodon, "Announce")); n != 1 {
		t.Fatalf("a retried Create was announced again (%d)", n)
	}

	// Posts that must not be announced, each with its reason in the store.
	refused := []struct {
		name   string
		n      note
		user   string
		s      *fedtest.Server
		reason community.Reason
	}{
		{"non-member", note{id: mastodon.URL() + "/notes/carol1", content: "spam", to: []string{asPublic}, cc: []string{group},
			mentions: []string{group}}, "carol", mastodon, community.ReasonNotMember},
		{"followers-only", note{id: mastodon.URL() + "/notes/private", content: "for my followers",
			to: []string{mastodon.ActorIRI("alice") + "/followers"}, cc: []string{group}, mentions: []string{group}}, "alice", mastodon, community.ReasonNotPublic},
		{"direct", note{id: mastodon.URL() + "/notes/dm", content: "just us", to: []string{group}, mentions: []string{group}},
			"alice", mastodon, community.ReasonNotPublic},
		{"reply with replies off", note{id: mastodon.URL() + "/notes/reply", content: "me too", to: []string{asPublic},
			cc: []string{group}, mentions: []string{group}, inReplyTo: hello.id}, "bob", mastodon, community.ReasonReply},
		{"four communities", note{id: mastodon.URL() + "/notes/crosspost", content: "everywhere", to: []string{asPublic},
			cc:       []string{group, a.base() + "/c/cooking", a.base() + "/c/birds", a.base() + "/c/bikes"},
			mentions: []string{group, a.base() + "/c/cooking", a.base() + "/c/birds", a.base() + "/c/bikes"}}, "alice", mastodon, community.ReasonTooManyGroups},
		{"forged (attributed to someone else)", note{id: mastodon.URL() + "/notes/forged", content: "I am alice",
			to: []string{asPublic}, cc: []string{group}, mentions: []string{group}, author: mastodon.ActorIRI("alice")},
			"carol", mastodon, community.ReasonNotAuthentic},
	}
	for _, r := range refused {
		body := r.n.create(r.s, r.user, "Create")
		if r.reason == community.ReasonNotAuthentic {
			// Never served at its origin: refused, and not stored, so that
			// it cannot take the genuine post's place (issue 15, item 5).
			post(t, r.s, a.base()+"/inbox", r.user, body)
			var head struct {
				ID string `json:"id"`
			}
			json.Unmarshal(body, &head)
			var result string
			waitUntil(t, "the forgery processed", func() bool {
				var done bool
				result, done, _ = inboxResult(t, a, head.ID)
				return done
			})
			c, _ := a.srv.App.Svc.Get(context.Background(), "gardening")
			if _, err := a.srv.App.DB.PostByObject(context.Background(), c.ID, r.n.id); err == nil || !strings.Contains(result, string(r.reason)) {
				t.Errorf("%s: result %q, stored: %v; want refused (%s) and not stored", r.name, result, err == nil, r.reason)
			}
			continue
		}
		r.n.publish(t, a, r.s, r.user)
		p := postOf(t, a, "gardening", r.n.id)
		if p.Decision != community.Refuse || p.Reason != r.reason {
			t.Errorf("%s: decision %s (%s), want refuse (%s)", r.name, p.Decision, p.Reason, r.reason)
		}
	}
	a.quiet()
	if n := len(activities(t, mastodon, "Announce")); n != 1 {
		t.Fatalf("a refused post was announced: %d Announces at Mastodon", n)
	}
	if p := postOf(t, a, "gardening", mastodon.URL()+"/notes/reply"); p.ThreadRoot != hello.id || p.InReplyTo != hello.id {
		t.Errorf("reply thread root %q, in reply to %q; want %q", p.ThreadRoot, p.InReplyTo, hello.id)
	}
	// A refused private post has no public page.
	private := postOf(t, a, "gardening", mastodon.URL()+"/notes/private")
	if code, _ := get(t, fmt.Sprintf("%s/p/%d", group, private.ID), "text/html"); code != 404 {
		t.Errorf("followers-only post page: %d, want 404", code)
	}

	// A post forwarded by someone else (dave forwards alice's note) is
	// fetched from its origin before it is trusted.
	fwd := note{id: mastodon.URL() + "/notes/forwarded", content: "<p>forwarded</p>", to: []string{asPublic},
		cc: []string{group}, mentions: []string{group}, author: mastodon.ActorIRI("alice")}
	obj := fwd.object(mastodon, "alice")
	obj["@context"] = "https://www.w3.org/ns/activitystreams"
	doc, _ := json.Marshal(obj)
	mastodon.PutDocument("/notes/forwarded", doc)
	before := mastodon.Hits("/notes/forwarded")
	post(t, lemmy, a.base()+"/inbox", "dave", fwd.create(lemmy, "dave", "Create"))
	fp := postOf(t, a, "gardening", fwd.id)
	if mastodon.Hits("/notes/forwarded") == before {
		t.Fatalf("forwarded post trusted without fetching its origin")
	}
	if fp.Author != mastodon.ActorIRI("alice") || fp.Decision != community.Announce {
		t.Fatalf("forwarded post: author %s decision %s (%s)", fp.Author, fp.Decision, fp.Reason)
	}

	// dave likes hello: counted, relayed to threadiverse peers only.
	like, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": lemmy.ActorIRI("dave") + "/likes/1", "type": "Like", "actor": lemmy.ActorIRI("dave"), "object": hello.id})
	post(t, lemmy, a.base()+"/inbox", "dave", like)
	waitUntil(t, "like relayed", func() bool {
		for _, g := range activities(t, lemmy, "Announce") {
			if g.innerType() == "Like" {
				return true
			}
		}
		return false
	})
	for _, g := range append(activities(t, mastodon, "Announce"), activities(t, plain, "Announce")...) {
		if g.innerType() == "Like" {
			t.Fatalf("a Like was relayed to a non-threadiverse peer")
		}
	}
	if p := postOf(t, a, "gardening", hello.id); p.Likes != 1 {
		t.Fatalf("likes = %d", p.Likes)
	}

	// An edit that removes the mention unannounces.
	edited := hello
	edited.cc = []string{mastodon.ActorIRI("alice") + "/followers"}
	edited.mentions = nil
	edited.content = "<p>Hello everyone</p>"
	mUndo := len(activities(t, mastodon, "Undo"))
	post(t, mastodon, a.base()+"/inbox", "alice", edited.create(mastodon, "alice", "Update"))
	waitUntil(t, "unannounce after edit", func() bool { return len(activities(t, mastodon, "Undo")) == mUndo+1 })
	u := activities(t, mastodon, "Undo")
	if last := u[len(u)-1]; last.innerType() != "Announce" {
		t.Fatalf("Undo of %s, want the whole Announce embedded", last.innerType())
	}
	waitUntil(t, "Lemmy told of the removal", func() bool {
		for _, g := range activities(t, lemmy, "Announce") {
			if g.innerType() == "Delete" {
				return true
			}
		}
		return false
	})
	if p := postOf(t, a, "gardening", hello.id); p.Decision != community.Refuse || p.Reason != community.ReasonEditedOut {
		t.Fatalf("after edit: %s (%s)", p.Decision, p.Reason)
	}

	// The author deletes the forwarded (announced) post.
	del, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": fwd.id + "#delete", "type": "Delete", "actor": mastodon.ActorIRI("alice"),
		"object": map[string]any{"id": fwd.id, "type": "Tombstone"}, "to": []string{asPublic}})
	mUndo = len(activities(t, mastodon, "Undo"))
	post(t, mastodon, a.base()+"/inbox", "alice", del)
	waitUntil(t, "undo after delete", func() bool { return len(activities(t, mastodon, "Undo")) == mUndo+1 })
	waitUntil(t, "Announce{Delete} to Lemmy", func() bool {
		n := 0
		for _, g := range activities(t, lemmy, "Announce") {
			if g.innerType() == "Delete" {
				n++
			}
		}
		return n == 2
	})
	if p := postOf(t, a, "gardening", fwd.id); p.DeletedAt.IsZero() || p.Content != "" {
		t.Fatalf("deleted post kept: %+v", p)
	}
	// The community never sent a Delete of its own to anyone.
	for _, s := range []*fedtest.Server{mastodon, lemmy, plain} {
		for _, g := range activities(t, s, "Delete") {
			t.Fatalf("community sent a top-level Delete: %+v", g)
		}
	}

	// The outbox lists what is still announced; the CLI shows every
	// decision with its reason (not the forgery: it is not stored).
	code, outbox = getJSON(t, group+"/outbox")
	if code != 200 || outbox["totalItems"].(float64) != 0 {
		t.Fatalf("outbox: %d %v (hello edited out, forwarded deleted)", code, outbox["totalItems"])
	}
	out := a.mustCLI("community", "posts", "gardening")
	for _, want := range []string{"not-member", "not-public", "reply", "too-many-mentions", "edited-out", "deleted"} {
		if !strings.Contains(out, want) {
			t.Errorf("community posts lacks %q:\n%s", want, out)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
