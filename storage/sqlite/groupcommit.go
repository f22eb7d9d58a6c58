package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agorafed/agora/storage/internal/gather"
)

// groupCommit gathers concurrent writes of one kind into one transaction
// on the writer connection (storage/internal/gather: the first caller to
// find no commit running leads, writing what is waiting, up to max at a
// time, until nothing is); every caller returns once its own write is
// committed, so nothing is acknowledged before it is durable. One
// transaction for many small writes saves the per-transaction locking and
// WAL work that dominates them.
type groupCommit[Req, Res any] struct {
	name string
	db   *DB
	// durable: the callers return once the WAL is synced, with this
	// commit and every earlier one in it. The connection is NORMAL (a
	// commit survives a crash of the process, not a power loss); the sync
	// is made after the writer connection is released, so other writes
	// go on meanwhile (with synchronous=FULL they would wait for it).
	durable bool
	// write writes the requests in tx and returns each one's result.
	write func(ctx context.Context, tx *sql.Tx, reqs []Req) []gcResult[Res]
	q     gather.Group[Req, Res]
}

// gcResult is one request's outcome in a group commit.
type gcResult[Res any] = gather.Result[Res]

func newGroupCommit[Req, Res any](db *DB, name string, max int, durable bool,
	write func(ctx context.Context, tx *sql.Tx, reqs []Req) []gcResult[Res]) *groupCommit[Req, Res] {
	g := &groupCommit[Req, Res]{name: name, db: db, durable: durable, write: write}
	g.q.Max, g.q.Commit = max, g.commit
	return g
}

// do writes req in a group commit and returns its result once committed.
func (g *groupCommit[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
	return g.q.Do(ctx, req)
}

func (g *groupCommit[Req, Res]) commit(reqs []Req) []gcResult[Res] {
	// Not a caller's context: the leader's own request may end, the
	// others' not.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := g.db
	var results []gcResult[Res]
	err := func() error {
		// The writer's one connection, held for the pragmas and the
		// transaction together.
		defer db.writers.hold()()
		conn, err := db.w.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		results = g.write(ctx, tx, reqs)
		return tx.Commit()
	}()
	if err == nil && g.durable {
		err = db.wal.sync()
	}
	out := make([]gcResult[Res], len(reqs))
	for i := range out {
		if i < len(results) {
			out[i] = results[i]
		}
		switch {
		case err != nil:
			out[i] = gcResult[Res]{Err: fmt.Errorf("%s: %w", g.name, err)}
		case out[i].Err != nil:
			out[i].Err = fmt.Errorf("%s: %w", g.name, out[i].Err)
		}
	}
	return out
}

// prepareEach runs one statement for every request in tx: a helper for the
// write of a group commit.
func prepareEach[Req, Res any](ctx context.Context, tx *sql.Tx, query string, reqs []Req,
	exec func(*sql.Stmt, Req) (Res, error)) []gcResult[Res] {
	out := make([]gcResult[Res], len(reqs))
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		for i := range out {
			out[i].Err = err
		}
		return out
	}
	defer stmt.Close()
	for i, r := range reqs {
		out[i].Res, out[i].Err = exec(stmt, r)
	}
	return out
}

// walSyncer syncs the database's WAL file through its own descriptor:
// fsync makes the file's written pages durable whichever descriptor wrote
// them. Frames a checkpoint has moved into the database file meanwhile are
// durable already (SQLite syncs the database file when it checkpoints).
type walSyncer struct {
	path  string
	mu    sync.Mutex
	f     *os.File
	syncs atomic.Int64 // for tests
}

func (w *walSyncer) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		// SQLite deletes the WAL when its last connection closes and makes
		// a new one: sync the file that is there now.
		cur, err1 := os.Stat(w.path)
		mine, err2 := w.f.Stat()
		if err1 != nil || err2 != nil || !os.SameFile(cur, mine) {
			w.f.Close()
			w.f = nil
		}
	}
	if w.f == nil {
		f, err := os.OpenFile(w.path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("sync the WAL: %w", err)
		}
		w.f = f
	}
	if err := w.f.Sync(); err != nil {
		w.f.Close() // opened again next time
		w.f = nil
		return fmt.Errorf("sync the WAL: %w", err)
	}
	w.syncs.Add(1)
	return nil
}

func (w *walSyncer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}
