package community

import "time"

// Visibility is who a post is for, read from its addressing.
type Visibility string

// Visibilities, as Mastodon addresses them (docs/protocol.md, "Mastodon's addressing").
const (
	Public    Visibility = "public"    // Public in to
	Unlisted  Visibility = "unlisted"  // Public in cc
	Followers Visibility = "followers" // the author's followers, no Public
	Direct    Visibility = "direct"    // only the people (and groups) named
)

// PostingPolicy says who may have posts announced by a community.
type PostingPolicy string

// Posting policies.
const (
	PostMembers    PostingPolicy = "members"    // followers (the default: guppe#73)
	PostOpen       PostingPolicy = "open"       // anyone
	PostModerators PostingPolicy = "moderators" // moderators only
)

// ValidPostingPolicy tells whether p is a known policy.
func ValidPostingPolicy(p PostingPolicy) bool {
	return p == PostMembers || p == PostOpen || p == PostModerators
}

// Attachment is a media attachment of a post.
type Attachment struct {
	URL       string
	MediaType string
	Alt       string
}

// Post is a remote post as a community keeps it. One remote object
// addressed to several communities is one Post per community.
type Post struct {
	ID          int64
	CommunityID int64
	ObjectID    string // the post's id at its origin
	ActivityID  string // the Create that brought it
	Type        string // Note, Article, Page, Question, Video, Event
	Author      string // actor IRI
	URL         string // the human-readable page at its origin
	Title       string // name (Lemmy's Page title)
	Summary     string // the object's summary, plain text: see ContentWarning and Excerpt
	Content     string // sanitized HTML
	Sensitive   bool
	Attachments []Attachment
	InReplyTo   string // object id of the parent, if a reply
	ThreadRoot  string // object id of the thread's first post (itself if none)
	Visibility  Visibility
	Published   time.Time
	Updated     time.Time
	ReceivedAt  time.Time

	Decision Decision
	Reason   Reason // why, in a word an admin can search for

	Activity  []byte    // the Create as received, relayed unchanged to threadiverse peers
	DeletedAt time.Time // tombstoned by its author (or removed)
	Likes     int
	Dislikes  int
}

// ContentWarning is the warning to show before the post's content: the
// summary of a Note (and of any type other than Article and Page), as
// Mastodon and its peers send a content warning. "" for none; Sensitive
// may still hide the content behind a generic warning.
func (p Post) ContentWarning() string {
	if p.HasExcerpt() {
		return ""
	}
	return p.Summary
}

// Excerpt is the summary of an Article or a Page: an excerpt or abstract,
// as blog and forum software send it (WordPress's ActivityPub plugin puts
// the post's generated excerpt there on Articles and none on Notes:
// Automattic/wordpress-activitypub includes/transformer/class-post.php,
// get_summary), never a content warning. "" for the other types.
func (p Post) Excerpt() string {
	if p.HasExcerpt() {
		return p.Summary
	}
	return ""
}

// HasExcerpt tells whether the post's summary is an excerpt rather than a
// content warning: whether it is an Article or a Page.
func (p Post) HasExcerpt() bool { return p.Type == "Article" || p.Type == "Page" }

// Announced tells whether the community boosts the post now.
func (p Post) Announced() bool { return p.Decision == Announce && p.DeletedAt.IsZero() }

// Decision is whether a community announces a post.
type Decision string

// Decisions.
const (
	Announce Decision = "announce"
	Refuse   Decision = "refuse"
)

// Reason says why a post was or was not announced.
type Reason string

// Reasons, one per rule of docs/protocol.md, "What Agora accepts".
const (
	ReasonAccepted      Reason = "accepted"
	ReasonNotAddressed  Reason = "not-addressed"     // the community is not in to/cc/audience/Mention
	ReasonNotPublic     Reason = "not-public"        // followers-only or direct
	ReasonNotMember     Reason = "not-member"        // members-only community, author not a member
	ReasonNotModerator  Reason = "not-moderator"     // moderators-only community
	ReasonBanned        Reason = "banned"            // the author is banned
	ReasonDomainBlocked Reason = "domain-blocked"    // the author's domain is blocked
	ReasonNotAuthentic  Reason = "not-authentic"     // attribution or origin does not hold
	ReasonReply         Reason = "reply"             // a reply, and replies are not announced
	ReasonTooManyGroups Reason = "too-many-mentions" // names more local communities than max_mentions
	ReasonRateLimited   Reason = "rate-limited"      // the author posted too often
	ReasonEditedOut     Reason = "edited-out"        // an edit removed the community
	ReasonDeleted       Reason = "deleted-by-author" // the author deleted it
	ReasonCommunityGone Reason = "community-deleted" // the community was deleted
	ReasonDuplicate     Reason = "already-announced" // the same post came again
	ReasonRemoved       Reason = "removed-by-moderator"
)

// Limits is the anti-spam part of the posting rules, set for the instance.
type Limits struct {
	MaxMentions int           // more local communities named than this: not announced (guppe#72)
	RatePosts   int           // at most this many announced posts per author...
	RateWindow  time.Duration // ...per community in this window
}

// DefaultLimits are the defaults of docs/protocol.md, "What Agora accepts".
func DefaultLimits() Limits {
	return Limits{MaxMentions: 3, RatePosts: 10, RateWindow: time.Hour}
}

// PostFacts is everything DecideAnnounce looks at. The inbox gathers them;
// the decision itself is pure, so every rule is testable in a table.
type PostFacts struct {
	Addressed      bool        // the community is in to/cc/audience or a Mention
	Visibility     Visibility  //
	Author         MemberState // "" when the author has no relation to the community
	AuthorIsMod    bool        //
	DomainBlocked  bool        //
	Authentic      bool        // attribution and origin verified (docs/protocol.md, "What Agora accepts")
	IsReply        bool        //
	LocalMentioned int         // local communities the post names
	RecentPosts    int         // the author's announced posts in this community within Limits.RateWindow
}

// DecideAnnounce applies the rules of docs/protocol.md, "What Agora accepts" in order and
// returns the decision with the first rule that refused it.
func DecideAnnounce(c Community, lim Limits, f PostFacts) (Decision, Reason) {
	switch {
	case c.Deleted():
		return Refuse, ReasonCommunityGone
	case !f.Authentic:
		return Refuse, ReasonNotAuthentic
	case !f.Addressed:
		return Refuse, ReasonNotAddressed
	case f.Visibility != Public && f.Visibility != Unlisted:
		return Refuse, ReasonNotPublic
	case f.Author == Banned:
		return Refuse, ReasonBanned
	case f.DomainBlocked:
		return Refuse, ReasonDomainBlocked
	case c.policy() == PostModerators && !f.AuthorIsMod:
		return Refuse, ReasonNotModerator
	case c.policy() == PostMembers && f.Author != Joined && !f.AuthorIsMod:
		return Refuse, ReasonNotMember
	case f.IsReply && !c.AnnounceReplies:
		return Refuse, ReasonReply
	case lim.MaxMentions > 0 && f.LocalMentioned > lim.MaxMentions:
		return Refuse, ReasonTooManyGroups
	case lim.RatePosts > 0 && f.RecentPosts >= lim.RatePosts:
		return Refuse, ReasonRateLimited
	}
	return Announce, ReasonAccepted
}

func (c Community) policy() PostingPolicy {
	if c.PostingPolicy == "" {
		return PostMembers
	}
	return c.PostingPolicy
}
