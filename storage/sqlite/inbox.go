package sqlite

import (
	"context"
	"time"

	"github.com/agorafed/agora/federation"
)

// RecordInbox stores a verified incoming activity unless one with the same
// activity id exists; it reports whether it was new.
func (db *DB) RecordInbox(ctx context.Context, it federation.InboxItem) (bool, error) {
	res, err := db.w.ExecContext(ctx, `INSERT INTO inbox (activity_id, type, actor, body, received_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (activity_id) DO NOTHING`,
		it.ActivityID, it.Type, it.Actor, it.Body, ms(it.ReceivedAt))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UnprocessedInbox returns items not processed yet, oldest first, after id.
func (db *DB) UnprocessedInbox(ctx context.Context, afterID int64, limit int) ([]federation.InboxItem, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, activity_id, type, actor, body, received_at FROM inbox
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

// MarkInboxProcessed records the outcome of processing an item.
func (db *DB) MarkInboxProcessed(ctx context.Context, id int64, result string, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE inbox SET processed_at = ?, result = ? WHERE id = ?`, ms(at), result, id)
	return expectOne(res, err)
}

// InboxCount counts recorded incoming activities, processed or not.
func (db *DB) InboxCount(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM inbox`).Scan(&n)
	return n, err
}
