package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
)

var (
	_ federation.AnnounceStore = (*DB)(nil)
	_ federation.SoftwareStore = (*DB)(nil)
)

// AddAnnounce records that an outgoing activity announced a post in a
// dialect. Recording the same one again is not an error, so a retried
// announce after a crash does not fail.
func (db *DB) AddAnnounce(ctx context.Context, postID int64, d federation.Dialect, outActivityID int64) error {
	if err := checkDialect(postID, d); err != nil {
		return err
	}
	_, err := db.write(ctx, `INSERT INTO announces (post_id, dialect, out_activity_id) VALUES (?, ?, ?)
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
	rows, err := db.read(ctx, `SELECT a.dialect, a.withdrawn_at,
			o.id, o.iri, o.type, o.community_id, o.signer, o.body, o.created_at
		FROM announces a JOIN out_activities o ON o.id = a.out_activity_id
		WHERE a.post_id = ? ORDER BY o.id`, postID)
	if err != nil {
		return nil, fmt.Errorf("announces of post %d: %w", postID, err)
	}
	defer rows.Close()
	var out []federation.AnnounceRef
	for rows.Next() {
		r := federation.AnnounceRef{PostID: postID}
		var dialect string
		var withdrawn sql.NullInt64
		var created int64
		a := &r.Activity
		if err := rows.Scan(&dialect, &withdrawn, &a.ID, &a.IRI, &a.Type, &a.CommunityID, &a.Signer, &a.Body, &created); err != nil {
			return nil, fmt.Errorf("announces of post %d: %w", postID, err)
		}
		r.Dialect, r.WithdrawnAt, a.CreatedAt = federation.Dialect(dialect), fromMS(withdrawn.Int64), fromMS(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// MarkWithdrawn marks a post's Announces of a dialect withdrawn. An
// Announce withdrawn already keeps its first time.
func (db *DB) MarkWithdrawn(ctx context.Context, postID int64, d federation.Dialect, at time.Time) error {
	_, err := db.write(ctx, `UPDATE announces SET withdrawn_at = ?
		WHERE post_id = ? AND dialect = ? AND withdrawn_at IS NULL`, ms(at), postID, string(d))
	if err != nil {
		return fmt.Errorf("withdraw announces of post %d: %w", postID, err)
	}
	return nil
}

// outboxFrom is the community's outbox: its microblog Announces, not
// withdrawn, of posts not deleted. It starts from the community's Announce
// activities, newest first, so a page reads about as many rows as it holds
// (announces_by_out_activity).
const outboxFrom = ` FROM out_activities o
	JOIN announces a ON a.out_activity_id = o.id AND a.dialect = 'microblog' AND a.withdrawn_at IS NULL
	JOIN posts p ON p.id = a.post_id AND p.deleted_at IS NULL
	WHERE o.community_id = ? AND o.type = 'Announce'`

// Outbox lists a community's outbox newest first, below beforeID (0: from
// the newest).
func (db *DB) Outbox(ctx context.Context, communityID int64, beforeID int64, limit int) ([]federation.OutActivity, error) {
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	rows, err := db.read(ctx, `SELECT o.id, o.iri, o.type, o.community_id, o.signer, o.body, o.created_at`+
		outboxFrom+` AND o.id < ? ORDER BY o.id DESC LIMIT ?`, communityID, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox of community %d: %w", communityID, err)
	}
	defer rows.Close()
	var out []federation.OutActivity
	for rows.Next() {
		var a federation.OutActivity
		var created int64
		if err := rows.Scan(&a.ID, &a.IRI, &a.Type, &a.CommunityID, &a.Signer, &a.Body, &created); err != nil {
			return nil, fmt.Errorf("outbox of community %d: %w", communityID, err)
		}
		a.CreatedAt = fromMS(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// CountOutbox counts what Outbox lists.
func (db *DB) CountOutbox(ctx context.Context, communityID int64) (int, error) {
	var n int
	err := db.readRow(ctx, `SELECT count(*)`+outboxFrom, communityID).Scan(&n)
	return n, err
}

// HostSoftware returns what software a host runs and when that was
// learnt; a host never asked is "" and the zero time.
func (db *DB) HostSoftware(ctx context.Context, host string) (string, time.Time, error) {
	var software string
	var at int64
	err := db.readRow(ctx, `SELECT software, software_at FROM hosts WHERE host = ?`, host).Scan(&software, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("software of %s: %w", host, err)
	}
	return software, fromMS(at), nil
}

// SetHostSoftware records what software a host runs. The host's failure
// state, kept in the same row, is left as it is.
// HostsSoftware returns the known software of many hosts in one query;
// hosts never seen are absent from the map.
func (db *DB) HostsSoftware(ctx context.Context, hosts []string) (map[string]string, error) {
	list, err := json.Marshal(hosts)
	if err != nil {
		return nil, err
	}
	rows, err := db.read(ctx, `SELECT host, software FROM hosts WHERE host IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, fmt.Errorf("software of %d hosts: %w", len(hosts), err)
	}
	defer rows.Close()
	out := make(map[string]string, len(hosts))
	for rows.Next() {
		var h, sw string
		if err := rows.Scan(&h, &sw); err != nil {
			return nil, err
		}
		out[h] = sw
	}
	return out, rows.Err()
}

func (db *DB) SetHostSoftware(ctx context.Context, host, software string, at time.Time) error {
	_, err := db.write(ctx, `INSERT INTO hosts (host, software, software_at) VALUES (?, ?, ?)
		ON CONFLICT (host) DO UPDATE SET software = excluded.software, software_at = excluded.software_at`,
		host, software, ms(at))
	if err != nil {
		return fmt.Errorf("set software of %s: %w", host, err)
	}
	return nil
}
