package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/storage"
)

var _ community.PostStore = (*DB)(nil)

const postColumns = `id, community_id, object_id, activity_id, type, author, url, title, summary, content,
	sensitive, attachments, in_reply_to, thread_root, visibility, published, updated, received_at,
	decision, reason, activity, deleted_at, likes, dislikes`

// announcedPost is the condition of a post the community boosts now
// (community.Post.Announced).
const announcedPost = ` AND decision = 'announce' AND deleted_at IS NULL`

func scanPost(row interface{ Scan(...any) error }) (community.Post, error) {
	var p community.Post
	var typ, visibility, decision, reason, attachments string
	var published, updated, received int64
	var deleted sql.NullInt64
	err := row.Scan(&p.ID, &p.CommunityID, &p.ObjectID, &p.ActivityID, &typ, &p.Author, &p.URL, &p.Title,
		&p.Summary, &p.Content, &p.Sensitive, &attachments, &p.InReplyTo, &p.ThreadRoot, &visibility,
		&published, &updated, &received, &decision, &reason, &p.Activity, &deleted, &p.Likes, &p.Dislikes)
	if err != nil {
		return community.Post{}, err
	}
	p.Type = typ
	p.Visibility = community.Visibility(visibility)
	p.Decision, p.Reason = community.Decision(decision), community.Reason(reason)
	p.Published, p.Updated, p.ReceivedAt = fromMS(published), fromMS(updated), fromMS(received)
	p.DeletedAt = fromMS(deleted.Int64)
	if len(p.Activity) == 0 {
		p.Activity = nil
	}
	if p.Attachments, err = storage.DecodeAttachments(attachments); err != nil {
		return community.Post{}, fmt.Errorf("post %d attachments: %w", p.ID, err)
	}
	return p, nil
}

