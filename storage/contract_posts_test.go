package storage_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage"
)

func addCommunity(t *testing.T, db storage.Store, name string) int64 {
	t.Helper()
	now := time.Now().UTC()
	c := community.Community{Name: name, Title: name, CreatedAt: now, UpdatedAt: now}
	if err := db.CreateCommunity(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// testPost is an announced post with every field set.
func testPost(communityID int64, object string, at time.Time) community.Post {
	return community.Post{
		CommunityID: communityID,
		ObjectID:    object,
		ActivityID:  object + "/activity",
		Type:        "Note",
		Author:      "https://m.example/users/ann",
		URL:         "https://m.example/@ann/1",
		Title:       "A title",
		Summary:     "cw: slugs",
		Content:     "<p>Slugs ate my lettuce</p>",
		Sensitive:   true,
		Attachments: []community.Attachment{
			{URL: "https://m.example/media/1.jpg", MediaType: "image/jpeg", Alt: "a slug"},
			{URL: "https://m.example/media/2.png", MediaType: "image/png"},
		},
		InReplyTo:  "https://m.example/notes/0",
		ThreadRoot: "https://m.example/notes/0",
		Visibility: community.Public,
		Published:  at.Add(-time.Minute),
		Updated:    at.Add(-30 * time.Second),
		ReceivedAt: at,
		Decision:   community.Announce,
		Reason:     community.ReasonAccepted,
		Activity:   []byte(`{"type":"Create"}`),
		Likes:      2,
		Dislikes:   1,
	}
}

func testAddPostAndRoundTrip(t *testing.T, db storage.Store) {
	ctx := context.Background()
	cid := addCommunity(t, db, "garden")
	now := time.Now().UTC().Truncate(time.Millisecond)

	p := testPost(cid, "https://m.example/notes/1", now)
	if err := db.AddPost(ctx, &p); err != nil || p.ID == 0 {
		t.Fatalf("add: %v id=%d", err, p.ID)
	}
	for name, get := range map[string]func() (community.Post, error){
		"by id":     func() (community.Post, error) { return db.PostByID(ctx, p.ID) },
		"by object": func() (community.Post, error) { return db.PostByObject(ctx, cid, p.ObjectID) },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("%s round trip:\n got %+v\nwant %+v", name, got, p)
		}
	}

	dup := testPost(cid, p.ObjectID, now.Add(time.Hour))
	dup.Content = "a second copy"
	if err := db.AddPost(ctx, &dup); !errors.Is(err, community.ErrExists) {
		t.Fatalf("duplicate: %v, want ErrExists", err)
	}
	if n, _ := db.CountPosts(ctx, cid, false); n != 1 {
		t.Fatalf("duplicate written: %d posts", n)
	}
	if got, _ := db.PostByObject(ctx, cid, p.ObjectID); got.Content != p.Content {
		t.Fatalf("duplicate changed the post: %q", got.Content)
	}

	// The same object in another community is another post.
	other := addCommunity(t, db, "allotment")
	q := testPost(other, p.ObjectID, now)
	if err := db.AddPost(ctx, &q); err != nil {
		t.Fatal(err)
	}
	all, err := db.PostsByObject(ctx, p.ObjectID)
	if err != nil || len(all) != 2 || all[0].ID != p.ID || all[1].ID != q.ID {
		t.Fatalf("posts by object: %v %v", all, err)
	}

	// A post with nothing optional set comes back the same.
	bare := community.Post{CommunityID: cid, ObjectID: "https://m.example/notes/bare", Type: "Note",
		Author: "https://m.example/users/bob", Visibility: community.Unlisted, ReceivedAt: now,
		Decision: community.Refuse, Reason: community.ReasonNotMember}
	if err := db.AddPost(ctx, &bare); err != nil {
		t.Fatal(err)
	}
	if got, err := db.PostByID(ctx, bare.ID); err != nil || !reflect.DeepEqual(got, bare) {
		t.Fatalf("bare round trip:\n got %+v\nwant %+v (%v)", got, bare, err)
	}

	for name, err := range map[string]error{
		"PostByID":     func() error { _, err := db.PostByID(ctx, 9999); return err }(),
		"PostByObject": func() error { _, err := db.PostByObject(ctx, cid, "https://nope.example/1"); return err }(),
	} {
		if !errors.Is(err, community.ErrNotFound) {
			t.Errorf("%s of a missing post: %v, want ErrNotFound", name, err)
		}
	}
	if ps, err := db.PostsByObject(ctx, "https://nope.example/1"); err != nil || len(ps) != 0 {
		t.Errorf("posts by missing object: %v %v", ps, err)
	}
}

func testUpdatePost(t *testing.T, db storage.Store) {
	ctx := context.Background()
	cid := addCommunity(t, db, "garden")
	now := time.Now().UTC().Truncate(time.Millisecond)
	p := testPost(cid, "https://m.example/notes/1", now)
	if err := db.AddPost(ctx, &p); err != nil {
		t.Fatal(err)
	}

	edited := p
	edited.Title, edited.Summary, edited.Content, edited.Sensitive = "New", "", "<p>edited</p>", false
	edited.Attachments = []community.Attachment{{URL: "https://m.example/media/3.webp", MediaType: "image/webp", Alt: "kale"}}
	edited.URL, edited.Updated, edited.Visibility = "https://m.example/@ann/1b", now.Add(time.Hour), community.Unlisted
	edited.Decision, edited.Reason = community.Refuse, community.ReasonDeleted
	edited.DeletedAt, edited.Likes, edited.Dislikes = now.Add(2*time.Hour), 7, 3
	if err := db.UpdatePost(ctx, edited); err != nil {
		t.Fatal(err)
	}
	got, err := db.PostByID(ctx, p.ID)
	if err != nil || !reflect.DeepEqual(got, edited) {
		t.Fatalf("after update:\n got %+v\nwant %+v (%v)", got, edited, err)
	}

	// Fields an edit does not change stay as they were.
	sneaky := edited
	sneaky.Author, sneaky.ObjectID, sneaky.ReceivedAt = "https://evil.example/u", "https://evil.example/1", now.Add(time.Hour)
	sneaky.Attachments = nil
	if err := db.UpdatePost(ctx, sneaky); err != nil {
		t.Fatal(err)
	}
	got, _ = db.PostByID(ctx, p.ID)
	if got.Author != p.Author || got.ObjectID != p.ObjectID || !got.ReceivedAt.Equal(p.ReceivedAt) || got.Attachments != nil {
		t.Fatalf("update changed fixed fields or kept attachments: %+v", got)
	}

	missing := p
	missing.ID = 9999
	if err := db.UpdatePost(ctx, missing); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("update of a missing post: %v, want ErrNotFound", err)
	}
}

