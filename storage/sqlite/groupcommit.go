package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
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
	// durable commits with synchronous=FULL: the commit returns once the
	// WAL is on disk, with every earlier commit in it (the connection is
	// NORMAL otherwise: a commit then survives a crash of the process,
	// not a power loss).
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
		conn, err := db.w.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if g.durable {
			if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
				return err
			}
			defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = NORMAL`)
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		results = g.write(ctx, tx, reqs)
		return tx.Commit()
	}()
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
