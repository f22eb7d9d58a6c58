package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/storage"
)

// CountAdmins counts the admin accounts.
func (db *DB) CountAdmins(ctx context.Context) (int, error) {
	var n int
	err := db.readRow(ctx, `SELECT count(*) FROM admins`).Scan(&n)
	return n, err
}

// CreateAdmin stores an admin account; ErrExists when the name is taken.
func (db *DB) CreateAdmin(ctx context.Context, name, passwordHash string, at time.Time) (int64, error) {
	var id int64
	err := db.writeRow(ctx, `INSERT INTO admins (name, password_hash, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING RETURNING id`, name, passwordHash, ms(at)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("admin %s: %w", name, community.ErrExists)
	}
	return id, err
}

// ChangePassword replaces an admin's password hash and ends their
// sessions, all but keepTokenHash (the browser that changed it; "" ends
// them all), in one transaction.
func (db *DB) ChangePassword(ctx context.Context, adminID int64, passwordHash, keepTokenHash string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE admins SET password_hash = ? WHERE id = ?`, passwordHash, adminID)
	if err := expectOne(res, err); err != nil {
		return fmt.Errorf("admin %d: %w", adminID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE admin_id = ? AND token_hash != ?`, adminID, keepTokenHash); err != nil {
		return err
	}
	return tx.Commit()
}

// AdminByName returns an admin's id and password hash.
func (db *DB) AdminByName(ctx context.Context, name string) (id int64, passwordHash string, err error) {
	err = db.readRow(ctx, `SELECT id, password_hash FROM admins WHERE name = ?`, name).Scan(&id, &passwordHash)
	return id, passwordHash, notFound(err)
}

// AdminAccount is an admin account as `agora admin list` shows it.
type AdminAccount = storage.AdminAccount

