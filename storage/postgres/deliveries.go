package postgres

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/jackc/pgx/v5"
)

// NextOutActivityID reserves the next number for an outgoing activity's IRI.
func (db *DB) NextOutActivityID(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `UPDATE sequences SET n = n + 1 WHERE name = 'out_activity' RETURNING n`).Scan(&n)
	return n, err
}

// Enqueue stores an outgoing activity and one delivery per inbox in one
// transaction, so a crash leaves either all or none of them; with them,
// the Announce it is (a.Announces) or the Announces it withdraws
// (a.Withdraws). Every node is told (NOTIFY, sent at commit).
func (db *DB) Enqueue(ctx context.Context, a federation.OutActivity, inboxes []string, now time.Time) error {
	if m := a.Announces; m != nil {
		if err := checkDialect(m.PostID, m.Dialect); err != nil {
			return err
		}
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", a.IRI, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO out_activities (id, iri, type, community_id, signer, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, a.ID, a.IRI, a.Type, a.CommunityID, a.Signer, blob(a.Body), ms(a.CreatedAt)); err != nil {
		return fmt.Errorf("enqueue %s: %w", a.IRI, err)
	}
	if m := a.Announces; m != nil {
		if _, err := tx.Exec(ctx, `INSERT INTO announces (post_id, dialect, out_activity_id) VALUES ($1, $2, $3)
			ON CONFLICT (post_id, dialect, out_activity_id) DO NOTHING`, m.PostID, string(m.Dialect), a.ID); err != nil {
			return fmt.Errorf("enqueue %s: %w", a.IRI, err)
		}
	}
	if m := a.Withdraws; m != nil {
		if _, err := tx.Exec(ctx, `UPDATE announces SET withdrawn_at = $1
			WHERE post_id = $2 AND dialect = $3 AND withdrawn_at IS NULL`, ms(now), m.PostID, string(m.Dialect)); err != nil {
			return fmt.Errorf("enqueue %s: %w", a.IRI, err)
		}
	}
	// One COPY-free insert of every row: the inboxes and their hosts as
	// arrays, unnested.
	seen := make(map[string]bool, len(inboxes))
	var ins, hosts []string
	for _, inbox := range inboxes {
		if seen[inbox] {
			continue
		}
		seen[inbox] = true
		u, err := url.Parse(inbox)
		if err != nil || u.Host == "" {
			continue // a remote actor with a broken inbox gets nothing
		}
		ins, hosts = append(ins, inbox), append(hosts, u.Host)
	}
	if len(ins) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO deliveries (activity_id, inbox, host, next_at, created_at)
			SELECT $1, i, h, $4, $4 FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS x(i, h, n) ORDER BY n`,
			a.ID, ins, hosts, ms(now)); err != nil {
			return fmt.Errorf("enqueue %s: %w", a.IRI, err)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, ChannelDeliveries); err != nil {
			return fmt.Errorf("enqueue %s: %w", a.IRI, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("enqueue %s: %w", a.IRI, err)
	}
	return nil
}

// claimLock serialises the claims of deliveries of every node, so that
// each counts what the others have in hand: claims are one statement per
// batch, far fewer than deliveries.
const claimLock = 7_240_002

// ClaimDue leases due deliveries of available hosts, at most perHost for
// one host and none for skipHosts, to this node. perHost counts what
// other nodes have in hand for the host too (their leases that have not
// run out), so a host's limit holds across nodes. Rows another
// transaction is changing are skipped (FOR UPDATE SKIP LOCKED), not
// waited for.
func (db *DB) ClaimDue(ctx context.Context, now time.Time, limit, perHost int, lease time.Duration, skipHosts ...string) ([]federation.Delivery, error) {
	if skipHosts == nil {
		skipHosts = []string{}
	}
	if max := db.opts.MaxDeliveryLease; max > 0 && lease > max {
		lease = max
	}
	// One batch: one round trip and one implicit transaction, the lock
	// held until its end (as UnprocessedInbox).
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, claimLock)
	b.Queue(`WITH elsewhere AS (
			SELECT host, count(*) AS n FROM deliveries
			WHERE lease_until > $2 AND lease_owner <> $6 GROUP BY host),
		wanted AS (
			SELECT id, next_at FROM (
				SELECT d.id, d.next_at,
					row_number() OVER (PARTITION BY d.host ORDER BY d.next_at, d.id) + coalesce(e.n, 0) AS n,
					CASE WHEN h.failing_since IS NOT NULL THEN 1 ELSE $4 END AS cap
				FROM deliveries d LEFT JOIN elsewhere e ON e.host = d.host LEFT JOIN hosts h ON h.host = d.host
				WHERE d.next_at <= $2 AND d.lease_until <= $2
				  AND h.unavailable_since IS NULL
				  AND d.host <> ALL($3::text[])) w
			WHERE n <= cap ORDER BY next_at, id LIMIT $5),
		locked AS (
			SELECT d.id FROM deliveries d JOIN wanted w ON w.id = d.id
			WHERE d.lease_until <= $2 FOR UPDATE OF d SKIP LOCKED)
		UPDATE deliveries SET lease_until = $1, lease_owner = $6
		WHERE id IN (SELECT id FROM locked)
		RETURNING id, activity_id, inbox, host, attempts, next_at, last_error`,
		ms(now.Add(lease)), ms(now), skipHosts, perHost, limit, db.opts.Node)
	br := db.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	rows, err := br.Query()
	out, err := collect(rows, err, func(r pgx.Rows) (federation.Delivery, error) {
		var d federation.Delivery
		var next int64
		err := r.Scan(&d.ID, &d.ActivityID, &d.Inbox, &d.Host, &d.Attempts, &next, &d.LastError)
		d.NextAt = fromMS(next)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	if err := br.Close(); err != nil { // the commit
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	// RETURNING has no order: oldest due first, as SQLite's.
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NextAt.Equal(out[j].NextAt) {
			return out[i].NextAt.Before(out[j].NextAt)
		}
		return out[i].ID < out[j].ID
	})
	// Bodies are shared by many deliveries: read each once.
	bodies := map[int64]federation.OutActivity{}
	for i := range out {
		a, ok := bodies[out[i].ActivityID]
		if !ok {
			err := db.pool.QueryRow(ctx, `SELECT signer, body FROM out_activities WHERE id = $1`, out[i].ActivityID).
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
func (db *DB) DeliveryDone(ctx context.Context, id int64) error {
	_, err := db.deliveriesDone.do(ctx, id)
	return err
}

func (db *DB) deliveryDoneGroup() *groupCommit[int64, struct{}] {
	const del = `DELETE FROM deliveries WHERE id = $1`
	return (&groupCommit[int64, struct{}]{name: "delivery done", async: true, db: db,
		queue: func(b *pgx.Batch, id int64) { b.Queue(del, id) },
		read: func(br pgx.BatchResults, _ int64) (struct{}, error) {
			_, err := br.Exec()
			return struct{}{}, err
		},
		single: func(ctx context.Context, id int64) (struct{}, error) {
			_, err := db.pool.Exec(ctx, del, id)
			return struct{}{}, err
		},
	}).start(256)
}

// RetryDelivery schedules another attempt and ends the lease.
func (db *DB) RetryDelivery(ctx context.Context, id int64, attempts int, next time.Time, lastErr string) error {
	_, err := db.pool.Exec(ctx, `UPDATE deliveries SET attempts = $1, next_at = $2, lease_until = 0, lease_owner = '', last_error = $3 WHERE id = $4`,
		attempts, ms(next), lastErr, id)
	return err
}

// DropDelivery gives a delivery up.
func (db *DB) DropDelivery(ctx context.Context, id int64, reason string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM deliveries WHERE id = $1`, id)
	return err
}

