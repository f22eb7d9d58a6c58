package sqlite

import (
	"context"
	"database/sql"
	"testing"
)

// A durable group commit writes with synchronous=FULL (2) and leaves the
// writer at NORMAL (1) for everything else; a plain one stays at NORMAL.
func TestGroupCommitDurable(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	syncLevel := func(ctx context.Context, q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) int {
		var n int
		if err := q.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tt := range []struct {
		durable bool
		want    int
	}{{true, 2}, {false, 1}} {
		g := groupCommit[int, int]{name: "test", max: 8, durable: tt.durable,
			write: func(ctx context.Context, tx *sql.Tx, reqs []int) []gcResult[int] {
				out := make([]gcResult[int], len(reqs))
				for i := range reqs {
					out[i].res = syncLevel(ctx, tx)
				}
				return out
			}}
		got, err := g.do(ctx, db, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("durable=%v: synchronous %d during the commit, want %d", tt.durable, got, tt.want)
		}
		if after := syncLevel(ctx, db.w); after != 1 {
			t.Errorf("durable=%v: synchronous %d after the commit, want 1 (NORMAL)", tt.durable, after)
		}
	}
}
