package sqlite

import (
	"context"
	"time"
)

// LocalKey returns the private key PEM of one of Agora's own actors.
func (db *DB) LocalKey(ctx context.Context, owner string) (string, error) {
	var pem string
	err := db.readRow(ctx, `SELECT private_pem FROM local_keys WHERE owner = ?`, owner).Scan(&pem)
	return pem, notFound(err)
}

// AddLocalKey stores a key unless owner has one, and returns the stored one.
func (db *DB) AddLocalKey(ctx context.Context, owner, privatePEM, publicPEM string, at time.Time) (string, error) {
	if _, err := db.write(ctx, `INSERT INTO local_keys (owner, private_pem, public_pem, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (owner) DO NOTHING`, owner, privatePEM, publicPEM, ms(at)); err != nil {
		return "", err
	}
	var pem string
	err := db.writeRow(ctx, `SELECT private_pem FROM local_keys WHERE owner = ?`, owner).Scan(&pem)
	return pem, err
}

// LocalKeyCreated returns when the key of one of Agora's own actors was
// made: the instance key's date is the instance's, which its actors
// give as published.
func (db *DB) LocalKeyCreated(ctx context.Context, owner string) (time.Time, error) {
	var at int64
	err := db.readRow(ctx, `SELECT created_at FROM local_keys WHERE owner = ?`, owner).Scan(&at)
	return fromMS(at), notFound(err)
}
