package sqlite

import (
	"context"

	"github.com/agorafed/agora/federation"
)

// Key returns a cached remote public key.
func (db *DB) Key(ctx context.Context, keyID string) (federation.StoredKey, error) {
	k := federation.StoredKey{ID: keyID}
	var fetched int64
	err := db.readRow(ctx, `SELECT owner, public_pem, fetched_at FROM remote_keys WHERE key_id = ?`, keyID).
		Scan(&k.Owner, &k.PEM, &fetched)
	k.FetchedAt = fromMS(fetched)
	return k, notFound(err)
}

// PutKey inserts or refreshes a remote public key.
func (db *DB) PutKey(ctx context.Context, k federation.StoredKey) error {
	_, err := db.write(ctx, `INSERT INTO remote_keys (key_id, owner, public_pem, fetched_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (key_id) DO UPDATE SET owner = excluded.owner, public_pem = excluded.public_pem, fetched_at = excluded.fetched_at`,
		k.ID, k.Owner, k.PEM, ms(k.FetchedAt))
	return err
}
