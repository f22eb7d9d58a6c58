package community

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// PostStore keeps posts. storage/sqlite implements it.
type PostStore interface {
	// AddPost stores a new post and sets its ID; ErrExists (with nothing
	// written) when the community has the object already.
	AddPost(ctx context.Context, p *Post) error
	PostByObject(ctx context.Context, communityID int64, objectID string) (Post, error)
	// PostsByObject returns the object's posts in every community (an edit,
	// delete or like names the object, not the community).
	PostsByObject(ctx context.Context, objectID string) ([]Post, error)
	PostByID(ctx context.Context, id int64) (Post, error)
	// UpdatePost saves content, decision, reason, deletion and counts.
	UpdatePost(ctx context.Context, p Post) error
	// Posts lists a community's posts newest first (by ID) below beforeID
	// (0: from the newest); announcedOnly leaves out refused and deleted ones.
	Posts(ctx context.Context, communityID int64, beforeID int64, limit int, announcedOnly bool) ([]Post, error)
	CountPosts(ctx context.Context, communityID int64, announcedOnly bool) (int, error)
	// CountAnnouncedSince counts an author's announced posts in a community
	// received since a time (the per-author rate limit).
	CountAnnouncedSince(ctx context.Context, communityID int64, author string, since time.Time) (int, error)
	// PostsByAuthor lists an author's live posts in every community.
	PostsByAuthor(ctx context.Context, author string) ([]Post, error)
	// AuthorFacts answers for an author's membership, role, domain blocks
	// and recent posts in one query, where deciding a post would otherwise
	// ask four questions of three stores. The store reads the roles and
	// blocks that Moderation keeps.
	AuthorFacts(ctx context.Context, communityID int64, author string, since time.Time) (AuthorFacts, error)
	// SetReaction records (add) or removes an actor's Like or Dislike of a
	// post and returns the post's new counts; changed is false when nothing
	// changed (a repeated Like).
	SetReaction(ctx context.Context, postID int64, actor, kind string, add bool) (likes, dislikes int, changed bool, err error)
}

// PostURLFinder is an optional PostStore method: a community's posts by
// their url (the page people see at the origin, which moderators copy),
// by ID.
type PostURLFinder interface {
	PostsByURL(ctx context.Context, communityID int64, url string) ([]Post, error)
}

// PostPublisher tells members' servers about posts. federation implements
// it by queueing activities in each peer's dialect (docs/protocol.md, the peer families).
type PostPublisher interface {
	// AnnouncePost boosts a post to every member's server.
	AnnouncePost(ctx context.Context, c Community, p Post) error
	// WithdrawPost takes a boost back: Undo{Announce} to microblog peers,
	// Announce{activity} (the author's Delete, or a Delete the community
	// makes with the reason as summary) to threadiverse peers.
	WithdrawPost(ctx context.Context, c Community, p Post, reason Reason, activity []byte) error
	// RelayActivity forwards an author's Update, Like or Dislike of an
	// announced post to threadiverse peers as Announce{activity}.
	RelayActivity(ctx context.Context, c Community, p Post, activity []byte) error
}

// AuthorFacts is what the store knows of a post's author in a community.
type AuthorFacts struct {
	State MemberState // "" when the author has no relation to the community
	Role  Role        // "" for none
	// Blocks are domains blocked on the instance or in the community that
	// may cover the author's host: every one that does, and perhaps
	// others (a store may filter roughly). DomainMatches decides, here.
	Blocks      []string
	RecentPosts int // announced posts in the community received since the time asked
}

// Posts handles the posts addressed to communities.
type Posts struct {
	posts  PostStore
	pub    PostPublisher
	limits Limits
	now    func() time.Time
}

// NewPosts returns Posts; now may be nil for time.Now.
func NewPosts(posts PostStore, pub PostPublisher, limits Limits, now func() time.Time) *Posts {
	if now == nil {
		now = time.Now
	}
	return &Posts{posts: posts, pub: pub, limits: limits, now: now}
}

