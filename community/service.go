package community

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store keeps communities and members. storage/sqlite implements it.
type Store interface {
	CreateCommunity(ctx context.Context, c *Community) error // sets ID; ErrExists when the name is taken
	CommunityByName(ctx context.Context, name string) (Community, error)
	Communities(ctx context.Context) ([]Community, error) // live ones, by name
	UpdateCommunity(ctx context.Context, c Community) error
	MarkCommunityDeleted(ctx context.Context, id int64, at time.Time) error

	Member(ctx context.Context, communityID int64, actor string) (Member, error)
	SaveMember(ctx context.Context, m Member) error // insert or replace
	DeleteMember(ctx context.Context, communityID int64, actor string) error
	// Members lists members in a state, ordered by actor, after the given actor.
	Members(ctx context.Context, communityID int64, state MemberState, after string, limit int) ([]Member, error)
	CountMembers(ctx context.Context, communityID int64, state MemberState) (int, error)
}

// Publisher tells the fediverse what a community decided. federation
// implements it by queueing signed activities; a call returns once they are
// durably queued, not delivered.
type Publisher interface {
	AcceptFollow(ctx context.Context, c Community, m Member) error
	RejectFollow(ctx context.Context, c Community, m Member) error
	CommunityUpdated(ctx context.Context, c Community) error
	CommunityDeleted(ctx context.Context, c Community) error
}

// Service applies the community rules. The inbox, the CLI and the admin
// console all go through it, so the same rules hold whichever way a change
// comes in.
type Service struct {
	store  Store
	blocks BlockLister
	pub    Publisher
	now    func() time.Time
}

// BlockLister lists domain blocks, the instance's (community 0) or a
// community's. A ModerationStore is one.
type BlockLister interface {
	DomainBlocks(ctx context.Context, communityID int64) ([]DomainBlock, error)
}

// NewService returns a Service; now may be nil for time.Now. blocks are
// the domain blocks Follow obeys: it may not be nil, so that no wiring
// can leave them out unnoticed.
func NewService(store Store, blocks BlockLister, pub Publisher, now func() time.Time) *Service {
	if blocks == nil {
		panic("community.NewService: nil BlockLister")
	}
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, blocks: blocks, pub: pub, now: now}
}

// Create validates and stores a new community.
func (s *Service) Create(ctx context.Context, c Community) (Community, error) {
	if err := c.Validate(); err != nil {
		return Community{}, err
	}
	now := s.now().UTC()
	c.CreatedAt, c.UpdatedAt, c.DeletedAt = now, now, time.Time{}
	if err := s.store.CreateCommunity(ctx, &c); err != nil {
		return Community{}, fmt.Errorf("create community %s: %w", c.Name, err)
	}
	return c, nil
}

// Get returns a live community by name: ErrNotFound if there is none,
// ErrGone (with the community) if it was deleted.
func (s *Service) Get(ctx context.Context, name string) (Community, error) {
	if err := ValidateName(name); err != nil {
		return Community{}, fmt.Errorf("community %q: %w", name, ErrNotFound)
	}
	c, err := s.store.CommunityByName(ctx, name)
	if err != nil {
		return Community{}, fmt.Errorf("community %s: %w", name, err)
	}
	if c.Deleted() {
		return c, fmt.Errorf("community %s: %w", name, ErrGone)
	}
	return c, nil
}

// List returns the live communities.
func (s *Service) List(ctx context.Context) ([]Community, error) {
	return s.store.Communities(ctx)
}

// Edit changes a community with change, validates the result, stores it
// and tells members' servers (Update{Group}) so they refresh the actor.
func (s *Service) Edit(ctx context.Context, name string, change func(*Community)) (Community, error) {
	c, err := s.Get(ctx, name)
	if err != nil {
		return Community{}, err
	}
	id, cname := c.ID, c.Name
	change(&c)
	c.ID, c.Name = id, cname // identity never changes: it is the actor IRI
	if err := c.Validate(); err != nil {
		return Community{}, err
	}
	c.UpdatedAt = s.now().UTC()
	if err := s.store.UpdateCommunity(ctx, c); err != nil {
		return Community{}, fmt.Errorf("edit community %s: %w", name, err)
	}
	if err := s.pub.CommunityUpdated(ctx, c); err != nil {
		return c, fmt.Errorf("edit community %s: %w", name, err)
	}
	return c, nil
}

// Delete marks a community deleted and sends Delete{Group} to its members.
// The name stays reserved so that nobody can take over the old identity.
func (s *Service) Delete(ctx context.Context, name string) error {
	c, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	c.DeletedAt = s.now().UTC()
	if err := s.store.MarkCommunityDeleted(ctx, c.ID, c.DeletedAt); err != nil {
		return fmt.Errorf("delete community %s: %w", name, err)
	}
	if err := s.pub.CommunityDeleted(ctx, c); err != nil {
		return fmt.Errorf("delete community %s: %w", name, err)
	}
	return nil
}

// FollowDecision is what a community answers to a Follow.
type FollowDecision string

