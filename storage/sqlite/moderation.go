package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/agorafed/agora/community"
)

var _ community.ModerationStore = (*DB)(nil)

// SaveModerator inserts or replaces a moderator.
func (db *DB) SaveModerator(ctx context.Context, m community.Moderator) error {
	_, err := db.write(ctx, `INSERT INTO moderators (community_id, actor, role, added_by, created_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (community_id, actor) DO UPDATE SET role = excluded.role`,
		m.CommunityID, m.Actor, string(m.Role), m.AddedBy, ms(m.CreatedAt))
	return err
}

// DeleteModerator removes a moderator; ErrNotFound when there is none.
func (db *DB) DeleteModerator(ctx context.Context, communityID int64, actor string) error {
	res, err := db.write(ctx, `DELETE FROM moderators WHERE community_id = ? AND actor = ?`, communityID, actor)
	return expectOne(res, err)
}

// Moderator returns an actor's role in a community.
func (db *DB) Moderator(ctx context.Context, communityID int64, actor string) (community.Moderator, error) {
	m := community.Moderator{CommunityID: communityID, Actor: actor}
	var role string
	var created int64
	err := db.readRow(ctx, `SELECT role, added_by, created_at FROM moderators
		WHERE community_id = ? AND actor = ?`, communityID, actor).Scan(&role, &m.AddedBy, &created)
	m.Role, m.CreatedAt = community.Role(role), fromMS(created)
	return m, notFound(err)
}

