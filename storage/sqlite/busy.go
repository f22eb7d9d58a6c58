package sqlite

import (
	"context"
	"time"
)

// Busy tells what work the server has in hand at now: inbox activities
// recorded, due and not yet processed (those in the processor's hands
// too: an activity is marked processed when it is done), and, by host,
// deliveries claimed by the workers (leased: waiting in the pool or in
// flight) or due to a host that is not unavailable. Nothing in hand: the
// server is quiet until a retry comes due. The inbox is read first: the
// deliveries an activity queued were committed before it was marked
// processed, so they are counted whenever the activity is not. Tests wait
// for quiet before they assert that something did not happen.
func (db *DB) Busy(ctx context.Context, now time.Time) (inbox int, deliveries map[string]int, err error) {
	if err := db.readRow(ctx, `SELECT count(*) FROM inbox WHERE processed_at IS NULL AND next_at <= ?`,
		ms(now)).Scan(&inbox); err != nil {
		return 0, nil, err
	}
	rows, err := db.read(ctx, `SELECT d.host, count(*) FROM deliveries d
		WHERE d.lease_until > ?1 OR (d.next_at <= ?1 AND NOT EXISTS
			(SELECT 1 FROM hosts h WHERE h.host = d.host AND h.unavailable_since IS NOT NULL))
		GROUP BY d.host`, ms(now))
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	deliveries = map[string]int{}
	for rows.Next() {
		var host string
		var n int
		if err := rows.Scan(&host, &n); err != nil {
			return 0, nil, err
		}
		deliveries[host] = n
	}
	return inbox, deliveries, rows.Err()
}
