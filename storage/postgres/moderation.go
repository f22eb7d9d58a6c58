package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/jackc/pgx/v5"
)

// SaveModerator inserts or replaces a moderator.
func (db *DB) SaveModerator(ctx context.Context, m community.Moderator) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO moderators (community_id, actor, role, added_by, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (community_id, actor) DO UPDATE SET role = excluded.role`,
		m.CommunityID, m.Actor, string(m.Role), m.AddedBy, ms(m.CreatedAt))
	return err
}

// DeleteModerator removes a moderator; ErrNotFound when there is none.
func (db *DB) DeleteModerator(ctx context.Context, communityID int64, actor string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM moderators WHERE community_id = $1 AND actor = $2`, communityID, actor)
	return expectOne(tag, err)
}

// Moderator returns an actor's role in a community.
func (db *DB) Moderator(ctx context.Context, communityID int64, actor string) (community.Moderator, error) {
	m := community.Moderator{CommunityID: communityID, Actor: actor}
	var role string
	var created int64
	err := db.pool.QueryRow(ctx, `SELECT role, added_by, created_at FROM moderators
		WHERE community_id = $1 AND actor = $2`, communityID, actor).Scan(&role, &m.AddedBy, &created)
	m.Role, m.CreatedAt = community.Role(role), fromMS(created)
	return m, notFound(err)
}

// Moderators lists a community's moderators, owners first, then oldest first.
func (db *DB) Moderators(ctx context.Context, communityID int64) ([]community.Moderator, error) {
	rows, err := db.pool.Query(ctx, `SELECT actor, role, added_by, created_at FROM moderators
		WHERE community_id = $1 ORDER BY role = 'owner' DESC, created_at, actor`, communityID)
	return collect(rows, err, func(r pgx.Rows) (community.Moderator, error) {
		m := community.Moderator{CommunityID: communityID}
		var role string
		var created int64
		err := r.Scan(&m.Actor, &role, &m.AddedBy, &created)
		m.Role, m.CreatedAt = community.Role(role), fromMS(created)
		return m, err
	})
}

// SaveDomainBlock inserts or replaces a domain block.
func (db *DB) SaveDomainBlock(ctx context.Context, b community.DomainBlock) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO domain_blocks (community_id, domain, reason, blocked_by, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (community_id, domain) DO UPDATE SET reason = excluded.reason, blocked_by = excluded.blocked_by`,
		b.CommunityID, b.Domain, b.Reason, b.By, ms(b.CreatedAt))
	db.cache.invalidate(tableDomainBlocks)
	return err
}

// DeleteDomainBlock lifts a block; ErrNotFound when there is none.
func (db *DB) DeleteDomainBlock(ctx context.Context, communityID int64, domain string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM domain_blocks WHERE community_id = $1 AND domain = $2`, communityID, domain)
	db.cache.invalidate(tableDomainBlocks)
	return expectOne(tag, err)
}

// DomainBlocks lists a community's blocks (0: the instance's), by domain
// (from the cache while this node listens: cache.go).
func (db *DB) DomainBlocks(ctx context.Context, communityID int64) ([]community.DomainBlock, error) {
	if v, ok := db.cache.domainBlocks(communityID); ok {
		return v, nil
	}
	store, gen := db.cache.begin()
	rows, err := db.pool.Query(ctx, `SELECT domain, reason, blocked_by, created_at FROM domain_blocks
		WHERE community_id = $1 ORDER BY domain`, communityID)
	bs, err := collect(rows, err, func(r pgx.Rows) (community.DomainBlock, error) {
		b := community.DomainBlock{CommunityID: communityID}
		var created int64
		err := r.Scan(&b.Domain, &b.Reason, &b.By, &created)
		b.CreatedAt = fromMS(created)
		return b, err
	})
	if err == nil && store {
		db.cache.putDomainBlocks(gen, communityID, bs)
	}
	return bs, err
}

// AddReport stores a report and sets its ID; ErrExists (nothing written)
// when the community has the same Flag already.
func (db *DB) AddReport(ctx context.Context, r *community.Report) error {
	targets, err := json.Marshal(r.Targets)
	if err != nil {
		return err
	}
	err = db.pool.QueryRow(ctx, `INSERT INTO reports (community_id, reporter, activity_id, targets, content, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (community_id, activity_id) DO NOTHING RETURNING id`,
		r.CommunityID, r.Reporter, r.ActivityID, string(targets), r.Content, ms(r.CreatedAt)).Scan(&r.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("report %s: %w", r.ActivityID, community.ErrExists)
	}
	return err
}

