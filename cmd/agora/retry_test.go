package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation/fedtest"
)

// inboxResult is what the inbox recorded of processing an activity.
func inboxResult(t *testing.T, a *testAgora, activityID string) (result string, processed bool, attempts int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(a.cfg.DataDir, "agora.db")+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var at *int64
	// An id outside its actor's host is kept scoped to the actor's host.
	err = db.QueryRow(`SELECT result, processed_at, attempts FROM inbox WHERE activity_id = ?1 OR activity_id LIKE 'from %: ' || ?1`, activityID).Scan(&result, &at, &attempts)
	if err != nil {
		t.Fatalf("inbox row %s: %v", activityID, err)
	}
	return result, at != nil, attempts
}

// An activity whose processing fails for a reason that may pass (the
// origin of a forwarded post answers 503) is tried again later, and given
// up with its error on record after the last attempt. The sender got its
// 202 and never sends it again: without the retry the post would be lost.
func TestInboxRetriesFailedProcessing(t *testing.T) {
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	lemmy := fedtest.NewServer(t, fedtest.Options{Users: []string{"dave"}, Software: "lemmy"})
	a, group := gardening(t, func(c *agora.Config) {
		c.ProcessRetries = []time.Duration{300 * time.Millisecond, 300 * time.Millisecond}
	}, joiner{mastodon, "alice"}, joiner{lemmy, "dave"})

	tests := []struct {
		name     string
		replies  []fedtest.Reply // the origin's answers, the last repeating
		decision community.Decision
		attempts int // failed attempts on record at the end
		result   string
	}{
		{"origin down once, then up", []fedtest.Reply{{Status: 503}, {}}, community.Announce, 1, "announce"},
		{"origin rate-limits twice, then up", []fedtest.Reply{{Status: 429}, {Status: 429}, {}}, community.Announce, 2, "announce"},
		{"origin down for good", []fedtest.Reply{{Status: 503}}, "", 2, "error: fetch"},
		// Refused as not authentic, and not stored: a forgery must not
		// take the genuine post's place (issue 15, item 5).
		{"origin says gone: no retry", []fedtest.Reply{{Status: 410}}, "", 0, "not-authentic"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/notes/fwd" + string(rune('a'+i))
			fwd := note{id: mastodon.URL() + path, content: "<p>forwarded</p>", to: []string{asPublic},
				cc: []string{group}, mentions: []string{group}, author: mastodon.ActorIRI("alice")}
			obj := fwd.object(mastodon, "alice")
			obj["@context"] = "https://www.w3.org/ns/activitystreams"
			doc, _ := json.Marshal(obj)
			mastodon.PutDocument(path, doc)
			mastodon.SetReplies(path, tt.replies...)
			create := fwd.create(lemmy, "dave", "Create")
			var head struct {
				ID string `json:"id"`
			}
			json.Unmarshal(create, &head)
			post(t, lemmy, a.base()+"/inbox", "dave", create)

			var result string
			waitUntil(t, "processed", func() bool {
				var done bool
				result, done, _ = inboxResult(t, a, head.ID)
				return done
			})
			_, _, attempts := inboxResult(t, a, head.ID)
			if attempts != tt.attempts || !strings.Contains(result, tt.result) {
				t.Errorf("after %d failed attempts: %q; want %d, %q", attempts, result, tt.attempts, tt.result)
			}
			if want := 1 + tt.attempts; tt.decision != community.Refuse && mastodon.Hits(path) != want {
				t.Errorf("origin fetched %d times, want %d", mastodon.Hits(path), want)
			}
			c, _ := a.srv.App.Svc.Get(context.Background(), "gardening")
			p, err := a.srv.App.DB.PostByObject(context.Background(), c.ID, fwd.id)
			switch {
			case tt.decision == "" && err == nil:
				t.Errorf("given up, yet the post is stored: %+v", p)
			case tt.decision != "" && (err != nil || p.Decision != tt.decision):
				t.Errorf("post: %+v %v, want decision %s", p, err, tt.decision)
			}
			if tt.decision == community.Announce {
				waitUntil(t, "announce at Mastodon", func() bool {
					for _, g := range activities(t, mastodon, "Announce") {
						if g.innerID() == fwd.id {
							return true
						}
					}
					return false
				})
			}
		})
	}
}

