package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/agorafed/agora/storage/internal/gather"
	"github.com/jackc/pgx/v5"
)

// groupCommit gathers concurrent writes of one kind into one batch: one
// round trip and one transaction for many small writes, as storage/sqlite
// gathers them (storage/internal/gather: the first caller to find no
// batch running leads, sending what is waiting until nothing is); every
// caller returns once its own write is committed.
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

	db *DB
	q  gather.Group[Req, Res]
}

// do writes req in a group commit and returns its result once committed.
func (g *groupCommit[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
	return g.q.Do(ctx, req)
}

// start makes g ready: its batches are gathered up to max.
func (g *groupCommit[Req, Res]) start(max int) *groupCommit[Req, Res] {
	g.q.Max, g.q.Commit = max, g.commit
	return g
}

func (g *groupCommit[Req, Res]) commit(reqs []Req) []gather.Result[Res] {
	// Not a caller's context: the leader's own request may end, the
	// others' not.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := &pgx.Batch{}
	if g.async {
		// For this transaction only (is_local): the implicit
		// transaction of the batch.
		b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	}
	for _, r := range reqs {
		g.queue(b, r)
	}
	out := make([]gather.Result[Res], len(reqs))
	err := func() error {
		br := g.db.pool.SendBatch(ctx, b)
		defer br.Close()
		if g.async {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		for i, r := range reqs {
			res, err := g.read(br, r)
			if err != nil {
				return err
			}
			out[i].Res = res
		}
		return br.Close() // the commit
	}()
	if err != nil {
		// Rolled back as a whole: each on its own, for its own result.
		for i, r := range reqs {
			out[i].Res, out[i].Err = g.single(ctx, r)
		}
	}
	for i := range out {
		if out[i].Err != nil {
			out[i].Err = fmt.Errorf("%s: %w", g.name, out[i].Err)
		}
	}
	return out
}

// groupCommits makes the database's group commits.
func (db *DB) groupCommits() {
	db.inboxRecords = db.recordInboxGroup()
	db.inboxMarks = db.inboxMarkGroup()
	db.postInserts = db.postInsertGroup()
	db.deliveriesDone = db.deliveryDoneGroup()
}
