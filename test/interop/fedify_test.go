package interop

import (
	"slices"
	"strings"
	"testing"
)

const (
	cavage  = "draft-cavage-http-signatures-12"
	rfc9421 = "rfc9421"
)

// TestFedifyCommunity walks a community's life with three Fedify peers:
// alice and bob sign with Fedify's default RFC 9421 first knock, carol
// with draft-cavage first.
func TestFedifyCommunity(t *testing.T) {
	requireNode(t)
	a := startAgora(t)
	a.cli("community", "create", "gardening", "--title", "Gardening")
	group := a.base + "/c/gardening"

	alice := startPeer(t, "alice", "")
	bob := startPeer(t, "bob", "")
	carol := startPeer(t, "carol", cavage)
	peers := []*peer{alice, bob, carol}

	// Discovery: WebFinger, then Fedify reads and parses the Group actor.
	got := alice.must("lookup", map[string]string{"target": a.handle("gardening")})["actor"].(map[string]any)
	for k, want := range map[string]string{
		"id": group, "type": "Group", "preferredUsername": "gardening", "name": "Gardening",
		"inbox": group + "/inbox", "sharedInbox": a.base + "/inbox", "followers": group + "/followers",
	} {
		if got[k] != want {
			t.Errorf("Group actor as Fedify reads it: %s = %v, want %q", k, got[k], want)
		}
	}

	// Join: each Follow is accepted; Fedify verified the Accept (it is in
	// received only after verification), which embeds the Follow.
	follows := map[*peer]string{}
	for _, p := range peers {
		follows[p] = p.must("follow", map[string]string{"target": a.handle("gardening")})["follow"].(string)
	}
	for _, p := range peers {
		acc := p.waitFor("Accept of its Follow", func(r received) bool { return r.Type == "Accept" && r.ObjectID == follows[p] })
		if acc.Actor != group {
			t.Errorf("%s: Accept from %s", p.name, acc.Actor)
		}
	}
	waitUntil(t, "3 members", func() bool {
		out := a.cli("community", "members", "gardening")
		return strings.Contains(out, alice.Actor) && strings.Contains(out, bob.Actor) && strings.Contains(out, carol.Actor)
	})

	// Agora fetched each Fedify actor with a signed GET (draft-cavage, as the
	// instance actor), and Fedify verified that signature.
	for _, p := range peers {
		var signed bool
		for _, r := range p.requests() {
			if r.Method == "GET" && r.Path == "/users/"+p.name && r.Scheme == cavage {
				signed = true
				if r.Verified == nil || !*r.Verified || r.KeyID != a.base+"/actor#main-key" {
					t.Errorf("%s: Agora's signed GET of the actor not verified by Fedify: %+v", p.name, r)
				}
			}
		}
		if !signed {
			t.Errorf("%s: Agora never fetched the actor with a signed GET: %+v", p.name, p.requests())
		}
	}

	// Both signature schemes were accepted, and recorded per host.
	for _, tc := range []struct {
		p    *peer
		want string
	}{{alice, rfc9421}, {bob, rfc9421}, {carol, cavage}} {
		if got := a.schemes(tc.p.host); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s (first knock %q): Agora recorded schemes %v, want [%s]", tc.p.name, tc.p.FirstKnock, got, tc.want)
		}
	}
	if n := a.metric(`agora_inbox_signatures_total{scheme="rfc9421"}`); n < 2 {
		t.Errorf("RFC 9421 verified POSTs: %v, want >= 2", n)
	}
	if n := a.metric(`agora_inbox_signatures_total{scheme="draft-cavage-http-signatures-12"}`); n < 1 {
		t.Errorf("draft-cavage verified POSTs: %v, want >= 1", n)
	}

	// A member's post reaches the other members as a verified Announce,
	// and Fedify fetches the announced Note from its origin (alice).
	note := alice.must("post", map[string]any{"to": []string{a.handle("gardening")}, "content": "<p>Tomatoes are up</p>"})["note"].(string)
	for _, p := range []*peer{bob, carol} {
		ann := p.waitFor("Announce of alice's note", func(r received) bool { return r.Type == "Announce" && r.ObjectID == note })
		if ann.Actor != group || ann.ObjectType != "Note" || field(ann.Fetched, "content") != "<p>Tomatoes are up</p>" {
			t.Errorf("%s: Announce %s by %s, object %s fetched %s (%s)", p.name, ann.ID, ann.Actor, ann.ObjectType, ann.Fetched, ann.FetchError)
		}
	}
	// Agora's deliveries are draft-cavage, whatever the peer signs with.
	for _, r := range bob.requests() {
		if r.Method == "POST" && r.Scheme != cavage {
			t.Errorf("Agora delivered with scheme %q: %+v", r.Scheme, r)
		}
	}

	// An edit: Agora relays it as Announce{Update} (Fedify is not a known
	// microblog server, so it gets both dialects).
	alice.must("edit", map[string]any{"note": note, "content": "<p>Tomatoes are red</p>"})
	upd := bob.waitFor("Announce{Update}", func(r received) bool {
		return r.Type == "Announce" && field(r.JSON, "object.type") == "Update"
	})
	if field(upd.JSON, "object.object.content") != "<p>Tomatoes are red</p>" {
		t.Errorf("Announce{Update}: %s", upd.JSON)
	}

	// A delete: the boost is withdrawn (Undo{Announce}) and relayed as
	// Announce{Delete}.
	alice.must("delete", map[string]any{"note": note})
	bob.waitFor("Undo of the Announce", func(r received) bool {
		return r.Type == "Undo" && field(r.JSON, "object.type") == "Announce" && field(r.JSON, "object.object") == note
	})
	bob.waitFor("Announce{Delete}", func(r received) bool {
		return r.Type == "Announce" && field(r.JSON, "object.type") == "Delete"
	})

	// Leaving: carol's Undo{Follow} (draft-cavage) removes her.
	carol.must("unfollow", map[string]string{"target": a.handle("gardening")})
	waitUntil(t, "carol left", func() bool { return !strings.Contains(a.cli("community", "members", "gardening"), carol.Actor) })

	// A non-member's post is stored but not announced; a member's post
	// after it is, so the absence is not a matter of waiting.
	stranger := carol.must("post", map[string]any{"to": []string{a.handle("gardening")}, "content": "buy my seeds"})["note"].(string)
	waitUntil(t, "carol's post recorded as not announced", func() bool {
		for _, l := range strings.Split(a.cli("community", "posts", "gardening"), "\n") {
			if strings.Contains(l, stranger) {
				return !strings.Contains(l, "announce")
			}
		}
		return false
	})
	later := bob.must("post", map[string]any{"to": []string{a.handle("gardening")}, "content": "Beans too"})["note"].(string)
	alice.waitFor("Announce of bob's later note", func(r received) bool { return r.Type == "Announce" && r.ObjectID == later })
	for _, p := range []*peer{alice, bob} {
		if rs := p.find(func(r received) bool { return r.ObjectID == stranger }); len(rs) > 0 {
			t.Errorf("%s received the non-member's post: %+v", p.name, rs)
		}
	}
}

