package main

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

// joinAll makes each (server, user) a member of the community at group.
func joinAll(t *testing.T, a *testAgora, group string, members ...any) {
	t.Helper()
	for i := 0; i < len(members); i += 2 {
		s, user := members[i].(*fedtest.Server), members[i+1].(string)
		body, _ := follow(s, user, group)
		post(t, s, a.base()+"/inbox", user, body)
		waitUntil(t, user+"'s Accept", func() bool { return len(received(s, "Accept")) > 0 })
	}
}

// announcesOf are the Announces of object (an IRI, or an embedded
// activity's object id) that reached remote, with what it answered.
func announcesOf(t *testing.T, remote *fedtest.Server, object string) (byIRI, embedded []fedtest.Request) {
	t.Helper()
	for _, r := range received(remote, "Announce") {
		var g got
		json.Unmarshal(r.Body, &g)
		if !r.Verified {
			t.Errorf("Announce at %s not verified: %v", r.Path, r.VerifyErr)
		}
		if g.innerType() == "" && g.innerID() == object {
			byIRI = append(byIRI, r)
			continue
		}
		var inner struct {
			Object json.RawMessage `json:"object"`
		}
		json.Unmarshal(g.Object, &inner)
		if strings.Contains(string(inner.Object), object) {
			embedded = append(embedded, r)
		}
	}
	return byIRI, embedded
}

func hostOf(raw string) string { u, _ := url.Parse(raw); return u.Host }