// Moderators lists a community's moderators, owners first, then oldest first.
func (db *DB) Moderators(ctx context.Context, communityID int64) ([]community.Moderator, error) {
	rows, err := db.read(ctx, `SELECT actor, role, added_by, created_at FROM moderators
		WHERE community_id = ? ORDER BY role = 'owner' DESC, created_at, actor`, communityID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []community.Moderator
	for rows.Next() {
		m := community.Moderator{CommunityID: communityID}
		var role string
		var created int64
		if err := rows.Scan(&m.Actor, &role, &m.AddedBy, &created); err != nil {
			return nil, err
		}
		m.Role, m.CreatedAt = community.Role(role), fromMS(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

// SaveDomainBlock inserts or replaces a domain block.
func (db *DB) SaveDomainBlock(ctx context.Context, b community.DomainBlock) error {
	_, err := db.write(ctx, `INSERT INTO domain_blocks (community_id, domain, reason, blocked_by, created_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (community_id, domain) DO UPDATE SET reason = excluded.reason, blocked_by = excluded.blocked_by`,
		b.CommunityID, b.Domain, b.Reason, b.By, ms(b.CreatedAt))
	return err
}

// DeleteDomainBlock lifts a block; ErrNotFound when there is none.
func (db *DB) DeleteDomainBlock(ctx context.Context, communityID int64, domain string) error {
	res, err := db.write(ctx, `DELETE FROM domain_blocks WHERE community_id = ? AND domain = ?`, communityID, domain)
	return expectOne(res, err)
}

// DomainBlocks lists a community's blocks (0: the instance's), by domain.
func (db *DB) DomainBlocks(ctx context.Context, communityID int64) ([]community.DomainBlock, error) {
	rows, err := db.read(ctx, `SELECT domain, reason, blocked_by, created_at FROM domain_blocks
		WHERE community_id = ? ORDER BY domain`, communityID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []community.DomainBlock
	for rows.Next() {
		b := community.DomainBlock{CommunityID: communityID}
		var created int64
		if err := rows.Scan(&b.Domain, &b.Reason, &b.By, &created); err != nil {
			return nil, err
		}
		b.CreatedAt = fromMS(created)
		out = append(out, b)
	}
	return out, rows.Err()
}

// AddReport stores a report and sets its ID; ErrExists (nothing written)
// when the community has the same Flag already.
func (db *DB) AddReport(ctx context.Context, r *community.Report) error {
	targets, err := json.Marshal(r.Targets)
	if err != nil {
		return err
	}
	err = db.writeRow(ctx, `INSERT INTO reports (community_id, reporter, activity_id, targets, content, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (community_id, activity_id) DO NOTHING RETURNING id`,
		r.CommunityID, r.Reporter, r.ActivityID, string(targets), r.Content, ms(r.CreatedAt)).Scan(&r.ID)
	if err == sql.ErrNoRows {
		return fmt.Errorf("report %s: %w", r.ActivityID, community.ErrExists)
	}
	return err
}

// Reports lists a community's reports, oldest first.
func (db *DB) Reports(ctx context.Context, communityID int64, openOnly bool) ([]community.Report, error) {
	q := `SELECT id, reporter, activity_id, targets, content, created_at, resolved_at, resolved_by FROM reports
		WHERE community_id = ?`
	if openOnly {
		q += ` AND resolved_at IS NULL`
	}
	rows, err := db.read(ctx, q+` ORDER BY id`, communityID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []community.Report
	for rows.Next() {
		r := community.Report{CommunityID: communityID}
		var targets string
		var created int64
		var resolved sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Reporter, &r.ActivityID, &targets, &r.Content, &created, &resolved, &r.ResolvedBy); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(targets), &r.Targets); err != nil {
			return nil, fmt.Errorf("report %d targets: %w", r.ID, err)
		}
		r.CreatedAt, r.ResolvedAt = fromMS(created), fromMS(resolved.Int64)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ResolveReport closes an open report.
func (db *DB) ResolveReport(ctx context.Context, communityID, id int64, by string, at time.Time) error {
	res, err := db.write(ctx, `UPDATE reports SET resolved_at = ?, resolved_by = ?
		WHERE id = ? AND community_id = ? AND resolved_at IS NULL`, ms(at), by, id, communityID)
	return expectOne(res, err)
}

// AddLogEntry appends to the moderation log.
func (db *DB) AddLogEntry(ctx context.Context, e community.LogEntry) error {
	_, err := db.write(ctx, `INSERT INTO mod_log (community_id, actor, action, target, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, e.CommunityID, e.By, e.Action, e.Target, e.Reason, ms(e.At))
	return err
}

// ModLog lists a community's moderation log, newest first.
func (db *DB) ModLog(ctx context.Context, communityID int64, limit int) ([]community.LogEntry, error) {
	rows, err := db.read(ctx, `SELECT id, actor, action, target, reason, created_at FROM mod_log
		WHERE community_id = ? ORDER BY id DESC LIMIT ?`, communityID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []community.LogEntry
	for rows.Next() {
		e := community.LogEntry{CommunityID: communityID}
		var at int64
		if err := rows.Scan(&e.ID, &e.By, &e.Action, &e.Target, &e.Reason, &at); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Pin features a post; pinning it again keeps the first date.
func (db *DB) Pin(ctx context.Context, communityID, postID int64, at time.Time) error {
	_, err := db.write(ctx, `INSERT INTO pins (community_id, post_id, pinned_at) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, communityID, postID, ms(at))
	return err
}

// Unpin stops featuring a post; ErrNotFound when it was not pinned.
func (db *DB) Unpin(ctx context.Context, communityID, postID int64) error {
	res, err := db.write(ctx, `DELETE FROM pins WHERE community_id = ? AND post_id = ?`, communityID, postID)
	return expectOne(res, err)
}

// PinnedPosts lists a community's featured posts, newest pin first.
func (db *DB) PinnedPosts(ctx context.Context, communityID int64) ([]community.Post, error) {
	cols := "p." + strings.ReplaceAll(strings.Join(strings.Fields(postColumns), " "), ", ", ", p.")
	return scanPosts(db.read(ctx, `SELECT `+cols+` FROM pins x JOIN posts p ON p.id = x.post_id
		WHERE x.community_id = ? ORDER BY x.pinned_at DESC, x.post_id DESC`, communityID))
}

// NoteRefusal records a refusal and tells whether none was recorded for
// the actor since since.
func (db *DB) NoteRefusal(ctx context.Context, communityID int64, actor string, at, since time.Time) (bool, error) {
	res, err := db.write(ctx, `INSERT INTO mod_refusals (community_id, actor, refused_at) VALUES (?, ?, ?)
		ON CONFLICT (community_id, actor) DO UPDATE SET refused_at = excluded.refused_at
		WHERE mod_refusals.refused_at < ?`, communityID, actor, ms(at), ms(since))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// SetModLogPublic shows or hides a community's moderation log on its page.
func (db *DB) SetModLogPublic(ctx context.Context, communityID int64, public bool) error {
	q := `DELETE FROM public_mod_logs WHERE community_id = ?`
	if public {
		q = `INSERT INTO public_mod_logs (community_id) VALUES (?) ON CONFLICT DO NOTHING`
	}
	_, err := db.write(ctx, q, communityID)
	return err
}

// ModLogPublic tells whether a community shows its moderation log.
func (db *DB) ModLogPublic(ctx context.Context, communityID int64) (bool, error) {
	var n int
	err := db.readRow(ctx, `SELECT count(*) FROM public_mod_logs WHERE community_id = ?`, communityID).Scan(&n)
	return n > 0, err
}