// TestFedifySignatureTamperedRefused: a Fedify peer whose signing key no
// longer matches the key its actor document shows is refused by Agora, on
// both knocks (RFC 9421, then draft-cavage), whichever comes first.
func TestFedifySignatureTamperedRefused(t *testing.T) {
	requireNode(t)
	a := startAgora(t)
	a.cli("community", "create", "gardening")
	for _, knock := range []string{"", cavage} {
		t.Run("first knock "+knock, func(t *testing.T) {
			mallory := startPeer(t, "mallory", knock)
			mallory.must("swap-key", nil)
			before := a.metric(`agora_inbox_activities_total{result="rejected",type="Follow"}`)
			_, err := mallory.call("follow", map[string]string{"target": a.handle("gardening")})
			if err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("follow with a swapped key: %v, want Agora's 401", err)
			}
			if got := a.metric(`agora_inbox_activities_total{result="rejected",type="Follow"}`) - before; got != 2 {
				t.Errorf("Agora rejected %v Follow POSTs, want 2 (RFC 9421 knock, then draft-cavage)", got)
			}
			if len(mallory.find(func(r received) bool { return r.Type == "Accept" })) > 0 ||
				strings.Contains(a.cli("community", "members", "gardening"), mallory.Actor) {
				t.Error("the forged Follow was accepted")
			}
			if s := a.schemes(mallory.host); len(s) > 0 {
				t.Errorf("schemes recorded for a host never verified: %v", s)
			}
		})
	}
}