// ReleaseLeases ends this node's leases (at start, before its workers
// run): what it had in hand when it stopped is due again at once. Other
// nodes' leases are theirs; those of a node that died run out.
func (db *DB) ReleaseLeases(ctx context.Context) error {
	_, err := db.pool.Exec(ctx, `UPDATE deliveries SET lease_until = 0, lease_owner = '' WHERE lease_until <> 0 AND lease_owner = $1`, db.opts.Node)
	return err
}

// QueueDepth counts deliveries not done yet.
func (db *DB) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries`).Scan(&n)
	return n, err
}

// OutActivity returns an outgoing activity by IRI.
func (db *DB) OutActivity(ctx context.Context, iri string) (federation.OutActivity, error) {
	a, err := scanOutActivity(db.pool.QueryRow(ctx, `SELECT id, iri, type, community_id, signer, body, created_at FROM out_activities WHERE iri = $1`, iri))
	return a, notFound(err)
}

// HostSucceeded clears a host's failure state.
func (db *DB) HostSucceeded(ctx context.Context, host string) error {
	_, err := db.pool.Exec(ctx, `UPDATE hosts SET failing_since = NULL, unavailable_since = NULL, last_error = '', last_error_at = 0 WHERE host = $1`, host)
	return err
}

// HostFailed records a failure, and why, and returns since when the host
// fails.
func (db *DB) HostFailed(ctx context.Context, host string, at time.Time, reason string) (time.Time, error) {
	var since int64
	err := db.pool.QueryRow(ctx, `INSERT INTO hosts (host, failing_since, last_error, last_error_at) VALUES ($1, $2, $3, $2)
		ON CONFLICT (host) DO UPDATE SET failing_since = coalesce(hosts.failing_since, excluded.failing_since),
			last_error = excluded.last_error, last_error_at = excluded.last_error_at
		RETURNING failing_since`, host, ms(at), clipError(reason)).Scan(&since)
	return fromMS(since), err
}

// MarkHostUnavailable stops deliveries to a host until it is cleared.
func (db *DB) MarkHostUnavailable(ctx context.Context, host string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO hosts (host, failing_since, unavailable_since) VALUES ($1, $2, $2)
		ON CONFLICT (host) DO UPDATE SET unavailable_since = excluded.unavailable_since`, host, ms(at))
	return err
}

