package sqlite

import (
	"context"
	"database/sql"
	"testing"
)

// TestHoldsWrite: with tracking on, the goroutine in a write transaction
// (begun by begin, or a group commit's leader) holds a write and another
// goroutine does not; none holds one after Commit or Rollback. This is
// what cmd/agora's test transport relies on to fail any request made
// inside a write transaction.
func TestHoldsWrite(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	if db.HoldsWrite() {
		t.Fatal("holds a write with tracking off")
	}
	db.TrackWriters()
	elsewhere := func() bool {
		c := make(chan bool)
		go func() { c <- db.HoldsWrite() }()
		return <-c
	}
	for _, end := range []string{"commit", "rollback"} {
		tx, err := db.begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !db.HoldsWrite() || elsewhere() {
			t.Fatalf("in a transaction: this goroutine %v, another %v; want true, false", db.HoldsWrite(), elsewhere())
		}
		if end == "commit" {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		tx.Rollback() // as the deferred one after a Commit: no second release
		if err != nil || db.HoldsWrite() {
			t.Fatalf("after %s: %v, holds %v", end, err, db.HoldsWrite())
		}
	}
	// A group commit's leader holds the write while it runs the batch.
	var inBatch bool
	g := newGroupCommit(db, "test", 8, false, func(ctx context.Context, tx *sql.Tx, reqs []int) []gcResult[struct{}] {
		inBatch = db.HoldsWrite()
		return make([]gcResult[struct{}], len(reqs))
	})
	if _, err := g.do(ctx, 1); err != nil || !inBatch || db.HoldsWrite() {
		t.Fatalf("group commit: %v, held in the batch %v, after %v", err, inBatch, db.HoldsWrite())
	}
}