// facts completes what the inbox gathered with what the store knows.
func (s *Posts) facts(ctx context.Context, c Community, author string, f PostFacts) (PostFacts, error) {
	af, err := s.posts.AuthorFacts(ctx, c.ID, author, s.now().Add(-s.limits.RateWindow))
	if err != nil {
		return f, err
	}
	f.Author, f.AuthorIsMod = af.State, af.Role != ""
	host := HostOf(author)
	f.DomainBlocked = slices.ContainsFunc(af.Blocks, func(d string) bool { return DomainMatches(d, host) })
	if s.limits.RatePosts > 0 {
		f.RecentPosts = af.RecentPosts
	}
	return f, nil
}

// Receive decides a new post to community c, stores it with its decision
// and reason, and announces it if the decision says so. A post the
// community has already keeps its first decision: a retried delivery never
// makes a second boost. It is announced again all the same, which
// announces it only if it is not announced yet: a crash between storing a
// post and queueing its Announce would otherwise lose the Announce, as the
// inbox processes the activity again after a restart.
func (s *Posts) Receive(ctx context.Context, c Community, p Post, f PostFacts) (Post, error) {
	// Decided first and stored if new: a post the community has already
	// (a retried delivery, or one processed again after a crash) is found
	// by the insert, which is one query fewer for every new post than
	// looking first.
	f, err := s.facts(ctx, c, p.Author, f)
	if err != nil {
		return Post{}, fmt.Errorf("post %s to %s: %w", p.ObjectID, c.Name, err)
	}
	p.CommunityID = c.ID
	p.ReceivedAt = s.now().UTC()
	p.Decision, p.Reason = DecideAnnounce(c, s.limits, f)
	if p.Reason == ReasonNotAuthentic {
		// Not stored: what a forger claims must not take the post's place
		// (its genuine Create would find it and keep the refusal) nor
		// show the forger's words under the author's name.
		return p, nil
	}
	if err := s.posts.AddPost(ctx, &p); errors.Is(err, ErrExists) {
		old, err := s.posts.PostByObject(ctx, c.ID, p.ObjectID)
		if err != nil {
			return Post{}, fmt.Errorf("post %s to %s: %w", p.ObjectID, c.Name, err)
		}
		if old.Announced() {
			if err := s.pub.AnnouncePost(ctx, c, old); err != nil {
				return old, fmt.Errorf("announce %s in %s: %w", old.ObjectID, c.Name, err)
			}
		}
		return old, nil
	} else if err != nil {
		return Post{}, fmt.Errorf("post %s to %s: %w", p.ObjectID, c.Name, err)
	}
	if p.Decision == Announce {
		if err := s.pub.AnnouncePost(ctx, c, p); err != nil {
			return p, fmt.Errorf("announce %s in %s: %w", p.ObjectID, c.Name, err)
		}
	}
	return p, nil
}

// Edit applies an author's edit to a post the community has. An edit that
// removes the community takes the boost back; one that adds it (to a post
// that was not announced for not being addressed) is decided again; any
// other edit of an announced post is relayed to threadiverse peers.
func (s *Posts) Edit(ctx context.Context, c Community, old, edited Post, f PostFacts, update []byte) (Post, error) {
	p := old
	p.Title, p.Summary, p.Content, p.Sensitive = edited.Title, edited.Summary, edited.Content, edited.Sensitive
	p.Attachments, p.URL, p.Updated = edited.Attachments, edited.URL, edited.Updated
	if p.Updated.IsZero() {
		p.Updated = s.now().UTC()
	}
	if !old.DeletedAt.IsZero() {
		return old, nil // a tombstone stays one
	}
	p.Visibility = edited.Visibility
	public := edited.Visibility == Public || edited.Visibility == Unlisted
	switch {
	case old.Announced() && !public:
		// Edited into followers-only or direct: the boost is taken back,
		// as one never made for such a post (docs/protocol.md, "What Agora accepts").
		p.Decision, p.Reason = Refuse, ReasonNotPublic
		if err := s.posts.UpdatePost(ctx, p); err != nil {
			return p, err
		}
		return p, s.pub.WithdrawPost(ctx, c, p, ReasonNotPublic, nil)
	case !old.Announced() && old.Reason == ReasonNotPublic && !public:
		// The same edit again, after a crash before its withdrawal was
		// queued: finish it.
		if err := s.posts.UpdatePost(ctx, p); err != nil {
			return p, err
		}
		return p, s.pub.WithdrawPost(ctx, c, p, ReasonNotPublic, nil)
	case !old.Announced() && old.Reason == ReasonEditedOut && !f.Addressed:
		// The same edit again, after a crash between recording the edit
		// and queueing its withdrawal: finish it (WithdrawPost skips what
		// was withdrawn already).
		if err := s.posts.UpdatePost(ctx, p); err != nil {
			return p, err
		}
		return p, s.pub.WithdrawPost(ctx, c, p, ReasonEditedOut, nil)
	case old.Announced() && !f.Addressed:
		p.Decision, p.Reason = Refuse, ReasonEditedOut
		if err := s.posts.UpdatePost(ctx, p); err != nil {
			return p, err
		}
		return p, s.pub.WithdrawPost(ctx, c, p, ReasonEditedOut, nil)
	case old.Announced():
		if err := s.posts.UpdatePost(ctx, p); err != nil {
			return p, err
		}
		return p, s.pub.RelayActivity(ctx, c, p, update)
	case f.Addressed && (old.Reason == ReasonNotAddressed || old.Reason == ReasonEditedOut):
		f, err := s.facts(ctx, c, p.Author, f)
		if err != nil {
			return p, err
		}
		p.Visibility = edited.Visibility
		p.Decision, p.Reason = DecideAnnounce(c, s.limits, f)
		if err := s.posts.UpdatePost(ctx, p); err != nil {
			return p, err
		}
		if p.Decision == Announce {
			return p, s.pub.AnnouncePost(ctx, c, p)
		}
		return p, nil
	default:
		return p, s.posts.UpdatePost(ctx, p)
	}
}