// TestOriginStrictNodeBB: a fake NodeBB (NodeInfo "nodebb", NodeBB's
// origin rule) gets a member's post as Announce{object id}, which it
// resolves from the post's origin and accepts, while a Mastodon-dialect and
// a Lemmy-dialect member server get what they got before (Announce{id},
// Announce{the Create as received}). A NodeBB topic in the community, sent
// with NodeBB's fragment Create id, is relayed back to NodeBB resolvable.
func TestOriginStrictNodeBB(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "garden", "--title", "Garden")
	group := a.base() + "/c/garden"
	nodebb := fedtest.NewServer(t, fedtest.Options{Users: []string{"nina"}, Software: "nodebb", OriginStrict: true})
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	lemmy := fedtest.NewServer(t, fedtest.Options{Users: []string{"dave"}, Software: "lemmy"})
	joinAll(t, a, group, nodebb, "nina", mastodon, "alice", lemmy, "dave")
	waitUntil(t, "three members", func() bool { return followersCount(t, a, "garden") == 3 })
	waitUntil(t, "NodeBB known", func() bool {
		return a.srv.App.Dialects.Of(context.Background(), hostOf(nodebb.URL())) == federation.OriginStrict
	})

	// dave (Lemmy) posts; his Create's id is not served (NodeBB could not
	// resolve an Announce{Create} of it), his Note is.
	hello := note{id: lemmy.URL() + "/post/1", content: "<p>Seeds</p>", to: []string{asPublic, group}, cc: []string{group}}
	create := hello.create(lemmy, "dave", "Create")
	var sent struct {
		ID string `json:"id"`
	}
	json.Unmarshal(create, &sent)
	obj := hello.object(lemmy, "dave")
	obj["@context"] = "https://www.w3.org/ns/activitystreams"
	doc, _ := json.Marshal(obj)
	lemmy.PutDocument("/post/1", doc)
	post(t, lemmy, a.base()+"/inbox", "dave", create)

	waitUntil(t, "announces", func() bool {
		n, _ := announcesOf(t, nodebb, hello.id)
		m, _ := announcesOf(t, mastodon, hello.id)
		_, l := announcesOf(t, lemmy, hello.id)
		return len(n) > 0 && len(m) > 0 && len(l) > 0
	})
	nIRI, nEmb := announcesOf(t, nodebb, hello.id)
	if len(nIRI) != 1 || nIRI[0].Status != 202 || nIRI[0].Resolved != hello.id || len(nEmb) != 0 {
		t.Fatalf("NodeBB got %d Announce{id} (%+v) and %d Announce{Create}; want one Announce{id}, resolved and accepted", len(nIRI), nIRI, len(nEmb))
	}
	if m, e := announcesOf(t, mastodon, hello.id); len(m) != 1 || len(e) != 0 {
		t.Errorf("Mastodon got %d Announce{id}, %d Announce{Create}; want 1, 0", len(m), len(e))
	}
	l, e := announcesOf(t, lemmy, hello.id)
	if len(l) != 0 || len(e) != 1 {
		t.Fatalf("Lemmy got %d Announce{id}, %d Announce{Create}; want 0, 1", len(l), len(e))
	}
	var g got
	json.Unmarshal(e[0].Body, &g)
	if g.innerID() != sent.ID || g.innerType() != "Create" {
		t.Errorf("Lemmy's Announce embeds %s %s, want the Create as received (%s)", g.innerType(), g.innerID(), sent.ID)
	}

	// A moderator removes the post: NodeBB gets the Undo of what it got
	// and the community's own Announce{Delete} (of Agora's origin, so taken
	// embedded); Lemmy gets its Announce{Delete}, Mastodon its Undo.
	a.mustCLI("mod", "remove-post", "garden", hello.id, "--reason", "off-topic")
	deleteOf := func(remote *fedtest.Server) []fedtest.Request {
		var out []fedtest.Request
		for _, r := range received(remote, "Announce") {
			var g got
			json.Unmarshal(r.Body, &g)
			var inner struct {
				Type   string `json:"type"`
				Object string `json:"object"`
			}
			json.Unmarshal(g.Object, &inner)
			if inner.Type == "Delete" && inner.Object == hello.id {
				out = append(out, r)
			}
		}
		return out
	}
	waitUntil(t, "the removal", func() bool {
		return len(deleteOf(nodebb)) > 0 && len(received(nodebb, "Undo")) > 0 && len(deleteOf(lemmy)) > 0 && len(received(mastodon, "Undo")) > 0
	})
	if d := deleteOf(nodebb); len(d) != 1 || d[0].Status != 202 || d[0].Resolved != "" {
		t.Errorf("NodeBB got the removal as %+v, want one Announce{Delete} taken embedded", d)
	}

	// nina (NodeBB) opens a topic in the community, as NodeBB sends it
	// (src/activitypub/mocks.js activities.create: "{note}#activity/create/{ms}",
	// context the topic, audience the category).
	topic := nodebb.URL() + "/post/2"
	tobj := map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams", "id": topic, "type": "Article", "name": "Tomatoes",
		"attributedTo": nodebb.ActorIRI("nina"), "content": "<p>Which tomatoes?</p>", "to": []string{asPublic, group},
		"cc": []string{nodebb.ActorIRI("nina") + "/followers"}, "context": nodebb.URL() + "/topic/2", "audience": group,
		"published": "2026-12-05T20:00:00.000Z", "url": topic,
	}
	tdoc, _ := json.Marshal(tobj)
	nodebb.PutDocument("/post/2", tdoc)
	delete(tobj, "@context")
	tcreate, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams", "id": topic + "#activity/create/1796477453930", "type": "Create",
		"actor": nodebb.ActorIRI("nina"), "to": tobj["to"], "cc": tobj["cc"], "object": tobj,
	})
	post(t, nodebb, a.base()+"/inbox", "nina", tcreate)
	waitUntil(t, "the topic announced to NodeBB", func() bool { n, _ := announcesOf(t, nodebb, topic); return len(n) > 0 })
	nIRI, nEmb = announcesOf(t, nodebb, topic)
	if len(nIRI) != 1 || nIRI[0].Status != 202 || len(nEmb) != 0 {
		t.Fatalf("NodeBB got its topic as %d Announce{id} (%+v), %d Announce{Create}; want one accepted Announce{id}", len(nIRI), nIRI, len(nEmb))
	}
	if _, e := announcesOf(t, lemmy, topic); len(e) != 1 {
		t.Errorf("Lemmy got %d Announce{Create} of the topic, want 1", len(e))
	}

	// nina's reply in the topic, as NodeBB sends it (inReplyTo the topic's
	// post, context the topic), is threaded under the topic on its page.
	reply := nodebb.URL() + "/post/3"
	robj := map[string]any{
		"id": reply, "type": "Note", "attributedTo": nodebb.ActorIRI("nina"), "content": "<p>Cherry ones, on a sunny balcony.</p>",
		"to": []string{asPublic, group}, "cc": []string{nodebb.ActorIRI("nina") + "/followers"}, "inReplyTo": topic,
		"context": nodebb.URL() + "/topic/2", "audience": group, "published": "2026-12-05T20:05:00.000Z", "url": reply,
	}
	rcreate, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams", "id": reply + "#activity/create/1796477460000", "type": "Create",
		"actor": nodebb.ActorIRI("nina"), "to": robj["to"], "cc": robj["cc"], "object": robj,
	})
	post(t, nodebb, a.base()+"/inbox", "nina", rcreate)
	topicPost, replyPost := postOf(t, a, "garden", topic), postOf(t, a, "garden", reply)
	if replyPost.InReplyTo != topic {
		t.Errorf("the reply's InReplyTo = %q, want the topic %s", replyPost.InReplyTo, topic)
	}
	code, page := get(t, group+"/p/"+strconv.FormatInt(topicPost.ID, 10), "text/html")
	if code != 200 || !strings.Contains(string(page), "Cherry ones, on a sunny balcony.") {
		t.Errorf("the topic's page (%d) does not show the reply", code)
	}

	for _, r := range nodebb.Received() {
		if r.Status >= 400 {
			t.Errorf("NodeBB answered %d to %s", r.Status, r.Body)
		}
	}
}

