package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/agorafed/agora/federation"
)

// HostStatuses lists the hosts that fail, are unavailable or have queued
// deliveries; with all, every host heard of. Unavailable hosts come first.
func (db *DB) HostStatuses(ctx context.Context, all bool) ([]federation.HostStatus, error) {
	rows, err := db.read(ctx, `
		WITH queued AS (SELECT host, count(*) AS n FROM deliveries GROUP BY host),
		     known AS (SELECT host FROM hosts UNION SELECT host FROM queued)
		SELECT k.host, coalesce(h.software, ''), h.failing_since, h.unavailable_since, coalesce(q.n, 0),
			coalesce(h.last_error, ''), coalesce(h.last_error_at, 0)
		FROM known k LEFT JOIN hosts h ON h.host = k.host LEFT JOIN queued q ON q.host = k.host
		WHERE ? OR h.failing_since IS NOT NULL OR h.unavailable_since IS NOT NULL OR q.n > 0
		ORDER BY h.unavailable_since IS NULL, h.failing_since IS NULL, k.host`, all)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []federation.HostStatus
	for rows.Next() {
		var s federation.HostStatus
		var failing, unavailable sql.NullInt64
		var errAt int64
		if err := rows.Scan(&s.Host, &s.Software, &failing, &unavailable, &s.Queued, &s.LastError, &errAt); err != nil {
			return nil, err
		}
		s.FailingSince, s.UnavailableSince = fromMS(failing.Int64), fromMS(unavailable.Int64)
		if errAt != 0 {
			s.LastErrorAt = fromMS(errAt)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ClearHost makes a host available again, as a success would, and makes
// its queued deliveries due at now rather than at the end of their
// backoff: the admin says the host is back. It reports whether the host
// was known at all.
func (db *DB) ClearHost(ctx context.Context, host string, now time.Time) (bool, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE hosts SET failing_since = NULL, unavailable_since = NULL WHERE host = ?`, host)
	if err != nil {
		return false, err
	}
	known, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_at = ? WHERE host = ? AND next_at > ?`, ms(now), host, ms(now)); err != nil {
		return false, err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE host = ?`, host).Scan(&n); err != nil {
		return false, err
	}
	return known > 0 || n > 0, tx.Commit()
}