// Admins lists the admin accounts by name.
func (db *DB) Admins(ctx context.Context, now time.Time) ([]AdminAccount, error) {
	rows, err := db.read(ctx, `SELECT a.name, a.created_at,
			(SELECT count(*) FROM sessions s WHERE s.admin_id = a.id AND s.expires_at >= ?),
			(SELECT coalesce(max(s.created_at), 0) FROM sessions s WHERE s.admin_id = a.id AND s.expires_at >= ?)
		FROM admins a ORDER BY a.name`, ms(now), ms(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AdminAccount
	for rows.Next() {
		var a AdminAccount
		var created, last int64
		if err := rows.Scan(&a.Name, &created, &a.Sessions, &last); err != nil {
			return nil, err
		}
		a.CreatedAt = fromMS(created)
		if last != 0 {
			a.LastLogin = fromMS(last)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteAdmin deletes an admin account and its sessions; ErrNotFound when
// there is none of that name.
func (db *DB) DeleteAdmin(ctx context.Context, name string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE admin_id = (SELECT id FROM admins WHERE name = ?)`, name); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM admins WHERE name = ?`, name)
	if err := expectOne(res, err); err != nil {
		return fmt.Errorf("admin %s: %w", name, err)
	}
	return tx.Commit()
}

// AddSession records a login by the hash of its cookie token.
func (db *DB) AddSession(ctx context.Context, tokenHash string, adminID int64, at, expires time.Time) error {
	// Expired sessions go when new ones come: no sweeper needed.
	if _, err := db.write(ctx, `DELETE FROM sessions WHERE expires_at < ?`, ms(at)); err != nil {
		return err
	}
	_, err := db.write(ctx, `INSERT INTO sessions (token_hash, admin_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		tokenHash, adminID, ms(at), ms(expires))
	return err
}

// SessionAdmin returns the admin logged in by a session that has not
// expired at now.
func (db *DB) SessionAdmin(ctx context.Context, tokenHash string, now time.Time) (id int64, name string, err error) {
	err = db.readRow(ctx, `SELECT a.id, a.name FROM sessions s JOIN admins a ON a.id = s.admin_id
		WHERE s.token_hash = ? AND s.expires_at > ?`, tokenHash, ms(now)).Scan(&id, &name)
	return id, name, notFound(err)
}

// DeleteSession logs a session out.
func (db *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	_, err := db.write(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash)
	return err
}

// AddSetupToken records a one-time setup link by the hash of its token.
func (db *DB) AddSetupToken(ctx context.Context, tokenHash string, at, expires time.Time) error {
	_, err := db.write(ctx, `INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES (?, ?, ?)`,
		tokenHash, ms(at), ms(expires))
	return err
}

// SetupTokenValid tells whether a setup token exists and has not expired.
func (db *DB) SetupTokenValid(ctx context.Context, tokenHash string, now time.Time) (bool, error) {
	var n int
	err := db.readRow(ctx, `SELECT count(*) FROM setup_tokens WHERE token_hash = ? AND expires_at > ?`,
		tokenHash, ms(now)).Scan(&n)
	return n > 0, err
}

// CreateFirstAdmin uses a setup token up and creates an admin account in one
// transaction: ErrNotFound when the token is unknown, used or expired, so a
// link works once.
func (db *DB) CreateFirstAdmin(ctx context.Context, tokenHash, name, passwordHash string, now time.Time) (int64, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM setup_tokens WHERE token_hash = ? AND expires_at > ?`, tokenHash, ms(now))
	if err := expectOne(res, err); err != nil {
		return 0, fmt.Errorf("setup token: %w", err)
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO admins (name, password_hash, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING RETURNING id`, name, passwordHash, ms(now)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("admin %s: %w", name, community.ErrExists)
	}
	if err != nil {
		return 0, err
	}
	// The first account is made: every other setup link dies with this one.
	if _, err := tx.ExecContext(ctx, `DELETE FROM setup_tokens`); err != nil {
		return 0, err
	}
	return id, tx.Commit()
}

// PutMedia stores an uploaded image; storing the same id again is a no-op
// (ids are hashes of the body).
func (db *DB) PutMedia(ctx context.Context, id, contentType string, body []byte, at time.Time) error {
	_, err := db.write(ctx, `INSERT INTO media (id, content_type, body, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, id, contentType, body, ms(at))
	return err
}

// Media returns an uploaded image.
func (db *DB) Media(ctx context.Context, id string) (contentType string, body []byte, err error) {
	err = db.readRow(ctx, `SELECT content_type, body FROM media WHERE id = ?`, id).Scan(&contentType, &body)
	return contentType, body, notFound(err)
}

// Settings returns every instance setting.
func (db *DB) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := db.read(ctx, `SELECT key, value FROM settings`)
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
	_, err := db.write(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
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
	return db.countsByCommunity(ctx, `SELECT community_id, count(*) FROM posts WHERE received_at >= ?`+announcedPost+`
		GROUP BY community_id`, ms(since))
}

func (db *DB) countsByCommunity(ctx context.Context, q string, args ...any) (map[int64]int, error) {
	rows, err := db.read(ctx, q, args...)
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

// ThreadPosts lists a community's live posts of a thread (by its root's
// object id), oldest first.
func (db *DB) ThreadPosts(ctx context.Context, communityID int64, root string, limit int) ([]community.Post, error) {
	return scanPosts(db.read(ctx, threadPostsQuery, communityID, root, limit))
}

// threadPostsQuery takes the community, the root's object id and the
// limit. The root is found by its object id, the replies by the partial
// index posts_by_thread, whose condition is stated for the planner to use it.
const threadPostsQuery = `SELECT ` + postColumns + ` FROM posts WHERE id IN (
		SELECT id FROM posts WHERE community_id = ?1 AND thread_root = ?2 AND thread_root <> object_id
		UNION ALL
		SELECT id FROM posts WHERE community_id = ?1 AND object_id = ?2)
	AND deleted_at IS NULL ORDER BY published, id LIMIT ?3`

// replyCountsQuery is ReplyCounts' query for n parents (n >= 1): the
// community, then the parents' object ids.
func replyCountsQuery(n int) string {
	return `SELECT in_reply_to, count(*) FROM posts
		WHERE community_id = ? AND deleted_at IS NULL AND in_reply_to <> '' AND in_reply_to IN (?` + strings.Repeat(", ?", n-1) + `)
		GROUP BY in_reply_to`
}

// ReplyCounts counts the live replies a community has to each of objectIDs.
func (db *DB) ReplyCounts(ctx context.Context, communityID int64, objectIDs []string) (map[string]int, error) {
	out := map[string]int{}
	if len(objectIDs) == 0 {
		return out, nil
	}
	args := []any{communityID}
	for _, id := range objectIDs {
		args = append(args, id)
	}
	rows, err := db.read(ctx, replyCountsQuery(len(objectIDs)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// FailingHosts returns the hosts whose deliveries fail, with since when.
func (db *DB) FailingHosts(ctx context.Context) (map[string]time.Time, error) {
	rows, err := db.read(ctx, `SELECT host, failing_since FROM hosts WHERE failing_since IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var h string
		var since int64
		if err := rows.Scan(&h, &since); err != nil {
			return nil, err
		}
		out[h] = fromMS(since)
	}
	return out, rows.Err()
}

// QueueByHost counts the queued deliveries to each host.
func (db *DB) QueueByHost(ctx context.Context) (map[string]int, error) {
	rows, err := db.read(ctx, `SELECT host, count(*) FROM deliveries GROUP BY host`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var h string
		var n int
		if err := rows.Scan(&h, &n); err != nil {
			return nil, err
		}
		out[h] = n
	}
	return out, rows.Err()
}
