package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkReceivedLater: whether a retried activity was taken back is
// asked of its actor's later activities, with and without inbox_by_actor,
// after 20,000 activities of 1,000 actors (half a day at a modest 0.5/s).
// The figure without the index grows with everything received since the
// retried item; with it, with what its actor sent.
func BenchmarkReceivedLater(b *testing.B) {
	ctx := context.Background()
	db, _ := openTest(b)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	const n, actors = 20_000, 1_000
	body := fmt.Sprintf(`{"type":"Like","actor":"x","object":"https://m.example/notes/%0*d"}`, 2000, 0) // about 2 KB, as activities are
	for i := range n {
		actor := fmt.Sprintf("https://m%d.example/users/u%d", i%50, i%actors)
		if _, err := tx.Exec(`INSERT INTO inbox (activity_id, type, actor, body, received_at) VALUES (?, 'Like', ?, ?, ?)`,
			fmt.Sprintf("https://m.example/a/%d", i), actor, body, time.Now().UnixMilli()); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B) {
		for b.Loop() {
			found, err := db.ReceivedLater(ctx, 1, "Undo", "https://m7.example/users/u7", "https://m.example/likes/1")
			if err != nil || found {
				b.Fatalf("found %v, %v", found, err)
			}
		}
	}
	b.Run("inbox_by_actor", run)
	if _, err := db.w.Exec(`DROP INDEX inbox_by_actor`); err != nil {
		b.Fatal(err)
	}
	b.Run("without", run)
}
