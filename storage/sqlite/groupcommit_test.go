package sqlite

import (
	"context"
	"database/sql"
	"os"
	"testing"
)

// A durable group commit syncs the WAL once the writer is released; a
// plain one does not; the writer stays at synchronous=NORMAL (1) during
// both, so other writes never wait for a sync. A WAL made anew (SQLite
// deletes it when its last connection closes) is the one synced.
func TestGroupCommitDurable(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
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
		durable   bool
		wantSyncs int64
	}{{true, 1}, {false, 0}} {
		g := newGroupCommit(db, "test", 8, tt.durable,
			func(ctx context.Context, tx *sql.Tx, reqs []int) []gcResult[int] {
				out := make([]gcResult[int], len(reqs))
				for i := range reqs {
					out[i].Res = syncLevel(ctx, tx)
				}
				return out
			})
		before := db.wal.syncs.Load()
		got, err := g.do(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got != 1 {
			t.Errorf("durable=%v: synchronous %d during the commit, want 1 (NORMAL)", tt.durable, got)
		}
		if n := db.wal.syncs.Load() - before; n != tt.wantSyncs {
			t.Errorf("durable=%v: %d WAL syncs, want %d", tt.durable, n, tt.wantSyncs)
		}
	}
	// A new WAL file (same path, another file) is synced, not the old one.
	old := db.wal.f
	if old == nil {
		t.Fatal("no WAL descriptor kept")
	}
	wal := path + "-wal"
	data, err := os.ReadFile(wal)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(wal, wal+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wal, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := db.wal.sync(); err != nil {
		t.Fatal(err)
	}
	cur, _ := os.Stat(wal)
	mine, _ := db.wal.f.Stat()
	if db.wal.f == old || !os.SameFile(cur, mine) {
		t.Error("the WAL synced is not the one at its path")
	}
	os.Rename(wal+".old", wal) // put SQLite's own back before it closes
}
