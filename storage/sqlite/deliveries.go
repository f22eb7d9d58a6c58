package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/agorafed/agora/federation"
)

// NextOutActivityID reserves the next number for an outgoing activity's IRI.
func (db *DB) NextOutActivityID(ctx context.Context) (int64, error) {
	var n int64
	err := db.writeRow(ctx, `UPDATE sequences SET n = n + 1 WHERE name = 'out_activity' RETURNING n`).Scan(&n)
	return n, err
}

// Enqueue stores an outgoing activity and one delivery per inbox in one
// transaction, so a crash leaves either all or none of them; with them,
// the Announce it is (a.Announces) or the Announces it withdraws
// (a.Withdraws).
func (db *DB) Enqueue(ctx context.Context, a federation.OutActivity, inboxes []string, now time.Time) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", a.IRI, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO out_activities (id, iri, type, community_id, signer, body, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, a.ID, a.IRI, a.Type, a.CommunityID, a.Signer, a.Body, ms(a.CreatedAt)); err != nil {
		return fmt.Errorf("enqueue %s: %w", a.IRI, err)
	}
	if m := a.Announces; m != nil {
		if err := checkDialect(m.PostID, m.Dialect); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO announces (post_id, dialect, out_activity_id) VALUES (?, ?, ?)
			ON CONFLICT (post_id, dialect, out_activity_id) DO NOTHING`, m.PostID, string(m.Dialect), a.ID); err != nil {
			return fmt.Errorf("enqueue %s: %w", a.IRI, err)
		}
	}
	if m := a.Withdraws; m != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE announces SET withdrawn_at = ?
			WHERE post_id = ? AND dialect = ? AND withdrawn_at IS NULL`, ms(now), m.PostID, string(m.Dialect)); err != nil {
			return fmt.Errorf("enqueue %s: %w", a.IRI, err)
		}
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO deliveries (activity_id, inbox, host, next_at, created_at) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", a.IRI, err)
	}
	defer stmt.Close()
	seen := make(map[string]bool, len(inboxes))
	for _, inbox := range inboxes {
		if seen[inbox] {
			continue
		}
		seen[inbox] = true
		u, err := url.Parse(inbox)
		if err != nil || u.Host == "" {
			continue // a remote actor with a broken inbox gets nothing
		}
		if _, err := stmt.ExecContext(ctx, a.ID, inbox, u.Host, ms(now), ms(now)); err != nil {
			return fmt.Errorf("enqueue %s: %w", a.IRI, err)
		}
	}
	return tx.Commit()
}

// ClaimDue leases due deliveries of available hosts, at most perHost for
// one host and none for skipHosts (they have enough claimed already), so
// one host's backlog cannot crowd out the others.
func (db *DB) ClaimDue(ctx context.Context, now time.Time, limit, perHost int, lease time.Duration, skipHosts ...string) ([]federation.Delivery, error) {
	if skipHosts == nil {
		skipHosts = []string{}
	}
	skip, err := json.Marshal(skipHosts)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	rows, err := db.writeRows(ctx, `UPDATE deliveries SET lease_until = ?
		WHERE id IN (
			SELECT id FROM (
				SELECT d.id, d.next_at, row_number() OVER (PARTITION BY d.host ORDER BY d.next_at, d.id) AS n,
					CASE WHEN h.failing_since IS NOT NULL THEN 1 ELSE ? END AS cap
				FROM deliveries d LEFT JOIN hosts h ON h.host = d.host
				WHERE d.next_at <= ? AND d.lease_until <= ?
				  AND h.unavailable_since IS NULL
				  AND d.host NOT IN (SELECT value FROM json_each(?)))
			WHERE n <= cap ORDER BY next_at, id LIMIT ?)
		RETURNING id, activity_id, inbox, host, attempts, next_at, last_error`,
		ms(now.Add(lease)), perHost, ms(now), ms(now), string(skip), limit)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	var out []federation.Delivery
	for rows.Next() {
		var d federation.Delivery
		var next int64
		if err := rows.Scan(&d.ID, &d.ActivityID, &d.Inbox, &d.Host, &d.Attempts, &next, &d.LastError); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		d.NextAt = fromMS(next)
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	// Bodies are shared by many deliveries: read each once.
	bodies := map[int64]federation.OutActivity{}
	for i := range out {
		a, ok := bodies[out[i].ActivityID]
		if !ok {
			err := db.readRow(ctx, `SELECT signer, body FROM out_activities WHERE id = ?`, out[i].ActivityID).
				Scan(&a.Signer, &a.Body)
			if err != nil {
				return nil, fmt.Errorf("claim deliveries: activity %d: %w", out[i].ActivityID, err)
			}
			bodies[out[i].ActivityID] = a
		}
		out[i].Signer, out[i].Body = a.Signer, a.Body
	}
	return out, nil
}

// DeliveryDone removes a delivered row.
// Deliveries finish at hundreds a second in a fan-out: they are group
// committed.
func (db *DB) DeliveryDone(ctx context.Context, id int64) error {
	_, err := db.deliveriesDone.do(ctx, id)
	return err
}

// deleteDeliveries is the write of a group commit of DeliveryDone.
func deleteDeliveries(ctx context.Context, tx *sql.Tx, ids []int64) []gcResult[struct{}] {
	return prepareEach(ctx, tx, `DELETE FROM deliveries WHERE id = ?`, ids,
		func(st *sql.Stmt, id int64) (struct{}, error) {
			_, err := st.ExecContext(ctx, id)
			return struct{}{}, err
		})
}

// RetryDelivery schedules another attempt and ends the lease.
func (db *DB) RetryDelivery(ctx context.Context, id int64, attempts int, next time.Time, lastErr string) error {
	_, err := db.write(ctx, `UPDATE deliveries SET attempts = ?, next_at = ?, lease_until = 0, last_error = ? WHERE id = ?`,
		attempts, ms(next), lastErr, id)
	return err
}

// DropDelivery gives a delivery up.
func (db *DB) DropDelivery(ctx context.Context, id int64, reason string) error {
	_, err := db.write(ctx, `DELETE FROM deliveries WHERE id = ?`, id)
	return err
}

// ReleaseLeases ends every lease (at start, before workers run).
func (db *DB) ReleaseLeases(ctx context.Context) error {
	_, err := db.write(ctx, `UPDATE deliveries SET lease_until = 0 WHERE lease_until <> 0`)
	return err
}

// QueueDepth counts deliveries not done yet.
func (db *DB) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := db.readRow(ctx, `SELECT count(*) FROM deliveries`).Scan(&n)
	return n, err
}

