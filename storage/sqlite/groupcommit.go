package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// groupCommit gathers concurrent writes of one kind into one transaction
// on the writer connection: the first caller to find no commit running
// leads, writing what is waiting (up to max at a time) until nothing is;
// every caller returns once its own write is committed, so nothing is
// acknowledged before it is durable. One transaction for many small
// writes saves the per-transaction locking and WAL work that dominates
// them.
type groupCommit[Req, Res any] struct {
	name string
	max  int
	// durable: the callers return once the WAL is synced, with this
	// commit and every earlier one in it. The connection is NORMAL (a
	// commit survives a crash of the process, not a power loss); the sync
	// is made after the writer connection is released, so other writes
	// go on meanwhile (with synchronous=FULL they would wait for it).
	durable bool
	// write writes the requests in tx and returns each one's result.
	write func(ctx context.Context, tx *sql.Tx, reqs []Req) []gcResult[Res]

	mu      sync.Mutex
	pending []*gcReq[Req, Res]
	running bool
}

type gcReq[Req, Res any] struct {
	req  Req
	done chan gcResult[Res]
}

type gcResult[Res any] struct {
	res Res
	err error
}

// do writes req in a group commit and returns its result once committed.
func (g *groupCommit[Req, Res]) do(ctx context.Context, db *DB, req Req) (Res, error) {
	r := &gcReq[Req, Res]{req: req, done: make(chan gcResult[Res], 1)}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if lead {
		g.run(db)
	}
	select {
	case out := <-r.done:
		return out.res, out.err
	case <-ctx.Done():
		var zero Res
		return zero, ctx.Err() // the write may still be committed
	}
}

func (g *groupCommit[Req, Res]) run(db *DB) {
	for {
		g.mu.Lock()
		batch := g.pending
		if len(batch) > g.max {
			batch = batch[:g.max]
		}
		g.pending = g.pending[len(batch):]
		if len(batch) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		g.commit(db, batch)
	}
}

func (g *groupCommit[Req, Res]) commit(db *DB, batch []*gcReq[Req, Res]) {
	// Not the leader's context: its own request may end, the others' not.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reqs := make([]Req, len(batch))
	for i, r := range batch {
		reqs[i] = r.req
	}
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
	for i, r := range batch {
		var out gcResult[Res]
		if i < len(results) {
			out = results[i]
		}
		switch {
		case err != nil:
			out = gcResult[Res]{err: fmt.Errorf("%s: %w", g.name, err)}
		case out.err != nil:
			out.err = fmt.Errorf("%s: %w", g.name, out.err)
		}
		r.done <- out
	}
}

// prepareEach runs one statement for every request in tx: a helper for the
// write of a group commit.
func prepareEach[Req, Res any](ctx context.Context, tx *sql.Tx, query string, reqs []Req,
	exec func(*sql.Stmt, Req) (Res, error)) []gcResult[Res] {
	out := make([]gcResult[Res], len(reqs))
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		for i := range out {
			out[i].err = err
		}
		return out
	}
	defer stmt.Close()
	for i, r := range reqs {
		out[i].res, out[i].err = exec(stmt, r)
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
