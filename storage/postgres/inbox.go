package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/jackc/pgx/v5"
)

// RecordInbox stores a verified incoming activity unless one with the same
// activity id exists; it reports whether it was new. It returns once the
// row is committed (durable: PostgreSQL's synchronous commit), and every
// node is told (NOTIFY). Concurrent records share a transaction (a group
// commit). The actor's byte budget is checked in the insert's statement.
func (db *DB) RecordInbox(ctx context.Context, it federation.InboxItem) (bool, error) {
	r, err := db.inboxRecords.do(ctx, it)
	if err != nil {
		return false, err
	}
	return r.fresh, r.err
}

// recorded is one record's outcome: new or not, or refused (over the
// actor's budget).
type recorded struct {
	fresh bool
	err   error
}

// recordInboxSQL is the insert, unless the actor's bytes waiting (as the
// statement starts: the batch's earlier records are counted) and this
// body's pass the budget ($8, when above 0), and a wake-up for each row
// it inserted (pg_notify is volatile: it runs per row; NOTIFY is sent at
// the commit). It returns whether a row was inserted and the bytes
// waiting before it.
const recordInboxSQL = `WITH pend AS (
		SELECT coalesce((SELECT pending FROM inbox_actor_bytes WHERE actor = $3::text), 0) AS n),
	ins AS (
		INSERT INTO inbox (activity_id, type, actor, body, received_at, order_keys)
		SELECT $1::text, $2::text, $3::text, $4::bytea, $5::bigint, $6::text[] FROM pend
		WHERE $8::bigint <= 0 OR pend.n + octet_length($4::bytea) <= $8::bigint
		ON CONFLICT (activity_id) DO NOTHING RETURNING 1)
	SELECT (SELECT count(*) > 0 FROM (SELECT pg_notify($7, '') FROM ins) AS w), (SELECT n FROM pend)`

func recordInboxArgs(it federation.InboxItem) []any {
	keys := it.OrderKeys // the inbox's parse: no second decode of the body
	if keys == nil {
		keys = federation.OrderKeys(it.Actor, it.Body)
	}
	return []any{it.ActivityID, it.Type, it.Actor, blob(it.Body), ms(it.ReceivedAt),
		keys, ChannelInbox, it.Budget}
}

func scanRecorded(row pgx.Row, it federation.InboxItem) (recorded, error) {
	var r recorded
	var waiting int64
	if err := row.Scan(&r.fresh, &waiting); err != nil {
		return r, err
	}
	if !r.fresh && it.Budget > 0 && waiting+int64(len(it.Body)) > it.Budget {
		r.err = fmt.Errorf("%w: %s has %d bytes waiting, budget %d", federation.ErrOverBudget, it.Actor, waiting, it.Budget)
	}
	return r, nil
}

func (db *DB) recordInboxGroup() *groupCommit[federation.InboxItem, recorded] {
	return (&groupCommit[federation.InboxItem, recorded]{name: "record inbox", db: db,
		queue: func(b *pgx.Batch, it federation.InboxItem) { b.Queue(recordInboxSQL, recordInboxArgs(it)...) },
		read: func(br pgx.BatchResults, it federation.InboxItem) (recorded, error) {
			return scanRecorded(br.QueryRow(), it)
		},
		single: func(ctx context.Context, it federation.InboxItem) (recorded, error) {
			return scanRecorded(db.pool.QueryRow(ctx, recordInboxSQL, recordInboxArgs(it)...), it)
		},
	}).start(256)
}

// inboxClaimLock serialises the inbox claims of every node (see
// UnprocessedInbox).
const inboxClaimLock = 7_240_003

