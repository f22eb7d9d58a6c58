package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/jackc/pgx/v5"
)

const communityColumns = `id, name, title, summary, requires_approval, posting_policy, announce_replies,
	created_at, updated_at, deleted_at, rules, avatar, cover`

func scanCommunity(row pgx.Row) (community.Community, error) {
	var c community.Community
	var created, updated int64
	var deleted *int64
	var policy string
	err := row.Scan(&c.ID, &c.Name, &c.Title, &c.Summary, &c.RequiresApproval, &policy, &c.AnnounceReplies,
		&created, &updated, &deleted, &c.Rules, &c.Avatar, &c.Cover)
	c.PostingPolicy = community.PostingPolicy(policy)
	c.CreatedAt, c.UpdatedAt, c.DeletedAt = fromMS(created), fromMS(updated), fromNullMS(deleted)
	return c, err
}

// CreateCommunity stores a new community and sets its ID.
func (db *DB) CreateCommunity(ctx context.Context, c *community.Community) error {
	if c.PostingPolicy == "" {
		c.PostingPolicy = community.PostMembers
	}
	err := db.pool.QueryRow(ctx, `INSERT INTO communities (name, title, summary, requires_approval, posting_policy,
			announce_replies, created_at, updated_at, rules, avatar, cover)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (name) DO NOTHING RETURNING id`,
		c.Name, c.Title, c.Summary, c.RequiresApproval, string(c.PostingPolicy), c.AnnounceReplies,
		ms(c.CreatedAt), ms(c.UpdatedAt), c.Rules, c.Avatar, c.Cover).Scan(&c.ID)
	db.cache.invalidate(tableCommunities)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("community %s: %w", c.Name, community.ErrExists)
	}
	return err
}

// CommunityByName returns a community, deleted or not (from the cache
// while this node listens: cache.go).
func (db *DB) CommunityByName(ctx context.Context, name string) (community.Community, error) {
	if name == "" {
		return community.Community{}, community.ErrNotFound
	}
	return db.cachedCommunity(ctx, name, 0)
}

// CommunityByID returns a community, deleted or not (from the cache while
// this node listens: cache.go).
func (db *DB) CommunityByID(ctx context.Context, id int64) (community.Community, error) {
	return db.cachedCommunity(ctx, "", id)
}

// Communities lists the live communities by name.
func (db *DB) Communities(ctx context.Context) ([]community.Community, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+communityColumns+` FROM communities WHERE deleted_at IS NULL ORDER BY name`)
	return collect(rows, err, func(r pgx.Rows) (community.Community, error) { return scanCommunity(r) })
}

// UpdateCommunity saves the editable fields of a community.
func (db *DB) UpdateCommunity(ctx context.Context, c community.Community) error {
	if c.PostingPolicy == "" {
		c.PostingPolicy = community.PostMembers
	}
	tag, err := db.pool.Exec(ctx, `UPDATE communities SET title = $1, summary = $2, requires_approval = $3,
			posting_policy = $4, announce_replies = $5, updated_at = $6, rules = $7, avatar = $8, cover = $9
		WHERE id = $10 AND deleted_at IS NULL`, c.Title, c.Summary, c.RequiresApproval, string(c.PostingPolicy),
		c.AnnounceReplies, ms(c.UpdatedAt), c.Rules, c.Avatar, c.Cover, c.ID)
	db.cache.invalidate(tableCommunities)
	return expectOne(tag, err)
}

// MarkCommunityDeleted marks a community deleted; its name stays taken.
func (db *DB) MarkCommunityDeleted(ctx context.Context, id int64, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE communities SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL`, ms(at), id)
	db.cache.invalidate(tableCommunities)
	return expectOne(tag, err)
}

// Member returns an actor's relation to a community.
func (db *DB) Member(ctx context.Context, communityID int64, actor string) (community.Member, error) {
	m := community.Member{CommunityID: communityID, Actor: actor}
	var state string
	var created, updated int64
	err := db.pool.QueryRow(ctx, `SELECT state, follow_id, created_at, updated_at FROM members
		WHERE community_id = $1 AND actor = $2`, communityID, actor).Scan(&state, &m.FollowID, &created, &updated)
	m.State, m.CreatedAt, m.UpdatedAt = community.MemberState(state), fromMS(created), fromMS(updated)
	return m, notFound(err)
}

// SaveMember inserts or replaces a member.
func (db *DB) SaveMember(ctx context.Context, m community.Member) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO members (community_id, actor, state, follow_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (community_id, actor) DO UPDATE SET state = excluded.state, follow_id = excluded.follow_id,
			updated_at = excluded.updated_at`,
		m.CommunityID, m.Actor, string(m.State), m.FollowID, ms(m.CreatedAt), ms(m.UpdatedAt))
	return err
}

// DeleteMember removes an actor's relation to a community.
func (db *DB) DeleteMember(ctx context.Context, communityID int64, actor string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM members WHERE community_id = $1 AND actor = $2`, communityID, actor)
	return err
}

// Members lists members in a state, ordered by actor, after the given actor.
func (db *DB) Members(ctx context.Context, communityID int64, state community.MemberState, after string, limit int) ([]community.Member, error) {
	rows, err := db.pool.Query(ctx, `SELECT actor, follow_id, created_at, updated_at FROM members
		WHERE community_id = $1 AND state = $2 AND actor > $3 ORDER BY actor LIMIT $4`, communityID, string(state), after, limit)
	return collect(rows, err, func(r pgx.Rows) (community.Member, error) {
		m := community.Member{CommunityID: communityID, State: state}
		var created, updated int64
		err := r.Scan(&m.Actor, &m.FollowID, &created, &updated)
		m.CreatedAt, m.UpdatedAt = fromMS(created), fromMS(updated)
		return m, err
	})
}

// CountMembers counts a community's members in a state.
func (db *DB) CountMembers(ctx context.Context, communityID int64, state community.MemberState) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM members WHERE community_id = $1 AND state = $2`,
		communityID, string(state)).Scan(&n)
	return n, err
}

// MemberInboxes returns the distinct delivery inboxes (shared inbox, else
// inbox) of a community's members, for fan-out. Members whose actor was
// never fetched have no inbox and are skipped.
func (db *DB) MemberInboxes(ctx context.Context, communityID int64) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT CASE WHEN a.shared_inbox <> '' THEN a.shared_inbox ELSE a.inbox END
		FROM members m JOIN remote_actors a ON a.iri = m.actor
		WHERE m.community_id = $1 AND m.state = 'member'`, communityID)
	return collect(rows, err, scanOne[string])
}

// MembershipsOf lists an actor's relations to every community.
func (db *DB) MembershipsOf(ctx context.Context, actor string) ([]community.Member, error) {
	rows, err := db.pool.Query(ctx, `SELECT community_id, state, follow_id, created_at, updated_at FROM members
		WHERE actor = $1 ORDER BY community_id`, actor)
	return collect(rows, err, func(r pgx.Rows) (community.Member, error) {
		m := community.Member{Actor: actor}
		var state string
		var created, updated int64
		err := r.Scan(&m.CommunityID, &state, &m.FollowID, &created, &updated)
		m.State, m.CreatedAt, m.UpdatedAt = community.MemberState(state), fromMS(created), fromMS(updated)
		return m, err
	})
}

// scanOne reads a row of one column.
func scanOne[T any](r pgx.Rows) (T, error) {
	var v T
	err := r.Scan(&v)
	return v, err
}