// TestAgoraAnnounceTamperedRefused: an Announce from Agora altered in
// transit (one field changed, digests recomputed) is refused by Fedify;
// the next, untouched, is accepted.
func TestAgoraAnnounceTamperedRefused(t *testing.T) {
	requireNode(t)
	a := startAgora(t)
	a.cli("community", "create", "gardening")
	alice := startPeer(t, "alice", "")
	bob := startPeer(t, "bob", "")
	for _, p := range []*peer{alice, bob} {
		p.must("follow", map[string]string{"target": a.handle("gardening")})
		p.waitFor("Accept", func(r received) bool { return r.Type == "Accept" })
	}

	bob.must("tamper", map[string]bool{"on": true})
	first := alice.must("post", map[string]any{"to": []string{a.handle("gardening")}, "content": "first"})["note"].(string)
	// Fedify is no known microblog server: Agora sends both dialects'
	// Announces (of the Note, and of the Create).
	waitUntil(t, "bob's inbox answers both tampered Announces", func() bool {
		n := 0
		for _, r := range bob.requests() {
			if r.Method == "POST" && r.Tampered {
				n++
			}
		}
		return n >= 2
	})
	for _, r := range bob.requests() {
		if r.Method == "POST" && r.Tampered && r.Status != 401 {
			t.Errorf("Fedify answered a tampered delivery with %d, want 401: %+v", r.Status, r)
		}
	}
	if rs := bob.find(func(r received) bool { return r.Type == "Announce" }); len(rs) > 0 {
		t.Fatalf("Fedify accepted a tampered Announce: %+v", rs)
	}

	bob.must("tamper", map[string]bool{"on": false})
	second := alice.must("post", map[string]any{"to": []string{a.handle("gardening")}, "content": "second"})["note"].(string)
	bob.waitFor("the untouched Announce", func(r received) bool { return r.Type == "Announce" && r.ObjectID == second })
	if rs := bob.find(func(r received) bool { return r.ObjectID == first }); len(rs) > 0 {
		t.Errorf("the tampered Announce arrived after all: %+v", rs)
	}
}

// TestFedifyVisibility: which of a Fedify member's posts the community
// boosts, by Mastodon-style addressing (docs/protocol.md, "What Agora accepts" and "Mastodon's addressing").
func TestFedifyVisibility(t *testing.T) {
	requireNode(t)
	a := startAgora(t)
	a.cli("community", "create", "gardening")
	alice := startPeer(t, "alice", "")
	bob := startPeer(t, "bob", cavage)
	for _, p := range []*peer{alice, bob} {
		p.must("follow", map[string]string{"target": a.handle("gardening")})
		p.waitFor("Accept", func(r received) bool { return r.Type == "Accept" })
	}
	parent := alice.must("post", map[string]any{"to": []string{a.handle("gardening")}, "content": "parent"})["note"].(string)
	bob.waitFor("Announce of the parent", func(r received) bool { return r.Type == "Announce" && r.ObjectID == parent })

	tests := []struct {
		name       string
		post       map[string]any
		announced  bool
		visibility string
	}{
		{"public", map[string]any{"visibility": "public"}, true, "public"},
		{"unlisted", map[string]any{"visibility": "unlisted"}, true, "unlisted"},
		{"followers only", map[string]any{"visibility": "followers"}, false, "followers"},
		{"direct", map[string]any{"visibility": "direct"}, false, "direct"},
		{"public reply (replies off by default)", map[string]any{"visibility": "public", "inReplyTo": parent}, false, "public"},
	}
	notes := make([]string, len(tests))
	for i, tt := range tests {
		tt.post["to"] = []string{a.handle("gardening")}
		tt.post["content"] = tt.name
		notes[i] = alice.must("post", tt.post)["note"].(string)
	}
	// Every post decided; then the announced ones reach bob.
	lines := map[string]string{}
	waitUntil(t, "every post decided", func() bool {
		for _, l := range strings.Split(a.cli("community", "posts", "gardening", "-n", "50"), "\n") {
			for _, n := range notes {
				if strings.HasSuffix(strings.TrimSpace(l), n) {
					lines[n] = l
				}
			}
		}
		return len(lines) == len(notes)
	})
	for i, tt := range tests {
		fields := strings.Fields(lines[notes[i]])
		// ID DATE TIME DECISION REASON VISIBILITY AUTHOR OBJECT
		if len(fields) < 8 || (fields[3] == "announce") != tt.announced || fields[5] != tt.visibility {
			t.Errorf("%s: Agora recorded %q, want announced=%v visibility %s", tt.name, lines[notes[i]], tt.announced, tt.visibility)
		}
		if tt.announced {
			bob.waitFor("Announce of the "+tt.name+" post", func(r received) bool { return r.Type == "Announce" && r.ObjectID == notes[i] })
		}
	}
	for i, tt := range tests {
		if rs := bob.find(func(r received) bool { return r.ObjectID == notes[i] }); !tt.announced && len(rs) > 0 {
			t.Errorf("%s post announced: %v", tt.name, rs)
		}
	}

	// A like of a boosted post is verified and accepted by Agora.
	if _, err := bob.call("like", map[string]any{"to": []string{a.handle("gardening")}, "object": parent}); err != nil {
		t.Errorf("like: %v", err)
	}
}