// UnprocessedInbox returns items not processed yet and due, oldest first,
// and claims them for this node, until the inbox lease runs out: another
// node's UnprocessedInbox does not return them meanwhile. It returns
// this node's own claims after afterID only (they are in its hands:
// the processor's cursor pages through them), and every item claimed by
// no node, or by one whose claim ran out, wherever it is: ids are taken
// when a row is written, not when it is committed, so a row may appear
// behind a cursor. Asking again renews the claims it returns.
//
// Activities are applied in the order one node's scheduler keeps
// (federation.OrderKeys: an actor's in arrival order, and several
// actors' about one post): an item is not claimed while an earlier
// unprocessed item with a key in common is in another node's hands.
// Claims are made one at a time (an advisory lock) so that two nodes
// cannot take two such activities at once.
func (db *DB) UnprocessedInbox(ctx context.Context, afterID int64, due time.Time, limit int) ([]federation.InboxItem, error) {
	now := ms(due)
	// One batch, so one round trip and one implicit transaction: the
	// lock, the settings and the claim (a transaction begun and
	// committed around them took four round trips, which the processor
	// waits on before each page of work).
	b := &pgx.Batch{}
	// With the lock, no sort for this transaction: the claim walks
	// inbox_unprocessed in id order and stops at the limit. Planned on a
	// young table (no statistics: a handful of rows estimated), the
	// claim read and sorted every waiting activity instead (1.5 ms a
	// claim with 4,000 waiting; pg_stat_statements).
	b.Queue(`SELECT pg_advisory_xact_lock($1), set_config('enable_sort', 'off', true)`, inboxClaimLock)
	// The order test against other nodes' claims: held is each ordering
	// key in another node's live claims, with the first item holding it
	// (read once, by inbox_live_claims: what the nodes have in hand, not
	// the backlog); a candidate is left while a key of it is held by an
	// earlier item. Tested per candidate against the claimed items
	// instead, a claim took 579 ms with 2,000 waiting and 18.6 ms with
	// two nodes at 1,000/s (pg_stat_statements, BENCHMARKS.md). Under the
	// lock no other node claims meanwhile, and claims that run out only
	// make the test weaker.
	b.Queue(`WITH held AS MATERIALIZED (
			SELECT k, min(e.id) AS first FROM inbox e, unnest(e.order_keys) AS k
			WHERE e.processed_at IS NULL AND e.claimed_by <> $4 AND e.claimed_until > $2
			GROUP BY k)
		UPDATE inbox SET claimed_by = $4, claimed_until = $5
		WHERE id IN (
			SELECT i.id FROM inbox i
			WHERE i.processed_at IS NULL AND i.next_at <= $2
			  AND ((i.claimed_by = $4 AND i.id > $1) OR (i.claimed_by <> $4 AND i.claimed_until <= $2))
			  AND NOT EXISTS (SELECT 1 FROM unnest(i.order_keys) AS ik JOIN held h ON h.k = ik WHERE h.first < i.id)
			ORDER BY i.id LIMIT $3
			FOR UPDATE SKIP LOCKED)
		RETURNING id, activity_id, type, actor, body, received_at, attempts`,
		afterID, now, limit, db.opts.Node, now+db.opts.InboxLease.Milliseconds())
	br := db.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	out, err := collect(rows, err, func(r pgx.Rows) (federation.InboxItem, error) {
		var it federation.InboxItem
		var received int64
		err := r.Scan(&it.ID, &it.ActivityID, &it.Type, &it.Actor, &it.Body, &received, &it.Attempts)
		it.ReceivedAt = fromMS(received)
		return it, err
	})
	if err != nil {
		return nil, err
	}
	if err := br.Close(); err != nil { // the commit
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// MarkInboxProcessed records the outcomes of processed items, in one
// transaction. An item to retry loses its claim: when it is due, any
// node may take it. Concurrent marks share a transaction (a group
// commit), committed without waiting for the WAL's flush: a mark lost
// with PostgreSQL's crash is processed again, which the processing
// allows (docs/architecture.md, "Several nodes").
func (db *DB) MarkInboxProcessed(ctx context.Context, results []federation.InboxResult) error {
	if len(results) == 0 {
		return nil
	}
	_, err := db.inboxMarks.do(ctx, results)
	return err
}

// queueMarks adds the updates of results to b: two statements whatever
// their number, one for the processed items and one for those to retry
// (either may have no rows). A statement per item cost 576 ms of
// execution over 6,000 marks, these 357 ms (pg_stat_statements,
// BENCHMARKS.md). Only processed rows are deleted (PruneInbox), so every
// id is there; were one gone, the others would still be marked.
func queueMarks(b *pgx.Batch, results []federation.InboxResult) {
	var done, retry markColumns
	var kept [][]byte // done's bodies
	for _, r := range results {
		if !r.RetryAt.IsZero() {
			retry.add(r.ID, ms(r.RetryAt), r.Result)
			continue
		}
		done.add(r.ID, ms(r.At), r.Result)
		if len(r.Kept) == 0 {
			kept = append(kept, []byte("{}"))
		} else {
			kept = append(kept, r.Kept)
		}
	}
	b.Queue(`UPDATE inbox SET processed_at = u.at, result = u.result, body = u.body
		FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bytea[]) AS u(id, at, result, body)
		WHERE inbox.id = u.id`, done.ids, done.at, done.result, kept)
	b.Queue(`UPDATE inbox SET attempts = attempts + 1, next_at = u.at, result = u.result, claimed_by = '', claimed_until = 0
		FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(id, at, result)
		WHERE inbox.id = u.id`, retry.ids, retry.at, retry.result)
}

// markColumns are the marks of one statement, column by column.
type markColumns struct {
	ids, at []int64
	result  []string
}

func (m *markColumns) add(id, at int64, result string) {
	m.ids, m.at, m.result = append(m.ids, id), append(m.at, at), append(m.result, result)
}

// readMarks reads the two statements of queueMarks.
func readMarks(br pgx.BatchResults, results []federation.InboxResult) (struct{}, error) {
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return struct{}{}, fmt.Errorf("mark %d inbox items (first %d) processed: %w", len(results), results[0].ID, err)
		}
	}
	return struct{}{}, nil
}

