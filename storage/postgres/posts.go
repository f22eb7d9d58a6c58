package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/storage"
	"github.com/jackc/pgx/v5"
)

const postColumns = `id, community_id, object_id, activity_id, type, author, url, title, summary, content,
	sensitive, attachments, in_reply_to, thread_root, visibility, published, updated, received_at,
	decision, reason, activity, deleted_at, likes, dislikes`

// announcedPost is the condition of a post the community boosts now
// (community.Post.Announced).
const announcedPost = ` AND decision = 'announce' AND deleted_at IS NULL`

func scanPost(row pgx.Row) (community.Post, error) {
	var p community.Post
	var typ, visibility, decision, reason, attachments string
	var published, updated, received int64
	var deleted *int64
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
	p.DeletedAt = fromNullMS(deleted)
	if len(p.Activity) == 0 {
		p.Activity = nil
	}
	if p.Attachments, err = storage.DecodeAttachments(attachments); err != nil {
		return community.Post{}, fmt.Errorf("post %d attachments: %w", p.ID, err)
	}
	return p, nil
}

func scanPosts(rows pgx.Rows, err error) ([]community.Post, error) {
	return collect(rows, err, func(r pgx.Rows) (community.Post, error) { return scanPost(r) })
}

// AddPost stores a new post and sets its ID; a post the community has
// already is ErrExists, and nothing is written. Concurrent inserts share
// a transaction (a group commit), committed without waiting for the
// WAL's flush: a post lost with PostgreSQL's crash is received again
// when its activity is processed again (docs/architecture.md, "Several
// nodes").
func (db *DB) AddPost(ctx context.Context, p *community.Post) error {
	attachments, err := storage.EncodeAttachments(p.Attachments)
	if err != nil {
		return fmt.Errorf("add post %s: %w", p.ObjectID, err)
	}
	res, err := db.postInserts.do(ctx, postInsert{p: p, attachments: attachments})
	if err != nil {
		return fmt.Errorf("add post %s: %w", p.ObjectID, err)
	}
	if res.id == 0 {
		return fmt.Errorf("add post %s to community %d: %w", p.ObjectID, p.CommunityID, community.ErrExists)
	}
	p.ID = res.id
	return nil
}

// postInsert is a post to insert and its attachments, encoded.
type postInsert struct {
	p           *community.Post
	attachments string
}

// postInserted is the new post's id, 0 when the community had it.
type postInserted struct{ id int64 }

const insertPostSQL = `INSERT INTO posts (community_id, object_id, activity_id, type, author, url,
		title, summary, content, sensitive, attachments, in_reply_to, thread_root, visibility,
		published, updated, received_at, decision, reason, activity, deleted_at, likes, dislikes)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
	ON CONFLICT (community_id, object_id) DO NOTHING RETURNING id`

func insertPostArgs(in postInsert) []any {
	p := in.p
	return []any{p.CommunityID, p.ObjectID, p.ActivityID, p.Type, p.Author, p.URL,
		p.Title, p.Summary, p.Content, p.Sensitive, in.attachments, p.InReplyTo, p.ThreadRoot, string(p.Visibility),
		ms(p.Published), ms(p.Updated), ms(p.ReceivedAt), string(p.Decision), string(p.Reason), blob(p.Activity),
		nullMS(p.DeletedAt), p.Likes, p.Dislikes}
}

func scanInserted(row pgx.Row) (postInserted, error) {
	var res postInserted
	err := row.Scan(&res.id)
	if errors.Is(err, pgx.ErrNoRows) {
		return postInserted{}, nil
	}
	return res, err
}

func (db *DB) postInsertGroup() *groupCommit[postInsert, postInserted] {
	return (&groupCommit[postInsert, postInserted]{name: "insert post", async: true, db: db,
		queue: func(b *pgx.Batch, in postInsert) { b.Queue(insertPostSQL, insertPostArgs(in)...) },
		read:  func(br pgx.BatchResults, _ postInsert) (postInserted, error) { return scanInserted(br.QueryRow()) },
		single: func(ctx context.Context, in postInsert) (postInserted, error) {
			return scanInserted(db.pool.QueryRow(ctx, insertPostSQL, insertPostArgs(in)...))
		},
	}).start(64)
}

// PostByObject returns a community's post of a remote object.
func (db *DB) PostByObject(ctx context.Context, communityID int64, objectID string) (community.Post, error) {
	p, err := scanPost(db.pool.QueryRow(ctx, `SELECT `+postColumns+` FROM posts
		WHERE community_id = $1 AND object_id = $2`, communityID, objectID))
	return p, notFound(err)
}