// UnavailableHosts lists hosts marked unavailable.
func (db *DB) UnavailableHosts(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT host FROM hosts WHERE unavailable_since IS NOT NULL ORDER BY host`)
	return collect(rows, err, scanOne[string])
}

// RemoveMembersByInbox removes the members (not the banned) whose personal
// inbox is inbox: it answered 410 Gone.
func (db *DB) RemoveMembersByInbox(ctx context.Context, inbox string) (int, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM members WHERE state <> 'banned'
		AND actor IN (SELECT iri FROM remote_actors WHERE inbox = $1)`, inbox)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// FailingHosts returns the hosts whose deliveries fail, with since when.
func (db *DB) FailingHosts(ctx context.Context) (map[string]time.Time, error) {
	rows, err := db.pool.Query(ctx, `SELECT host, failing_since FROM hosts WHERE failing_since IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var h string
		var since int64
		if err := rows.Scan(&h, &since); err != nil {
			return nil, err
		}
		out[h] = fromMS(since)
	}
	return out, rows.Err()
}

// QueueByHost counts the queued deliveries to each host.
func (db *DB) QueueByHost(ctx context.Context) (map[string]int, error) {
	return db.countsByHost(ctx, `SELECT host, count(*) FROM deliveries GROUP BY host`)
}

func (db *DB) countsByHost(ctx context.Context, q string, args ...any) (map[string]int, error) {
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var h string
		var n int
		if err := rows.Scan(&h, &n); err != nil {
			return nil, err
		}
		out[h] = n
	}
	return out, rows.Err()
}

// HostStatuses lists the hosts that fail, are unavailable or have queued
// deliveries; with all, every host heard of. Unavailable hosts come first.
func (db *DB) HostStatuses(ctx context.Context, all bool) ([]federation.HostStatus, error) {
	rows, err := db.pool.Query(ctx, `
		WITH queued AS (SELECT host, count(*) AS n FROM deliveries GROUP BY host),
		     known AS (SELECT host FROM hosts UNION SELECT host FROM queued)
		SELECT k.host, coalesce(h.software, ''), h.failing_since, h.unavailable_since, coalesce(q.n, 0),
			coalesce(h.last_error, ''), coalesce(h.last_error_at, 0)
		FROM known k LEFT JOIN hosts h ON h.host = k.host LEFT JOIN queued q ON q.host = k.host
		WHERE $1 OR h.failing_since IS NOT NULL OR h.unavailable_since IS NOT NULL OR q.n > 0
		ORDER BY h.unavailable_since IS NULL, h.failing_since IS NULL, k.host`, all)
	return collect(rows, err, func(r pgx.Rows) (federation.HostStatus, error) {
		var s federation.HostStatus
		var failing, unavailable *int64
		var errAt int64
		err := r.Scan(&s.Host, &s.Software, &failing, &unavailable, &s.Queued, &s.LastError, &errAt)
		s.FailingSince, s.UnavailableSince = fromNullMS(failing), fromNullMS(unavailable)
		s.LastErrorAt = fromMS(errAt)
		return s, err
	})
}

// ClearHost makes a host available again, as a success would, and makes
// its queued deliveries due at now. It reports whether the host was known.
func (db *DB) ClearHost(ctx context.Context, host string, now time.Time) (bool, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `UPDATE hosts SET failing_since = NULL, unavailable_since = NULL WHERE host = $1`, host)
	if err != nil {
		return false, err
	}
	known := tag.RowsAffected() > 0
	if _, err := tx.Exec(ctx, `UPDATE deliveries SET next_at = $1 WHERE host = $2 AND next_at > $1`, ms(now), host); err != nil {
		return false, err
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE host = $1`, host).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, ChannelDeliveries); err != nil {
			return false, err
		}
	}
	return known || n > 0, tx.Commit(ctx)
}

// clipError keeps a stored error to one line of at most 300 bytes, as
// storage/sqlite does.
func clipError(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

// LeasesByNode counts the deliveries each node has in hand at now (its
// leases that have not run out).
func (db *DB) LeasesByNode(ctx context.Context, now time.Time) (map[string]int, error) {
	return db.countsByHost(ctx, `SELECT lease_owner, count(*) FROM deliveries WHERE lease_until > $1 GROUP BY lease_owner`, ms(now))
}
