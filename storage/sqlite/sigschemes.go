package sqlite

import (
	"context"
	"time"
)

// RecordSignatureScheme notes that host signed a verified request with
// scheme at at.
func (db *DB) RecordSignatureScheme(ctx context.Context, host, scheme string, at time.Time) error {
	_, err := db.write(ctx, `INSERT INTO host_signature_schemes (host, scheme, first_at, last_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (host, scheme) DO UPDATE SET last_at = max(last_at, excluded.last_at)`,
		host, scheme, ms(at), ms(at))
	return err
}

// SignatureSchemes returns the schemes host has signed with, and when
// each was last used.
func (db *DB) SignatureSchemes(ctx context.Context, host string) (map[string]time.Time, error) {
	rows, err := db.read(ctx, `SELECT scheme, last_at FROM host_signature_schemes WHERE host = ?`, host)
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