// PostsByURL returns a community's posts whose url (the page a person
// sees at the origin) is url, by ID.
func (db *DB) PostsByURL(ctx context.Context, communityID int64, url string) ([]community.Post, error) {
	if url == "" {
		return nil, nil
	}
	return scanPosts(db.pool.Query(ctx, `SELECT `+postColumns+` FROM posts WHERE community_id = $1 AND url = $2 ORDER BY id`, communityID, url))
}

// PostsByObject returns a remote object's posts in every community, by ID.
func (db *DB) PostsByObject(ctx context.Context, objectID string) ([]community.Post, error) {
	return scanPosts(db.pool.Query(ctx, `SELECT `+postColumns+` FROM posts WHERE object_id = $1 ORDER BY id`, objectID))
}

// PostByID returns a post.
func (db *DB) PostByID(ctx context.Context, id int64) (community.Post, error) {
	p, err := scanPost(db.pool.QueryRow(ctx, `SELECT `+postColumns+` FROM posts WHERE id = $1`, id))
	return p, notFound(err)
}

// UpdatePost saves what an edit, a decision, a deletion or reactions change.
func (db *DB) UpdatePost(ctx context.Context, p community.Post) error {
	attachments, err := storage.EncodeAttachments(p.Attachments)
	if err != nil {
		return fmt.Errorf("update post %d: %w", p.ID, err)
	}
	tag, err := db.pool.Exec(ctx, `UPDATE posts SET title = $1, summary = $2, content = $3, sensitive = $4,
			attachments = $5, url = $6, updated = $7, visibility = $8, decision = $9, reason = $10, deleted_at = $11,
			likes = $12, dislikes = $13
		WHERE id = $14`,
		p.Title, p.Summary, p.Content, p.Sensitive, attachments, p.URL, ms(p.Updated), string(p.Visibility),
		string(p.Decision), string(p.Reason), nullMS(p.DeletedAt), p.Likes, p.Dislikes, p.ID)
	if err := expectOne(tag, err); err != nil {
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
	q := `SELECT ` + postColumns + ` FROM posts WHERE community_id = $1 AND id < $2`
	if announcedOnly {
		q += announcedPost
	}
	q += ` ORDER BY id DESC LIMIT $3`
	return scanPosts(db.pool.Query(ctx, q, communityID, beforeID, limit))
}

// CountPosts counts a community's posts.
func (db *DB) CountPosts(ctx context.Context, communityID int64, announcedOnly bool) (int, error) {
	q := `SELECT count(*) FROM posts WHERE community_id = $1`
	if announcedOnly {
		q += announcedPost
	}
	var n int
	err := db.pool.QueryRow(ctx, q, communityID).Scan(&n)
	return n, err
}

// CountAnnouncedSince counts an author's announced, live posts in a
// community received at or after since.
func (db *DB) CountAnnouncedSince(ctx context.Context, communityID int64, author string, since time.Time) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM posts
		WHERE author = $1 AND community_id + 0 = $2 AND received_at >= $3`+announcedPost,
		author, communityID, ms(since)).Scan(&n)
	return n, err
}

// AuthorFacts answers in one query what deciding a post asks of the
// author: membership, role, domain blocks and announced posts since a
// time. Of the domain blocks it returns candidates, as storage/sqlite
// does (see there): the blocks of the instance and the community whose
// domain occurs in the author's host, and every block with other than
// printable ASCII or with a %; community decides with DomainMatches.
func (db *DB) AuthorFacts(ctx context.Context, communityID int64, author string, since time.Time) (community.AuthorFacts, error) {
	var f community.AuthorFacts
	var state, role *string
	err := db.pool.QueryRow(ctx, authorFactsQuery,
		communityID, author, community.HostOf(author), ms(since)).Scan(&state, &role, &f.Blocks, &f.RecentPosts)
	if err != nil {
		return f, fmt.Errorf("facts of %s in community %d: %w", author, communityID, err)
	}
	if state != nil {
		f.State = community.MemberState(*state)
	}
	if role != nil {
		f.Role = community.Role(*role)
	}
	if len(f.Blocks) == 0 {
		f.Blocks = nil
	}
	return f, nil
}

// authorFactsQuery takes the community, the author, the author's host
// and the time from which posts count. lower() is given ASCII only (the
// C collation's), as SQLite's lower(); the rest is kept by the second
// condition anyway.
//
// The posts are counted by posts_by_author: "community_id + 0" keeps
// posts_by_community (community_id, id) out of the choice. Planned on a
// young table (no statistics yet: both indexes are estimated at one
// row), the cached generic plan chose posts_by_community, and kept it
// as the table grew until autovacuum's first ANALYZE: a count then read
// every post of the community (2.3 ms with 350 posts; the bench's
// processing rate fell by half).
const authorFactsQuery = `SELECT
	(SELECT state FROM members WHERE community_id = $1 AND actor = $2),
	(SELECT role FROM moderators WHERE community_id = $1 AND actor = $2),
	(SELECT coalesce(array_agg(domain::text), '{}') FROM domain_blocks
		WHERE community_id IN (0, $1) AND $3 <> '' AND (strpos($3, lower(btrim(domain, '[]') COLLATE "C")) > 0
			OR domain ~ '[^ -~]' OR strpos(domain, '%') > 0)),
	(SELECT count(*) FROM posts
		WHERE author = $2 AND community_id + 0 = $1 AND received_at >= $4` + announcedPost + `)`

// PostsByAuthor lists an author's live posts in every community, by ID.
func (db *DB) PostsByAuthor(ctx context.Context, author string) ([]community.Post, error) {
	return scanPosts(db.pool.Query(ctx, `SELECT `+postColumns+` FROM posts
		WHERE author = $1 AND deleted_at IS NULL ORDER BY id`, author))
}

// SetReaction adds or removes an actor's Like or Dislike of a post and
// recounts the post's reactions in the same transaction, so the counts
// always agree with the reactions table.
func (db *DB) SetReaction(ctx context.Context, postID int64, actor, kind string, add bool) (likes, dislikes int, changed bool, err error) {
	if kind != "Like" && kind != "Dislike" {
		return 0, 0, false, fmt.Errorf("reaction to post %d: %w kind %q: use Like or Dislike", postID, community.ErrInvalid, kind)
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, err)
	}
	defer tx.Rollback(ctx)
	// The post's row is locked first: two nodes reacting to one post
	// count one after the other.
	if err := tx.QueryRow(ctx, `SELECT likes, dislikes FROM posts WHERE id = $1 FOR UPDATE`, postID).Scan(&likes, &dislikes); err != nil {
		return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, notFound(err))
	}
	var n int64
	if add {
		// A vote is up or down, never both: a new one replaces the other
		// (as Lemmy counts them).
		if _, err := tx.Exec(ctx, `DELETE FROM reactions WHERE post_id = $1 AND actor = $2 AND kind <> $3`,
			postID, actor, kind); err != nil {
			return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO reactions (post_id, actor, kind) VALUES ($1, $2, $3)
			ON CONFLICT (post_id, actor, kind) DO NOTHING`, postID, actor, kind)
		if err != nil {
			return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, err)
		}
		n = tag.RowsAffected()
	} else {
		tag, err := tx.Exec(ctx, `DELETE FROM reactions WHERE post_id = $1 AND actor = $2 AND kind = $3`, postID, actor, kind)
		if err != nil {
			return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, err)
		}
		n = tag.RowsAffected()
	}
	if n == 0 {
		return likes, dislikes, false, nil
	}
	err = tx.QueryRow(ctx, `UPDATE posts SET
			likes = (SELECT count(*) FROM reactions WHERE post_id = posts.id AND kind = 'Like'),
			dislikes = (SELECT count(*) FROM reactions WHERE post_id = posts.id AND kind = 'Dislike')
		WHERE id = $1 RETURNING likes, dislikes`, postID).Scan(&likes, &dislikes)
	if err != nil {
		return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, false, fmt.Errorf("reaction to post %d: %w", postID, err)
	}
	return likes, dislikes, true, nil
}

