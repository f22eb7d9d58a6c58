package federation_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage/sqlite"
)

// countingInbox counts the outcomes marked.
type countingInbox struct {
	*sqlite.DB
	marks   atomic.Int32
	ctxDone atomic.Bool // a mark was asked for with an ended context
}

func (c *countingInbox) MarkInboxProcessed(ctx context.Context, rs []federation.InboxResult) error {
	c.marks.Add(int32(len(rs)))
	if ctx.Err() != nil {
		c.ctxDone.Store(true)
	}
	return c.DB.MarkInboxProcessed(ctx, rs)
}

// TestProcessPendingStopsCleanly: each outcome is marked as its activity
// ends, and a shutdown marks what was done before it and leaves the rest,
// the interrupted item included, for after the restart. The items are one
// actor's, so they apply in arrival order and what is left is the end.
func TestProcessPendingStopsCleanly(t *testing.T) {
	tests := []struct {
		name       string
		items      int
		stopAfter  int // the context ends while processing item stopAfter+1; 0: never
		wantMarked int
	}{
		{"all", 250, 0, 250},
		{"stop mid first page", 250, 40, 40},
		{"stop mid second page", 250, 130, 130},
		{"stop at first item", 250, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "agora.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			store := &countingInbox{DB: db}
			for i := range tt.items {
				// An Accept is ignored by the processor: it touches nothing
				// but the queue.
				id := fmt.Sprintf("https://m.example/accept/%d", i)
				body := fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":%q,"type":"Accept","actor":"https://m.example/u/a","object":"https://agora.test/follow/1"}`, id)
				if _, err := db.RecordInbox(ctx, federation.InboxItem{ActivityID: id, Type: "Accept",
					Actor: "https://m.example/u/a", Body: []byte(body), ReceivedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			run, stop := context.WithCancel(ctx)
			defer stop()
			if tt.stopAfter < 0 {
				stop()
			}
			// now is called once for the due time of ProcessPending, then
			// once for each processed item, just after it: ending the
			// context there interrupts the next one.
			var calls atomic.Int32
			now := func() time.Time {
				if int(calls.Add(1)) == tt.stopAfter+1 && tt.stopAfter > 0 {
					stop()
				}
				return time.Now()
			}
			in := federation.NewInbox(federation.InboxDeps{Store: store, Now: now})
			in.ProcessPending(run)

			left, err := db.UnprocessedInbox(ctx, 0, time.Now(), 1000)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.items - len(left); got != tt.wantMarked {
				t.Errorf("marked %d, want %d", got, tt.wantMarked)
			}
			if len(left) > 0 && left[0].ActivityID != fmt.Sprintf("https://m.example/accept/%d", tt.wantMarked) {
				t.Errorf("first left is %s, want item %d", left[0].ActivityID, tt.wantMarked)
			}
			if got := store.marks.Load(); int(got) != tt.wantMarked {
				t.Errorf("%d outcomes marked, want one per item done (%d)", got, tt.wantMarked)
			}
			if store.ctxDone.Load() {
				t.Error("marked with an ended context: the write fails at shutdown")
			}
		})
	}
}

// processingStore runs the processor from inside RecordInbox, right after
// the row is committed and before Receive returns: what the processor does
// when another request's wake-up comes first, which a group commit makes
// common under load.
type processingStore struct {
	*sqlite.DB
	in *federation.Inbox
}

func (s *processingStore) RecordInbox(ctx context.Context, it federation.InboxItem) (bool, error) {
	isNew, err := s.DB.RecordInbox(ctx, it)
	if err == nil && isNew {
		s.in.ProcessPending(ctx)
	}
	return isNew, err
}

// TestReceiveHandsOverBeforeRecording: the processor takes the parse
// Receive made even when it reads the row before Receive returns, and a
// duplicate delivery leaves nothing behind in the hand-over.
func TestReceiveHandsOverBeforeRecording(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "agora.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	base, _ := url.Parse("https://agora.example")
	metrics := federation.NewMetrics(nil)
	store := &processingStore{DB: db}
	in := federation.NewInbox(federation.InboxDeps{Local: federation.NewLocal(base, db, nil), Keys: &staticKeys{old: testKeys()[0]},
		Store: store, Metrics: metrics})
	store.in = in
	key := federation.SigningKey{KeyID: testKeyID, Private: testKeys()[0]}
	// An Accept naming a community is recorded and then ignored by the
	// processor: it needs none of the inbox's other dependencies.
	body := []byte(`{"@context":"https://www.w3.org/ns/activitystreams","id":"https://remote.example/accept/1","type":"Accept",` +
		`"actor":"` + testActor + `","object":"https://agora.example/follow/1","target":"https://agora.example/c/gardening"}`)
	for i, want := range []string{federation.ResultQueued, federation.ResultDuplicate} {
		r := newRequest(t, http.MethodPost, testInbox, body)
		if err := federation.SignRequest(r, key, body, time.Now()); err != nil {
			t.Fatal(err)
		}
		got, err := in.Receive(ctx, onWire(t, r), body, nil)
		if err != nil || got != want {
			t.Fatalf("delivery %d: %q, %v; want %q", i+1, got, err, want)
		}
	}
	if left, err := db.UnprocessedInbox(ctx, 0, time.Now(), 10); err != nil || len(left) != 0 {
		t.Fatalf("left in the queue: %d, %v", len(left), err)
	}
	if handed, again := metrics.ParseSources(); handed != 1 || again != 0 {
		t.Fatalf("processed %v handed over, %v parsed again; want 1 and 0", handed, again)
	}
}

// TestIgnoredTypesKeepNoBody (issue 15, item 4): an activity of a type
// Agora does not process is kept by its id only, which still recognises
// its retry as a duplicate; 20 x 1 MB of "type":"Foo" leave no megabytes.
func TestIgnoredTypesKeepNoBody(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agora.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pad := strings.Repeat("x", 1<<20)
	item := func(i int) federation.InboxItem {
		id := fmt.Sprintf("https://m.example/foo/%d", i)
		return federation.InboxItem{ActivityID: id, Type: "Foo", Actor: "https://m.example/u/a", ReceivedAt: time.Now(),
			Body: []byte(fmt.Sprintf(`{"id":%q,"type":"Foo","actor":"https://m.example/u/a","content":%q}`, id, pad))}
	}
	for i := range 20 {
		if _, err := db.RecordInbox(ctx, item(i)); err != nil {
			t.Fatal(err)
		}
	}
	federation.NewInbox(federation.InboxDeps{Store: db}).ProcessPending(ctx)
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n, size int
	if err := raw.QueryRow(`SELECT count(*), sum(length(body)) FROM inbox WHERE processed_at IS NOT NULL`).Scan(&n, &size); err != nil {
		t.Fatal(err)
	}
	if n != 20 || size > 20*2 {
		t.Errorf("%d processed, %d bytes of bodies kept; want 20 and none but {}", n, size)
	}
	if isNew, err := db.RecordInbox(ctx, item(3)); err != nil || isNew {
		t.Errorf("the same activity again: new=%v, %v; want a duplicate", isNew, err)
	}
}

// TestActorBudget (issue 15, item 4): an actor whose activities waiting
// to be processed reach its byte budget is refused with ErrOverBudget
// (429) and nothing is recorded; once its backlog is processed it is
// accepted again. Processed activities keep no body but what superseded
// reads (TestKeptOf). On a20fa47 every body was recorded.
func TestActorBudget(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agora.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	base, _ := url.Parse("https://agora.example")
	in := federation.NewInbox(federation.InboxDeps{Local: federation.NewLocal(base, db, nil), Keys: &staticKeys{old: testKeys()[0]},
		Store: db, ActorBudget: 4 << 20})
	key := federation.SigningKey{KeyID: testKeyID, Private: testKeys()[0]}
	pad := strings.Repeat("tomato ", 900<<10/7)
	send := func(typ string, i int) (string, error) {
		// Accept and Delete naming the community are recorded and then
		// ignored by the processor: they need no other dependency.
		body := []byte(fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":"https://remote.example/a/%d","type":%q,`+
			`"actor":%q,"object":"https://remote.example/note/%d","target":"https://agora.example/c/gardening","content":%q}`, i, typ, testActor, i, pad))
		r := newRequest(t, http.MethodPost, testInbox, body)
		if err := federation.SignRequest(r, key, body, time.Now()); err != nil {
			t.Fatal(err)
		}
		return in.Receive(ctx, onWire(t, r), body, nil)
	}
	for i := range 4 {
		if got, err := send("Accept", i); err != nil || got != federation.ResultQueued {
			t.Fatalf("activity %d: %q, %v; want queued", i, got, err)
		}
	}
	if got, err := send("Accept", 4); !errors.Is(err, federation.ErrOverBudget) {
		t.Fatalf("fifth 900 KB activity: %q, %v; want ErrOverBudget", got, err)
	}
	if n, _ := db.InboxCount(ctx); n != 4 {
		t.Fatalf("%d recorded, want the 4 within the budget", n)
	}
	in.ProcessPending(ctx)
	if n, err := db.PendingBytes(ctx, testActor); err != nil || n != 0 {
		t.Fatalf("pending after processing: %d, %v", n, err)
	}
	if got, err := send("Accept", 10); err != nil || got != federation.ResultQueued {
		t.Fatalf("after the backlog was processed: %q, %v; want queued", got, err)
	}
	in.ProcessPending(ctx)
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var size int
	if err := raw.QueryRow(`SELECT sum(length(body)) FROM inbox WHERE processed_at IS NOT NULL`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	if size > 5*2 {
		t.Errorf("bodies kept after processing: %d bytes; want {} each", size)
	}
}
