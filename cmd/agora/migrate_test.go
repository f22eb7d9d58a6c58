package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
	"github.com/agorafed/agora/storage/postgres/pgtest"
	"github.com/agorafed/agora/storage/sqlite"
	"github.com/jackc/pgx/v5"
)

// TestDBMigrate: `agora db migrate` copies a SQLite instance with a
// community, members, a post, moderation, an admin and a pending delivery
// into PostgreSQL; a node on PostgreSQL at the same base_url then serves
// the same actor documents (the same keys: the member's server verifies
// the delivery's signature with the key it fetches) and sends the pending
// delivery. A second migrate into the same database is refused, and so
// are bad arguments and a source that a server is using.
func TestDBMigrate(t *testing.T) {
	ctx := context.Background()
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	alice := remote.ActorIRI("alice")
	dir := t.TempDir()
	a := startAgora(t, dir, "", nil)
	a.mustCLI("community", "create", "garden", "--title", "Garden", "--summary", "Seeds")
	db := a.srv.App.DB
	c, err := db.CommunityByName(ctx, "garden")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.PutRemoteActor(ctx, federation.RemoteActor{ID: alice, Type: "Person", PreferredUsername: "alice",
		Inbox: alice + "/inbox", SharedInbox: remote.URL() + "/inbox", FetchedAt: now}))
	must(db.SaveMember(ctx, community.Member{CommunityID: c.ID, Actor: alice, State: community.Joined, CreatedAt: now, UpdatedAt: now}))
	post := community.Post{CommunityID: c.ID, ObjectID: alice + "/statuses/1", Type: "Note", Author: alice,
		Content: "<p>Hello</p>", Sensitive: true, Visibility: community.Public, ReceivedAt: now,
		Decision: community.Announce, Reason: community.ReasonAccepted, Activity: []byte(`{"type":"Create"}`)}
	must(db.AddPost(ctx, &post))
	must(db.SaveDomainBlock(ctx, community.DomainBlock{CommunityID: 0, Domain: "spam.example", Reason: "spam", CreatedAt: now}))
	_, err = db.CreateAdmin(ctx, "root", "$2a$10$hash", now)
	must(err)
	docs := map[string]string{}
	for _, path := range []string{"/actor", "/c/garden"} {
		_, doc := getJSON(t, a.base()+path)
		key, _ := doc["publicKey"].(map[string]any)
		docs[path], _ = key["publicKeyPem"].(string)
	}
	a.stop()
	// A data_dir that agora serve holds is refused.
	pgURL := pgtest.Database(t)
	dbFile := filepath.Join(dir, "agora.db")
	unlock, err := lockDataDir(dir) // as agora serve does
	must(err)
	if _, err := a.cli("db", "migrate", "--from", "sqlite:"+dbFile, "--to", pgURL); err == nil || !strings.Contains(err.Error(), "stop agora serve") {
		t.Fatalf("migrate while serve runs: %v", err)
	}
	unlock()

	// A delivery left pending when the server stopped.
	sq, err := sqlite.Open(ctx, dbFile)
	must(err)
	id, err := sq.NextOutActivityID(ctx)
	must(err)
	iri := a.base() + "/c/garden/announce/pending"
	body, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": iri, "type": "Announce",
		"actor": a.base() + "/c/garden", "object": post.ObjectID, "to": []string{federation.PublicCollection}})
	must(sq.Enqueue(ctx, federation.OutActivity{ID: id, IRI: iri, Type: "Announce", CommunityID: c.ID, Signer: "c/garden",
		Body: body, CreatedAt: now}, []string{remote.URL() + "/inbox"}, now))
	// And an activity recorded, not processed yet: a Like of the post.
	like, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": alice + "/likes/1",
		"type": "Like", "actor": alice, "object": post.ObjectID})
	_, err = sq.RecordInbox(ctx, federation.InboxItem{ActivityID: alice + "/likes/1", Type: "Like", Actor: alice, Body: like, ReceivedAt: now})
	must(err)
	sq.Close()

	rejects := []struct {
		args []string
		want string
	}{
		{[]string{"db", "migrate", "--from", dbFile, "--to", pgURL}, "sqlite:PATH"},
		{[]string{"db", "migrate", "--from", "sqlite:" + filepath.Join(dir, "none.db"), "--to", pgURL}, "none.db"},
		{[]string{"db", "migrate", "--from", "sqlite:" + dbFile, "--to", "mysql://x/y"}, "postgres://"},
		{[]string{"db", "copy"}, "db migrate"},
	}
	for _, r := range rejects {
		if _, err := a.cli(r.args...); err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("%v: %v, want an error naming %q", r.args, err, r.want)
		}
	}
	out, err := a.cli("db", "migrate", "--from", "sqlite:"+dbFile, "--to", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"communities", "local_keys", "posts", "deliveries", "the same count in every table"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate said %q, without %q", out, want)
		}
	}
	if _, err := a.cli("db", "migrate", "--from", "sqlite:"+dbFile, "--to", pgURL); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a second migrate: %v", err)
	}

	// The waiting activity has its ordering keys (several nodes order by them).
	conn, err := pgx.Connect(ctx, pgURL)
	must(err)
	var keys []string
	must(conn.QueryRow(ctx, `SELECT order_keys FROM inbox WHERE processed_at IS NULL`).Scan(&keys))
	// The copied tables have statistics (reltuples is -1 until a table's
	// first ANALYZE or VACUUM).
	var unanalyzed []string
	must(conn.QueryRow(ctx, `SELECT coalesce(array_agg(relname::text), '{}') FROM pg_class
		WHERE relname IN ('posts', 'members', 'inbox', 'deliveries') AND relkind = 'r' AND reltuples < 0`).Scan(&unanalyzed))
	conn.Close(ctx)
	if len(unanalyzed) > 0 {
		t.Errorf("tables without statistics after the migration: %v", unanalyzed)
	}
	if !slices.Equal(keys, []string{"actor " + alice, "object " + post.ObjectID}) {
		t.Fatalf("ordering keys of the migrated activity: %q", keys)
	}

	// The instance on PostgreSQL, at the same base_url.
	b := startAgora(t, t.TempDir(), a.addr, pgConfig(pgURL))
	for path, pem := range docs {
		_, doc := getJSON(t, b.base()+path)
		key, _ := doc["publicKey"].(map[string]any)
		if got, _ := key["publicKeyPem"].(string); got == "" || got != pem {
			t.Fatalf("%s: another key after the migration", path)
		}
	}
	got := remote.WaitFor(t, 1, 30*time.Second)
	var sent struct{ ID string }
	json.Unmarshal(got[0].Body, &sent)
	if !got[0].Verified || sent.ID != iri {
		t.Fatalf("the pending delivery arrived as %s, verified %v (%v)", sent.ID, got[0].Verified, got[0].VerifyErr)
	}
	pg := b.srv.App.DB
	b.quiet()
	if p, _ := pg.PostByObject(ctx, c.ID, post.ObjectID); p.Likes != 1 {
		t.Fatalf("the migrated Like: the post has %d likes", p.Likes)
	}
	if n, _ := pg.CountMembers(ctx, c.ID, community.Joined); n != 1 {
		t.Fatalf("%d members after the migration", n)
	}
	p, err := pg.PostByObject(ctx, c.ID, post.ObjectID)
	if err != nil || !p.Sensitive || p.Content != post.Content || string(p.Activity) != string(post.Activity) || !p.ReceivedAt.Equal(now) {
		t.Fatalf("post after the migration: %+v, %v", p, err)
	}
	if blocks, _ := pg.DomainBlocks(ctx, 0); len(blocks) != 1 || blocks[0].Domain != "spam.example" {
		t.Fatalf("blocks after the migration: %+v", blocks)
	}
	if _, h, err := pg.AdminByName(ctx, "root"); err != nil || h != "$2a$10$hash" {
		t.Fatalf("admin after the migration: %v", err)
	}
	// New rows get ids after the copied ones.
	c2 := community.Community{Name: "allotment", Title: "Allotment", CreatedAt: now, UpdatedAt: now}
	if err := pg.CreateCommunity(ctx, &c2); err != nil || c2.ID <= c.ID {
		t.Fatalf("a new community after the migration: id %d, %v", c2.ID, err)
	}
}