// TestOriginStrictSwitchRemembered: a forum that says it is threadiverse
// software (discourse) but applies NodeBB's origin rule answers the first
// Announce{Create} 424. The refusal is counted by status, its host switches
// to Announce{object id} once, the refused post is sent again in that form,
// and after a restart the next post reaches it in that form only.
func TestOriginStrictSwitchRemembered(t *testing.T) {
	dir := t.TempDir()
	a := startAgora(t, dir, "", nil)
	a.mustCLI("community", "create", "garden", "--title", "Garden")
	group := a.base() + "/c/garden"
	forum := fedtest.NewServer(t, fedtest.Options{Users: []string{"fay"}, Software: "discourse", OriginStrict: true})
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	joinAll(t, a, group, forum, "fay", mastodon, "alice")
	host := hostOf(forum.URL())
	waitUntil(t, "forum known", func() bool {
		return a.srv.App.Dialects.Of(context.Background(), host) == federation.Threadiverse
	})

	first := note{id: mastodon.URL() + "/notes/1", content: "<p>first</p>", to: []string{asPublic}, cc: []string{group}, mentions: []string{group}}
	first.publish(t, a, mastodon, "alice") // its Create id is not served
	waitUntil(t, "the refusal", func() bool { _, e := announcesOf(t, forum, first.id); return len(e) > 0 })
	waitUntil(t, "the switch", func() bool {
		form, _, err := a.srv.App.DB.HostAnnounceForm(context.Background(), host)
		return err == nil && form == federation.FormByID
	})
	if _, e := announcesOf(t, forum, first.id); len(e) != 1 || e[0].Status != 424 {
		t.Fatalf("forum got %d Announce{Create}: %+v, want one answered 424", len(e), e)
	}
	// The refused post is sent again, in the form the forum resolves.
	waitUntil(t, "the first post again, by id", func() bool { i, _ := announcesOf(t, forum, first.id); return len(i) > 0 })
	if i, _ := announcesOf(t, forum, first.id); len(i) != 1 || i[0].Status != 202 || i[0].Resolved != first.id {
		t.Fatalf("after the refusal the forum got %+v, want one accepted Announce{id}", i)
	}
	var m dto.Metric
	if err := a.srv.App.Metrics.Refusals.WithLabelValues("424").Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
		t.Errorf("agora_delivery_refusals_total{status=424} = %v (%v), want 1", m.GetCounter().GetValue(), err)
	}
	if ok, err := a.srv.App.DB.SetHostAnnounceForm(context.Background(), host, "other", time.Now()); ok || err != nil {
		t.Errorf("a second switch was recorded (%v, %v): a host switches once", ok, err)
	}

	addr := a.addr
	a.stop()
	b := startAgora(t, dir, addr, nil)
	if d := b.srv.App.Dialects.Of(context.Background(), host); d != federation.OriginStrict {
		t.Fatalf("after restart the forum is %q, want %q", d, federation.OriginStrict)
	}
	second := note{id: mastodon.URL() + "/notes/2", content: "<p>second</p>", to: []string{asPublic}, cc: []string{group}, mentions: []string{group}}
	second.publish(t, b, mastodon, "alice")
	waitUntil(t, "the second post at the forum", func() bool { i, _ := announcesOf(t, forum, second.id); return len(i) > 0 })
	b.quiet()
	i, e := announcesOf(t, forum, second.id)
	if len(i) != 1 || i[0].Status != 202 || i[0].Resolved != second.id || len(e) != 0 {
		t.Fatalf("after the switch the forum got %d Announce{id} (%+v) and %d Announce{Create}; want one accepted Announce{id}", len(i), i, len(e))
	}
	if n := len(received(forum, "Announce")); n != 3 {
		t.Errorf("forum got %d Announces, want 3 (the refused one, the first post again by id, the second post)", n)
	}
}