// Reports lists a community's reports, oldest first.
func (db *DB) Reports(ctx context.Context, communityID int64, openOnly bool) ([]community.Report, error) {
	q := `SELECT id, reporter, activity_id, targets, content, created_at, resolved_at, resolved_by FROM reports
		WHERE community_id = $1`
	if openOnly {
		q += ` AND resolved_at IS NULL`
	}
	rows, err := db.pool.Query(ctx, q+` ORDER BY id`, communityID)
	return collect(rows, err, func(row pgx.Rows) (community.Report, error) {
		r := community.Report{CommunityID: communityID}
		var targets string
		var created int64
		var resolved *int64
		if err := row.Scan(&r.ID, &r.Reporter, &r.ActivityID, &targets, &r.Content, &created, &resolved, &r.ResolvedBy); err != nil {
			return r, err
		}
		if err := json.Unmarshal([]byte(targets), &r.Targets); err != nil {
			return r, fmt.Errorf("report %d targets: %w", r.ID, err)
		}
		r.CreatedAt, r.ResolvedAt = fromMS(created), fromNullMS(resolved)
		return r, nil
	})
}

// ResolveReport closes an open report.
func (db *DB) ResolveReport(ctx context.Context, communityID, id int64, by string, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE reports SET resolved_at = $1, resolved_by = $2
		WHERE id = $3 AND community_id = $4 AND resolved_at IS NULL`, ms(at), by, id, communityID)
	return expectOne(tag, err)
}

// AddLogEntry appends to the moderation log.
func (db *DB) AddLogEntry(ctx context.Context, e community.LogEntry) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO mod_log (community_id, actor, action, target, reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, e.CommunityID, e.By, e.Action, e.Target, e.Reason, ms(e.At))
	return err
}

// ModLog lists a community's moderation log, newest first.
func (db *DB) ModLog(ctx context.Context, communityID int64, limit int) ([]community.LogEntry, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, actor, action, target, reason, created_at FROM mod_log
		WHERE community_id = $1 ORDER BY id DESC LIMIT $2`, communityID, limit)
	return collect(rows, err, func(r pgx.Rows) (community.LogEntry, error) {
		e := community.LogEntry{CommunityID: communityID}
		var at int64
		err := r.Scan(&e.ID, &e.By, &e.Action, &e.Target, &e.Reason, &at)
		e.At = fromMS(at)
		return e, err
	})
}

// Pin features a post; pinning it again keeps the first date.
func (db *DB) Pin(ctx context.Context, communityID, postID int64, at time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO pins (community_id, post_id, pinned_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, communityID, postID, ms(at))
	return err
}

// Unpin stops featuring a post; ErrNotFound when it was not pinned.
func (db *DB) Unpin(ctx context.Context, communityID, postID int64) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM pins WHERE community_id = $1 AND post_id = $2`, communityID, postID)
	return expectOne(tag, err)
}

// NoteRefusal records a refusal and tells whether none was recorded for
// the actor since since.
func (db *DB) NoteRefusal(ctx context.Context, communityID int64, actor string, at, since time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO mod_refusals (community_id, actor, refused_at) VALUES ($1, $2, $3)
		ON CONFLICT (community_id, actor) DO UPDATE SET refused_at = excluded.refused_at
		WHERE mod_refusals.refused_at < $4`, communityID, actor, ms(at), ms(since))
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

// SetModLogPublic shows or hides a community's moderation log on its page.
func (db *DB) SetModLogPublic(ctx context.Context, communityID int64, public bool) error {
	q := `DELETE FROM public_mod_logs WHERE community_id = $1`
	if public {
		q = `INSERT INTO public_mod_logs (community_id) VALUES ($1) ON CONFLICT DO NOTHING`
	}
	_, err := db.pool.Exec(ctx, q, communityID)
	return err
}

// ModLogPublic tells whether a community shows its moderation log.
func (db *DB) ModLogPublic(ctx context.Context, communityID int64) (bool, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM public_mod_logs WHERE community_id = $1`, communityID).Scan(&n)
	return n > 0, err
}
