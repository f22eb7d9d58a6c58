package community

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Role is what someone may do in a community.
type Role string

// Roles. Owners can do all that moderators can, and appoint moderators.
const (
	RoleOwner     Role = "owner"
	RoleModerator Role = "moderator"
)

// ValidRole tells whether r is a known role.
func ValidRole(r Role) bool { return r == RoleOwner || r == RoleModerator }

// Moderator is someone who runs a community: a remote fediverse account
// (its actor IRI), so a community can be run entirely by people who live
// on other servers, or a local admin account (LocalAccount).
type Moderator struct {
	CommunityID int64
	Actor       string
	Role        Role
	AddedBy     string
	CreatedAt   time.Time
}

// Remote tells whether the moderator is a fediverse account, which gets
// direct messages and is listed in the moderators collection.
func (m Moderator) Remote() bool { return isHTTPURL(m.Actor) }

// localPrefix marks a local admin account among moderators' actors.
const localPrefix = "local:"

// LocalAccount names a local admin account as a moderator's Actor.
func LocalAccount(name string) string { return localPrefix + name }

// Admin is who the instance admin's CLI commands are logged as.
const Admin = "admin"

// DomainBlock refuses a server: in one community, or (CommunityID 0) on
// the whole instance.
type DomainBlock struct {
	CommunityID int64 // 0: instance-wide
	Domain      string
	Reason      string
	By          string
	CreatedAt   time.Time
}

// Report is a complaint about a post or member (an incoming Flag).
type Report struct {
	ID          int64
	CommunityID int64
	Reporter    string   // the Flag's actor
	ActivityID  string   // the Flag's id
	Targets     []string // the reported posts and accounts
	Content     string   // the reporter's comment, plain text
	CreatedAt   time.Time
	ResolvedAt  time.Time
	ResolvedBy  string
}

// Open tells whether nobody has resolved the report yet.
func (r Report) Open() bool { return r.ResolvedAt.IsZero() }

// LogEntry is one moderation action: who did what to what, why and when.
type LogEntry struct {
	ID          int64
	CommunityID int64 // 0: instance-wide (domain blocks)
	By          string
	Action      string
	Target      string
	Reason      string
	At          time.Time
}

// ModerationStore keeps roles, domain blocks, reports, pins and the
// moderation log. storage/sqlite implements it.
type ModerationStore interface {
	SaveModerator(ctx context.Context, m Moderator) error // insert or replace
	DeleteModerator(ctx context.Context, communityID int64, actor string) error
	Moderator(ctx context.Context, communityID int64, actor string) (Moderator, error)
	Moderators(ctx context.Context, communityID int64) ([]Moderator, error) // owners first, then by date

	SaveDomainBlock(ctx context.Context, b DomainBlock) error // insert or replace
	// DeleteDomainBlock lifts a block; ErrNotFound when there is none.
	DeleteDomainBlock(ctx context.Context, communityID int64, domain string) error
	// DomainBlocks lists the blocks of a community (0: the instance's own).
	DomainBlocks(ctx context.Context, communityID int64) ([]DomainBlock, error)

	AddReport(ctx context.Context, r *Report) error // sets ID
	Reports(ctx context.Context, communityID int64, openOnly bool) ([]Report, error)
	// ResolveReport closes an open report of the community; ErrNotFound
	// when there is no such open report.
	ResolveReport(ctx context.Context, communityID, id int64, by string, at time.Time) error

	AddLogEntry(ctx context.Context, e LogEntry) error
	// ModLog lists a community's log (0: instance-wide entries), newest first.
	ModLog(ctx context.Context, communityID int64, limit int) ([]LogEntry, error)

	Pin(ctx context.Context, communityID, postID int64, at time.Time) error
	Unpin(ctx context.Context, communityID, postID int64) error
	PinnedPosts(ctx context.Context, communityID int64) ([]Post, error) // newest pin first

	// SetModLogPublic and ModLogPublic say whether the community shows its
	// moderation log on its web page.
	SetModLogPublic(ctx context.Context, communityID int64, public bool) error
	ModLogPublic(ctx context.Context, communityID int64) (bool, error)

	// NoteRefusal records that actor was refused at time at, and reports
	// whether no refusal had been recorded for them since since.
	NoteRefusal(ctx context.Context, communityID int64, actor string, at, since time.Time) (bool, error)
}

// ModPublisher tells the fediverse about moderation. federation
// implements it.
type ModPublisher interface {
	// BlockActor sends Block{actor} to threadiverse followers.
	BlockActor(ctx context.Context, c Community, actor, reason string, removeData bool) error
	// UnblockActor sends Undo{Block{actor}} to threadiverse followers.
	UnblockActor(ctx context.Context, c Community, actor string) error
	// ModeratorAdded and ModeratorRemoved send Add/Remove{actor} with the
	// moderators collection as target to threadiverse followers.
	ModeratorAdded(ctx context.Context, c Community, actor string) error
	ModeratorRemoved(ctx context.Context, c Community, actor string) error
	// PostPinned and PostUnpinned send Add/Remove{post} with the featured
	// collection as target to threadiverse followers.
	PostPinned(ctx context.Context, c Community, p Post) error
	PostUnpinned(ctx context.Context, c Community, p Post) error
	// DirectMessage sends a private note from the community to one actor.
	DirectMessage(ctx context.Context, c Community, to, text string) error
}

// ActorResolver turns @user@host or an actor URL into an actor IRI.
// federation implements it with WebFinger.
type ActorResolver interface {
	ResolveActor(ctx context.Context, ref string) (string, error)
}

// NormalizeDomain reads a domain as an admin writes it: any case, with or
// without a scheme, a leading "*." or "@", or a trailing slash. A port is
// kept (test setups run several servers on one address).
func NormalizeDomain(s string) (string, error) {
	d := strings.ToLower(strings.TrimSpace(s))
	if u, err := url.Parse(d); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
		d = u.Host
	}
	d = strings.TrimSuffix(d, "/")
	d = strings.TrimPrefix(d, "*.")
	d = strings.TrimPrefix(d, "@")
	d = strings.TrimPrefix(d, ".")
	if d == "" || len(d) > 253 || strings.ContainsAny(d, "/@ ?#\\\t\n") {
		return "", fmt.Errorf("%w domain %q", ErrInvalid, truncate(s, 80))
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(".-:[]_", r) || r > 127) {
			return "", fmt.Errorf("%w domain %q", ErrInvalid, truncate(s, 80))
		}
	}
	return d, nil
}

// HostOf returns the host (with its port, if any) of an actor IRI, lower
// case; "" if it has none.
func HostOf(actor string) string {
	u, err := url.Parse(actor)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// DomainMatches tells whether a block of domain covers host: the same
// host, or a subdomain of it. A block with a port covers that port only;
// one without covers every port.
func DomainMatches(domain, host string) bool {
	domain, host = strings.ToLower(domain), strings.ToLower(host)
	if domain == "" || host == "" {
		return false
	}
	if host == domain {
		return true
	}
	if !strings.Contains(strings.TrimPrefix(domain, "["), ":") || strings.HasSuffix(domain, "]") {
		// No port in the block: compare host names only.
		if u, err := url.Parse("//" + host); err == nil {
			host = u.Hostname()
		}
		domain = strings.Trim(domain, "[]")
	}
	return host == domain || strings.HasSuffix(host, "."+domain)
}
