// Package community is Agora's domain: communities, their members, and the
// decisions a community makes about what reaches it. It imports only the
// standard library; storage and federation adapt to the interfaces it declares.
package community

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Domain errors. The web layer maps them to HTTP statuses in one place; the
// CLI prints them.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrInvalid     = errors.New("invalid")
	ErrGone        = errors.New("gone")
	ErrNotAllowed  = errors.New("not allowed")
	ErrNotProposed = errors.New("no pending request")
)

// Community is a group people join by following its Group actor.
type Community struct {
	ID               int64
	Name             string // [a-z0-9_]{1,64}, the handle: @name@host
	Title            string
	Summary          string // plain text or Markdown written by the admin
	RequiresApproval bool   // join requests wait for a moderator
	PostingPolicy    PostingPolicy
	AnnounceReplies  bool   // boost replies too (default off: mastodon#18069, guppe#54)
	Rules            string // Markdown written by the admin, shown on the community page
	Avatar           string // media id of the avatar image ("" for none), served at {base}/media/{id}
	Cover            string // media id of the cover image ("" for none)
	CreatedAt        time.Time
	UpdatedAt        time.Time
	DeletedAt        time.Time // zero unless deleted; the name stays reserved
}

// Deleted tells whether the community was deleted.
func (c Community) Deleted() bool { return !c.DeletedAt.IsZero() }

// MemberState is where a follower stands with a community.
type MemberState string

// Member states.
const (
	Pending MemberState = "pending" // asked to join a community that needs approval
	Joined  MemberState = "member"
	Banned  MemberState = "banned"
)

// Member is a remote actor's relation to a community.
type Member struct {
	CommunityID int64
	Actor       string // the remote actor's IRI
	State       MemberState
	FollowID    string // id of the Follow activity that asked, so Undo can name it
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

var nameRE = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// ValidateName checks a community name: lower-case [a-z0-9_], 1 to 64 characters.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w name %q: use 1 to 64 characters from a-z, 0-9 and _", ErrInvalid, name)
	}
	return nil
}

// Limits on the text an admin gives a community.
const (
	MaxTitle   = 200
	MaxSummary = 10000
	MaxRules   = 10000
)

// Validate checks the fields an admin sets.
func (c Community) Validate() error {
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	if strings.TrimSpace(c.Title) == "" {
		return fmt.Errorf("%w title: must not be empty", ErrInvalid)
	}
	if len(c.Title) > MaxTitle {
		return fmt.Errorf("%w title: longer than %d bytes", ErrInvalid, MaxTitle)
	}
	if len(c.Summary) > MaxSummary {
		return fmt.Errorf("%w summary: longer than %d bytes", ErrInvalid, MaxSummary)
	}
	if len(c.Rules) > MaxRules {
		return fmt.Errorf("%w rules: longer than %d bytes", ErrInvalid, MaxRules)
	}
	if c.PostingPolicy != "" && !ValidPostingPolicy(c.PostingPolicy) {
		return fmt.Errorf("%w posting policy %q: use members, open or moderators", ErrInvalid, c.PostingPolicy)
	}
	return nil
}