func (db *DB) inboxMarkGroup() *groupCommit[[]federation.InboxResult, struct{}] {
	return (&groupCommit[[]federation.InboxResult, struct{}]{name: "mark inbox processed", async: true, db: db,
		queue: queueMarks, read: readMarks,
		single: func(ctx context.Context, results []federation.InboxResult) (struct{}, error) {
			// One batch: one round trip, and one transaction.
			b := &pgx.Batch{}
			queueMarks(b, results)
			br := db.pool.SendBatch(ctx, b)
			_, err := readMarks(br, results)
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			return struct{}{}, err
		},
	}).start(64)
}

// InboxCount counts recorded incoming activities, processed or not.
func (db *DB) InboxCount(ctx context.Context) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM inbox`).Scan(&n)
	return n, err
}

// UnprocessedCount counts the items recorded and not processed yet.
func (db *DB) UnprocessedCount(ctx context.Context) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM inbox WHERE processed_at IS NULL`).Scan(&n)
	return n, err
}

// ReceivedLater tells whether an activity of type typ by actor about
// object was recorded after afterID. Bodies were valid JSON when recorded
// (they are parsed before the 202).
func (db *DB) ReceivedLater(ctx context.Context, afterID int64, typ, actor, object string) (bool, error) {
	var found bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM inbox WHERE actor = $3 AND id > $1 AND type = $2
		AND (convert_from(body, 'UTF8')::jsonb ->> 'object' = $4 OR convert_from(body, 'UTF8')::jsonb -> 'object' ->> 'id' = $4))`,
		afterID, typ, actor, object).Scan(&found)
	return found, err
}

// PruneInbox deletes items processed before a time, a thousand at a
// time, so that other writes go on between.
func (db *DB) PruneInbox(ctx context.Context, processedBefore time.Time) (int, error) {
	const chunk = 1000
	total := 0
	for {
		tag, err := db.pool.Exec(ctx, `DELETE FROM inbox WHERE id IN (SELECT id FROM inbox
			WHERE processed_at IS NOT NULL AND processed_at < $1 ORDER BY id LIMIT $2)`, ms(processedBefore), chunk)
		if err != nil {
			return total, err
		}
		n := tag.RowsAffected()
		total += int(n)
		if n < chunk {
			// Actors with nothing waiting any more.
			_, err := db.pool.Exec(ctx, `DELETE FROM inbox_actor_bytes WHERE pending <= 0`)
			return total, err
		}
	}
}

// PendingBytes is the size of the bodies of an actor's activities
// recorded and not processed yet (inbox_actor_bytes, kept by triggers).
func (db *DB) PendingBytes(ctx context.Context, actor string) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT pending FROM inbox_actor_bytes WHERE actor = $1`, actor).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// Busy tells what work the server has in hand at now, as storage/sqlite's
// Busy: inbox activities due and not processed, and by host the
// deliveries leased (by any node) or due to a host that is not
// unavailable.
func (db *DB) Busy(ctx context.Context, now time.Time) (inbox int, deliveries map[string]int, err error) {
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM inbox WHERE processed_at IS NULL AND next_at <= $1`,
		ms(now)).Scan(&inbox); err != nil {
		return 0, nil, err
	}
	deliveries, err = db.countsByHost(ctx, `SELECT d.host, count(*) FROM deliveries d
		WHERE d.lease_until > $1 OR (d.next_at <= $1 AND NOT EXISTS
			(SELECT 1 FROM hosts h WHERE h.host = d.host AND h.unavailable_since IS NOT NULL))
		GROUP BY d.host`, ms(now))
	if err != nil {
		return 0, nil, err
	}
	return inbox, deliveries, nil
}