func testPostsPagingAndCounts(t *testing.T, db storage.Store) {
	ctx := context.Background()
	cid := addCommunity(t, db, "garden")
	other := addCommunity(t, db, "allotment")
	now := time.Now().UTC().Truncate(time.Millisecond)

	// Posts 1..6: 2 refused, 4 deleted, the rest announced; one post in
	// another community.
	var ids []int64
	for i := 1; i <= 6; i++ {
		p := testPost(cid, fmt.Sprintf("https://m.example/notes/%d", i), now)
		switch i {
		case 2:
			p.Decision, p.Reason = community.Refuse, community.ReasonNotMember
		case 4:
			p.DeletedAt = now
		}
		if err := db.AddPost(ctx, &p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	o := testPost(other, "https://m.example/notes/other", now)
	if err := db.AddPost(ctx, &o); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name          string
		beforeID      int64
		limit         int
		announcedOnly bool
		want          []int64
	}{
		{"newest", 0, 3, false, []int64{ids[5], ids[4], ids[3]}},
		{"next page", ids[3], 3, false, []int64{ids[2], ids[1], ids[0]}},
		{"last page", ids[0], 3, false, nil},
		{"announced newest", 0, 2, true, []int64{ids[5], ids[4]}},
		{"announced next page", ids[4], 2, true, []int64{ids[2], ids[0]}},
		{"all announced", 0, 10, true, []int64{ids[5], ids[4], ids[2], ids[0]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := db.Posts(ctx, cid, tt.beforeID, tt.limit, tt.announcedOnly)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, p := range ps {
				got = append(got, p.ID)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ids %v, want %v", got, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		announcedOnly bool
		want          int
	}{{false, 6}, {true, 4}} {
		if n, err := db.CountPosts(ctx, cid, tt.announcedOnly); err != nil || n != tt.want {
			t.Errorf("CountPosts(announcedOnly=%v) = %d %v, want %d", tt.announcedOnly, n, err, tt.want)
		}
	}
}

func testCountAnnouncedSince(t *testing.T, db storage.Store) {
	ctx := context.Background()
	cid := addCommunity(t, db, "garden")
	other := addCommunity(t, db, "allotment")
	now := time.Now().UTC().Truncate(time.Millisecond)
	ann, bob := "https://m.example/users/ann", "https://m.example/users/bob"

	posts := []struct {
		community int64
		author    string
		ago       time.Duration
		refused   bool
		deleted   bool
	}{
		{cid, ann, 10 * time.Minute, false, false},
		{cid, ann, 59 * time.Minute, false, false},
		{cid, ann, 60 * time.Minute, false, false}, // exactly at since: counted
		{cid, ann, 61 * time.Minute, false, false}, // before the window
		{cid, ann, 5 * time.Minute, true, false},   // refused
		{cid, ann, 5 * time.Minute, false, true},   // deleted
		{cid, bob, 5 * time.Minute, false, false},  // another author
		{other, ann, 5 * time.Minute, false, false},
	}
	for i, tt := range posts {
		p := testPost(tt.community, fmt.Sprintf("https://m.example/notes/%d", i), now.Add(-tt.ago))
		p.Author = tt.author
		if tt.refused {
			p.Decision, p.Reason = community.Refuse, community.ReasonRateLimited
		}
		if tt.deleted {
			p.DeletedAt = now
		}
		if err := db.AddPost(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		community int64
		author    string
		since     time.Time
		want      int
	}{
		{"last hour", cid, ann, now.Add(-time.Hour), 3},
		{"last 30 minutes", cid, ann, now.Add(-30 * time.Minute), 1},
		{"from the future", cid, ann, now.Add(time.Minute), 0},
		{"other author", cid, bob, now.Add(-time.Hour), 1},
		{"other community", other, ann, now.Add(-time.Hour), 1},
		{"unknown author", cid, "https://x.example/u", now.Add(-time.Hour), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := db.CountAnnouncedSince(ctx, tt.community, tt.author, tt.since)
			if err != nil || n != tt.want {
				t.Fatalf("got %d %v, want %d", n, err, tt.want)
			}
		})
	}
}

func testPostsByAuthorSkipsDeleted(t *testing.T, db storage.Store) {
	ctx := context.Background()
	garden, allotment := addCommunity(t, db, "garden"), addCommunity(t, db, "allotment")
	now := time.Now().UTC().Truncate(time.Millisecond)
	ann := "https://m.example/users/ann"
	var want []int64
	for i, tt := range []struct {
		community int64
		author    string
		deleted   bool
		refused   bool
	}{
		{garden, ann, false, false},
		{allotment, ann, false, true}, // refused posts are live too
		{garden, ann, true, false},
		{garden, "https://m.example/users/bob", false, false},
		{allotment, ann, false, false},
	} {
		p := testPost(tt.community, fmt.Sprintf("https://m.example/notes/%d", i), now)
		p.Author = tt.author
		if tt.deleted {
			p.DeletedAt = now
		}
		if tt.refused {
			p.Decision, p.Reason = community.Refuse, community.ReasonReply
		}
		if err := db.AddPost(ctx, &p); err != nil {
			t.Fatal(err)
		}
		if tt.author == ann && !tt.deleted {
			want = append(want, p.ID)
		}
	}
	ps, err := db.PostsByAuthor(ctx, ann)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, p := range ps {
		got = append(got, p.ID)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("posts by author %v, want %v", got, want)
	}
}

func testSetReaction(t *testing.T, db storage.Store) {
	ctx := context.Background()
	cid := addCommunity(t, db, "garden")
	p := testPost(cid, "https://m.example/notes/1", time.Now().UTC())
	p.Likes, p.Dislikes = 0, 0
	if err := db.AddPost(ctx, &p); err != nil {
		t.Fatal(err)
	}
	ann, bob := "https://m.example/users/ann", "https://l.example/u/bob"

	// Steps run in order against the same post.
	steps := []struct {
		name           string
		actor, kind    string
		add            bool
		likes, dislike int
		changed        bool
	}{
		{"like", ann, "Like", true, 1, 0, true},
		{"repeated like", ann, "Like", true, 1, 0, false},
		{"another like", bob, "Like", true, 2, 0, true},
		{"dislike replaces the like", bob, "Dislike", true, 1, 1, true},
		{"undo like", ann, "Like", false, 0, 1, true},
		{"undo like again", ann, "Like", false, 0, 1, false},
		{"undo dislike never made", ann, "Dislike", false, 0, 1, false},
		{"like replaces the dislike", bob, "Like", true, 1, 0, true},
		{"undo like", bob, "Like", false, 0, 0, true},
	}
	for _, tt := range steps {
		likes, dislikes, changed, err := db.SetReaction(ctx, p.ID, tt.actor, tt.kind, tt.add)
		if err != nil || likes != tt.likes || dislikes != tt.dislike || changed != tt.changed {
			t.Fatalf("%s: got %d/%d changed=%v %v, want %d/%d changed=%v",
				tt.name, likes, dislikes, changed, err, tt.likes, tt.dislike, tt.changed)
		}
		got, _ := db.PostByID(ctx, p.ID)
		if got.Likes != tt.likes || got.Dislikes != tt.dislike {
			t.Fatalf("%s: stored counts %d/%d, want %d/%d", tt.name, got.Likes, got.Dislikes, tt.likes, tt.dislike)
		}
	}

	for _, kind := range []string{"", "like", "EmojiReact", "Announce"} {
		if _, _, _, err := db.SetReaction(ctx, p.ID, ann, kind, true); !errors.Is(err, community.ErrInvalid) {
			t.Errorf("kind %q: %v, want ErrInvalid", kind, err)
		}
	}
	if _, _, _, err := db.SetReaction(ctx, 9999, ann, "Like", true); !errors.Is(err, community.ErrNotFound) {
		t.Errorf("reaction to a missing post: %v, want ErrNotFound", err)
	}
	if got, _ := db.PostByID(ctx, p.ID); got.Likes != 0 || got.Dislikes != 0 {
		t.Fatalf("failed reactions changed the counts: %d/%d", got.Likes, got.Dislikes)
	}
}

// addAnnounce enqueues an Announce activity of a post and records it.
func addAnnounce(t *testing.T, db storage.Store, p community.Post, d federation.Dialect, typ string, at time.Time) federation.OutActivity {
	t.Helper()
	ctx := context.Background()
	id, err := db.NextOutActivityID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := federation.OutActivity{ID: id, IRI: fmt.Sprintf("https://agora.test/c/garden/announce/%d", id), Type: typ,
		CommunityID: p.CommunityID, Signer: "c/garden", Body: []byte(fmt.Sprintf(`{"id":%d}`, id)), CreatedAt: at}
	if err := db.Enqueue(ctx, a, []string{"https://m.example/inbox"}, at); err != nil {
		t.Fatal(err)
	}
	if err := db.AddAnnounce(ctx, p.ID, d, id); err != nil {
		t.Fatal(err)
	}
	return a
}

func testAnnouncesAndOutbox(t *testing.T, db storage.Store) {
	ctx := context.Background()
	cid := addCommunity(t, db, "garden")
	other := addCommunity(t, db, "allotment")
	now := time.Now().UTC().Truncate(time.Millisecond)

	var posts []community.Post
	for i := 0; i < 5; i++ {
		p := testPost(cid, fmt.Sprintf("https://m.example/notes/%d", i), now)
		if err := db.AddPost(ctx, &p); err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
	op := testPost(other, "https://m.example/notes/other", now)
	if err := db.AddPost(ctx, &op); err != nil {
		t.Fatal(err)
	}

	a0 := addAnnounce(t, db, posts[0], federation.Microblog, "Announce", now)
	t0 := addAnnounce(t, db, posts[0], federation.Threadiverse, "Announce", now)
	a1 := addAnnounce(t, db, posts[1], federation.Microblog, "Announce", now)
	addAnnounce(t, db, posts[2], federation.Microblog, "Announce", now) // withdrawn below
	addAnnounce(t, db, posts[3], federation.Microblog, "Announce", now) // post deleted below
	a4 := addAnnounce(t, db, posts[4], federation.Microblog, "Announce", now)
	addAnnounce(t, db, op, federation.Microblog, "Announce", now) // another community's
	if err := db.AddAnnounce(ctx, posts[0].ID, federation.Microblog, a0.ID); err != nil {
		t.Fatalf("recording an Announce again: %v", err)
	}
	if err := db.AddAnnounce(ctx, posts[0].ID, federation.UnknownPeer, a0.ID); !errors.Is(err, community.ErrInvalid) {
		t.Fatalf("dialect %q: %v, want ErrInvalid", federation.UnknownPeer, err)
	}

	refs, err := db.Announces(ctx, posts[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []federation.AnnounceRef{
		{PostID: posts[0].ID, Dialect: federation.Microblog, Activity: a0},
		{PostID: posts[0].ID, Dialect: federation.Threadiverse, Activity: t0},
	}
	if !reflect.DeepEqual(refs, want) {
		t.Fatalf("announces:\n got %+v\nwant %+v", refs, want)
	}

	if err := db.MarkWithdrawn(ctx, posts[2].ID, federation.Microblog, now); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkWithdrawn(ctx, posts[0].ID, federation.Threadiverse, now); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkWithdrawn(ctx, posts[0].ID, federation.Threadiverse, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	refs, _ = db.Announces(ctx, posts[0].ID)
	if len(refs) != 2 || !refs[0].WithdrawnAt.IsZero() || !refs[1].WithdrawnAt.Equal(now) {
		t.Fatalf("withdrawing one dialect: %+v", refs)
	}
	deleted := posts[3]
	deleted.DeletedAt = now
	if err := db.UpdatePost(ctx, deleted); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		beforeID int64
		limit    int
		want     []federation.OutActivity
	}{
		{"newest", 0, 2, []federation.OutActivity{a4, a1}},
		{"next page", a1.ID, 2, []federation.OutActivity{a0}},
		{"all", 0, 10, []federation.OutActivity{a4, a1, a0}},
		{"below the oldest", a0.ID, 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Outbox(ctx, cid, tt.beforeID, tt.limit)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("outbox:\n got %+v\nwant %+v (%v)", got, tt.want, err)
			}
		})
	}
	if n, err := db.CountOutbox(ctx, cid); err != nil || n != 3 {
		t.Fatalf("CountOutbox = %d %v, want 3", n, err)
	}
}

func testHostSoftware(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)

	sw, at, err := db.HostSoftware(ctx, "never.example")
	if err != nil || sw != "" || !at.IsZero() {
		t.Fatalf("unknown host: %q %v %v", sw, at, err)
	}

	if err := db.SetHostSoftware(ctx, "m.example", "mastodon", now); err != nil {
		t.Fatal(err)
	}
	if err := db.SetHostSoftware(ctx, "m.example", "glitch-soc", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if sw, at, err := db.HostSoftware(ctx, "m.example"); err != nil || sw != "glitch-soc" || !at.Equal(now.Add(time.Hour)) {
		t.Fatalf("after set: %q %v %v", sw, at, err)
	}

	// A failing, unavailable host keeps its failure state when its
	// software is learnt.
	since, err := db.HostFailed(ctx, "l.example", now, "status 503")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MarkHostUnavailable(ctx, "l.example", now); err != nil {
		t.Fatal(err)
	}
	if err := db.SetHostSoftware(ctx, "l.example", "lemmy", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if again, err := db.HostFailed(ctx, "l.example", now.Add(time.Hour), "status 503"); err != nil || !again.Equal(since) {
		t.Fatalf("failing_since %v -> %v (%v)", since, again, err)
	}
	if hosts, _ := db.UnavailableHosts(ctx); !reflect.DeepEqual(hosts, []string{"l.example"}) {
		t.Fatalf("unavailable hosts %v, want l.example", hosts)
	}
	if sw, _, _ := db.HostSoftware(ctx, "l.example"); sw != "lemmy" {
		t.Fatalf("software %q", sw)
	}

	// Software learnt first, failure after: the failure starts then.
	if since, err := db.HostFailed(ctx, "m.example", now.Add(2*time.Hour), "status 503"); err != nil || !since.Equal(now.Add(2*time.Hour)) {
		t.Fatalf("first failure of a host with software: %v %v", since, err)
	}
	if hosts, _ := db.UnavailableHosts(ctx); len(hosts) != 1 {
		t.Fatalf("learning software made a host unavailable: %v", hosts)
	}
}

// PostsByURL finds a community's posts by the link people see, in that
// community only; several posts may share one (link posts).
func testPostsByURL(t *testing.T, db storage.Store) {
	ctx := context.Background()
	garden, birds := addCommunity(t, db, "garden"), addCommunity(t, db, "birds")
	now := time.Now().UTC()
	add := func(cid int64, object, url string) {
		t.Helper()
		p := testPost(cid, object, now)
		p.URL = url
		if err := db.AddPost(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
	add(garden, "https://m.example/users/ann/statuses/1", "https://m.example/@ann/1")
	add(garden, "https://l.example/post/1", "https://news.example/slugs")
	add(garden, "https://l.example/post/2", "https://news.example/slugs")
	add(birds, "https://m.example/users/ann/statuses/2", "https://m.example/@ann/2")
	add(garden, "https://m.example/users/ann/statuses/3", "")
	tests := []struct {
		cid  int64
		url  string
		want []string
	}{
		{garden, "https://m.example/@ann/1", []string{"https://m.example/users/ann/statuses/1"}},
		{garden, "https://news.example/slugs", []string{"https://l.example/post/1", "https://l.example/post/2"}},
		{garden, "https://m.example/@ann/2", nil}, // another community's
		{garden, "", nil},
	}
	for _, tt := range tests {
		ps, err := db.PostsByURL(ctx, tt.cid, tt.url)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.ObjectID)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("PostsByURL(%d, %q) = %v, want %v", tt.cid, tt.url, got, tt.want)
		}
	}
}