// OutActivity returns an outgoing activity by IRI.
func (db *DB) OutActivity(ctx context.Context, iri string) (federation.OutActivity, error) {
	var a federation.OutActivity
	var created int64
	err := db.readRow(ctx, `SELECT id, iri, type, community_id, signer, body, created_at FROM out_activities WHERE iri = ?`, iri).
		Scan(&a.ID, &a.IRI, &a.Type, &a.CommunityID, &a.Signer, &a.Body, &created)
	a.CreatedAt = fromMS(created)
	return a, notFound(err)
}

// HostSucceeded clears a host's failure state.
func (db *DB) HostSucceeded(ctx context.Context, host string) error {
	_, err := db.write(ctx, `UPDATE hosts SET failing_since = NULL, unavailable_since = NULL, last_error = '', last_error_at = 0 WHERE host = ?`, host)
	return err
}

// HostFailed records a failure, and why, and returns since when the host
// fails.
func (db *DB) HostFailed(ctx context.Context, host string, at time.Time, reason string) (time.Time, error) {
	var since int64
	err := db.writeRow(ctx, `INSERT INTO hosts (host, failing_since, last_error, last_error_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (host) DO UPDATE SET failing_since = coalesce(hosts.failing_since, excluded.failing_since),
			last_error = excluded.last_error, last_error_at = excluded.last_error_at
		RETURNING failing_since`, host, ms(at), clipError(reason), ms(at)).Scan(&since)
	return fromMS(since), err
}

// MarkHostUnavailable stops deliveries to a host until it is cleared.
func (db *DB) MarkHostUnavailable(ctx context.Context, host string, at time.Time) error {
	_, err := db.write(ctx, `INSERT INTO hosts (host, failing_since, unavailable_since) VALUES (?, ?, ?)
		ON CONFLICT (host) DO UPDATE SET unavailable_since = excluded.unavailable_since`, host, ms(at), ms(at))
	return err
}

// UnavailableHosts lists hosts marked unavailable.
func (db *DB) UnavailableHosts(ctx context.Context) ([]string, error) {
	rows, err := db.read(ctx, `SELECT host FROM hosts WHERE unavailable_since IS NOT NULL ORDER BY host`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// RemoveMembersByInbox removes the members (not the banned) whose personal
// inbox is inbox: it answered 410 Gone.
func (db *DB) RemoveMembersByInbox(ctx context.Context, inbox string) (int, error) {
	res, err := db.write(ctx, `DELETE FROM members WHERE state <> 'banned'
		AND actor IN (SELECT iri FROM remote_actors WHERE inbox = ?)`, inbox)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// clipError keeps a stored error to one line of at most 300 bytes: a
// remote server's answer is not ours to store in full.
func clipError(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}