// Follow decisions.
const (
	AcceptFollow FollowDecision = "accept"
	PendFollow   FollowDecision = "pending"
	RejectFollow FollowDecision = "reject"
)

// DecideFollow decides a Follow from an actor. existing is the actor's
// current relation (nil if none); domainBlocked tells whether the actor's
// server is blocked in the community or on the instance. A repeated
// Follow from a member is accepted again: their server may have lost the
// first Accept.
func DecideFollow(c Community, existing *Member, domainBlocked bool) FollowDecision {
	switch {
	case c.Deleted():
		return RejectFollow
	case domainBlocked:
		return RejectFollow
	case existing != nil && existing.State == Banned:
		return RejectFollow
	case existing != nil && existing.State == Joined:
		return AcceptFollow
	case c.RequiresApproval:
		return PendFollow
	default:
		return AcceptFollow
	}
}

// Follow handles a Follow of community c by actor, recording the result and
// queueing the answer.
func (s *Service) Follow(ctx context.Context, c Community, actor, followID string) (FollowDecision, error) {
	var existing *Member
	m, err := s.store.Member(ctx, c.ID, actor)
	switch {
	case err == nil:
		existing = &m
	case errors.Is(err, ErrNotFound):
		m = Member{CommunityID: c.ID, Actor: actor, CreatedAt: s.now().UTC()}
	default:
		return "", fmt.Errorf("follow %s: %w", c.Name, err)
	}
	blocked, err := DomainBlocked(ctx, s.blocks, c, actor)
	if err != nil {
		return "", fmt.Errorf("follow %s: %w", c.Name, err)
	}
	d := DecideFollow(c, existing, blocked)
	m.FollowID = followID
	m.UpdatedAt = s.now().UTC()
	switch d {
	case RejectFollow:
		// A banned member stays banned; nothing else is stored, and a
		// member whose domain was blocked since is one no longer.
		switch {
		case existing != nil && existing.State == Banned:
			if err := s.store.SaveMember(ctx, m); err != nil {
				return "", fmt.Errorf("follow %s: %w", c.Name, err)
			}
		case existing != nil:
			if err := s.store.DeleteMember(ctx, c.ID, actor); err != nil {
				return "", fmt.Errorf("follow %s: %w", c.Name, err)
			}
		}
		return d, s.pub.RejectFollow(ctx, c, m)
	case PendFollow:
		m.State = Pending
		return d, s.store.SaveMember(ctx, m)
	default:
		m.State = Joined
		if err := s.store.SaveMember(ctx, m); err != nil {
			return "", fmt.Errorf("follow %s: %w", c.Name, err)
		}
		return d, s.pub.AcceptFollow(ctx, c, m)
	}
}

// Leave handles Undo{Follow}: a member or a pending request goes away.
// A ban is not lifted by leaving.
func (s *Service) Leave(ctx context.Context, c Community, actor string) error {
	m, err := s.store.Member(ctx, c.ID, actor)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("leave %s: %w", c.Name, err)
	}
	if m.State == Banned {
		return nil
	}
	return s.store.DeleteMember(ctx, c.ID, actor)
}

// Approve accepts a pending join request.
func (s *Service) Approve(ctx context.Context, name, actor string) error {
	c, m, err := s.pending(ctx, name, actor)
	if err != nil {
		return err
	}
	m.State = Joined
	m.UpdatedAt = s.now().UTC()
	if err := s.store.SaveMember(ctx, m); err != nil {
		return fmt.Errorf("approve %s in %s: %w", actor, name, err)
	}
	return s.pub.AcceptFollow(ctx, c, m)
}

// Reject refuses a pending join request.
func (s *Service) Reject(ctx context.Context, name, actor string) error {
	c, m, err := s.pending(ctx, name, actor)
	if err != nil {
		return err
	}
	if err := s.store.DeleteMember(ctx, c.ID, actor); err != nil {
		return fmt.Errorf("reject %s in %s: %w", actor, name, err)
	}
	return s.pub.RejectFollow(ctx, c, m)
}

func (s *Service) pending(ctx context.Context, name, actor string) (Community, Member, error) {
	c, err := s.Get(ctx, name)
	if err != nil {
		return Community{}, Member{}, err
	}
	m, err := s.store.Member(ctx, c.ID, actor)
	if errors.Is(err, ErrNotFound) || (err == nil && m.State != Pending) {
		return Community{}, Member{}, fmt.Errorf("%s in %s: %w", actor, name, ErrNotProposed)
	}
	if err != nil {
		return Community{}, Member{}, fmt.Errorf("%s in %s: %w", actor, name, err)
	}
	return c, m, nil
}

// Members lists a community's members in a state, a page at a time.
func (s *Service) Members(ctx context.Context, c Community, state MemberState, after string, limit int) ([]Member, error) {
	return s.store.Members(ctx, c.ID, state, after, limit)
}

// CountMembers counts a community's members in a state.
func (s *Service) CountMembers(ctx context.Context, c Community, state MemberState) (int, error) {
	return s.store.CountMembers(ctx, c.ID, state)
}
