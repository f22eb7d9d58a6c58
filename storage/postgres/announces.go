package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/jackc/pgx/v5"
)

// AddAnnounce records that an outgoing activity announced a post in a
// dialect. Recording the same one again is not an error, so a retried
// announce after a crash does not fail.
func (db *DB) AddAnnounce(ctx context.Context, postID int64, d federation.Dialect, outActivityID int64) error {
	if err := checkDialect(postID, d); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO announces (post_id, dialect, out_activity_id) VALUES ($1, $2, $3)
		ON CONFLICT (post_id, dialect, out_activity_id) DO NOTHING`, postID, string(d), outActivityID)
	if err != nil {
		return fmt.Errorf("announce post %d: %w", postID, err)
	}
	return nil
}

func checkDialect(postID int64, d federation.Dialect) error {
	if d != federation.Microblog && d != federation.Threadiverse {
		return fmt.Errorf("announce post %d: %w dialect %q", postID, community.ErrInvalid, d)
	}
	return nil
}

// Announces returns a post's Announces with their activities, oldest first.
func (db *DB) Announces(ctx context.Context, postID int64) ([]federation.AnnounceRef, error) {
	rows, err := db.pool.Query(ctx, `SELECT a.dialect, a.withdrawn_at,
			o.id, o.iri, o.type, o.community_id, o.signer, o.body, o.created_at
		FROM announces a JOIN out_activities o ON o.id = a.out_activity_id
		WHERE a.post_id = $1 ORDER BY o.id`, postID)
	out, err := collect(rows, err, func(r pgx.Rows) (federation.AnnounceRef, error) {
		ref := federation.AnnounceRef{PostID: postID}
		var dialect string
		var withdrawn *int64
		var created int64
		a := &ref.Activity
		err := r.Scan(&dialect, &withdrawn, &a.ID, &a.IRI, &a.Type, &a.CommunityID, &a.Signer, &a.Body, &created)
		ref.Dialect, ref.WithdrawnAt, a.CreatedAt = federation.Dialect(dialect), fromNullMS(withdrawn), fromMS(created)
		return ref, err
	})
	if err != nil {
		return nil, fmt.Errorf("announces of post %d: %w", postID, err)
	}
	return out, nil
}

// MarkWithdrawn marks a post's Announces of a dialect withdrawn. An
// Announce withdrawn already keeps its first time.
func (db *DB) MarkWithdrawn(ctx context.Context, postID int64, d federation.Dialect, at time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE announces SET withdrawn_at = $1
		WHERE post_id = $2 AND dialect = $3 AND withdrawn_at IS NULL`, ms(at), postID, string(d))
	if err != nil {
		return fmt.Errorf("withdraw announces of post %d: %w", postID, err)
	}
	return nil
}

// outboxFrom is the community's outbox: its microblog Announces, not
// withdrawn, of posts not deleted.
const outboxFrom = ` FROM out_activities o
	JOIN announces a ON a.out_activity_id = o.id AND a.dialect = 'microblog' AND a.withdrawn_at IS NULL
	JOIN posts p ON p.id = a.post_id AND p.deleted_at IS NULL
	WHERE o.community_id = $1 AND o.type = 'Announce'`

func scanOutActivity(r pgx.Row) (federation.OutActivity, error) {
	var a federation.OutActivity
	var created int64
	err := r.Scan(&a.ID, &a.IRI, &a.Type, &a.CommunityID, &a.Signer, &a.Body, &created)
	a.CreatedAt = fromMS(created)
	return a, err
}

// Outbox lists a community's outbox newest first, below beforeID (0: from
// the newest).
func (db *DB) Outbox(ctx context.Context, communityID int64, beforeID int64, limit int) ([]federation.OutActivity, error) {
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	rows, err := db.pool.Query(ctx, `SELECT o.id, o.iri, o.type, o.community_id, o.signer, o.body, o.created_at`+
		outboxFrom+` AND o.id < $2 ORDER BY o.id DESC LIMIT $3`, communityID, beforeID, limit)
	out, err := collect(rows, err, func(r pgx.Rows) (federation.OutActivity, error) { return scanOutActivity(r) })
	if err != nil {
		return nil, fmt.Errorf("outbox of community %d: %w", communityID, err)
	}
	return out, nil
}

