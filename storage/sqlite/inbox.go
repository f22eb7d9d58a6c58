package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
	// If ctx ends first, the row may still be committed; the sender will
	// retry and the retry will be a duplicate.
	return db.inboxRecords.do(ctx, it)
}

// insertInbox is the write of a group commit of RecordInbox.
func insertInbox(ctx context.Context, tx *sql.Tx, items []federation.InboxItem) []gcResult[bool] {
	return prepareEach(ctx, tx, `INSERT INTO inbox (activity_id, type, actor, body, received_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (activity_id) DO NOTHING`, items,
		func(st *sql.Stmt, it federation.InboxItem) (bool, error) {
			// The budget in the record's transaction: the items before
			// this one are counted (the triggers of 0013 keep the sum).
			if it.Budget > 0 {
				var n int64
				err := tx.QueryRowContext(ctx, `SELECT pending FROM inbox_actor_bytes WHERE actor = ?`, it.Actor).Scan(&n)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return false, err
				}
				if n+int64(len(it.Body)) > it.Budget {
					return false, fmt.Errorf("%w: %s has %d bytes waiting, budget %d", federation.ErrOverBudget, it.Actor, n, it.Budget)
				}
			}
			res, err := st.ExecContext(ctx, it.ActivityID, it.Type, it.Actor, it.Body, ms(it.ReceivedAt))
			if err != nil {
				return false, err
			}
			n, err := res.RowsAffected()
			return n == 1, err
		})
}

// UnprocessedInbox returns items not processed yet, oldest first, after id.
func (db *DB) UnprocessedInbox(ctx context.Context, afterID int64, due time.Time, limit int) ([]federation.InboxItem, error) {
	rows, err := db.read(ctx, `SELECT id, activity_id, type, actor, body, received_at, attempts FROM inbox
		WHERE processed_at IS NULL AND id > ? AND next_at <= ? ORDER BY id LIMIT ?`, afterID, ms(due), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []federation.InboxItem
	for rows.Next() {
		var it federation.InboxItem
		var received int64
		if err := rows.Scan(&it.ID, &it.ActivityID, &it.Type, &it.Actor, &it.Body, &received, &it.Attempts); err != nil {
			return nil, err
		}
		it.ReceivedAt = fromMS(received)
		out = append(out, it)
	}
	return out, rows.Err()
}

// MarkInboxProcessed records the outcomes of processed items. The
// processor's workers mark each activity as it ends; concurrent marks are
// committed together (group commit), so a busy inbox makes one commit for
// many marks, not one each. A mark need not be synced: losing one to a
// power cut means its activity is processed again, which is harmless.
func (db *DB) MarkInboxProcessed(ctx context.Context, results []federation.InboxResult) error {
	if len(results) == 0 {
		return nil
	}
	_, err := db.inboxMarks.do(ctx, results)
	return err
}

// markInbox is the write of a group commit of MarkInboxProcessed.
func markInbox(ctx context.Context, tx *sql.Tx, reqs [][]federation.InboxResult) []gcResult[struct{}] {
	out := make([]gcResult[struct{}], len(reqs))
	done, err := tx.PrepareContext(ctx, `UPDATE inbox SET processed_at = ?, result = ?, body = ? WHERE id = ?`)
	if err != nil {
		for i := range out {
			out[i].Err = err
		}
		return out
	}
	defer done.Close()
	retry, err := tx.PrepareContext(ctx, `UPDATE inbox SET attempts = attempts + 1, next_at = ?, result = ? WHERE id = ?`)
	if err != nil {
		for i := range out {
			out[i].Err = err
		}
		return out
	}
	defer retry.Close()
	for i, results := range reqs {
		for _, r := range results {
			// Only processed rows are deleted (PruneInbox), so every id is
			// there; were one gone, the others would still be marked.
			var err error
			switch {
			case !r.RetryAt.IsZero():
				_, err = retry.ExecContext(ctx, ms(r.RetryAt), r.Result, r.ID)
			default:
				kept := r.Kept
				if len(kept) == 0 {
					kept = []byte("{}")
				}
				_, err = done.ExecContext(ctx, ms(r.At), r.Result, kept, r.ID)
			}
			if err != nil && out[i].Err == nil {
				out[i].Err = fmt.Errorf("mark inbox item %d processed: %w", r.ID, err)
			}
		}
	}
	return out
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

// ReceivedLater tells whether an activity of type typ by actor about
// object was recorded after afterID. Bodies were valid JSON when recorded
// (they are parsed before the 202); they are BLOBs, read as text.
func (db *DB) ReceivedLater(ctx context.Context, afterID int64, typ, actor, object string) (bool, error) {
	var found bool
	err := db.readRow(ctx, receivedLaterQuery, afterID, typ, actor, object).Scan(&found)
	return found, err
}

// receivedLaterQuery reads only the actor's activities after the item,
// from inbox_by_actor (TestQueryPlans).
const receivedLaterQuery = `SELECT EXISTS (SELECT 1 FROM inbox WHERE actor = ?3 AND id > ?1 AND type = ?2
	AND (json_extract(CAST(body AS TEXT), '$.object') = ?4 OR json_extract(CAST(body AS TEXT), '$.object.id') = ?4))`

// PruneInbox deletes items processed before a time, a thousand at a
// time, so that other writes go on between (the first prune after an
// upgrade may find millions).
func (db *DB) PruneInbox(ctx context.Context, processedBefore time.Time) (int, error) {
	const chunk = 1000
	total := 0
	for {
		res, err := db.write(ctx, `DELETE FROM inbox WHERE id IN (SELECT id FROM inbox
			WHERE processed_at IS NOT NULL AND processed_at < ? ORDER BY id LIMIT ?)`, ms(processedBefore), chunk)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		total += int(n)
		if err != nil {
			return total, err
		}
		if n < chunk {
			// Actors with nothing waiting any more.
			_, err := db.write(ctx, `DELETE FROM inbox_actor_bytes WHERE pending <= 0`)
			return total, err
		}
	}
}

// PendingBytes is the size of the bodies of an actor's activities
// recorded and not processed yet (inbox_actor_bytes, kept by triggers).
func (db *DB) PendingBytes(ctx context.Context, actor string) (int64, error) {
	var n int64
	err := db.readRow(ctx, `SELECT pending FROM inbox_actor_bytes WHERE actor = ?`, actor).Scan(&n)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	return n, err
}
