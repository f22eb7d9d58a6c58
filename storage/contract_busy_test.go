package storage_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage"
)

// TestBusy: Busy counts what the server has in hand (activities due and
// not processed; deliveries due or leased) and not what waits for a
// retry or for an unavailable host.
func testBusy(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	busy := func(wantInbox int, wantDeliveries map[string]int, what string) {
		t.Helper()
		i, d, err := db.Busy(ctx, now)
		if err != nil || i != wantInbox || !maps.Equal(d, wantDeliveries) {
			t.Fatalf("%s: Busy = %d, %v, %v; want %d, %v", what, i, d, err, wantInbox, wantDeliveries)
		}
	}
	none := map[string]int{}
	busy(0, none, "empty")

	it := federation.InboxItem{ActivityID: "https://m.example/1", Type: "Follow", Actor: "https://m.example/u/a", Body: []byte("{}"), ReceivedAt: now}
	if _, err := db.RecordInbox(ctx, it); err != nil {
		t.Fatal(err)
	}
	busy(1, none, "recorded")
	items, _ := db.UnprocessedInbox(ctx, 0, now, 10)
	if err := db.MarkInboxProcessed(ctx, []federation.InboxResult{{ID: items[0].ID, Result: "error", At: now, RetryAt: now.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	busy(0, none, "waiting for its retry")

	id, _ := db.NextOutActivityID(ctx)
	a := federation.OutActivity{ID: id, IRI: "https://agora.test/c/g/accept/1", Type: "Accept", Signer: "c/g", Body: []byte(`{}`), CreatedAt: now}
	if err := db.Enqueue(ctx, a, []string{"https://a.example/inbox", "https://b.example/inbox"}, now); err != nil {
		t.Fatal(err)
	}
	busy(0, map[string]int{"a.example": 1, "b.example": 1}, "queued")
	got, err := db.ClaimDue(ctx, now, 10, 10, time.Minute)
	if err != nil || len(got) != 2 {
		t.Fatalf("claimed %d, %v", len(got), err)
	}
	busy(0, map[string]int{"a.example": 1, "b.example": 1}, "claimed")
	if err := db.RetryDelivery(ctx, got[0].ID, 1, now.Add(time.Minute), "status 503"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeliveryDone(ctx, got[1].ID); err != nil {
		t.Fatal(err)
	}
	busy(0, none, "one retry later, one done")

	id, _ = db.NextOutActivityID(ctx)
	a.ID, a.IRI = id, "https://agora.test/c/g/accept/2"
	if err := db.Enqueue(ctx, a, []string{"https://dead.example/inbox"}, now); err != nil {
		t.Fatal(err)
	}
	busy(0, map[string]int{"dead.example": 1}, "queued to a host not known to be unavailable")
	if err := db.MarkHostUnavailable(ctx, "dead.example", now); err != nil {
		t.Fatal(err)
	}
	busy(0, none, "queued to an unavailable host")
}