// A post whose processing failed and that its author deletes before the
// retry is not announced by the retry: the Delete came later and wins.
func TestInboxRetrySupersededByDelete(t *testing.T) {
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	lemmy := fedtest.NewServer(t, fedtest.Options{Users: []string{"dave"}, Software: "lemmy"})
	a, group := gardening(t, func(c *agora.Config) { c.ProcessRetries = []time.Duration{2 * time.Second} },
		joiner{mastodon, "alice"}, joiner{lemmy, "dave"})

	fwd := note{id: mastodon.URL() + "/notes/gone", content: "<p>soon gone</p>", to: []string{asPublic},
		cc: []string{group}, mentions: []string{group}, author: mastodon.ActorIRI("alice")}
	obj := fwd.object(mastodon, "alice")
	obj["@context"] = "https://www.w3.org/ns/activitystreams"
	doc, _ := json.Marshal(obj)
	mastodon.PutDocument("/notes/gone", doc)
	mastodon.SetReplies("/notes/gone", fedtest.Reply{Status: 503}, fedtest.Reply{})
	create := fwd.create(lemmy, "dave", "Create")
	var head struct {
		ID string `json:"id"`
	}
	json.Unmarshal(create, &head)
	post(t, lemmy, a.base()+"/inbox", "dave", create)
	waitUntil(t, "first attempt failed", func() bool {
		_, _, attempts := inboxResult(t, a, head.ID)
		return attempts == 1
	})
	// The author deletes it before the retry.
	del, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": fwd.id + "/delete", "type": "Delete", "actor": mastodon.ActorIRI("alice"),
		"object": map[string]any{"id": fwd.id, "type": "Tombstone"}, "to": []string{asPublic}})
	post(t, mastodon, a.base()+"/inbox", "alice", del)
	var result string
	waitUntil(t, "retried", func() bool {
		var done bool
		result, done, _ = inboxResult(t, a, head.ID)
		return done
	})
	if !strings.Contains(result, "ignored: Delete received meanwhile") {
		t.Errorf("retry result %q, want it ignored for the later Delete", result)
	}
	c, _ := a.srv.App.Svc.Get(context.Background(), "gardening")
	if p, err := a.srv.App.DB.PostByObject(context.Background(), c.ID, fwd.id); err == nil {
		t.Errorf("a post deleted before its retry was stored: %s, %s", p.ObjectID, p.Decision)
	}
	a.quiet()
	for _, g := range activities(t, mastodon, "Announce") {
		if g.innerID() == fwd.id {
			t.Errorf("a post deleted before its retry was announced")
		}
	}
	if n := mastodon.Hits("/notes/gone"); n != 1 {
		t.Errorf("origin fetched %d times, want 1 (the retry is not needed)", n)
	}
}

// A Follow whose follower's actor cannot be fetched at first (its server
// answers 503) is tried again, and the follower joins and gets its Accept.
// The key is served apart from the actor (GoToSocial's way): verifying it
// reads the actor once (the owner must list the key), then the processor's
// fetch of the actor is answered 503.
func TestInboxRetriesFailedFollow(t *testing.T) {
	gts := fedtest.NewServer(t, fedtest.Options{Users: []string{"gina"}, GoToSocialKeys: true, Software: "gotosocial"})
	a, group := gardening(t, func(c *agora.Config) { c.ProcessRetries = []time.Duration{300 * time.Millisecond} })
	gts.SetReplies("/users/gina", fedtest.Reply{}, fedtest.Reply{Status: 503}, fedtest.Reply{})
	body, id := follow(gts, "gina", group)
	post(t, gts, a.base()+"/inbox", "gina", body)
	waitUntil(t, "gina a member", func() bool { return followersCount(t, a, "gardening") == 1 })
	waitUntil(t, "Accept", func() bool { return len(received(gts, "Accept")) == 1 })
	result, done, attempts := inboxResult(t, a, id)
	if !done || attempts != 1 {
		t.Errorf("inbox row: %q processed=%v after %d failed attempts; want processed after 1", result, done, attempts)
	}
}
