package sqlite

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/agorafed/agora/federation"
)

// RecordInbox stores a verified incoming activity unless one with the same
// activity id exists; it reports whether it was new. It returns once the
// row is committed.
//
// Concurrent calls are committed together (group commit): the first caller
// writes every item waiting at that moment in one transaction, and goes on
// while more arrive. Under load this turns hundreds of single-row
// transactions, each waiting its turn for the one writer connection, into
// a few.
func (db *DB) RecordInbox(ctx context.Context, it federation.InboxItem) (bool, error) {
	req := &inboxReq{it: it, done: make(chan inboxResult, 1)}
	b := &db.inboxBatch
	b.mu.Lock()
	b.pending = append(b.pending, req)
	lead := !b.running
	b.running = true
	b.mu.Unlock()
	if lead {
		db.commitInboxBatches()
	}
	select {
	case r := <-req.done:
		return r.isNew, r.err
	case <-ctx.Done():
		// The row may still be committed; the sender will retry and the
		// retry will be a duplicate.
		return false, ctx.Err()
	}
}

// inboxBatcher gathers RecordInbox calls for group commit.
type inboxBatcher struct {
	mu      sync.Mutex
	pending []*inboxReq
	running bool
}

type inboxReq struct {
	it   federation.InboxItem
	done chan inboxResult
}

type inboxResult struct {
	isNew bool
	err   error
}

// maxInboxBatch bounds one group commit.
const maxInboxBatch = 256

// commitInboxBatches writes waiting items until none are left.
func (db *DB) commitInboxBatches() {
	b := &db.inboxBatch
	for {
		b.mu.Lock()
		batch := b.pending
		if len(batch) > maxInboxBatch {
			batch = batch[:maxInboxBatch]
		}
		b.pending = b.pending[len(batch):]
		if len(batch) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		db.commitInboxBatch(batch)
	}
}

func (db *DB) commitInboxBatch(batch []*inboxReq) {
	// Not the leader's context: its own request may end, the others' not.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := make([]inboxResult, len(batch))
	err := func() error {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO inbox (activity_id, type, actor, body, received_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (activity_id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, r := range batch {
			res, err := stmt.ExecContext(ctx, r.it.ActivityID, r.it.Type, r.it.Actor, r.it.Body, ms(r.it.ReceivedAt))
			if err != nil {
				results[i].err = err
				continue
			}
			n, err := res.RowsAffected()
			results[i] = inboxResult{isNew: n == 1, err: err}
		}
		return tx.Commit()
	}()
	for i, r := range batch {
		if err != nil {
			results[i] = inboxResult{err: fmt.Errorf("record inbox: %w", err)}
		}
		r.done <- results[i]
	}
}

// UnprocessedInbox returns items not processed yet, oldest first, after id.
func (db *DB) UnprocessedInbox(ctx context.Context, afterID int64, limit int) ([]federation.InboxItem, error) {
	rows, err := db.read(ctx, `SELECT id, activity_id, type, actor, body, received_at FROM inbox
		WHERE processed_at IS NULL AND id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []federation.InboxItem
	for rows.Next() {
		var it federation.InboxItem
		var received int64
		if err := rows.Scan(&it.ID, &it.ActivityID, &it.Type, &it.Actor, &it.Body, &received); err != nil {
			return nil, err
		}
		it.ReceivedAt = fromMS(received)
		out = append(out, it)
	}
	return out, rows.Err()
}

// MarkInboxProcessed records the outcomes of processed items in one
// transaction: one commit (and its WAL write) for a batch, not one each.
func (db *DB) MarkInboxProcessed(ctx context.Context, results []federation.InboxResult) error {
	if len(results) == 0 {
		return nil
	}
	st, err := db.ws.get(ctx, `UPDATE inbox SET processed_at = ?, result = ? WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("mark inbox processed: %w", err)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark inbox processed: %w", err)
	}
	defer tx.Rollback()
	txst := tx.StmtContext(ctx, st) // the writer's one connection has it prepared already
	for _, r := range results {
		// Nothing deletes inbox rows, so every id is there; were one gone,
		// the others would still be marked.
		if _, err := txst.ExecContext(ctx, ms(r.At), r.Result, r.ID); err != nil {
			return fmt.Errorf("mark inbox item %d processed: %w", r.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark inbox processed: %w", err)
	}
	return nil
}

// InboxCount counts recorded incoming activities, processed or not.
func (db *DB) InboxCount(ctx context.Context) (int, error) {
	var n int
	err := db.readRow(ctx, `SELECT count(*) FROM inbox`).Scan(&n)
	return n, err
}

// UnprocessedCount counts the items recorded and not processed yet.
func (db *DB) UnprocessedCount(ctx context.Context) (int, error) {
	var n int
	err := db.readRow(ctx, `SELECT count(*) FROM inbox WHERE processed_at IS NULL`).Scan(&n)
	return n, err
}
