package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
)

// A batch: its reads see its writes before the commit, other connections
// do not; a savepoint that fails leaves the rest; flush commits and the
// batch goes on; a writer outside waits for the flush and then gets
// through; after end, uses go the usual way.
func TestBatch(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	put := func(ctx context.Context, iri string) error {
		return db.PutRemoteActor(ctx, federation.RemoteActor{ID: iri, Type: "Person", Inbox: iri + "/inbox", FetchedAt: time.Now()})
	}
	seen := func(ctx context.Context, iri string) bool {
		_, err := db.RemoteActor(ctx, iri)
		return err == nil
	}
	bctx, flush, end := db.Batch(ctx)
	if err := put(bctx, "https://m.example/u/a"); err != nil {
		t.Fatal(err)
	}
	if !seen(bctx, "https://m.example/u/a") {
		t.Fatal("the batch does not see its own write")
	}
	if seen(ctx, "https://m.example/u/a") {
		t.Fatal("a write is visible outside the batch before its commit")
	}
	// A method with its own transaction, failing: a savepoint, rolled back
	// alone (SetReaction on a post that does not exist).
	if _, _, _, err := db.SetReaction(bctx, 12345, "https://m.example/u/a", "Like", true); err == nil {
		t.Fatal("reaction to a missing post: no error")
	}
	if !seen(bctx, "https://m.example/u/a") {
		t.Fatal("a failed savepoint undid an earlier write of the batch")
	}
	// A writer outside the batch waits for the flush, then gets through.
	outside := make(chan error, 1)
	go func() { outside <- put(ctx, "https://m.example/u/b") }()
	select {
	case err := <-outside:
		t.Fatalf("a writer outside went through while the batch held the writer: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-outside:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the writer outside still waits after the flush")
	}
	if !seen(ctx, "https://m.example/u/a") {
		t.Fatal("flushed write not visible outside")
	}
	// The batch goes on after a flush, and end commits it.
	if err := put(bctx, "https://m.example/u/c"); err != nil {
		t.Fatal(err)
	}
	if err := end(); err != nil {
		t.Fatal(err)
	}
	if !seen(ctx, "https://m.example/u/c") {
		t.Fatal("write before end not committed")
	}
	// After end: one transaction per use, visible at once.
	if err := put(bctx, "https://m.example/u/d"); err != nil {
		t.Fatal(err)
	}
	if !seen(ctx, "https://m.example/u/d") {
		t.Fatal("a use after end is not committed at once")
	}
	if err := end(); err != nil && !errors.Is(err, errBatchClosed) {
		t.Fatal(err)
	}
}

// A read first made in a batch is prepared on the writer once: after the
// batch's commit the writer's cache has it, and the next batch takes it
// from there instead of preparing it again.
func TestBatchKeepsItsStatements(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	const q = `SELECT count(*) FROM remote_actors WHERE iri = ?`
	if db.ws.peek(q) != nil {
		t.Fatal("the writer's cache has the query before any use")
	}
	for i := range 2 {
		bctx, _, end := db.Batch(ctx)
		var n int
		if err := db.readRow(bctx, q, "https://m.example/u/a").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if b := db.batchOf(bctx); len(b.missed) != 0 {
				t.Fatalf("second batch prepared %q again", b.missed)
			}
		}
		if err := end(); err != nil {
			t.Fatal(err)
		}
		if db.ws.peek(q) == nil {
			t.Fatalf("batch %d: the writer's cache lacks the query after the commit", i+1)
		}
	}
}
