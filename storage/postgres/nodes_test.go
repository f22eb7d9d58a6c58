package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage/postgres/pgtest"
)

// What several nodes on one database need beyond the storage contract
// (storage's TestContract runs that on this package too): each activity
// and delivery in one node's hands at a time, claims that run out when a
// node dies, per-host limits that count every node, migrations and key
// creation safe when two nodes do them at once, and wake-ups between
// nodes.

func TestMain(m *testing.M) { pgtest.Main(m) }

// nodes opens n nodes (named a, b, ...) on one new database.
func nodes(t *testing.T, n int, opts Options) []*DB {
	t.Helper()
	url := pgtest.Database(t)
	out := make([]*DB, n)
	for i := range out {
		o := opts
		o.Node = string(rune('a' + i))
		db, err := Open(context.Background(), url, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		out[i] = db
	}
	return out
}

// Two nodes claiming the inbox at once each get a share, none twice,
// and an actor's waiting activities are all in one node's hands.
func TestInboxClaimedOnce(t *testing.T) {
	ctx := context.Background()
	ns := nodes(t, 2, Options{})
	now := time.Now().UTC()
	const actors, each = 10, 8
	for i := range actors * each {
		actor := fmt.Sprintf("https://m.example/u/%d", i%actors)
		if _, err := ns[0].RecordInbox(ctx, federation.InboxItem{ActivityID: fmt.Sprintf("https://m.example/a/%d", i),
			Type: "Like", Actor: actor, Body: []byte(`{}`), ReceivedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	owner := map[int64]string{}    // item: node
	actorOf := map[string]string{} // actor: node
	var wg sync.WaitGroup
	for _, db := range ns {
		wg.Go(func() {
			for after := int64(0); ; {
				items, err := db.UnprocessedInbox(ctx, after, now, 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(items) == 0 {
					return
				}
				mu.Lock()
				for _, it := range items {
					if o, ok := owner[it.ID]; ok {
						t.Errorf("item %d claimed by %s and %s", it.ID, o, db.Node())
					}
					owner[it.ID] = db.Node()
					if o, ok := actorOf[it.Actor]; ok && o != db.Node() {
						t.Errorf("actor %s's items in the hands of %s and %s", it.Actor, o, db.Node())
					}
					actorOf[it.Actor] = db.Node()
					after = max(after, it.ID)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(owner) != actors*each {
		t.Fatalf("%d items claimed, want %d", len(owner), actors*each)
	}
	// Once a node has processed an actor's activities, the actor's next
	// ones may go to the other node.
	var results []federation.InboxResult
	for id, o := range owner {
		if o == "a" {
			results = append(results, federation.InboxResult{ID: id, Result: "ok", At: now})
		}
	}
	if err := ns[0].MarkInboxProcessed(ctx, results); err != nil {
		t.Fatal(err)
	}
	if _, err := ns[0].RecordInbox(ctx, federation.InboxItem{ActivityID: "https://m.example/late", Type: "Like",
		Actor: keyOf(actorOf, "a"), Body: []byte(`{}`), ReceivedAt: now}); err != nil {
		t.Fatal(err)
	}
	if items, _ := ns[1].UnprocessedInbox(ctx, 1<<40, now, 100); len(items) != 1 || items[0].ActivityID != "https://m.example/late" {
		t.Fatalf("b's claim after a processed all: %+v", items)
	}
}

func keyOf(m map[string]string, v string) string {
	for k, x := range m {
		if x == v {
			return k
		}
	}
	return ""
}

// The claims of a node that died run out: another node takes its
// activities then, not before; a retry is anyone's once due.
func TestInboxClaimExpires(t *testing.T) {
	ctx := context.Background()
	ns := nodes(t, 2, Options{InboxLease: time.Minute})
	now := time.Now().UTC()
	for i := range 3 {
		ns[0].RecordInbox(ctx, federation.InboxItem{ActivityID: fmt.Sprintf("https://m.example/%d", i), Type: "Follow",
			Actor: "https://m.example/u/a", Body: []byte(`{}`), ReceivedAt: now})
	}
	if items, _ := ns[0].UnprocessedInbox(ctx, 0, now, 10); len(items) != 3 {
		t.Fatalf("a claimed %d", len(items))
	}
	steps := []struct {
		at   time.Duration
		want int
	}{
		{0, 0},
		{59 * time.Second, 0},
		{time.Minute, 3},
	}
	for _, st := range steps {
		if items, _ := ns[1].UnprocessedInbox(ctx, 0, now.Add(st.at), 10); len(items) != st.want {
			t.Fatalf("b at +%v: %d claimed, want %d", st.at, len(items), st.want)
		}
	}
	// b holds them now; one fails and is retried: due, it is a's to take.
	items, _ := ns[1].UnprocessedInbox(ctx, 0, now.Add(time.Minute), 10)
	at := now.Add(time.Minute)
	ns[1].MarkInboxProcessed(ctx, []federation.InboxResult{{ID: items[0].ID, Result: "error", At: at, RetryAt: at.Add(time.Second)}})
	got, _ := ns[0].UnprocessedInbox(ctx, 0, at.Add(time.Second), 10)
	if len(got) != 1 || got[0].ID != items[0].ID || got[0].Attempts != 1 {
		t.Fatalf("a took %+v, want the retried item", got)
	}
}

// A host's limit counts what every node has in hand; ReleaseLeases at a
// node's start ends its own leases only; a dead node's leases run out.
func TestDeliveriesAcrossNodes(t *testing.T) {
	ctx := context.Background()
	ns := nodes(t, 2, Options{})
	a, b := ns[0], ns[1]
	now := time.Now().UTC()
	id, _ := a.NextOutActivityID(ctx)
	var inboxes []string
	for i := range 10 {
		inboxes = append(inboxes, fmt.Sprintf("https://busy.example/u/%d/inbox", i))
	}
	inboxes = append(inboxes, "https://calm.example/inbox")
	if err := a.Enqueue(ctx, federation.OutActivity{ID: id, IRI: "https://agora.test/a/1", Type: "Announce", Signer: "c/g",
		Body: []byte(`{}`), CreatedAt: now}, inboxes, now); err != nil {
		t.Fatal(err)
	}
	claim := func(db *DB, at time.Duration, perHost int) map[string]int {
		t.Helper()
		ds, err := db.ClaimDue(ctx, now.Add(at), 100, perHost, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, d := range ds {
			got[d.Host]++
		}
		return got
	}
	if got := claim(a, 0, 3); got["busy.example"] != 3 || got["calm.example"] != 1 {
		t.Fatalf("a claimed %v", got)
	}
	if got := claim(b, 0, 3); len(got) != 0 {
		t.Fatalf("b claimed %v while a has busy.example's limit in hand", got)
	}
	if got := claim(b, 0, 5); got["busy.example"] != 2 {
		t.Fatalf("b with a limit of 5 claimed %v, want 2 (5 less a's 3)", got)
	}
	if err := b.ReleaseLeases(ctx); err != nil {
		t.Fatal(err)
	}
	if got := claim(a, 0, 10); got["busy.example"] != 7 {
		t.Fatalf("after b's restart a claimed %v, want b's 2 back and the 5 never claimed", got)
	}
	// a dies with all 11 in hand: at the end of the lease b takes them.
	if got := claim(b, 59*time.Second, 10); len(got) != 0 {
		t.Fatalf("b claimed %v before a's lease ran out", got)
	}
	if got := claim(b, time.Minute, 10); got["busy.example"] != 10 || got["calm.example"] != 1 {
		t.Fatalf("b claimed %v after a's lease ran out; want all 11", got)
	}
	// A host whose last attempt failed gets one delivery in flight in all,
	// whichever node holds it.
	if err := b.ReleaseLeases(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.HostFailed(ctx, "busy.example", now, "timeout"); err != nil {
		t.Fatal(err)
	}
	if got := claim(a, time.Minute, 10); got["busy.example"] != 1 {
		t.Fatalf("a claimed %v of a failing host, want 1", got)
	}
	if got := claim(b, time.Minute, 10); got["busy.example"] != 0 {
		t.Fatalf("b claimed %v of a failing host while a has one in hand, want none", got)
	}
}

// Nodes starting together migrate once, and make a key once.
func TestStartTogether(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	var wg sync.WaitGroup
	pems := make([]string, 4)
	for i := range pems {
		wg.Go(func() {
			db, err := Open(ctx, url, Options{Node: fmt.Sprint(i)})
			if err != nil {
				t.Error(err)
				return
			}
			defer db.Close()
			pems[i], err = db.AddLocalKey(ctx, "actor", fmt.Sprintf("PEM%d", i), "PUB", time.Now())
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, p := range pems[1:] {
		if p != pems[0] {
			t.Fatalf("nodes disagree on the key: %q", pems)
		}
	}
	db, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n)
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations (%v)", err)
	}
	if v, _ := db.SchemaVersion(ctx); n != len(files) || v != len(files) {
		t.Fatalf("%d migrations recorded, version %d; want %d once each", n, v, len(files))
	}
}

// A node hears what another queued or recorded.
func TestListenWakesOtherNodes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := nodes(t, 2, Options{})
	heard := make(chan string, 16)
	go ns[1].Listen(ctx, func(ch string) { heard <- ch })
	now := time.Now().UTC()
	// The listener may not listen yet: send until it hears, a bounded
	// number of times.
	wait := func(want string, send func(i int)) {
		t.Helper()
		for i := range 50 {
			send(i)
			select {
			case ch := <-heard:
				if ch == want {
					return
				}
			case <-time.After(100 * time.Millisecond):
			}
		}
		t.Fatalf("never heard %s", want)
	}
	wait(ChannelInbox, func(i int) {
		ns[0].RecordInbox(ctx, federation.InboxItem{ActivityID: fmt.Sprintf("https://m.example/%d", i), Type: "Like",
			Actor: "https://m.example/u/a", Body: []byte(`{}`), ReceivedAt: now})
	})
	wait(ChannelDeliveries, func(i int) {
		id, _ := ns[0].NextOutActivityID(ctx)
		ns[0].Enqueue(ctx, federation.OutActivity{ID: id, IRI: fmt.Sprintf("https://agora.test/%d", id), Type: "Accept",
			Signer: "actor", Body: []byte(`{}`), CreatedAt: now}, []string{"https://m.example/inbox"}, now)
	})
}

// Activities about one post are applied one after the other across
// nodes, as one node's scheduler orders them: a Like of a post is not
// claimed while the post's Create is in another node's hands; one of
// another post is.
func TestInboxOrderAcrossNodes(t *testing.T) {
	ctx := context.Background()
	ns := nodes(t, 2, Options{})
	now := time.Now().UTC()
	note, other := "https://m.example/notes/1", "https://m.example/notes/2"
	for _, a := range []struct{ id, typ, actor, body string }{
		{"https://m.example/create/1", "Create", "https://m.example/u/ann",
			`{"type":"Create","object":{"id":"` + note + `","type":"Note"}}`},
		{"https://l.example/like/1", "Like", "https://l.example/u/bob", `{"type":"Like","object":"` + note + `"}`},
		{"https://l.example/like/2", "Like", "https://l.example/u/cat", `{"type":"Like","object":"` + other + `"}`},
	} {
		if _, err := ns[0].RecordInbox(ctx, federation.InboxItem{ActivityID: a.id, Type: a.typ, Actor: a.actor,
			Body: []byte(a.body), ReceivedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(items []federation.InboxItem) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.ActivityID)
		}
		return out
	}
	a, _ := ns[0].UnprocessedInbox(ctx, 0, now, 1)
	if got := ids(a); len(got) != 1 || got[0] != "https://m.example/create/1" {
		t.Fatalf("a claimed %v", got)
	}
	b, _ := ns[1].UnprocessedInbox(ctx, 0, now, 10)
	if got := ids(b); len(got) != 1 || got[0] != "https://l.example/like/2" {
		t.Fatalf("b claimed %v while a has the Create; want only the Like of the other post", got)
	}
	if err := ns[0].MarkInboxProcessed(ctx, []federation.InboxResult{{ID: a[0].ID, Result: "ok", At: now}}); err != nil {
		t.Fatal(err)
	}
	b, _ = ns[1].UnprocessedInbox(ctx, 0, now, 10)
	if got := ids(b); len(got) != 2 || got[0] != "https://l.example/like/1" {
		t.Fatalf("b claimed %v once the Create was processed; want the Like of the post too", got)
	}
}

// The ordering keys are kept as the inbox's parse gave them, or read from
// the body when the caller has none.
func TestRecordKeepsOrderKeys(t *testing.T) {
	ctx := context.Background()
	db := nodes(t, 1, Options{})[0]
	body := []byte(`{"id":"https://m.example/a/1","type":"Like","actor":"https://m.example/u","object":"https://b.example/p/1"}`)
	tests := []struct {
		name string
		keys []string
		want []string
	}{
		{"given", []string{"actor https://m.example/u", "object https://given.example/p"}, []string{"actor https://m.example/u", "object https://given.example/p"}},
		{"read from the body", nil, []string{"actor https://m.example/u", "object https://b.example/p/1"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("https://m.example/a/%d", i)
			if _, err := db.RecordInbox(ctx, federation.InboxItem{ActivityID: id, Type: "Like", Actor: "https://m.example/u",
				Body: body, ReceivedAt: time.Now(), OrderKeys: tc.keys}); err != nil {
				t.Fatal(err)
			}
			var got []string
			if err := db.pool.QueryRow(ctx, `SELECT order_keys FROM inbox WHERE activity_id = $1`, id).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("order_keys %q, want %q", got, tc.want)
			}
		})
	}
}
