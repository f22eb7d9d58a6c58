package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage"
)

// Contract tests of the stores the tests moved from storage/sqlite did
// not cover: keys, remote actors, the inbox's byte budget, host
// statuses, Announce forms, memberships, admin accounts, the schema.

// Local keys are made once; remote keys and actors are replaced; a
// missing one is ErrNotFound.
func testKeysAndActors(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := db.LocalKey(ctx, "actor"); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("missing local key: %v", err)
	}
	if _, err := db.AddLocalKey(ctx, "actor", "PRIV", "PUB", now); err != nil {
		t.Fatal(err)
	}
	if pem, err := db.LocalKey(ctx, "actor"); err != nil || pem != "PRIV" {
		t.Fatalf("local key %q, %v", pem, err)
	}
	if at, err := db.LocalKeyCreated(ctx, "actor"); err != nil || !at.Equal(now) {
		t.Fatalf("local key made at %v, %v; want %v", at, err, now)
	}
	if _, err := db.LocalKeyCreated(ctx, "c/none"); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("date of a missing key: %v", err)
	}

	if _, err := db.Key(ctx, "https://m.example/u/a#main-key"); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	for _, pem := range []string{"PEM1", "PEM2"} {
		k := federation.StoredKey{ID: "https://m.example/u/a#main-key", Owner: "https://m.example/u/a", PEM: pem, FetchedAt: now}
		if err := db.PutKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		got, err := db.Key(ctx, k.ID)
		if err != nil || got != k {
			t.Fatalf("key %+v, %v; want %+v", got, err, k)
		}
	}

	a := federation.RemoteActor{ID: "https://m.example/u/a", Type: "Person", PreferredUsername: "a", Name: "Ann",
		URL: "https://m.example/@a", Icon: "https://m.example/a.png", Inbox: "https://m.example/u/a/inbox",
		SharedInbox: "https://m.example/inbox", Followers: "https://m.example/u/a/followers", FetchedAt: now}
	if _, err := db.RemoteActor(ctx, a.ID); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("missing actor: %v", err)
	}
	for _, name := range []string{"Ann", "Ann B."} {
		a.Name = name
		if err := db.PutRemoteActor(ctx, a); err != nil {
			t.Fatal(err)
		}
		if got, err := db.RemoteActor(ctx, a.ID); err != nil || got != a {
			t.Fatalf("actor %+v, %v; want %+v", got, err, a)
		}
	}
	if err := db.DeleteRemoteActor(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RemoteActor(ctx, a.ID); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("deleted actor: %v", err)
	}
}

