package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/storage"
	"github.com/jackc/pgx/v5"
)

// CountAdmins counts the admin accounts.
func (db *DB) CountAdmins(ctx context.Context) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM admins`).Scan(&n)
	return n, err
}

// CreateAdmin stores an admin account; ErrExists when the name is taken.
func (db *DB) CreateAdmin(ctx context.Context, name, passwordHash string, at time.Time) (int64, error) {
	var id int64
	err := db.pool.QueryRow(ctx, `INSERT INTO admins (name, password_hash, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING RETURNING id`, name, passwordHash, ms(at)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("admin %s: %w", name, community.ErrExists)
	}
	return id, err
}

// ChangePassword replaces an admin's password hash and ends their
// sessions, all but keepTokenHash ("" ends them all), in one transaction.
func (db *DB) ChangePassword(ctx context.Context, adminID int64, passwordHash, keepTokenHash string) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `UPDATE admins SET password_hash = $1 WHERE id = $2`, passwordHash, adminID)
	if err := expectOne(tag, err); err != nil {
		return fmt.Errorf("admin %d: %w", adminID, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE admin_id = $1 AND token_hash <> $2`, adminID, keepTokenHash); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// AdminByName returns an admin's id and password hash.
func (db *DB) AdminByName(ctx context.Context, name string) (id int64, passwordHash string, err error) {
	err = db.pool.QueryRow(ctx, `SELECT id, password_hash FROM admins WHERE name = $1`, name).Scan(&id, &passwordHash)
	return id, passwordHash, notFound(err)
}

// Admins lists the admin accounts by name.
func (db *DB) Admins(ctx context.Context, now time.Time) ([]storage.AdminAccount, error) {
	rows, err := db.pool.Query(ctx, `SELECT a.name, a.created_at,
			(SELECT count(*) FROM sessions s WHERE s.admin_id = a.id AND s.expires_at >= $1),
			(SELECT coalesce(max(s.created_at), 0) FROM sessions s WHERE s.admin_id = a.id AND s.expires_at >= $1)
		FROM admins a ORDER BY a.name`, ms(now))
	return collect(rows, err, func(r pgx.Rows) (storage.AdminAccount, error) {
		var a storage.AdminAccount
		var created, last int64
		err := r.Scan(&a.Name, &created, &a.Sessions, &last)
		a.CreatedAt, a.LastLogin = fromMS(created), fromMS(last)
		return a, err
	})
}

// DeleteAdmin deletes an admin account and its sessions; ErrNotFound when
// there is none of that name.
func (db *DB) DeleteAdmin(ctx context.Context, name string) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE admin_id = (SELECT id FROM admins WHERE name = $1)`, name); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM admins WHERE name = $1`, name)
	if err := expectOne(tag, err); err != nil {
		return fmt.Errorf("admin %s: %w", name, err)
	}
	return tx.Commit(ctx)
}

// AddSession records a login by the hash of its cookie token.
func (db *DB) AddSession(ctx context.Context, tokenHash string, adminID int64, at, expires time.Time) error {
	// Expired sessions go when new ones come: no sweeper needed.
	if _, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at < $1`, ms(at)); err != nil {
		return err
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO sessions (token_hash, admin_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		tokenHash, adminID, ms(at), ms(expires))
	return err
}

// SessionAdmin returns the admin logged in by a session that has not
// expired at now.
func (db *DB) SessionAdmin(ctx context.Context, tokenHash string, now time.Time) (id int64, name string, err error) {
	err = db.pool.QueryRow(ctx, `SELECT a.id, a.name FROM sessions s JOIN admins a ON a.id = s.admin_id
		WHERE s.token_hash = $1 AND s.expires_at > $2`, tokenHash, ms(now)).Scan(&id, &name)
	return id, name, notFound(err)
}

// DeleteSession logs a session out.
func (db *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash)
	return err
}

// AddSetupToken records a one-time setup link by the hash of its token.
func (db *DB) AddSetupToken(ctx context.Context, tokenHash string, at, expires time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)`,
		tokenHash, ms(at), ms(expires))
	return err
}

// SetupTokenValid tells whether a setup token exists and has not expired.
func (db *DB) SetupTokenValid(ctx context.Context, tokenHash string, now time.Time) (bool, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2`,
		tokenHash, ms(now)).Scan(&n)
	return n > 0, err
}

// CreateFirstAdmin uses a setup token up and creates an admin account in
// one transaction: ErrNotFound when the token is unknown, used or
// expired, so a link works once, on whichever node.
func (db *DB) CreateFirstAdmin(ctx context.Context, tokenHash, name, passwordHash string, now time.Time) (int64, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `DELETE FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2`, tokenHash, ms(now))
	if err := expectOne(tag, err); err != nil {
		return 0, fmt.Errorf("setup token: %w", err)
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO admins (name, password_hash, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING RETURNING id`, name, passwordHash, ms(now)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("admin %s: %w", name, community.ErrExists)
	}
	if err != nil {
		return 0, err
	}
	// The first account is made: every other setup link dies with this one.
	if _, err := tx.Exec(ctx, `DELETE FROM setup_tokens`); err != nil {
		return 0, err
	}
	return id, tx.Commit(ctx)
}

// PutMedia stores an uploaded image; storing the same id again is a no-op
// (ids are hashes of the body).
func (db *DB) PutMedia(ctx context.Context, id, contentType string, body []byte, at time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO media (id, content_type, body, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`, id, contentType, blob(body), ms(at))
	return err
}

// Media returns an uploaded image.
func (db *DB) Media(ctx context.Context, id string) (contentType string, body []byte, err error) {
	err = db.pool.QueryRow(ctx, `SELECT content_type, body FROM media WHERE id = $1`, id).Scan(&contentType, &body)
	return contentType, body, notFound(err)
}

// Settings returns every instance setting.
func (db *DB) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT key, value FROM settings`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// SetSetting stores an instance setting.
func (db *DB) SetSetting(ctx context.Context, key, value string) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// MemberCounts returns each live community's member count, by id.
func (db *DB) MemberCounts(ctx context.Context) (map[int64]int, error) {
	return db.countsByCommunity(ctx, `SELECT community_id, count(*) FROM members WHERE state = 'member' GROUP BY community_id`)
}

// AnnouncedCountsSince returns how many posts each community announced
// (and still does) since a time, by id: the directory's activity.
func (db *DB) AnnouncedCountsSince(ctx context.Context, since time.Time) (map[int64]int, error) {
	return db.countsByCommunity(ctx, `SELECT community_id, count(*) FROM posts WHERE received_at >= $1`+announcedPost+`
		GROUP BY community_id`, ms(since))
}

func (db *DB) countsByCommunity(ctx context.Context, q string, args ...any) (map[int64]int, error) {
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}
