package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/agorafed/agora/storage/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// A group commit's batch is one transaction: a request that fails rolls
// it back, and every request is then written alone, each with its own
// result. An async batch commits with synchronous_commit off for its own
// transaction only.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	// The test clusters run with synchronous_commit off; this database's
	// sessions have it on, as a production server does.
	url := pgtest.Database(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := Open(ctx, url+sep+"synchronous_commit=on", Options{Node: "a", MaxConns: 1}) // one session: the batch's
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.pool.Exec(ctx, `CREATE TABLE gc_test (n int PRIMARY KEY CHECK (n >= 0))`); err != nil {
		t.Fatal(err)
	}
	// Each request inserts n and reads the transaction's commit mode.
	const ins = `WITH i AS (INSERT INTO gc_test VALUES ($1) RETURNING n) SELECT current_setting('synchronous_commit') FROM i`
	newGroup := func(async bool) *groupCommit[int, string] {
		return (&groupCommit[int, string]{name: "test", async: async, db: db,
			queue: func(b *pgx.Batch, n int) { b.Queue(ins, n) },
			read: func(br pgx.BatchResults, _ int) (mode string, err error) {
				err = br.QueryRow().Scan(&mode)
				return mode, err
			},
			single: func(ctx context.Context, n int) (mode string, err error) {
				err = db.pool.QueryRow(ctx, ins, n).Scan(&mode)
				return mode, err
			},
		}).start(64)
	}
	tests := []struct {
		name     string
		async    bool
		ns       []int
		wantMode string // of the requests written in the batch
		failing  int    // the request that fails, -1: none
	}{
		{"synchronous", false, []int{1, 2, 3}, "on", -1},
		{"async", true, []int{11, 12, 13}, "off", -1},
		{"one fails: the others alone", true, []int{21, -1, 23}, "on", 1},
		{"one conflicts: the others alone", false, []int{31, 1, 33}, "on", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGroup(tt.async)
			// One batch of all the requests, as the gatherer would send
			// it.
			results := g.commit(tt.ns)
			for i, out := range results {
				if i == tt.failing {
					if out.Err == nil || !strings.HasPrefix(out.Err.Error(), "test: ") {
						t.Errorf("request %d: err %v, want the test's error", tt.ns[i], out.Err)
					}
					continue
				}
				if out.Err != nil || out.Res != tt.wantMode {
					t.Errorf("request %d: %q, %v; want %q", tt.ns[i], out.Res, out.Err, tt.wantMode)
				}
				var found bool
				if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM gc_test WHERE n = $1)`, tt.ns[i]).Scan(&found); err != nil || !found {
					t.Errorf("request %d not committed (%v)", tt.ns[i], err)
				}
			}
			// The setting was the transaction's only: the pool's sessions
			// keep theirs.
			var mode string
			if err := db.pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&mode); err != nil || mode != "on" {
				t.Errorf("session's synchronous_commit after the batch: %q, %v; want on", mode, err)
			}
		})
	}
}