// PinnedPosts lists a community's featured posts, newest pin first.
func (db *DB) PinnedPosts(ctx context.Context, communityID int64) ([]community.Post, error) {
	cols := "p." + strings.ReplaceAll(strings.Join(strings.Fields(postColumns), " "), ", ", ", p.")
	return scanPosts(db.pool.Query(ctx, `SELECT `+cols+` FROM pins x JOIN posts p ON p.id = x.post_id
		WHERE x.community_id = $1 ORDER BY x.pinned_at DESC, x.post_id DESC`, communityID))
}

// ThreadPosts lists a community's live posts of a thread (by its root's
// object id), oldest first.
func (db *DB) ThreadPosts(ctx context.Context, communityID int64, root string, limit int) ([]community.Post, error) {
	return scanPosts(db.pool.Query(ctx, `SELECT `+postColumns+` FROM posts WHERE id IN (
			SELECT id FROM posts WHERE community_id = $1 AND thread_root = $2 AND thread_root <> object_id
			UNION ALL
			SELECT id FROM posts WHERE community_id = $1 AND object_id = $2)
		AND deleted_at IS NULL ORDER BY published, id LIMIT $3`, communityID, root, limit))
}

// ReplyCounts counts the live replies a community has to each of objectIDs.
func (db *DB) ReplyCounts(ctx context.Context, communityID int64, objectIDs []string) (map[string]int, error) {
	out := map[string]int{}
	if len(objectIDs) == 0 {
		return out, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT in_reply_to, count(*) FROM posts
		WHERE community_id = $1 AND deleted_at IS NULL AND in_reply_to <> '' AND in_reply_to = ANY($2)
		GROUP BY in_reply_to`, communityID, objectIDs)
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
