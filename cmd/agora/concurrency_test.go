package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
)

// TestConcurrentProcessingMatchesSerial (issue 13): 1,000 activities for
// 50 communities from 200 actors (follows, posts, replies, edits,
// deletes, undos, likes, in mixed order) end in the same state whether
// the processor applies them with one worker, one by one in arrival
// order, or with many at once: the same members, posts, decisions,
// reactions, Announces and activities sent, and the same Accepts to the
// same inboxes. Run it under -race (make test-race).
//
// Not compared: the recipients of an Announce, and so its dialects (one
// Announce per dialect among the recipients) and the activities that take
// it back. They are the community's members when the post is decided, and
// a Follow of the community by someone else is not ordered with the post
// (see federation's inbox_process.go): a join that races a post may or may
// not get it, as on any server.
func TestConcurrentProcessingMatchesSerial(t *testing.T) {
	acts := generateActivities(1000, 50, 10, 20, 1)
	serial := processAll(t, acts, 1)
	concurrent := processAll(t, acts, 32)
	for _, part := range []string{"members", "posts", "reactions", "announces", "sent", "accepts", "results"} {
		if !slices.Equal(serial[part], concurrent[part]) {
			t.Errorf("%s differ:\n serial     %d rows\n concurrent %d rows\n first difference: %s", part,
				len(serial[part]), len(concurrent[part]), firstDifference(serial[part], concurrent[part]))
		}
		if len(serial[part]) == 0 {
			t.Errorf("no %s: the activities did nothing", part)
		}
	}
	t.Logf("%d members, %d posts, %d reactions, %d announces, %d activities sent", len(serial["members"]),
		len(serial["posts"]), len(serial["reactions"]), len(serial["announces"]), len(serial["sent"]))
}

func firstDifference(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("row %d: %q vs %q", i, a[i], b[i])
		}
	}
	return "one is a prefix of the other"
}

// genActivity is an activity of the generated mix.
type genActivity struct {
	id, typ, actor string
	body           []byte
}

// generateActivities makes n activities from hosts x perHost actors (on
// https://hN.example, no network needed: their actors are cached) for
// communities c0..c{communities-1}, each actor's in an order that makes
// sense for it (it follows before it leaves, creates before it edits),
// interleaved at random.
func generateActivities(n, communities, hosts, perHost int, seed uint64) []genActivity {
	rng := rand.New(rand.NewPCG(seed, seed))
	type actorState struct {
		iri     string
		follows map[int]string // community -> Follow id
		posts   []string       // live posts' object ids
		likes   map[string]string
	}
	var actors []*actorState
	for h := range hosts {
		for u := range perHost {
			actors = append(actors, &actorState{iri: fmt.Sprintf("https://h%d.example/users/u%d", h, u),
				follows: map[int]string{}, likes: map[string]string{}})
		}
	}
	group := func(c int) string { return fmt.Sprintf("http://localhost:8080/c/c%d", c) }
	var all []string // every post created, live or not
	var out []genActivity
	seq := 0
	emit := func(a *actorState, typ string, body map[string]any) {
		seq++
		id := fmt.Sprintf("%s/activities/%d", a.iri, seq)
		body["@context"] = "https://www.w3.org/ns/activitystreams"
		body["id"], body["type"], body["actor"] = id, typ, a.iri
		raw, _ := json.Marshal(body)
		out = append(out, genActivity{id: id, typ: typ, actor: a.iri, body: raw})
	}
	note := func(a *actorState, id string, c int, content, inReplyTo string) map[string]any {
		o := map[string]any{"id": id, "type": "Note", "attributedTo": a.iri, "content": "<p>" + content + "</p>",
			"to": []string{asPublic, group(c)}, "cc": []string{a.iri + "/followers"}, "published": "2026-12-01T10:00:00Z"}
		if inReplyTo != "" {
			o["inReplyTo"] = inReplyTo
		}
		return o
	}
	for len(out) < n {
		a := actors[rng.IntN(len(actors))]
		c := rng.IntN(communities)
		switch r := rng.IntN(100); {
		case r < 30: // join, or leave
			if fid, ok := a.follows[c]; ok && rng.IntN(3) == 0 {
				emit(a, "Undo", map[string]any{"object": map[string]any{"id": fid, "type": "Follow", "actor": a.iri, "object": group(c)}})
				delete(a.follows, c)
			} else if !ok {
				seq++
				fid := fmt.Sprintf("%s/follows/%d", a.iri, seq)
				a.follows[c] = fid
				emit(a, "Follow", map[string]any{"id": fid, "object": group(c)})
				out[len(out)-1].id = fid
			}
		case r < 60: // a post, mostly where it is a member; a reply now and then
			if len(a.follows) > 0 && rng.IntN(5) > 0 {
				joined := slices.Sorted(maps.Keys(a.follows))
				c = joined[rng.IntN(len(joined))]
			}
			seq++
			id := fmt.Sprintf("%s/statuses/%d", a.iri, seq)
			parent := ""
			if len(all) > 0 && rng.IntN(4) == 0 {
				parent = all[rng.IntN(len(all))]
			}
			emit(a, "Create", map[string]any{"object": note(a, id, c, fmt.Sprintf("post %d", seq), parent),
				"to": []string{asPublic, group(c)}, "cc": []string{a.iri + "/followers"}})
			a.posts = append(a.posts, id)
			all = append(all, id)
		case r < 72: // an edit
			if len(a.posts) > 0 {
				id := a.posts[rng.IntN(len(a.posts))]
				emit(a, "Update", map[string]any{"object": note(a, id, c, fmt.Sprintf("edited %d", seq), ""),
					"to": []string{asPublic, group(c)}})
			}
		case r < 80: // a deletion
			if len(a.posts) > 0 {
				i := rng.IntN(len(a.posts))
				emit(a, "Delete", map[string]any{"object": map[string]any{"id": a.posts[i], "type": "Tombstone"},
					"to": []string{asPublic}})
				a.posts = slices.Delete(a.posts, i, i+1)
			}
		default: // a like, or its undo
			if len(all) == 0 {
				continue
			}
			target := all[rng.IntN(len(all))]
			if lid, ok := a.likes[target]; ok {
				emit(a, "Undo", map[string]any{"object": map[string]any{"id": lid, "type": "Like", "actor": a.iri, "object": target}})
				delete(a.likes, target)
			} else {
				emit(a, "Like", map[string]any{"object": target})
				a.likes[target] = out[len(out)-1].id
			}
		}
	}
	return out
}