// PendingBytes counts the bodies of an actor's activities recorded and
// not processed: a duplicate adds nothing, a retry keeps its bytes, a
// processed activity (whose body is replaced) and a pruned one give
// theirs back.
func testPendingBytes(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	ann, bob := "https://m.example/u/ann", "https://m.example/u/bob"
	record := func(id, actor string, size int) {
		t.Helper()
		body := fmt.Appendf(nil, `{"id":%q}`, id)
		body = append(body, bytes.Repeat([]byte(" "), size-len(body))...) // JSON still
		if _, err := db.RecordInbox(ctx, federation.InboxItem{ActivityID: id, Type: "Create", Actor: actor, Body: body, ReceivedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	pending := func(want map[string]int64, what string) {
		t.Helper()
		for actor, n := range want {
			if got, err := db.PendingBytes(ctx, actor); err != nil || got != n {
				t.Fatalf("%s: %s has %d bytes pending, %v; want %d", what, actor, got, err, n)
			}
		}
	}
	pending(map[string]int64{ann: 0, bob: 0}, "nothing recorded")
	record("https://m.example/1", ann, 100)
	record("https://m.example/2", ann, 250)
	record("https://m.example/3", bob, 40)
	record("https://m.example/1", ann, 100) // a duplicate
	pending(map[string]int64{ann: 350, bob: 40}, "recorded")
	items, err := db.UnprocessedInbox(ctx, 0, now, 10)
	if err != nil || len(items) != 3 {
		t.Fatalf("unprocessed %d, %v", len(items), err)
	}
	if err := db.MarkInboxProcessed(ctx, []federation.InboxResult{
		{ID: items[0].ID, Result: "ok", At: now.Add(-30 * 24 * time.Hour)},
		{ID: items[1].ID, Result: "error", At: now, RetryAt: now.Add(time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	pending(map[string]int64{ann: 250, bob: 40}, "one processed, one to retry")
	if n, err := db.PruneInbox(ctx, now.Add(-14*24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	pending(map[string]int64{ann: 250, bob: 40}, "pruned the processed one")
	if err := db.MarkInboxProcessed(ctx, []federation.InboxResult{
		{ID: items[1].ID, Result: "ok", At: now}, {ID: items[2].ID, Result: "ok", At: now},
	}); err != nil {
		t.Fatal(err)
	}
	pending(map[string]int64{ann: 0, bob: 0}, "all processed")
}

// A record with a budget is refused (ErrOverBudget, nothing stored) when
// its actor's bytes waiting would pass it; the check is made with the
// insert, so of concurrent records exactly those within the budget pass.
// Other actors, records without a budget and processed bytes do not count.
func testRecordWithinBudget(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	ann, bob := "https://m.example/u/ann", "https://m.example/u/bob"
	item := func(id, actor string, budget int64) federation.InboxItem {
		body := fmt.Appendf(nil, `{"id":%q}`, id)
		body = append(body, bytes.Repeat([]byte(" "), 100-len(body))...) // 100 bytes, JSON still
		return federation.InboxItem{ActivityID: id, Type: "Create", Actor: actor, Body: body, ReceivedAt: now, Budget: budget}
	}
	// Ten at once, 100 bytes each, within 550: five pass.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var fresh, over int
	for i := range 10 {
		wg.Go(func() {
			ok, err := db.RecordInbox(ctx, item(fmt.Sprintf("https://m.example/b/%d", i), ann, 550))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && ok:
				fresh++
			case errors.Is(err, federation.ErrOverBudget) && !ok:
				over++
			default:
				t.Errorf("record %d: %v, %v", i, ok, err)
			}
		})
	}
	wg.Wait()
	if fresh != 5 || over != 5 {
		t.Fatalf("%d recorded and %d refused, want 5 and 5", fresh, over)
	}
	if n, err := db.PendingBytes(ctx, ann); err != nil || n != 500 {
		t.Fatalf("ann has %d bytes waiting, %v; want 500", n, err)
	}
	tests := []struct {
		name string
		it   federation.InboxItem
		want error // nil: recorded
	}{
		{"over the budget", item("https://m.example/b/over", ann, 550), federation.ErrOverBudget},
		{"another actor", item("https://m.example/b/bob", bob, 550), nil},
		{"no budget", item("https://m.example/b/unbounded", ann, 0), nil},
		{"exactly the budget", item("https://m.example/b/exact", bob, 200), nil},
	}
	for _, tt := range tests {
		ok, err := db.RecordInbox(ctx, tt.it)
		if tt.want == nil && (err != nil || !ok) || tt.want != nil && (ok || !errors.Is(err, tt.want)) {
			t.Errorf("%s: %v, %v; want %v", tt.name, ok, err, tt.want)
		}
	}
	// Processed, the bytes no longer count.
	items, err := db.UnprocessedInbox(ctx, 0, now, 100)
	if err != nil {
		t.Fatal(err)
	}
	var rs []federation.InboxResult
	for _, it := range items {
		rs = append(rs, federation.InboxResult{ID: it.ID, Result: "ok", At: now})
	}
	if err := db.MarkInboxProcessed(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.RecordInbox(ctx, item("https://m.example/b/later", ann, 550)); err != nil || !ok {
		t.Fatalf("after processing: %v, %v", ok, err)
	}
}

// HostStatuses lists failing, unavailable and queued hosts (all: every
// host known), unavailable first; ClearHost makes a host's deliveries
// due now and tells whether the host was known.
func testHostStatusesAndClear(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	id, _ := db.NextOutActivityID(ctx)
	a := federation.OutActivity{ID: id, IRI: "https://agora.test/c/g/announce/1", Type: "Announce", Signer: "c/g", Body: []byte(`{}`), CreatedAt: now}
	if err := db.Enqueue(ctx, a, []string{"https://queued.example/inbox", "https://failing.example/inbox", "https://dead.example/inbox"}, now); err != nil {
		t.Fatal(err)
	}
	if got, err := db.OutActivity(ctx, a.IRI); err != nil || got.ID != id || string(got.Body) != "{}" || !got.CreatedAt.Equal(now) {
		t.Fatalf("out activity %+v, %v", got, err)
	}
	if _, err := db.OutActivity(ctx, "https://agora.test/none"); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("missing out activity: %v", err)
	}
	ds, err := db.ClaimDue(ctx, now, 10, 10, time.Hour)
	if err != nil || len(ds) != 3 {
		t.Fatalf("claimed %d, %v", len(ds), err)
	}
	for _, d := range ds {
		if d.Host != "queued.example" {
			if err := db.RetryDelivery(ctx, d.ID, 1, now.Add(time.Hour), "status 503"); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.HostFailed(ctx, "failing.example", now, "status 503\nService Unavailable")
	db.HostFailed(ctx, "dead.example", now.Add(-8*24*time.Hour), "connection refused")
	db.MarkHostUnavailable(ctx, "dead.example", now)
	db.SetHostSoftware(ctx, "fine.example", "mastodon", now)

	hosts := func(ss []federation.HostStatus) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Host)
		}
		return out
	}
	st, err := db.HostStatuses(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dead.example", "failing.example", "queued.example"}; !slices.Equal(hosts(st), want) {
		t.Fatalf("statuses %v, want %v", hosts(st), want)
	}
	if s := st[1]; s.LastError != "status 503" || !s.LastErrorAt.Equal(now) || !s.FailingSince.Equal(now) || s.Queued != 1 || !s.UnavailableSince.IsZero() {
		t.Fatalf("failing host %+v", s)
	}
	if s := st[0]; !s.UnavailableSince.Equal(now) || !s.FailingSince.Equal(now.Add(-8*24*time.Hour)) {
		t.Fatalf("dead host %+v", s)
	}
	all, _ := db.HostStatuses(ctx, true)
	if want := []string{"dead.example", "failing.example", "fine.example", "queued.example"}; !slices.Equal(hosts(all), want) {
		t.Fatalf("all statuses %v, want %v", hosts(all), want)
	}
	if all[2].Software != "mastodon" {
		t.Fatalf("software %+v", all[2])
	}
	if u, _ := db.UnavailableHosts(ctx); !slices.Equal(u, []string{"dead.example"}) {
		t.Fatalf("unavailable %v", u)
	}
	if f, _ := db.FailingHosts(ctx); len(f) != 2 || !f["failing.example"].Equal(now) {
		t.Fatalf("failing %v", f)
	}
	if q, _ := db.QueueByHost(ctx); !maps.Equal(q, map[string]int{"queued.example": 1, "failing.example": 1, "dead.example": 1}) {
		t.Fatalf("queue by host %v", q)
	}

	tests := []struct {
		host      string
		wantKnown bool
	}{
		{"dead.example", true},
		{"failing.example", true},
		{"never.example", false},
	}
	for _, tt := range tests {
		known, err := db.ClearHost(ctx, tt.host, now.Add(time.Minute))
		if err != nil || known != tt.wantKnown {
			t.Fatalf("clear %s: %v, %v; want %v", tt.host, known, err, tt.wantKnown)
		}
	}
	if u, _ := db.UnavailableHosts(ctx); len(u) != 0 {
		t.Fatalf("unavailable after clearing: %v", u)
	}
	// Both retries are due at the clearing's time, not in an hour (the
	// third delivery is still leased).
	due, err := db.ClaimDue(ctx, now.Add(time.Minute), 10, 10, time.Minute)
	if err != nil || len(due) != 2 {
		t.Fatalf("due after clearing: %d, %v", len(due), err)
	}
	for _, d := range due {
		if err := db.DropDelivery(ctx, d.ID, "status 400"); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := db.QueueDepth(ctx); n != 1 {
		t.Fatalf("depth %d after dropping two of three", n)
	}
	if err := db.HostSucceeded(ctx, "failing.example"); err != nil {
		t.Fatal(err)
	}
	st, _ = db.HostStatuses(ctx, true)
	for _, s := range st {
		if s.Host == "failing.example" && (s.LastError != "" || !s.FailingSince.IsZero()) {
			t.Fatalf("after success: %+v", s)
		}
	}
}

// A host's Announce form is learnt once; RedeliverAnnounce queues the
// live microblog Announce of the post whose threadiverse Announce a host
// refused, and nothing when there is none.
func testAnnounceForms(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if f, at, err := db.HostAnnounceForm(ctx, "bb.example"); f != "" || !at.IsZero() || err != nil {
		t.Fatalf("unknown host: %q %v %v", f, at, err)
	}
	for i, want := range []bool{true, false} {
		ok, err := db.SetHostAnnounceForm(ctx, "bb.example", federation.FormByID, now.Add(time.Duration(i)*time.Hour))
		if err != nil || ok != want {
			t.Fatalf("set %d: %v, %v; want %v", i, ok, err, want)
		}
	}
	if f, at, _ := db.HostAnnounceForm(ctx, "bb.example"); f != federation.FormByID || !at.Equal(now) {
		t.Fatalf("form %q at %v; want by-id at the first time", f, at)
	}
	db.SetHostSoftware(ctx, "m.example", "mastodon", now)
	if m, _ := db.HostsAnnounceForms(ctx, []string{"bb.example", "m.example", "x.example"}); !maps.Equal(m, map[string]string{"bb.example": federation.FormByID}) {
		t.Fatalf("forms %v", m)
	}

	cid := addCommunity(t, db, "garden")
	p := testPost(cid, "https://m.example/notes/1", now)
	if err := db.AddPost(ctx, &p); err != nil {
		t.Fatal(err)
	}
	thread := addAnnounce(t, db, p, federation.Threadiverse, "Announce", now)
	micro := addAnnounce(t, db, p, federation.Microblog, "Announce", now)
	before, _ := db.QueueDepth(ctx)
	if ok, err := db.RedeliverAnnounce(ctx, thread.ID, "https://bb.example/inbox", "bb.example", now); !ok || err != nil {
		t.Fatalf("redeliver: %v, %v", ok, err)
	}
	after, _ := db.QueueDepth(ctx)
	ds, _ := db.ClaimDue(ctx, now, 100, 100, time.Minute)
	var found bool
	for _, d := range ds {
		found = found || d.Inbox == "https://bb.example/inbox" && d.ActivityID == micro.ID
	}
	if after != before+1 || !found {
		t.Fatalf("depth %d -> %d, queued the microblog announce: %v", before, after, found)
	}
	if ok, err := db.RedeliverAnnounce(ctx, micro.ID, "https://bb.example/inbox", "bb.example", now); ok || err != nil {
		t.Fatalf("redeliver of a microblog announce: %v, %v; want nothing", ok, err)
	}
	db.MarkWithdrawn(ctx, p.ID, federation.Microblog, now)
	if ok, err := db.RedeliverAnnounce(ctx, thread.ID, "https://bb.example/inbox", "bb.example", now); ok || err != nil {
		t.Fatalf("redeliver with the microblog announce withdrawn: %v, %v; want nothing", ok, err)
	}
}

// An actor's memberships, a member's removal, and the members an inbox
// that answered 410 Gone stood for (banned ones stay banned).
func testMembershipsAndGone(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	garden, allot := addCommunity(t, db, "garden"), addCommunity(t, db, "allotment")
	c, err := db.CommunityByID(ctx, garden)
	if err != nil || c.Name != "garden" {
		t.Fatalf("by id: %+v, %v", c, err)
	}
	if _, err := db.CommunityByID(ctx, 999); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("missing by id: %v", err)
	}
	c.Title, c.UpdatedAt = "The garden", now
	if err := db.UpdateCommunity(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.CommunityByName(ctx, "garden"); got.Title != "The garden" || !got.UpdatedAt.Equal(now) {
		t.Fatalf("updated: %+v", got)
	}
	ann, bob := "https://m.example/u/ann", "https://m.example/u/bob"
	for _, m := range []community.Member{
		{CommunityID: garden, Actor: ann, State: community.Joined},
		{CommunityID: allot, Actor: ann, State: community.Banned},
		{CommunityID: garden, Actor: bob, State: community.Pending},
	} {
		m.CreatedAt, m.UpdatedAt = now, now
		if err := db.SaveMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{ann, bob} {
		db.PutRemoteActor(ctx, federation.RemoteActor{ID: a, Inbox: a + "/inbox", FetchedAt: now})
	}
	ms, err := db.MembershipsOf(ctx, ann)
	if err != nil || len(ms) != 2 || ms[0].CommunityID != garden || ms[1].State != community.Banned {
		t.Fatalf("memberships %+v, %v", ms, err)
	}
	if n, err := db.RemoveMembersByInbox(ctx, ann+"/inbox"); err != nil || n != 1 {
		t.Fatalf("removed %d, %v; want the membership, not the ban", n, err)
	}
	if ms, _ := db.MembershipsOf(ctx, ann); len(ms) != 1 || ms[0].State != community.Banned {
		t.Fatalf("after 410: %+v", ms)
	}
	if err := db.DeleteMember(ctx, garden, bob); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Member(ctx, garden, bob); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("deleted member: %v", err)
	}
	if err := db.MarkCommunityDeleted(ctx, garden, now); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateCommunity(ctx, c); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("update of a deleted community: %v", err)
	}
	if err := db.MarkCommunityDeleted(ctx, garden, now); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
}

// Admin accounts as `agora admin` manages them: a taken name, the list
// with live sessions, a password change that keeps the asking browser,
// a deletion with its sessions.
func testAdminAccounts(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	root, err := db.CreateAdmin(ctx, "root", "h1", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateAdmin(ctx, "root", "h2", now); !errors.Is(err, community.ErrExists) {
		t.Fatalf("taken name: %v", err)
	}
	if _, err := db.CreateAdmin(ctx, "ada", "h3", now); err != nil {
		t.Fatal(err)
	}
	db.AddSession(ctx, "s1", root, now.Add(-time.Hour), now.Add(time.Hour))
	db.AddSession(ctx, "s2", root, now, now.Add(time.Hour))
	list, err := db.Admins(ctx, now)
	if err != nil || len(list) != 2 || list[0].Name != "ada" || list[1].Sessions != 2 || !list[1].LastLogin.Equal(now) || !list[0].LastLogin.IsZero() {
		t.Fatalf("admins %+v, %v", list, err)
	}
	if err := db.ChangePassword(ctx, root, "h9", "s2"); err != nil {
		t.Fatal(err)
	}
	if _, h, _ := db.AdminByName(ctx, "root"); h != "h9" {
		t.Fatalf("hash %q", h)
	}
	if _, _, err := db.SessionAdmin(ctx, "s1", now); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("other session kept: %v", err)
	}
	if _, name, err := db.SessionAdmin(ctx, "s2", now); err != nil || name != "root" {
		t.Fatalf("asking session: %q, %v", name, err)
	}
	if err := db.ChangePassword(ctx, 999, "h", ""); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("unknown admin: %v", err)
	}
	if err := db.DeleteAdmin(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.SessionAdmin(ctx, "s2", now); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("session of a deleted admin: %v", err)
	}
	if err := db.DeleteAdmin(ctx, "root"); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if n, _ := db.CountAdmins(ctx); n != 1 {
		t.Fatalf("%d admins left", n)
	}
}

// The moderation log is shown on the community's page when asked, and
// the schema is at the same migration on every backend.
func testModLogPublicAndSchema(t *testing.T, db storage.Store) {
	ctx := context.Background()
	cid := addCommunity(t, db, "garden")
	for _, public := range []bool{true, true, false, false} {
		if err := db.SetModLogPublic(ctx, cid, public); err != nil {
			t.Fatal(err)
		}
		if got, err := db.ModLogPublic(ctx, cid); err != nil || got != public {
			t.Fatalf("public %v, %v; want %v", got, err, public)
		}
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v != lastMigration {
		t.Fatalf("schema version %d, %v; want %d", v, err, lastMigration)
	}
}

// lastMigration is the number of the last migration of every backend:
// their numbering stays aligned.
const lastMigration = 16
