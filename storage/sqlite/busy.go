package sqlite

import (
	"context"
	"time"
)

// Busy counts the work the server has in hand at now: inbox activities
// recorded, due and not yet processed (those in the processor's hands
// too: an activity is marked processed when it is done), and deliveries
// claimed by the workers (leased: waiting in the pool or in flight) or due
// to a host that is not unavailable. Both zero: the server is quiet, with
// nothing to do until a retry comes due. Both are counted in one read, so
// that the deliveries an activity queued (before it was marked processed)
// are counted whenever the activity is not: tests wait for quiet before
// they assert that something did not happen.
func (db *DB) Busy(ctx context.Context, now time.Time) (inbox, deliveries int, err error) {
	err = db.readRow(ctx, `SELECT
		(SELECT count(*) FROM inbox WHERE processed_at IS NULL AND next_at <= ?1),
		(SELECT count(*) FROM deliveries d WHERE d.lease_until > ?1
			OR (d.next_at <= ?1 AND NOT EXISTS
				(SELECT 1 FROM hosts h WHERE h.host = d.host AND h.unavailable_since IS NOT NULL)))`,
		ms(now)).Scan(&inbox, &deliveries)
	return inbox, deliveries, err
}