func scanPosts(rows *sql.Rows, err error) ([]community.Post, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []community.Post
	for rows.Next() {
		p, err := scanPost(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// blob keeps a nil body from being bound as NULL in a NOT NULL column.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// AddPost stores a new post and sets its ID; a post the community has
// already is ErrExists, and nothing is written. Concurrent calls (the
// inbox's workers) are committed together (group commit): a post is one
// small insert, and a commit each cost more than the insert.
func (db *DB) AddPost(ctx context.Context, p *community.Post) error {
	attachments, err := storage.EncodeAttachments(p.Attachments)
	if err != nil {
		return fmt.Errorf("add post %s: %w", p.ObjectID, err)
	}
	id, err := db.postInserts.do(ctx, postInsert{p: p, attachments: attachments})
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("add post %s to community %d: %w", p.ObjectID, p.CommunityID, community.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add post %s: %w", p.ObjectID, err)
	}
	p.ID = id
	return nil
}

// postInsert is a request of the group commit of AddPost.
type postInsert struct {
	p           *community.Post
	attachments string
}

// insertPosts is the write of a group commit of AddPost; a post the
// community has already is sql.ErrNoRows.
func insertPosts(ctx context.Context, tx *sql.Tx, reqs []postInsert) []gcResult[int64] {
	return prepareEach(ctx, tx, `INSERT INTO posts (community_id, object_id, activity_id, type, author, url,
			title, summary, content, sensitive, attachments, in_reply_to, thread_root, visibility,
			published, updated, received_at, decision, reason, activity, deleted_at, likes, dislikes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (community_id, object_id) DO NOTHING RETURNING id`, reqs,
		func(st *sql.Stmt, r postInsert) (int64, error) {
			p := r.p
			var id int64
			err := st.QueryRowContext(ctx, p.CommunityID, p.ObjectID, p.ActivityID, p.Type, p.Author, p.URL,
				p.Title, p.Summary, p.Content, p.Sensitive, r.attachments, p.InReplyTo, p.ThreadRoot, string(p.Visibility),
				ms(p.Published), ms(p.Updated), ms(p.ReceivedAt), string(p.Decision), string(p.Reason), blob(p.Activity),
				nullMS(p.DeletedAt), p.Likes, p.Dislikes).Scan(&id)
			return id, err
		})
}

// PostByObject returns a community's post of a remote object.
func (db *DB) PostByObject(ctx context.Context, communityID int64, objectID string) (community.Post, error) {
	p, err := scanPost(db.readRow(ctx, `SELECT `+postColumns+` FROM posts
		WHERE community_id = ? AND object_id = ?`, communityID, objectID))
	return p, notFound(err)
}

// PostsByURL returns a community's posts whose url (the page a person
// sees at the origin) is url, by ID.
func (db *DB) PostsByURL(ctx context.Context, communityID int64, url string) ([]community.Post, error) {
	if url == "" {
		return nil, nil
	}
	return scanPosts(db.read(ctx, `SELECT `+postColumns+` FROM posts WHERE community_id = ? AND url = ? ORDER BY id`, communityID, url))
}

// PostsByObject returns a remote object's posts in every community, by ID.
func (db *DB) PostsByObject(ctx context.Context, objectID string) ([]community.Post, error) {
	return scanPosts(db.read(ctx, `SELECT `+postColumns+` FROM posts WHERE object_id = ? ORDER BY id`, objectID))
}

// PostByID returns a post.
func (db *DB) PostByID(ctx context.Context, id int64) (community.Post, error) {
	p, err := scanPost(db.readRow(ctx, `SELECT `+postColumns+` FROM posts WHERE id = ?`, id))
	return p, notFound(err)
}

// UpdatePost saves what an edit, a decision, a deletion or reactions change.
func (db *DB) UpdatePost(ctx context.Context, p community.Post) error {
	attachments, err := storage.EncodeAttachments(p.Attachments)
	if err != nil {
		return fmt.Errorf("update post %d: %w", p.ID, err)
	}
	res, err := db.write(ctx, `UPDATE posts SET title = ?, summary = ?, content = ?, sensitive = ?,
			attachments = ?, url = ?, updated = ?, visibility = ?, decision = ?, reason = ?, deleted_at = ?,
			likes = ?, dislikes = ?
		WHERE id = ?`,
		p.Title, p.Summary, p.Content, p.Sensitive, attachments, p.URL, ms(p.Updated), string(p.Visibility),
		string(p.Decision), string(p.Reason), nullMS(p.DeletedAt), p.Likes, p.Dislikes, p.ID)
	if err := expectOne(res, err); err != nil {
		return fmt.Errorf("update post %d: %w", p.ID, err)
	}
	return nil
}

// Posts lists a community's posts newest first, below beforeID (0: from
// the newest).
func (db *DB) Posts(ctx context.Context, communityID int64, beforeID int64, limit int, announcedOnly bool) ([]community.Post, error) {
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	q := `SELECT ` + postColumns + ` FROM posts WHERE community_id = ? AND id < ?`
	if announcedOnly {
		q += announcedPost
	}
	q += ` ORDER BY id DESC LIMIT ?`
	return scanPosts(db.read(ctx, q, communityID, beforeID, limit))
}

// CountPosts counts a community's posts.
func (db *DB) CountPosts(ctx context.Context, communityID int64, announcedOnly bool) (int, error) {
	q := `SELECT count(*) FROM posts WHERE community_id = ?`
	if announcedOnly {
		q += announcedPost
	}
	var n int
	err := db.readRow(ctx, q, communityID).Scan(&n)
	return n, err
}

// CountAnnouncedSince counts an author's announced, live posts in a
// community received at or after since.
func (db *DB) CountAnnouncedSince(ctx context.Context, communityID int64, author string, since time.Time) (int, error) {
	var n int
	err := db.readRow(ctx, `SELECT count(*) FROM posts
		WHERE author = ? AND community_id = ? AND received_at >= ?`+announcedPost,
		author, communityID, ms(since)).Scan(&n)
	return n, err
}

// AuthorFacts answers in one query what deciding a post asks of the
// author: membership, role, domain blocks and announced posts since a
// time.
//
// Of the domain blocks it returns candidates, and community decides with
// DomainMatches: SQL keeps the blocks of the instance (community 0) and
// the community whose domain occurs in the author's host (instr, not
// LIKE: a domain is no pattern), which every block that matches does.
// SQL's lower() folds ASCII only, and DomainMatches compares the host
// with its IPv6 zone unescaped (%25 to %): domains with other than
// printable ASCII, or with a %, are always kept. (NormalizeDomain lets
// neither upper case nor % into the table; this does not rely on it.)
func (db *DB) AuthorFacts(ctx context.Context, communityID int64, author string, since time.Time) (community.AuthorFacts, error) {
	var f community.AuthorFacts
	var state, role sql.NullString
	var blocks string
	err := db.readRow(ctx, authorFactsQuery,
		communityID, author, community.HostOf(author), ms(since)).Scan(&state, &role, &blocks, &f.RecentPosts)
	if err != nil {
		return f, fmt.Errorf("facts of %s in community %d: %w", author, communityID, err)
	}
	f.State, f.Role = community.MemberState(state.String), community.Role(role.String)
	if blocks != "[]" {
		if err := json.Unmarshal([]byte(blocks), &f.Blocks); err != nil {
			return f, fmt.Errorf("facts of %s in community %d: %w", author, communityID, err)
		}
	}
	return f, nil
}

// authorFactsQuery takes the community, the author, the author's host
// and the time from which posts count. The count reads the index
// posts_by_author only (TestQueryPlans).
const authorFactsQuery = `SELECT
	(SELECT state FROM members WHERE community_id = ?1 AND actor = ?2),
	(SELECT role FROM moderators WHERE community_id = ?1 AND actor = ?2),
	(SELECT json_group_array(domain) FROM domain_blocks
		WHERE community_id IN (0, ?1) AND ?3 <> '' AND (instr(?3, lower(trim(domain, '[]'))) > 0
			OR domain GLOB '*[^ -~]*' OR instr(domain, '%') > 0)),
	(SELECT count(*) FROM posts
		WHERE author = ?2 AND community_id = ?1 AND received_at >= ?4` + announcedPost + `)`

// PostsByAuthor lists an author's live posts in every community, by ID.
func (db *DB) PostsByAuthor(ctx context.Context, author string) ([]community.Post, error) {
	return scanPosts(db.read(ctx, `SELECT `+postColumns+` FROM posts
		WHERE author = ? AND deleted_at IS NULL ORDER BY id`, author))
}

// SetReaction adds or removes an actor's Like or Dislike of a post and
// recounts the post's reactions in the same transaction, so the counts
// always agree with the reactions table.
func (db *DB) SetReaction(ctx context.Context, postID int64, actor, kind string, add bool) (likes, dislikes int, changed bool, err error) {
	if kind != "Like" && kind != "Dislike" {
		return 0, 0, false, fmt.Errorf("reaction to post %d: %w kind %q: use Like or Dislike", postID, community.ErrInvalid, kind)
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, err)
	}
	defer tx.Rollback()
	// Read the counts first: a missing post is ErrNotFound, not a foreign
	// key failure, and an unchanged reaction returns them as they are.
	if err := tx.QueryRowContext(ctx, `SELECT likes, dislikes FROM posts WHERE id = ?`, postID).Scan(&likes, &dislikes); err != nil {
		return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, notFound(err))
	}
	var res sql.Result
	if add {
		// A vote is up or down, never both: a new one replaces the other
		// (as Lemmy counts them).
		if _, err := tx.ExecContext(ctx, `DELETE FROM reactions WHERE post_id = ? AND actor = ? AND kind <> ?`,
			postID, actor, kind); err != nil {
			return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, err)
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO reactions (post_id, actor, kind) VALUES (?, ?, ?)
			ON CONFLICT (post_id, actor, kind) DO NOTHING`, postID, actor, kind)
	} else {
		res, err = tx.ExecContext(ctx, `DELETE FROM reactions WHERE post_id = ? AND actor = ? AND kind = ?`, postID, actor, kind)
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, err)
	}
	if n == 0 {
		return likes, dislikes, false, nil
	}
	err = tx.QueryRowContext(ctx, `UPDATE posts SET
			likes = (SELECT count(*) FROM reactions WHERE post_id = posts.id AND kind = 'Like'),
			dislikes = (SELECT count(*) FROM reactions WHERE post_id = posts.id AND kind = 'Dislike')
		WHERE id = ? RETURNING likes, dislikes`, postID).Scan(&likes, &dislikes)
	if err != nil {
		return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, err)
	}
	return likes, dislikes, true, nil
}
