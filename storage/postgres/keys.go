package postgres

import (
	"context"
	"time"

	"github.com/agorafed/agora/federation"
)

// LocalKey returns the private key PEM of one of Agora's own actors.
func (db *DB) LocalKey(ctx context.Context, owner string) (string, error) {
	var pem string
	err := db.pool.QueryRow(ctx, `SELECT private_pem FROM local_keys WHERE owner = $1`, owner).Scan(&pem)
	return pem, notFound(err)
}

// AddLocalKey stores a key unless owner has one, and returns the stored
// one: two nodes making the key at once agree on the first committed.
func (db *DB) AddLocalKey(ctx context.Context, owner, privatePEM, publicPEM string, at time.Time) (string, error) {
	if _, err := db.pool.Exec(ctx, `INSERT INTO local_keys (owner, private_pem, public_pem, created_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (owner) DO NOTHING`, owner, privatePEM, publicPEM, ms(at)); err != nil {
		return "", err
	}
	var pem string
	err := db.pool.QueryRow(ctx, `SELECT private_pem FROM local_keys WHERE owner = $1`, owner).Scan(&pem)
	return pem, err
}

// LocalKeyCreated returns when the key of one of Agora's own actors was
// made: the instance key's date is the instance's, which its actors give
// as published.
func (db *DB) LocalKeyCreated(ctx context.Context, owner string) (time.Time, error) {
	var at int64
	err := db.pool.QueryRow(ctx, `SELECT created_at FROM local_keys WHERE owner = $1`, owner).Scan(&at)
	return fromMS(at), notFound(err)
}

// Key returns a cached remote public key.
func (db *DB) Key(ctx context.Context, keyID string) (federation.StoredKey, error) {
	k := federation.StoredKey{ID: keyID}
	var fetched int64
	err := db.pool.QueryRow(ctx, `SELECT owner, public_pem, fetched_at FROM remote_keys WHERE key_id = $1`, keyID).
		Scan(&k.Owner, &k.PEM, &fetched)
	k.FetchedAt = fromMS(fetched)
	return k, notFound(err)
}

// PutKey inserts or refreshes a remote public key.
func (db *DB) PutKey(ctx context.Context, k federation.StoredKey) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO remote_keys (key_id, owner, public_pem, fetched_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key_id) DO UPDATE SET owner = excluded.owner, public_pem = excluded.public_pem, fetched_at = excluded.fetched_at`,
		k.ID, k.Owner, k.PEM, ms(k.FetchedAt))
	return err
}

// RemoteActor returns a cached remote actor.
func (db *DB) RemoteActor(ctx context.Context, iri string) (federation.RemoteActor, error) {
	a := federation.RemoteActor{ID: iri}
	var fetched int64
	err := db.pool.QueryRow(ctx, `SELECT type, preferred_username, name, url, icon, inbox, shared_inbox, followers, fetched_at
		FROM remote_actors WHERE iri = $1`, iri).Scan(&a.Type, &a.PreferredUsername, &a.Name, &a.URL, &a.Icon,
		&a.Inbox, &a.SharedInbox, &a.Followers, &fetched)
	a.FetchedAt = fromMS(fetched)
	return a, notFound(err)
}

// PutRemoteActor inserts or refreshes a remote actor.
func (db *DB) PutRemoteActor(ctx context.Context, a federation.RemoteActor) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO remote_actors (iri, type, preferred_username, name, url, icon, inbox,
			shared_inbox, followers, fetched_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (iri) DO UPDATE SET type = excluded.type, preferred_username = excluded.preferred_username,
			name = excluded.name, url = excluded.url, icon = excluded.icon, inbox = excluded.inbox,
			shared_inbox = excluded.shared_inbox, followers = excluded.followers, fetched_at = excluded.fetched_at`,
		a.ID, a.Type, a.PreferredUsername, a.Name, a.URL, a.Icon, a.Inbox, a.SharedInbox, a.Followers, ms(a.FetchedAt))
	return err
}

// DeleteRemoteActor forgets a remote actor.
func (db *DB) DeleteRemoteActor(ctx context.Context, iri string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM remote_actors WHERE iri = $1`, iri)
	return err
}

// RecordSignatureScheme notes that host signed a verified request with
// scheme at at.
func (db *DB) RecordSignatureScheme(ctx context.Context, host, scheme string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO host_signature_schemes (host, scheme, first_at, last_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (host, scheme) DO UPDATE SET last_at = greatest(host_signature_schemes.last_at, excluded.last_at)`,
		host, scheme, ms(at))
	return err
}

// SignatureSchemes returns the schemes host has signed with, and when
// each was last used.
func (db *DB) SignatureSchemes(ctx context.Context, host string) (map[string]time.Time, error) {
	rows, err := db.pool.Query(ctx, `SELECT scheme, last_at FROM host_signature_schemes WHERE host = $1`, host)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]time.Time)
	for rows.Next() {
		var scheme string
		var last int64
		if err := rows.Scan(&scheme, &last); err != nil {
			return nil, err
		}
		out[scheme] = fromMS(last)
	}
	return out, rows.Err()
}
