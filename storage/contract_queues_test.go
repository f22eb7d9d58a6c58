package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage"
)

func testCommunitiesAndMembers(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := community.Community{Name: "garden", Title: "Gardening", CreatedAt: now, UpdatedAt: now}
	if err := db.CreateCommunity(ctx, &c); err != nil || c.ID == 0 {
		t.Fatalf("create: %v id=%d", err, c.ID)
	}
	dup := community.Community{Name: "garden", Title: "x", CreatedAt: now, UpdatedAt: now}
	if err := db.CreateCommunity(ctx, &dup); !errors.Is(err, community.ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := db.CommunityByName(ctx, "nope"); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	got, err := db.CommunityByName(ctx, "garden")
	if err != nil || got.Title != "Gardening" || !got.CreatedAt.Equal(now) {
		t.Fatalf("got %+v, %v", got, err)
	}
	for i, actor := range []string{"https://a.example/u/1", "https://b.example/u/2", "https://c.example/u/3"} {
		state := community.Joined
		if i == 2 {
			state = community.Pending
		}
		if err := db.SaveMember(ctx, community.Member{CommunityID: c.ID, Actor: actor, State: state, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		db.PutRemoteActor(ctx, federation.RemoteActor{ID: actor, Inbox: actor + "/inbox", SharedInbox: "https://" + []string{"a", "a", "c"}[i] + ".example/inbox", FetchedAt: now})
	}
	if n, _ := db.CountMembers(ctx, c.ID, community.Joined); n != 2 {
		t.Fatalf("members = %d", n)
	}
	page, _ := db.Members(ctx, c.ID, community.Joined, "", 1)
	next, _ := db.Members(ctx, c.ID, community.Joined, page[0].Actor, 1)
	if len(page) != 1 || len(next) != 1 || page[0].Actor == next[0].Actor {
		t.Fatalf("paging: %v %v", page, next)
	}
	inboxes, _ := db.MemberInboxes(ctx, c.ID)
	if len(inboxes) != 1 || inboxes[0] != "https://a.example/inbox" {
		t.Fatalf("member inboxes = %v, want the one shared inbox of the two members", inboxes)
	}
	if err := db.MarkCommunityDeleted(ctx, c.ID, now); err != nil {
		t.Fatal(err)
	}
	if cs, _ := db.Communities(ctx); len(cs) != 0 {
		t.Fatalf("deleted community listed: %v", cs)
	}
}

func testLocalKeyFirstWins(t *testing.T, db storage.Store) {
	ctx := context.Background()
	first, err := db.AddLocalKey(ctx, "c/garden", "PEM1", "PUB1", time.Now())
	if err != nil || first != "PEM1" {
		t.Fatalf("%q %v", first, err)
	}
	second, err := db.AddLocalKey(ctx, "c/garden", "PEM2", "PUB2", time.Now())
	if err != nil || second != "PEM1" {
		t.Fatalf("key replaced: %q %v", second, err)
	}
}

func testInboxDedup(t *testing.T, db storage.Store) {
	ctx := context.Background()
	it := federation.InboxItem{ActivityID: "https://m.example/1", Type: "Follow", Actor: "https://m.example/u/a", Body: []byte("{}"), ReceivedAt: time.Now()}
	if ok, err := db.RecordInbox(ctx, it); !ok || err != nil {
		t.Fatalf("first: %v %v", ok, err)
	}
	if ok, err := db.RecordInbox(ctx, it); ok || err != nil {
		t.Fatalf("second: %v %v", ok, err)
	}
	items, _ := db.UnprocessedInbox(ctx, 0, time.Now(), 10)
	if len(items) != 1 {
		t.Fatalf("unprocessed = %d", len(items))
	}
	db.MarkInboxProcessed(ctx, []federation.InboxResult{{ID: items[0].ID, Result: "ok", At: time.Now()}})
	if items, _ := db.UnprocessedInbox(ctx, 0, time.Now(), 10); len(items) != 0 {
		t.Fatalf("processed item still pending")
	}
}

// A failed item marked for retry stays unprocessed, is not due before its
// time, and comes back with its attempts counted.
func testInboxRetry(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	it := federation.InboxItem{ActivityID: "https://m.example/2", Type: "Create", Actor: "https://m.example/u/a", Body: []byte("{}"), ReceivedAt: now}
	if _, err := db.RecordInbox(ctx, it); err != nil {
		t.Fatal(err)
	}
	items, _ := db.UnprocessedInbox(ctx, 0, now, 10)
	if len(items) != 1 || items[0].Attempts != 0 {
		t.Fatalf("unprocessed = %+v", items)
	}
	id := items[0].ID
	for attempt := 1; attempt <= 2; attempt++ {
		retryAt := now.Add(time.Duration(attempt) * time.Minute)
		if err := db.MarkInboxProcessed(ctx, []federation.InboxResult{{ID: id, Result: "error: origin 503", At: now, RetryAt: retryAt}}); err != nil {
			t.Fatal(err)
		}
		if items, _ := db.UnprocessedInbox(ctx, 0, retryAt.Add(-time.Millisecond), 10); len(items) != 0 {
			t.Fatalf("attempt %d: due before its retry time", attempt)
		}
		items, _ := db.UnprocessedInbox(ctx, 0, retryAt, 10)
		if len(items) != 1 || items[0].Attempts != attempt {
			t.Fatalf("attempt %d: at its retry time got %+v", attempt, items)
		}
		if n, _ := db.UnprocessedCount(ctx); n != 1 {
			t.Fatalf("unprocessed count = %d, want 1", n)
		}
	}
	if err := db.MarkInboxProcessed(ctx, []federation.InboxResult{{ID: id, Result: "error: gave up", At: now}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.UnprocessedCount(ctx); n != 0 {
		t.Fatalf("unprocessed after the last attempt = %d", n)
	}
}

func testQueueClaimLeaseRetry(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	id, _ := db.NextOutActivityID(ctx)
	a := federation.OutActivity{ID: id, IRI: "https://agora.test/c/g/accept/1", Type: "Accept", Signer: "c/g", Body: []byte(`{"x":1}`), CreatedAt: now}
	inboxes := []string{"https://a.example/inbox", "https://a.example/inbox", "https://b.example/inbox", "https://a.example/u/2/inbox", "not a url"}
	if err := db.Enqueue(ctx, a, inboxes, now); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.QueueDepth(ctx); n != 3 {
		t.Fatalf("depth = %d, want 3 (duplicates and bad URLs dropped)", n)
	}
	got, err := db.ClaimDue(ctx, now, 10, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("claimed %d, want 2 (one per host with perHost=1)", len(got))
	}
	if string(got[0].Body) != `{"x":1}` || got[0].Signer != "c/g" {
		t.Fatalf("claimed %+v", got[0])
	}
	// Leased rows are not claimed again until the lease ends.
	again, _ := db.ClaimDue(ctx, now, 10, 10, time.Minute)
	if len(again) != 1 {
		t.Fatalf("second claim got %d, want the 1 left", len(again))
	}
	db.RetryDelivery(ctx, got[0].ID, 1, now.Add(time.Hour), "503")
	db.DeliveryDone(ctx, got[1].ID)
	if later, _ := db.ClaimDue(ctx, now.Add(2*time.Minute), 10, 10, time.Minute); len(later) != 1 || later[0].ID != again[0].ID {
		t.Fatalf("after lease end: %+v", later)
	}
	db.ReleaseLeases(ctx)
	due, _ := db.ClaimDue(ctx, now.Add(2*time.Hour), 10, 10, time.Minute)
	if len(due) != 2 {
		t.Fatalf("after retry time: %d", len(due))
	}
	// Unavailable hosts get nothing.
	db.ReleaseLeases(ctx)
	db.MarkHostUnavailable(ctx, "a.example", now)
	due, _ = db.ClaimDue(ctx, now.Add(2*time.Hour), 10, 10, time.Minute)
	for _, d := range due {
		if d.Host == "a.example" {
			t.Fatalf("unavailable host claimed: %+v", d)
		}
	}
	since, _ := db.HostFailed(ctx, "b.example", now, "status 503")
	since2, _ := db.HostFailed(ctx, "b.example", now.Add(time.Hour), "status 503")
	if !since.Equal(since2) {
		t.Fatalf("failing_since moved: %v -> %v", since, since2)
	}
	db.HostSucceeded(ctx, "b.example")
	if since3, _ := db.HostFailed(ctx, "b.example", now.Add(2*time.Hour), "status 503"); !since3.After(since) {
		t.Fatalf("success did not reset failing_since")
	}
}

// A host whose last attempt failed is claimed one delivery at a time,
// whatever perHost; after a success it gets perHost again.
func testClaimFailingHostOneAtATime(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	id, _ := db.NextOutActivityID(ctx)
	var inboxes []string
	for i := range 4 {
		inboxes = append(inboxes, fmt.Sprintf("https://failing.example/u/%d/inbox", i), fmt.Sprintf("https://fine.example/u/%d/inbox", i))
	}
	if err := db.Enqueue(ctx, federation.OutActivity{ID: id, IRI: "https://agora.test/c/g/announce/9", Type: "Announce",
		Signer: "c/g", Body: []byte(`{}`), CreatedAt: now}, inboxes, now); err != nil {
		t.Fatal(err)
	}
	if _, err := db.HostFailed(ctx, "failing.example", now, "status 503"); err != nil {
		t.Fatal(err)
	}
	claim := func(at time.Time) map[string]int {
		t.Helper()
		ds, err := db.ClaimDue(ctx, at, 100, 3, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, d := range ds {
			got[d.Host]++
		}
		return got
	}
	if got := claim(now); got["failing.example"] != 1 || got["fine.example"] != 3 {
		t.Fatalf("claimed %v, want failing.example 1 (its last attempt failed) and fine.example 3", got)
	}
	if err := db.ReleaseLeases(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.HostSucceeded(ctx, "failing.example"); err != nil {
		t.Fatal(err)
	}
	if got := claim(now); got["failing.example"] != 3 {
		t.Fatalf("after a success claimed %v, want failing.example 3", got)
	}
}

// Concurrent records are committed together, each told whether it was new,
// duplicates included.
func testInboxGroupCommit(t *testing.T, db storage.Store) {
	ctx := context.Background()
	const n = 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := map[string]int{}
	for i := 0; i < 2*n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("https://m.example/a/%d", i%n) // every id twice
			ok, err := db.RecordInbox(ctx, federation.InboxItem{ActivityID: id, Type: "Create", Actor: "https://m.example/u/a",
				Body: []byte("{}"), ReceivedAt: time.Now()})
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				fresh[id]++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if len(fresh) != n {
		t.Fatalf("%d ids reported new, want %d", len(fresh), n)
	}
	for id, c := range fresh {
		if c != 1 {
			t.Fatalf("%s reported new %d times", id, c)
		}
	}
	if got, _ := db.InboxCount(ctx); got != n {
		t.Fatalf("%d rows, want %d", got, n)
	}
}

func testHostsSoftware(t *testing.T, db storage.Store) {
	ctx := context.Background()
	db.SetHostSoftware(ctx, "m.example", "mastodon", time.Now())
	db.SetHostSoftware(ctx, "l.example:8080", "lemmy", time.Now())
	db.HostFailed(ctx, "failing.example", time.Now(), "status 503") // a hosts row with no software
	got, err := db.HostsSoftware(ctx, []string{"m.example", "l.example:8080", "failing.example", "never.example"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"m.example": "mastodon", "l.example:8080": "lemmy", "failing.example": ""}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for h, sw := range want {
		if got[h] != sw {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// DeliveryDone is group committed: many workers finishing at once each
// get their row removed, and a write that cannot be made is an error for
// its caller.
func testDeliveryDoneGroupCommit(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	id, _ := db.NextOutActivityID(ctx)
	a := federation.OutActivity{ID: id, IRI: "https://agora.test/c/g/announce/1", Type: "Announce", Signer: "c/g", Body: []byte(`{}`), CreatedAt: now}
	var inboxes []string
	for i := range 600 {
		inboxes = append(inboxes, fmt.Sprintf("https://h%d.example/inbox", i))
	}
	if err := db.Enqueue(ctx, a, inboxes, now); err != nil {
		t.Fatal(err)
	}
	ds, err := db.ClaimDue(ctx, now, 1000, 1, time.Minute)
	if err != nil || len(ds) != 600 {
		t.Fatalf("claimed %d, %v", len(ds), err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(ds))
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(ds); i += 64 {
				if err := db.DeliveryDone(ctx, ds[i].ID); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _ := db.QueueDepth(ctx); n != 0 {
		t.Fatalf("depth after every delivery done = %d, want 0", n)
	}
	db.Close()
	if err := db.DeliveryDone(ctx, ds[0].ID); err == nil {
		t.Fatal("DeliveryDone on a closed database: no error")
	}
}

// ReceivedLater finds an Undo or Delete of an object recorded after an
// item, by IRI or embedded object, from the given actor only; PruneInbox
// deletes processed items older than a time, never unprocessed ones.
func testInboxReceivedLaterAndPrune(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	rec := func(id, typ, actor, body string) int64 {
		t.Helper()
		if _, err := db.RecordInbox(ctx, federation.InboxItem{ActivityID: id, Type: typ, Actor: actor, Body: []byte(body), ReceivedAt: now}); err != nil {
			t.Fatal(err)
		}
		items, _ := db.UnprocessedInbox(ctx, 0, now, 1000)
		return items[len(items)-1].ID
	}
	follow := rec("https://m.example/f/1", "Follow", "https://m.example/u/a", `{"id":"https://m.example/f/1","type":"Follow","object":"https://agora.test/c/g"}`)
	rec("https://m.example/undo/1", "Undo", "https://m.example/u/a", `{"type":"Undo","object":{"id":"https://m.example/f/1","type":"Follow"}}`)
	create := rec("https://m.example/n/1/create", "Create", "https://l.example/u/d", `{"type":"Create","object":{"id":"https://m.example/n/1"}}`)
	rec("https://m.example/n/1/delete", "Delete", "https://m.example/u/a", `{"type":"Delete","object":"https://m.example/n/1"}`)
	rec("https://m.example/like/1", "Like", "https://m.example/u/b", `{"type":"Like","object":"https://m.example/n/2"}`)
	tests := []struct {
		name               string
		after              int64
		typ, actor, object string
		want               bool
	}{
		{"undo of the follow, embedded", follow, "Undo", "https://m.example/u/a", "https://m.example/f/1", true},
		{"undo by someone else", follow, "Undo", "https://m.example/u/b", "https://m.example/f/1", false},
		{"undo of another follow", follow, "Undo", "https://m.example/u/a", "https://m.example/f/2", false},
		{"delete of the object, by IRI", create, "Delete", "https://m.example/u/a", "https://m.example/n/1", true},
		{"delete recorded before", create + 10, "Delete", "https://m.example/u/a", "https://m.example/n/1", false},
		{"a like is no delete", create, "Delete", "https://m.example/u/b", "https://m.example/n/2", false},
	}
	for _, tt := range tests {
		got, err := db.ReceivedLater(ctx, tt.after, tt.typ, tt.actor, tt.object)
		if err != nil || got != tt.want {
			t.Errorf("%s: %v %v, want %v", tt.name, got, err, tt.want)
		}
	}
	// Prune: the first two processed long ago, the third just now, the
	// rest not processed.
	items, _ := db.UnprocessedInbox(ctx, 0, now, 1000)
	old := now.Add(-30 * 24 * time.Hour)
	db.MarkInboxProcessed(ctx, []federation.InboxResult{{ID: items[0].ID, At: old}, {ID: items[1].ID, At: old}, {ID: items[2].ID, At: now}})
	n, err := db.PruneInbox(ctx, now.Add(-14*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	if total, _ := db.InboxCount(ctx); total != 3 {
		t.Fatalf("%d items left, want 3 (one recent, two unprocessed)", total)
	}
	if left, _ := db.UnprocessedInbox(ctx, 0, now, 1000); len(left) != 2 {
		t.Fatalf("%d unprocessed left, want 2", len(left))
	}
}

// A mark of processed and retried items together: a processed item's
// body becomes what it keeps (Kept, "{}" without), which ReceivedLater
// reads; a retried one keeps its body, and is due again at its time.
func testInboxMarkKeeps(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	actor := "https://m.example/u/a"
	for _, it := range []struct{ id, typ, body string }{
		// The object in a shape ReceivedLater does not read: found only
		// once the body is the kept one.
		{"https://m.example/d/1", "Delete", `{"type":"Delete","object":["https://m.example/n/9"]}`},
		{"https://m.example/c/1", "Create", `{"type":"Create","object":"https://m.example/n/8"}`},
		{"https://m.example/l/1", "Like", `{"type":"Like","object":"https://m.example/n/7"}`},
	} {
		if _, err := db.RecordInbox(ctx, federation.InboxItem{ActivityID: it.id, Type: it.typ, Actor: actor, Body: []byte(it.body), ReceivedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	later := func(typ, object string) bool {
		t.Helper()
		found, err := db.ReceivedLater(ctx, 0, typ, actor, object)
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	if later("Delete", "https://m.example/n/9") || !later("Create", "https://m.example/n/8") || !later("Like", "https://m.example/n/7") {
		t.Fatal("before the mark: want the Create and the Like found, not the Delete")
	}
	items, err := db.UnprocessedInbox(ctx, 0, now, 10)
	if err != nil || len(items) != 3 {
		t.Fatalf("unprocessed %d, %v", len(items), err)
	}
	retryAt := now.Add(time.Minute)
	if err := db.MarkInboxProcessed(ctx, []federation.InboxResult{
		{ID: items[0].ID, Result: "ok", At: now, Kept: []byte(`{"object":"https://m.example/n/9"}`)},
		{ID: items[1].ID, Result: "ok", At: now},
		{ID: items[2].ID, Result: "error: origin 503", At: now, RetryAt: retryAt},
	}); err != nil {
		t.Fatal(err)
	}
	if !later("Delete", "https://m.example/n/9") {
		t.Error("the Delete's kept object is not read after its mark")
	}
	if later("Create", "https://m.example/n/8") {
		t.Error("the Create's body is still there after a mark that keeps nothing")
	}
	if !later("Like", "https://m.example/n/7") {
		t.Error("the retried Like lost its body")
	}
	if due, err := db.UnprocessedInbox(ctx, 0, retryAt.Add(-time.Millisecond), 10); err != nil || len(due) != 0 {
		t.Errorf("before its retry time: %d due, %v", len(due), err)
	}
	due, err := db.UnprocessedInbox(ctx, 0, retryAt, 10)
	if err != nil || len(due) != 1 || due[0].ID != items[2].ID || due[0].Attempts != 1 || string(due[0].Body) != `{"type":"Like","object":"https://m.example/n/7"}` {
		t.Errorf("at its retry time: %+v, %v; want the Like, attempt 1, its body", due, err)
	}
}

// PruneInbox deletes in chunks until none is left.
func testPruneInboxChunks(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	var results []federation.InboxResult
	for i := range 2500 {
		id := fmt.Sprintf("https://m.example/a/%d", i)
		if _, err := db.RecordInbox(ctx, federation.InboxItem{ActivityID: id, Type: "Like", Actor: "https://m.example/u/a",
			Body: []byte("{}"), ReceivedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	items, _ := db.UnprocessedInbox(ctx, 0, now, 5000)
	for i, it := range items {
		at := now.Add(-30 * 24 * time.Hour)
		if i%10 == 0 {
			at = now // a tenth processed recently
		}
		results = append(results, federation.InboxResult{ID: it.ID, At: at})
	}
	if err := db.MarkInboxProcessed(ctx, results); err != nil {
		t.Fatal(err)
	}
	n, err := db.PruneInbox(ctx, now.Add(-14*24*time.Hour))
	if err != nil || n != 2250 {
		t.Fatalf("pruned %d, %v; want 2250", n, err)
	}
	if left, _ := db.InboxCount(ctx); left != 250 {
		t.Fatalf("%d left, want 250", left)
	}
}
