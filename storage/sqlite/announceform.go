package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// HostAnnounceForm returns the Announce form learnt for host ("" when none,
// see migration 0012) and when it was learnt.
func (db *DB) HostAnnounceForm(ctx context.Context, host string) (string, time.Time, error) {
	var form string
	var at int64
	err := db.readRow(ctx, `SELECT announce_form, announce_form_at FROM hosts WHERE host = ?`, host).Scan(&form, &at)
	if errors.Is(err, sql.ErrNoRows) {
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
	list, err := json.Marshal(hosts)
	if err != nil {
		return nil, err
	}
	rows, err := db.read(ctx, `SELECT host, announce_form FROM hosts
		WHERE announce_form <> '' AND host IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, fmt.Errorf("announce forms of %d hosts: %w", len(hosts), err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var h, f string
		if err := rows.Scan(&h, &f); err != nil {
			return nil, err
		}
		out[h] = f
	}
	return out, rows.Err()
}

// SetHostAnnounceForm records the Announce form of host, unless it has one
// already: a host switches once. It reports whether it was recorded now.
func (db *DB) SetHostAnnounceForm(ctx context.Context, host, form string, at time.Time) (bool, error) {
	res, err := db.write(ctx, `INSERT INTO hosts (host, announce_form, announce_form_at) VALUES (?, ?, ?)
		ON CONFLICT (host) DO UPDATE SET announce_form = excluded.announce_form, announce_form_at = excluded.announce_form_at
		WHERE hosts.announce_form = ''`, host, form, ms(at))
	if err != nil {
		return false, fmt.Errorf("set announce form of %s: %w", host, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// RedeliverAnnounce queues, for inbox, the live microblog Announce
// (Announce{object id}) of the post whose threadiverse Announce is the
// activity refusedID: the form a host that refused the embedded one can
// resolve. It reports whether there was one to queue.
func (db *DB) RedeliverAnnounce(ctx context.Context, refusedID int64, inbox, host string, now time.Time) (bool, error) {
	res, err := db.write(ctx, `INSERT INTO deliveries (activity_id, inbox, host, next_at, created_at)
		SELECT m.out_activity_id, ?, ?, ?, ? FROM announces t
		JOIN announces m ON m.post_id = t.post_id AND m.dialect = 'microblog' AND m.withdrawn_at IS NULL
		WHERE t.out_activity_id = ? AND t.dialect = 'threadiverse' AND t.withdrawn_at IS NULL
		ORDER BY m.out_activity_id DESC LIMIT 1`, inbox, host, ms(now), ms(now), refusedID)
	if err != nil {
		return false, fmt.Errorf("redeliver the announce of activity %d: %w", refusedID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}
