package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/agorafed/agora/community"
)

const communityColumns = `id, name, title, summary, requires_approval, posting_policy, announce_replies,
	created_at, updated_at, deleted_at, rules, avatar, cover`

func scanCommunity(row interface{ Scan(...any) error }) (community.Community, error) {
	var c community.Community
	var created, updated int64
	var deleted sql.NullInt64
	var policy string
	err := row.Scan(&c.ID, &c.Name, &c.Title, &c.Summary, &c.RequiresApproval, &policy, &c.AnnounceReplies,
		&created, &updated, &deleted, &c.Rules, &c.Avatar, &c.Cover)
	c.PostingPolicy = community.PostingPolicy(policy)
	c.CreatedAt, c.UpdatedAt, c.DeletedAt = fromMS(created), fromMS(updated), fromMS(deleted.Int64)
	return c, err
}

// CreateCommunity stores a new community and sets its ID.
func (db *DB) CreateCommunity(ctx context.Context, c *community.Community) error {
	if c.PostingPolicy == "" {
		c.PostingPolicy = community.PostMembers
	}
	err := db.writeRow(ctx, `INSERT INTO communities (name, title, summary, requires_approval, posting_policy,
			announce_replies, created_at, updated_at, rules, avatar, cover)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id`,
		c.Name, c.Title, c.Summary, c.RequiresApproval, string(c.PostingPolicy), c.AnnounceReplies,
		ms(c.CreatedAt), ms(c.UpdatedAt), c.Rules, c.Avatar, c.Cover).Scan(&c.ID)
	if err == sql.ErrNoRows {
		return fmt.Errorf("community %s: %w", c.Name, community.ErrExists)
	}
	return err
}

// CommunityByName returns a community, deleted or not.
func (db *DB) CommunityByName(ctx context.Context, name string) (community.Community, error) {
	c, err := scanCommunity(db.readRow(ctx, `SELECT `+communityColumns+` FROM communities WHERE name = ?`, name))
	return c, notFound(err)
}

// CommunityByID returns a community, deleted or not.
func (db *DB) CommunityByID(ctx context.Context, id int64) (community.Community, error) {
	c, err := scanCommunity(db.readRow(ctx, `SELECT `+communityColumns+` FROM communities WHERE id = ?`, id))
	return c, notFound(err)
}

// Communities lists the live communities by name.
func (db *DB) Communities(ctx context.Context) ([]community.Community, error) {
	rows, err := db.read(ctx, `SELECT `+communityColumns+` FROM communities WHERE deleted_at IS NULL ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []community.Community
	for rows.Next() {
		c, err := scanCommunity(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateCommunity saves the editable fields of a community.
func (db *DB) UpdateCommunity(ctx context.Context, c community.Community) error {
	if c.PostingPolicy == "" {
		c.PostingPolicy = community.PostMembers
	}
	res, err := db.write(ctx, `UPDATE communities SET title = ?, summary = ?, requires_approval = ?,
			posting_policy = ?, announce_replies = ?, updated_at = ?, rules = ?, avatar = ?, cover = ?
		WHERE id = ? AND deleted_at IS NULL`, c.Title, c.Summary, c.RequiresApproval, string(c.PostingPolicy),
		c.AnnounceReplies, ms(c.UpdatedAt), c.Rules, c.Avatar, c.Cover, c.ID)
	return expectOne(res, err)
}

// MarkCommunityDeleted marks a community deleted; its name stays taken.
func (db *DB) MarkCommunityDeleted(ctx context.Context, id int64, at time.Time) error {
	res, err := db.write(ctx, `UPDATE communities SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, ms(at), id)
	return expectOne(res, err)
}

func expectOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return community.ErrNotFound
	}
	return nil
}

// Member returns an actor's relation to a community.
func (db *DB) Member(ctx context.Context, communityID int64, actor string) (community.Member, error) {
	m := community.Member{CommunityID: communityID, Actor: actor}
	var state string
	var created, updated int64
	err := db.readRow(ctx, `SELECT state, follow_id, created_at, updated_at FROM members
		WHERE community_id = ? AND actor = ?`, communityID, actor).Scan(&state, &m.FollowID, &created, &updated)
	m.State, m.CreatedAt, m.UpdatedAt = community.MemberState(state), fromMS(created), fromMS(updated)
	return m, notFound(err)
}

// SaveMember inserts or replaces a member.
func (db *DB) SaveMember(ctx context.Context, m community.Member) error {
	_, err := db.write(ctx, `INSERT INTO members (community_id, actor, state, follow_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (community_id, actor) DO UPDATE SET state = excluded.state, follow_id = excluded.follow_id,
			updated_at = excluded.updated_at`,
		m.CommunityID, m.Actor, string(m.State), m.FollowID, ms(m.CreatedAt), ms(m.UpdatedAt))
	return err
}

// DeleteMember removes an actor's relation to a community.
func (db *DB) DeleteMember(ctx context.Context, communityID int64, actor string) error {
	_, err := db.write(ctx, `DELETE FROM members WHERE community_id = ? AND actor = ?`, communityID, actor)
	return err
}

// Members lists members in a state, ordered by actor, after the given actor.
func (db *DB) Members(ctx context.Context, communityID int64, state community.MemberState, after string, limit int) ([]community.Member, error) {
	rows, err := db.read(ctx, `SELECT actor, follow_id, created_at, updated_at FROM members
		WHERE community_id = ? AND state = ? AND actor > ? ORDER BY actor LIMIT ?`, communityID, string(state), after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []community.Member
	for rows.Next() {
		m := community.Member{CommunityID: communityID, State: state}
		var created, updated int64
		if err := rows.Scan(&m.Actor, &m.FollowID, &created, &updated); err != nil {
			return nil, err
		}
		m.CreatedAt, m.UpdatedAt = fromMS(created), fromMS(updated)
		out = append(out, m)
	}
	return out, rows.Err()
}

// CountMembers counts a community's members in a state.
func (db *DB) CountMembers(ctx context.Context, communityID int64, state community.MemberState) (int, error) {
	var n int
	err := db.readRow(ctx, `SELECT count(*) FROM members WHERE community_id = ? AND state = ?`,
		communityID, string(state)).Scan(&n)
	return n, err
}

// MemberInboxes returns the distinct delivery inboxes (shared inbox, else
// inbox) of a community's members, for fan-out. Members whose actor was
// never fetched have no inbox and are skipped.
func (db *DB) MemberInboxes(ctx context.Context, communityID int64) ([]string, error) {
	rows, err := db.read(ctx, `SELECT DISTINCT CASE WHEN a.shared_inbox <> '' THEN a.shared_inbox ELSE a.inbox END
		FROM members m JOIN remote_actors a ON a.iri = m.actor
		WHERE m.community_id = ? AND m.state = 'member'`, communityID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// MembershipsOf lists an actor's relations to every community.
func (db *DB) MembershipsOf(ctx context.Context, actor string) ([]community.Member, error) {
	rows, err := db.read(ctx, `SELECT community_id, state, follow_id, created_at, updated_at FROM members
		WHERE actor = ? ORDER BY community_id`, actor)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []community.Member
	for rows.Next() {
		m := community.Member{Actor: actor}
		var state string
		var created, updated int64
		if err := rows.Scan(&m.CommunityID, &state, &m.FollowID, &created, &updated); err != nil {
			return nil, err
		}
		m.State, m.CreatedAt, m.UpdatedAt = community.MemberState(state), fromMS(created), fromMS(updated)
		out = append(out, m)
	}
	return out, rows.Err()
}
