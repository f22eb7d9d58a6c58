package postgres

import (
	"context"
	"time"
)

// Channels of the wake-ups nodes send each other (NOTIFY, sent when the
// transaction that queued the work commits).
const (
	ChannelInbox      = "agora_inbox"      // an activity was recorded
	ChannelDeliveries = "agora_deliveries" // deliveries were queued or made due
)

// notify tells every node, outside a transaction; a wake-up is a hint
// (polling finds the work anyway), so a failure is not an error.
func (db *DB) notify(ctx context.Context, channel string) {
	db.pool.Exec(ctx, `SELECT pg_notify($1, '')`, channel)
}

// Listen calls wake with the channel of each wake-up any node sends
// (this one's too) until ctx ends. It holds one connection of the pool;
// when the connection breaks it connects again, after a second, and
// calls wake for every channel, since wake-ups may have been missed
// meanwhile. Nodes poll besides: a lost wake-up delays work, it does not
// lose it.
//
// While it listens, the communities and domain blocks are cached, and
// ChannelCache empties the cache of the table written (cache.go); that
// channel is not passed to wake.
func (db *DB) Listen(ctx context.Context, wake func(channel string)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(db.closing, cancel)()
	for ctx.Err() == nil {
		db.listen(ctx, wake)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		wake(ChannelInbox)
		wake(ChannelDeliveries)
	}
}

func (db *DB) listen(ctx context.Context, wake func(string)) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return
	}
	// A connection that listened is not given back to the pool: it
	// would go on receiving.
	defer func() { conn.Conn().Close(context.Background()); conn.Release() }()
	for _, ch := range []string{ChannelInbox, ChannelDeliveries, ChannelCache} {
		if _, err := conn.Exec(ctx, `LISTEN `+ch); err != nil {
			return
		}
	}
	// Heard from here on: the cache may keep what it reads, until the
	// connection breaks.
	db.cache.setLive(true)
	defer db.cache.setLive(false)
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return
		}
		if n.Channel == ChannelCache {
			db.cache.invalidate(n.Payload)
			continue
		}
		wake(n.Channel)
	}
}