// Delete tombstones a post its author deleted and takes the boost back.
func (s *Posts) Delete(ctx context.Context, c Community, p Post, del []byte) error {
	if !p.DeletedAt.IsZero() {
		if p.Decision == Announce {
			// Deleted before a crash that may have come before the
			// withdrawal was queued: WithdrawPost sends only what was not
			// withdrawn yet.
			return s.pub.WithdrawPost(ctx, c, p, ReasonDeleted, del)
		}
		return nil
	}
	wasAnnounced := p.Announced()
	p.DeletedAt = s.now().UTC()
	p.Content, p.Summary, p.Title, p.Attachments = "", "", "", nil
	if err := s.posts.UpdatePost(ctx, p); err != nil {
		return fmt.Errorf("delete %s in %s: %w", p.ObjectID, c.Name, err)
	}
	if !wasAnnounced {
		return nil
	}
	return s.pub.WithdrawPost(ctx, c, p, ReasonDeleted, del)
}

// React counts a Like or Dislike (or its Undo) of a post and relays it to
// threadiverse peers when the post is announced and the count changed.
func (s *Posts) React(ctx context.Context, c Community, p Post, actor, kind string, add bool, activity []byte) error {
	likes, dislikes, changed, err := s.posts.SetReaction(ctx, p.ID, actor, kind, add)
	if err != nil || !changed {
		return err
	}
	p.Likes, p.Dislikes = likes, dislikes
	if !p.Announced() {
		return nil
	}
	return s.pub.RelayActivity(ctx, c, p, activity)
}

// AuthorGone tombstones every post of a deleted account. Their servers
// delete the posts themselves; the community sends nothing.
func (s *Posts) AuthorGone(ctx context.Context, author string) (int, error) {
	ps, err := s.posts.PostsByAuthor(ctx, author)
	if err != nil {
		return 0, err
	}
	for _, p := range ps {
		p.DeletedAt = s.now().UTC()
		p.Content, p.Summary, p.Title, p.Attachments = "", "", "", nil
		if err := s.posts.UpdatePost(ctx, p); err != nil {
			return 0, err
		}
	}
	return len(ps), nil
}

// List returns a community's posts newest first.
func (s *Posts) List(ctx context.Context, c Community, beforeID int64, limit int, announcedOnly bool) ([]Post, error) {
	return s.posts.Posts(ctx, c.ID, beforeID, limit, announcedOnly)
}

// ByObject returns a remote object's posts in every community.
func (s *Posts) ByObject(ctx context.Context, objectID string) ([]Post, error) {
	return s.posts.PostsByObject(ctx, objectID)
}

// ByID returns one post.
func (s *Posts) ByID(ctx context.Context, id int64) (Post, error) {
	return s.posts.PostByID(ctx, id)
}