// CountOutbox counts what Outbox lists.
func (db *DB) CountOutbox(ctx context.Context, communityID int64) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*)`+outboxFrom, communityID).Scan(&n)
	return n, err
}

// HostSoftware returns what software a host runs and when that was
// learnt; a host never asked is "" and the zero time.
func (db *DB) HostSoftware(ctx context.Context, host string) (string, time.Time, error) {
	var software string
	var at int64
	err := db.pool.QueryRow(ctx, `SELECT software, software_at FROM hosts WHERE host = $1`, host).Scan(&software, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("software of %s: %w", host, err)
	}
	return software, fromMS(at), nil
}

// HostsSoftware returns the known software of many hosts in one query;
// hosts never seen are absent from the map.
func (db *DB) HostsSoftware(ctx context.Context, hosts []string) (map[string]string, error) {
	out, err := db.hostPairs(ctx, `SELECT host, software FROM hosts WHERE host = ANY($1)`, hosts)
	if err != nil {
		return nil, fmt.Errorf("software of %d hosts: %w", len(hosts), err)
	}
	return out, nil
}

func (db *DB) hostPairs(ctx context.Context, q string, hosts []string) (map[string]string, error) {
	if hosts == nil {
		hosts = []string{}
	}
	rows, err := db.pool.Query(ctx, q, hosts)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]string, len(hosts))
	for rows.Next() {
		var h, v string
		if err := rows.Scan(&h, &v); err != nil {
			return nil, err
		}
		out[h] = v
	}
	return out, rows.Err()
}

// SetHostSoftware records what software a host runs. The host's failure
// state, kept in the same row, is left as it is.
func (db *DB) SetHostSoftware(ctx context.Context, host, software string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO hosts (host, software, software_at) VALUES ($1, $2, $3)
		ON CONFLICT (host) DO UPDATE SET software = excluded.software, software_at = excluded.software_at`,
		host, software, ms(at))
	if err != nil {
		return fmt.Errorf("set software of %s: %w", host, err)
	}
	return nil
}

// HostAnnounceForm returns the Announce form learnt for host ("" when none)
// and when it was learnt.
func (db *DB) HostAnnounceForm(ctx context.Context, host string) (string, time.Time, error) {
	var form string
	var at int64
	err := db.pool.QueryRow(ctx, `SELECT announce_form, announce_form_at FROM hosts WHERE host = $1`, host).Scan(&form, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("announce form of %s: %w", host, err)
	}
	return form, fromMS(at), nil
}

// HostsAnnounceForms returns the Announce forms learnt for many hosts in
// one query; hosts with none are absent from the map.
func (db *DB) HostsAnnounceForms(ctx context.Context, hosts []string) (map[string]string, error) {
	out, err := db.hostPairs(ctx, `SELECT host, announce_form FROM hosts WHERE announce_form <> '' AND host = ANY($1)`, hosts)
	if err != nil {
		return nil, fmt.Errorf("announce forms of %d hosts: %w", len(hosts), err)
	}
	return out, nil
}

// SetHostAnnounceForm records the Announce form of host, unless it has one
// already: a host switches once. It reports whether it was recorded now.
func (db *DB) SetHostAnnounceForm(ctx context.Context, host, form string, at time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO hosts (host, announce_form, announce_form_at) VALUES ($1, $2, $3)
		ON CONFLICT (host) DO UPDATE SET announce_form = excluded.announce_form, announce_form_at = excluded.announce_form_at
		WHERE hosts.announce_form = ''`, host, form, ms(at))
	if err != nil {
		return false, fmt.Errorf("set announce form of %s: %w", host, err)
	}
	return tag.RowsAffected() > 0, nil
}

// RedeliverAnnounce queues, for inbox, the live microblog Announce of the
// post whose threadiverse Announce is the activity refusedID. It reports
// whether there was one to queue.
func (db *DB) RedeliverAnnounce(ctx context.Context, refusedID int64, inbox, host string, now time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO deliveries (activity_id, inbox, host, next_at, created_at)
		SELECT m.out_activity_id, $1, $2, $3, $3 FROM announces t
		JOIN announces m ON m.post_id = t.post_id AND m.dialect = 'microblog' AND m.withdrawn_at IS NULL
		WHERE t.out_activity_id = $4 AND t.dialect = 'threadiverse' AND t.withdrawn_at IS NULL
		ORDER BY m.out_activity_id DESC LIMIT 1`, inbox, host, ms(now), refusedID)
	if err != nil {
		return false, fmt.Errorf("redeliver the announce of activity %d: %w", refusedID, err)
	}
	if tag.RowsAffected() > 0 {
		db.notify(ctx, ChannelDeliveries)
	}
	return tag.RowsAffected() > 0, nil
}