// processAll records acts in a new instance's inbox, processes them with
// that many workers, and returns the instance's state, part by part.
func processAll(t *testing.T, acts []genActivity, workers int) map[string][]string {
	t.Helper()
	ctx := context.Background()
	cfg := agora.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Inbox.Workers = workers
	a, err := agora.Open(ctx, cfg, agora.NewLogger(cfg, testWriter{t}), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	now := time.Now().UTC()
	hosts := map[string]bool{}
	for _, act := range acts {
		if hosts[act.actor] {
			continue
		}
		hosts[act.actor] = true
		host := strings.Split(act.actor, "/")[2]
		if err := a.DB.PutRemoteActor(ctx, federation.RemoteActor{ID: act.actor, Type: "Person",
			PreferredUsername: act.actor[strings.LastIndex(act.actor, "/")+1:], Inbox: act.actor + "/inbox",
			SharedInbox: "https://" + host + "/inbox", Followers: act.actor + "/followers", FetchedAt: now}); err != nil {
			t.Fatal(err)
		}
		software := "mastodon"
		if strings.HasPrefix(host, "h7.") || strings.HasPrefix(host, "h8.") || strings.HasPrefix(host, "h9.") {
			software = "lemmy"
		}
		if err := a.DB.SetHostSoftware(ctx, host, software, now); err != nil {
			t.Fatal(err)
		}
	}
	for c := range 50 {
		if _, err := a.Svc.Create(ctx, community.Community{Name: fmt.Sprintf("c%d", c), Title: fmt.Sprintf("C%d", c)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, act := range acts {
		if _, err := a.DB.RecordInbox(ctx, federation.InboxItem{ActivityID: act.id, Type: act.typ, Actor: act.actor,
			Body: act.body, ReceivedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	a.NewInbox(nil).ProcessPending(ctx)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(cfg.DataDir, "agora.db")+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := func(query string) []string {
		rs, err := db.Query(query)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		cols, _ := rs.Columns()
		var out []string
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(vals...))
		}
		slices.Sort(out)
		return out
	}
	state := map[string][]string{
		"members": rows(`SELECT c.name, ' ', m.actor, ' ', m.state, ' ', m.follow_id FROM members m JOIN communities c ON c.id = m.community_id`),
		"posts": rows(`SELECT c.name, ' ', p.object_id, ' ', p.decision, ' ', p.reason, ' ', p.content, ' ', p.thread_root, ' ',
			p.deleted_at IS NOT NULL, ' ', p.likes, ' ', p.visibility FROM posts p JOIN communities c ON c.id = p.community_id`),
		"reactions": rows(`SELECT p.object_id, ' ', r.actor, ' ', r.kind FROM reactions r JOIN posts p ON p.id = r.post_id`),
		// Announces are made per dialect among the members at the time:
		// which posts were announced, and taken back, is compared.
		"announces": rows(`SELECT DISTINCT p.object_id, ' ', a.withdrawn_at IS NOT NULL FROM announces a JOIN posts p ON p.id = a.post_id`),
		"sent": rows(`SELECT type, ' ', community_id, ' ', COALESCE(json_extract(CAST(body AS TEXT), '$.object.id'),
			json_extract(CAST(body AS TEXT), '$.object')) FROM out_activities WHERE id NOT IN (SELECT out_activity_id FROM announces)
			AND type NOT IN ('Announce', 'Undo', 'Delete')`),
		"accepts": rows(`SELECT o.type, ' ', d.inbox, ' ', json_extract(CAST(o.body AS TEXT), '$.object.id') FROM deliveries d
			JOIN out_activities o ON o.id = d.activity_id WHERE o.type IN ('Accept', 'Reject')`),
		"results": rows(`SELECT activity_id, ' ', processed_at IS NOT NULL, ' ', result FROM inbox`),
	}
	for _, r := range state["results"] {
		if strings.Contains(r, "error") || strings.Contains(r, " false ") {
			t.Errorf("%d workers: %s", workers, r)
			break
		}
	}
	return state
}
