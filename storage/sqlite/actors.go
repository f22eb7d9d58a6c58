package sqlite

import (
	"context"

	"github.com/agorafed/agora/federation"
)

// RemoteActor returns a cached remote actor.
func (db *DB) RemoteActor(ctx context.Context, iri string) (federation.RemoteActor, error) {
	a := federation.RemoteActor{ID: iri}
	var fetched int64
	err := db.readRow(ctx, `SELECT type, preferred_username, name, url, icon, inbox, shared_inbox, followers, fetched_at
		FROM remote_actors WHERE iri = ?`, iri).Scan(&a.Type, &a.PreferredUsername, &a.Name, &a.URL, &a.Icon,
		&a.Inbox, &a.SharedInbox, &a.Followers, &fetched)
	a.FetchedAt = fromMS(fetched)
	return a, notFound(err)
}

// PutRemoteActor inserts or refreshes a remote actor.
func (db *DB) PutRemoteActor(ctx context.Context, a federation.RemoteActor) error {
	_, err := db.write(ctx, `INSERT INTO remote_actors (iri, type, preferred_username, name, url, icon, inbox,
			shared_inbox, followers, fetched_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (iri) DO UPDATE SET type = excluded.type, preferred_username = excluded.preferred_username,
			name = excluded.name, url = excluded.url, icon = excluded.icon, inbox = excluded.inbox,
			shared_inbox = excluded.shared_inbox, followers = excluded.followers, fetched_at = excluded.fetched_at`,
		a.ID, a.Type, a.PreferredUsername, a.Name, a.URL, a.Icon, a.Inbox, a.SharedInbox, a.Followers, ms(a.FetchedAt))
	return err
}

// DeleteRemoteActor forgets a remote actor.
func (db *DB) DeleteRemoteActor(ctx context.Context, iri string) error {
	_, err := db.write(ctx, `DELETE FROM remote_actors WHERE iri = ?`, iri)
	return err
}
