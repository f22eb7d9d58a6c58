package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// groupCommit gathers concurrent writes of one kind into one batch: one
// round trip and one transaction for many small writes, as storage/sqlite
// gathers them (its groupcommit.go). The first caller to find no batch
// running leads, sending what is waiting (up to max at a time) until
// nothing is; every caller returns once its own write is committed.
//
// A batch is sent with one Sync, so PostgreSQL runs it as one implicit
// transaction: a statement that fails rolls the whole batch back. Each
// request is then written again alone (single), in its own transaction,
// and gets its own result; the others are not lost with it.
//
// Per-connection overhead, not the statements, is most of what these
// writes cost on PostgreSQL: a round trip, a commit and its WAL flush
// each. Gathered 64 at a time, a mark or an insert costs a statement.
type groupCommit[Req, Res any] struct {
	name string
	max  int
	// async commits the batch with synchronous_commit off: the callers
	// return once the commit is written to the WAL buffers, before it is
	// flushed. Only for writes that the processing makes again after a
	// loss (see docs/architecture.md, "Several nodes"): PostgreSQL's own
	// crash may lose the last ones (up to three wal_writer_delay, 600 ms
	// by default), never part of one, and never one that an acknowledged
	// synchronous commit followed (the WAL is flushed in order). This is
	// what storage/sqlite's synchronous=NORMAL gives the same writes.
	async bool
	// queue adds the request's statements to the batch; read reads their
	// results, in the same order, from the sent batch. A request's own
	// outcome (a conflict, a missing row) is its result; an error from
	// read is the batch's failure.
	queue func(b *pgx.Batch, req Req)
	read  func(br pgx.BatchResults, req Req) (Res, error)
	// single writes one request in a transaction of its own.
	single func(ctx context.Context, req Req) (Res, error)

	mu      sync.Mutex
	pending []*gcReq[Req, Res]
	running bool
	db      *DB
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
func (g *groupCommit[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
	r := &gcReq[Req, Res]{req: req, done: make(chan gcResult[Res], 1)}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if lead {
		g.run()
	}
	select {
	case out := <-r.done:
		return out.res, out.err
	case <-ctx.Done():
		var zero Res
		return zero, ctx.Err() // the write may still be committed
	}
}

func (g *groupCommit[Req, Res]) run() {
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
		g.commit(batch)
	}
}

func (g *groupCommit[Req, Res]) commit(batch []*gcReq[Req, Res]) {
	// Not the leader's context: its own request may end, the others' not.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := &pgx.Batch{}
	if g.async {
		// For this transaction only (is_local): the implicit
		// transaction of the batch.
		b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	}
	for _, r := range batch {
		g.queue(b, r.req)
	}
	results := make([]Res, len(batch))
	err := func() error {
		br := g.db.pool.SendBatch(ctx, b)
		defer br.Close()
		if g.async {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		for i, r := range batch {
			res, err := g.read(br, r.req)
			if err != nil {
				return err
			}
			results[i] = res
		}
		return br.Close() // the commit
	}()
	if err != nil {
		// Rolled back as a whole: each on its own, for its own result.
		for _, r := range batch {
			res, err := g.single(ctx, r.req)
			g.answer(r, res, err)
		}
		return
	}
	for i, r := range batch {
		g.answer(r, results[i], nil)
	}
}

func (g *groupCommit[Req, Res]) answer(r *gcReq[Req, Res], res Res, err error) {
	if err != nil {
		err = fmt.Errorf("%s: %w", g.name, err)
	}
	r.done <- gcResult[Res]{res: res, err: err}
}

// groupCommits makes the database's group commits.
func (db *DB) groupCommits() {
	db.inboxRecords = db.recordInboxGroup()
	db.inboxMarks = db.inboxMarkGroup()
	db.postInserts = db.postInsertGroup()
	db.deliveriesDone = db.deliveryDoneGroup()
}
