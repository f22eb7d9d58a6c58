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
type groupCommit[Req any] struct {
	name  string
	max   int
	write func(ctx context.Context, tx *sql.Tx, reqs []Req) []error // one error per request

	mu      sync.Mutex
	pending []*gcReq[Req]
	running bool
}

type gcReq[Req any] struct {
	req  Req
	done chan error
}

// do writes req in a group commit and returns its outcome.
func (g *groupCommit[Req]) do(ctx context.Context, db *DB, req Req) error {
	r := &gcReq[Req]{req: req, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if lead {
		g.run(db)
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // the write may still be committed
	}
}

func (g *groupCommit[Req]) run(db *DB) {
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

func (g *groupCommit[Req]) commit(db *DB, batch []*gcReq[Req]) {
	// Not the leader's context: its own request may end, the others' not.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reqs := make([]Req, len(batch))
	for i, r := range batch {
		reqs[i] = r.req
	}
	var errs []error
	err := func() error {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		errs = g.write(ctx, tx, reqs)
		return tx.Commit()
	}()
	for i, r := range batch {
		switch {
		case err != nil:
			r.done <- fmt.Errorf("%s: %w", g.name, err)
		case i < len(errs) && errs[i] != nil:
			r.done <- fmt.Errorf("%s: %w", g.name, errs[i])
		default:
			r.done <- nil
		}
	}
}
