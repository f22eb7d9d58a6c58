package community

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RefusalInterval is how often a non-moderator who sends commands is told
// they may not: once per actor per hour, so a refusal cannot be turned
// into a flood.
const RefusalInterval = time.Hour

// Moderation applies moderation actions: from remote moderators' direct
// messages and from the admin's CLI, with the same rules and effects.
type Moderation struct {
	svc     *Service
	store   Store
	posts   PostStore
	mods    ModerationStore
	pub     Publisher
	postPub PostPublisher
	modPub  ModPublisher
	resolve ActorResolver
	// postPages returns how a community's post pages here begin
	// ({base}/c/{name}/p/), so a moderator can name a post by its page.
	postPages func(Community) string
	now       func() time.Time
}

// ModerationDeps are the dependencies of Moderation.
type ModerationDeps struct {
	Service       *Service
	Store         Store
	Posts         PostStore
	Mods          ModerationStore
	Publisher     Publisher
	PostPublisher PostPublisher
	ModPublisher  ModPublisher
	Resolver      ActorResolver
	PostPages     func(Community) string // may be nil
	Now           func() time.Time       // nil: time.Now
}

// NewModeration returns Moderation.
func NewModeration(d ModerationDeps) *Moderation {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Moderation{svc: d.Service, store: d.Store, posts: d.Posts, mods: d.Mods, pub: d.Publisher,
		postPub: d.PostPublisher, modPub: d.ModPublisher, resolve: d.Resolver, postPages: d.PostPages, now: d.Now}
}

// RoleOf returns an actor's role in a community, "" for none.
func (m *Moderation) RoleOf(ctx context.Context, c Community, actor string) (Role, error) {
	mod, err := m.mods.Moderator(ctx, c.ID, actor)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("role of %s in %s: %w", actor, c.Name, err)
	}
	return mod.Role, nil
}

// DomainBlocked tells whether an actor's server is blocked in a community
// or on the whole instance.
func (m *Moderation) DomainBlocked(ctx context.Context, c Community, actor string) (bool, error) {
	return DomainBlocked(ctx, m.mods, c, actor)
}

// DomainBlocked tells whether an actor's server is blocked in community c
// or on the whole instance (c.ID 0: on the instance only), as DomainMatches
// judges the blocks that blocks lists.
func DomainBlocked(ctx context.Context, blocks BlockLister, c Community, actor string) (bool, error) {
	host := HostOf(actor)
	ids := []int64{0, c.ID}
	if c.ID == 0 {
		ids = ids[:1] // the instance's blocks only: one query, not the same one twice
	}
	for _, cid := range ids {
		bs, err := blocks.DomainBlocks(ctx, cid)
		if err != nil {
			return false, fmt.Errorf("domain blocks: %w", err)
		}
		for _, b := range bs {
			if DomainMatches(b.Domain, host) {
				return true, nil
			}
		}
	}
	return false, nil
}

// InstanceBlocked tells whether an actor's server is blocked on the whole
// instance: its traffic is dropped at the inbox.
func (m *Moderation) InstanceBlocked(ctx context.Context, actor string) (bool, error) {
	return m.DomainBlocked(ctx, Community{}, actor)
}

func (m *Moderation) log(ctx context.Context, cid int64, by, action, target, reason string) error {
	return m.mods.AddLogEntry(ctx, LogEntry{CommunityID: cid, By: by, Action: action, Target: target,
		Reason: reason, At: m.now().UTC()})
}

// Moderators lists a community's moderators, owners first.
func (m *Moderation) Moderators(ctx context.Context, c Community) ([]Moderator, error) {
	return m.mods.Moderators(ctx, c.ID)
}

// AddModerator gives actor a role, and tells threadiverse followers when
// the actor is a remote account.
func (m *Moderation) AddModerator(ctx context.Context, c Community, by, actor string, role Role) error {
	if !ValidRole(role) {
		return fmt.Errorf("%w role %q: use owner or moderator", ErrInvalid, role)
	}
	if !isHTTPURL(actor) && !strings.HasPrefix(actor, localPrefix) {
		return fmt.Errorf("%w moderator %q: an actor URL or a local account", ErrInvalid, actor)
	}
	old, err := m.mods.Moderator(ctx, c.ID, actor)
	existed := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if existed && old.Role == role {
		return nil
	}
	mod := Moderator{CommunityID: c.ID, Actor: actor, Role: role, AddedBy: by, CreatedAt: m.now().UTC()}
	if existed {
		mod.CreatedAt, mod.AddedBy = old.CreatedAt, old.AddedBy
	}
	if err := m.mods.SaveModerator(ctx, mod); err != nil {
		return fmt.Errorf("add moderator %s to %s: %w", actor, c.Name, err)
	}
	if err := m.log(ctx, c.ID, by, "addmod", actor, string(role)); err != nil {
		return err
	}
	if !existed && mod.Remote() {
		return m.modPub.ModeratorAdded(ctx, c, actor)
	}
	return nil
}

// RemoveModerator takes a role away. The last owner stays.
func (m *Moderation) RemoveModerator(ctx context.Context, c Community, by, actor string) error {
	old, err := m.mods.Moderator(ctx, c.ID, actor)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%s is not a moderator of %s: %w", actor, c.Name, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if old.Role == RoleOwner {
		all, err := m.mods.Moderators(ctx, c.ID)
		if err != nil {
			return err
		}
		owners := 0
		for _, x := range all {
			if x.Role == RoleOwner {
				owners++
			}
		}
		if owners == 1 {
			return fmt.Errorf("%w: %s is the last owner of %s", ErrNotAllowed, actor, c.Name)
		}
	}
	if err := m.mods.DeleteModerator(ctx, c.ID, actor); err != nil {
		return fmt.Errorf("remove moderator %s from %s: %w", actor, c.Name, err)
	}
	if err := m.log(ctx, c.ID, by, "delmod", actor, ""); err != nil {
		return err
	}
	if old.Remote() {
		return m.modPub.ModeratorRemoved(ctx, c, actor)
	}
	return nil
}

// Ban removes actor from the community for good: their membership ends
// (their server is sent Reject{Follow}, which Mastodon reads as a
// removed follower), later Follows are rejected and posts refused, and
// threadiverse followers are sent Block. With removePosts, their announced
// posts are removed too.
func (m *Moderation) Ban(ctx context.Context, c Community, by, actor, reason string, removePosts bool) error {
	if !isHTTPURL(actor) {
		return fmt.Errorf("%w actor %q: an actor URL", ErrInvalid, actor)
	}
	if role, err := m.RoleOf(ctx, c, actor); err != nil {
		return err
	} else if role != "" {
		return fmt.Errorf("%w: %s is a %s of %s; remove the role first", ErrNotAllowed, actor, role, c.Name)
	}
	now := m.now().UTC()
	old, err := m.store.Member(ctx, c.ID, actor)
	switch {
	case errors.Is(err, ErrNotFound):
		old = Member{CommunityID: c.ID, Actor: actor, CreatedAt: now}
	case err != nil:
		return fmt.Errorf("ban %s in %s: %w", actor, c.Name, err)
	case old.State == Banned:
		return fmt.Errorf("%s is banned from %s already: %w", actor, c.Name, ErrExists)
	}
	banned := old
	banned.State, banned.UpdatedAt = Banned, now
	if err := m.store.SaveMember(ctx, banned); err != nil {
		return fmt.Errorf("ban %s in %s: %w", actor, c.Name, err)
	}
	if err := m.log(ctx, c.ID, by, "ban", actor, reason); err != nil {
		return err
	}
	if (old.State == Joined || old.State == Pending) && old.FollowID != "" {
		if err := m.pub.RejectFollow(ctx, c, old); err != nil {
			return fmt.Errorf("ban %s in %s: %w", actor, c.Name, err)
		}
	}
	if err := m.modPub.BlockActor(ctx, c, actor, reason, removePosts); err != nil {
		return fmt.Errorf("ban %s in %s: %w", actor, c.Name, err)
	}
	if !removePosts {
		return nil
	}
	ps, err := m.posts.PostsByAuthor(ctx, actor)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.CommunityID == c.ID && p.Announced() {
			if err := m.remove(ctx, c, by, p, reason); err != nil {
				return err
			}
		}
	}
	return nil
}

// RemoveMember drops a member (or a pending join request) without
// banning them: they may follow again. Their server is sent Reject{Follow},
// as a ban does (Mastodon and Lemmy end a follow on Reject), and the
// removal is logged as "kick".
func (m *Moderation) RemoveMember(ctx context.Context, c Community, by, actor, reason string) error {
	old, err := m.store.Member(ctx, c.ID, actor)
	if errors.Is(err, ErrNotFound) || (err == nil && old.State != Joined && old.State != Pending) {
		return fmt.Errorf("%s is not a member of %s: %w", actor, c.Name, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if err := m.store.DeleteMember(ctx, c.ID, actor); err != nil {
		return fmt.Errorf("remove %s from %s: %w", actor, c.Name, err)
	}
	if err := m.log(ctx, c.ID, by, "kick", actor, reason); err != nil {
		return err
	}
	if old.FollowID != "" {
		if err := m.pub.RejectFollow(ctx, c, old); err != nil {
			return fmt.Errorf("remove %s from %s: %w", actor, c.Name, err)
		}
	}
	return nil
}

// Unban lifts a ban; the actor may follow again.
func (m *Moderation) Unban(ctx context.Context, c Community, by, actor string) error {
	old, err := m.store.Member(ctx, c.ID, actor)
	if errors.Is(err, ErrNotFound) || (err == nil && old.State != Banned) {
		return fmt.Errorf("%s is not banned from %s: %w", actor, c.Name, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if err := m.store.DeleteMember(ctx, c.ID, actor); err != nil {
		return fmt.Errorf("unban %s in %s: %w", actor, c.Name, err)
	}
	if err := m.log(ctx, c.ID, by, "unban", actor, ""); err != nil {
		return err
	}
	return m.modPub.UnblockActor(ctx, c, actor)
}

// FindPost finds a community's post by what a moderator gives: the
// post's id at its origin, its page here ({community}/p/{id}), its number
// here, or the link people see at its origin (its url) when one post has
// it.
func (m *Moderation) FindPost(ctx context.Context, c Community, ref string) (Post, error) {
	pagePrefix := m.pagePrefix(c)
	ref = strings.TrimSpace(ref)
	idText, isPage := strings.CutPrefix(ref, pagePrefix)
	if !isPage && !isHTTPURL(ref) {
		idText = ref
	}
	if id, err := strconv.ParseInt(idText, 10, 64); err == nil && (isPage || !isHTTPURL(ref)) {
		p, err := m.posts.PostByID(ctx, id)
		if err == nil && p.CommunityID == c.ID {
			return p, nil
		}
		return Post{}, fmt.Errorf("post %s in %s: %w", ref, c.Name, ErrNotFound)
	}
	p, err := m.posts.PostByObject(ctx, c.ID, ref)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Post{}, err
	}
	// Not an id: the link a person sees, which is what a moderator copies
	// (Mastodon's https://host/@user/123 is a post's url, its id is
	// https://host/users/user/statuses/123).
	if f, ok := m.posts.(PostURLFinder); ok && isHTTPURL(ref) {
		ps, err := f.PostsByURL(ctx, c.ID, ref)
		if err != nil {
			return Post{}, err
		}
		switch len(ps) {
		case 1:
			return ps[0], nil
		case 0:
		default:
			return Post{}, fmt.Errorf("%w: %d posts in %s link to %s; name one by its id or its page here", ErrInvalid, len(ps), c.Name, ref)
		}
	}
	return Post{}, fmt.Errorf("post %s in %s: %w", ref, c.Name, ErrNotFound)
}

// RemovePost takes an announced post out of the community: microblog
// peers get Undo{Announce}, threadiverse peers Announce{Delete} with the
// reason (docs/protocol.md, the peer families), and the web page stops showing it.
func (m *Moderation) RemovePost(ctx context.Context, c Community, by string, p Post, reason string) error {
	if p.Reason == ReasonRemoved {
		return fmt.Errorf("post %s is removed already: %w", p.ObjectID, ErrExists)
	}
	if !p.Announced() {
		return fmt.Errorf("%w: post %s is not announced (%s)", ErrNotAllowed, p.ObjectID, p.Reason)
	}
	return m.remove(ctx, c, by, p, reason)
}

func (m *Moderation) remove(ctx context.Context, c Community, by string, p Post, reason string) error {
	p.Decision, p.Reason = Refuse, ReasonRemoved
	if err := m.posts.UpdatePost(ctx, p); err != nil {
		return fmt.Errorf("remove %s from %s: %w", p.ObjectID, c.Name, err)
	}
	if err := m.log(ctx, c.ID, by, "remove", p.ObjectID, reason); err != nil {
		return err
	}
	if err := m.unpinIfPinned(ctx, c, by, p); err != nil {
		return err
	}
	why := ReasonRemoved
	if reason != "" {
		why = Reason(string(ReasonRemoved) + ": " + reason)
	}
	return m.postPub.WithdrawPost(ctx, c, p, why, nil)
}

// RestorePost announces a removed post again.
func (m *Moderation) RestorePost(ctx context.Context, c Community, by string, p Post) error {
	if p.Reason != ReasonRemoved || !p.DeletedAt.IsZero() {
		return fmt.Errorf("%w: post %s was not removed by a moderator", ErrNotAllowed, p.ObjectID)
	}
	p.Decision, p.Reason = Announce, ReasonAccepted
	if err := m.posts.UpdatePost(ctx, p); err != nil {
		return fmt.Errorf("restore %s in %s: %w", p.ObjectID, c.Name, err)
	}
	if err := m.log(ctx, c.ID, by, "restore", p.ObjectID, ""); err != nil {
		return err
	}
	return m.postPub.AnnouncePost(ctx, c, p)
}

// Approve accepts a pending join request.
func (m *Moderation) Approve(ctx context.Context, c Community, by, actor string) error {
	if err := m.svc.Approve(ctx, c.Name, actor); err != nil {
		return err
	}
	return m.log(ctx, c.ID, by, "approve", actor, "")
}

// Reject refuses a pending join request.
func (m *Moderation) Reject(ctx context.Context, c Community, by, actor string) error {
	if err := m.svc.Reject(ctx, c.Name, actor); err != nil {
		return err
	}
	return m.log(ctx, c.ID, by, "reject", actor, "")
}

// Pin features an announced post, and tells threadiverse followers.
func (m *Moderation) Pin(ctx context.Context, c Community, by string, p Post) error {
	if !p.Announced() {
		return fmt.Errorf("%w: post %s is not announced", ErrNotAllowed, p.ObjectID)
	}
	pinned, err := m.mods.PinnedPosts(ctx, c.ID)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(pinned, func(q Post) bool { return q.ID == p.ID }) {
		return fmt.Errorf("post %s is pinned already: %w", p.ObjectID, ErrExists)
	}
	if err := m.mods.Pin(ctx, c.ID, p.ID, m.now().UTC()); err != nil {
		return err
	}
	if err := m.log(ctx, c.ID, by, "pin", p.ObjectID, ""); err != nil {
		return err
	}
	return m.modPub.PostPinned(ctx, c, p)
}

// Unpin stops featuring a post.
func (m *Moderation) Unpin(ctx context.Context, c Community, by string, p Post) error {
	pinned, err := m.mods.PinnedPosts(ctx, c.ID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(pinned, func(q Post) bool { return q.ID == p.ID }) {
		return fmt.Errorf("post %s is not pinned: %w", p.ObjectID, ErrNotFound)
	}
	return m.unpin(ctx, c, by, p)
}

func (m *Moderation) unpinIfPinned(ctx context.Context, c Community, by string, p Post) error {
	pinned, err := m.mods.PinnedPosts(ctx, c.ID)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(pinned, func(q Post) bool { return q.ID == p.ID }) {
		return m.unpin(ctx, c, by, p)
	}
	return nil
}

func (m *Moderation) unpin(ctx context.Context, c Community, by string, p Post) error {
	if err := m.mods.Unpin(ctx, c.ID, p.ID); err != nil {
		return err
	}
	if err := m.log(ctx, c.ID, by, "unpin", p.ObjectID, ""); err != nil {
		return err
	}
	return m.modPub.PostUnpinned(ctx, c, p)
}

// Pinned lists a community's featured posts.
func (m *Moderation) Pinned(ctx context.Context, c Community) ([]Post, error) {
	return m.mods.PinnedPosts(ctx, c.ID)
}

// BlockDomain blocks a server in community c, or on the whole instance
// when c is nil. Its members are dropped (pending ones too); its Follows
// are rejected and its posts refused from now on; an instance-wide block
// also drops all its inbox traffic. It returns how many members were
// dropped.
func (m *Moderation) BlockDomain(ctx context.Context, c *Community, by, domain, reason string) (int, error) {
	d, err := NormalizeDomain(domain)
	if err != nil {
		return 0, err
	}
	var cs []Community
	var cid int64
	if c != nil {
		cs, cid = []Community{*c}, c.ID
	} else if cs, err = m.store.Communities(ctx); err != nil {
		return 0, err
	}
	if err := m.mods.SaveDomainBlock(ctx, DomainBlock{CommunityID: cid, Domain: d, Reason: reason, By: by,
		CreatedAt: m.now().UTC()}); err != nil {
		return 0, fmt.Errorf("block %s: %w", d, err)
	}
	if err := m.log(ctx, cid, by, "block", d, reason); err != nil {
		return 0, err
	}
	dropped := 0
	for _, c := range cs {
		for _, state := range []MemberState{Joined, Pending} {
			after := ""
			for {
				ms, err := m.store.Members(ctx, c.ID, state, after, 500)
				if err != nil {
					return dropped, err
				}
				for _, mem := range ms {
					if !DomainMatches(d, HostOf(mem.Actor)) {
						continue
					}
					if err := m.store.DeleteMember(ctx, c.ID, mem.Actor); err != nil {
						return dropped, err
					}
					dropped++
					// Tell the member's server, as a ban does, so it does
					// not show them following a community that dropped
					// them (Mastodon and Lemmy end a follow on Reject).
					if mem.FollowID != "" {
						if err := m.pub.RejectFollow(ctx, c, mem); err != nil {
							return dropped, fmt.Errorf("block %s: %w", d, err)
						}
					}
				}
				if len(ms) < 500 {
					break
				}
				after = ms[len(ms)-1].Actor
			}
		}
	}
	return dropped, nil
}

// UnblockDomain lifts a domain block of community c, or the instance's
// when c is nil.
func (m *Moderation) UnblockDomain(ctx context.Context, c *Community, by, domain string) error {
	d, err := NormalizeDomain(domain)
	if err != nil {
		return err
	}
	var cid int64
	if c != nil {
		cid = c.ID
	}
	if err := m.mods.DeleteDomainBlock(ctx, cid, d); err != nil {
		return fmt.Errorf("unblock %s: %w", d, err)
	}
	return m.log(ctx, cid, by, "unblock", d, "")
}

// DomainBlocks lists the blocks of community c, or the instance's when c
// is nil.
func (m *Moderation) DomainBlocks(ctx context.Context, c *Community) ([]DomainBlock, error) {
	var cid int64
	if c != nil {
		cid = c.ID
	}
	return m.mods.DomainBlocks(ctx, cid)
}

// Log lists a community's moderation log, newest first.
func (m *Moderation) Log(ctx context.Context, c Community, limit int) ([]LogEntry, error) {
	return m.mods.ModLog(ctx, c.ID, limit)
}

// SetLogPublic shows or hides the community's moderation log on its web page.
func (m *Moderation) SetLogPublic(ctx context.Context, c Community, by string, public bool) error {
	if err := m.mods.SetModLogPublic(ctx, c.ID, public); err != nil {
		return err
	}
	return m.log(ctx, c.ID, by, "log-public", c.Name, strconv.FormatBool(public))
}

// PublicLog returns the community's moderation log if the community shows
// it, ErrNotFound if not.
func (m *Moderation) PublicLog(ctx context.Context, c Community, limit int) ([]LogEntry, error) {
	public, err := m.mods.ModLogPublic(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	if !public {
		return nil, fmt.Errorf("moderation log of %s: %w", c.Name, ErrNotFound)
	}
	return m.mods.ModLog(ctx, c.ID, limit)
}

// Reports lists a community's reports.
func (m *Moderation) Reports(ctx context.Context, c Community, openOnly bool) ([]Report, error) {
	return m.mods.Reports(ctx, c.ID, openOnly)
}

// ResolveReport closes a report.
func (m *Moderation) ResolveReport(ctx context.Context, c Community, by string, id int64) error {
	if err := m.mods.ResolveReport(ctx, c.ID, id, by, m.now().UTC()); err != nil {
		return fmt.Errorf("report %d in %s: %w", id, c.Name, err)
	}
	return m.log(ctx, c.ID, by, "resolve", "report "+strconv.FormatInt(id, 10), "")
}

// Report stores a report for a community and tells its remote moderators
// by direct message. A report already stored (the same Flag again) is not
// sent twice.
func (m *Moderation) Report(ctx context.Context, c Community, r Report) (Report, error) {
	r.CommunityID = c.ID
	r.Content = truncate(r.Content, MaxReason*4)
	if r.CreatedAt.IsZero() {
		r.CreatedAt = m.now().UTC()
	}
	if err := m.mods.AddReport(ctx, &r); errors.Is(err, ErrExists) {
		return r, nil
	} else if err != nil {
		return r, fmt.Errorf("report to %s: %w", c.Name, err)
	}
	text := fmt.Sprintf("New report #%d from %s", r.ID, r.Reporter)
	if r.Content != "" {
		text += ": " + r.Content
	}
	if len(r.Targets) > 0 {
		text += "\nAbout: " + strings.Join(r.Targets, " ")
	}
	text += fmt.Sprintf("\nAnswer \"resolve %d\" when it is dealt with.", r.ID)
	return r, m.tellModerators(ctx, c, text)
}

func (m *Moderation) tellModerators(ctx context.Context, c Community, text string) error {
	mods, err := m.mods.Moderators(ctx, c.ID)
	if err != nil {
		return err
	}
	for _, mod := range mods {
		if mod.Remote() {
			if err := m.modPub.DirectMessage(ctx, c, mod.Actor, text); err != nil {
				return err
			}
		}
	}
	return nil
}

// MessageResult says what became of a direct message to a community.
type MessageResult struct {
	// Command is true when the sender is a moderator: the message was a
	// command (perhaps an unknown one) and has been answered. Otherwise
	// it is an ordinary (direct, so never announced) message.
	Command bool
	Summary string // for the inbox log
}

// HandleMessage reads a direct message from actor to community c. From a
// moderator it is a command: it is executed and answered. Anyone else is
// told, at most once per RefusalInterval, that only moderators give
// commands, and nothing changes. mentions maps the mention texts of the
// message ("@carol", "@carol@host", lower case) to the actor IRIs they
// link, so that a target given as a mention needs no look-up.
func (m *Moderation) HandleMessage(ctx context.Context, c Community, from, text string, mentions map[string]string) (MessageResult, error) {
	role, err := m.RoleOf(ctx, c, from)
	if err != nil {
		return MessageResult{}, err
	}
	if role == "" {
		now := m.now().UTC()
		first, err := m.mods.NoteRefusal(ctx, c.ID, from, now, now.Add(-RefusalInterval))
		if err != nil {
			return MessageResult{}, err
		}
		if !first {
			return MessageResult{Summary: "not a moderator (refusal sent already)"}, nil
		}
		return MessageResult{Summary: "not a moderator (refused)"}, m.modPub.DirectMessage(ctx, c, from,
			"Sorry, only the moderators of "+c.Name+" can give it commands. Nothing was changed.")
	}
	cmd, perr := ParseCommand(text)
	var reply string
	switch {
	case errors.Is(perr, ErrUnknownCommand):
		reply = HelpText()
		if text = strings.TrimSpace(text); text != "" {
			reply = "I did not understand that. " + reply
		}
	case perr != nil:
		reply = "I could not do that: " + perr.Error()
	default:
		reply, err = m.execute(ctx, c, from, role, cmd, mentions)
		if err != nil && !isRefusal(err) {
			return MessageResult{Command: true}, err
		}
		if err != nil {
			reply = "I could not " + cmd.Name + " " + cmd.Target + ": " + err.Error()
		}
	}
	summary := "command " + cmd.Name
	if perr != nil {
		summary = "command not understood"
	}
	return MessageResult{Command: true, Summary: summary}, m.modPub.DirectMessage(ctx, c, from, reply)
}

// isRefusal tells an error to answer the moderator with (a domain error)
// from one that is the server's (a storage failure), which is retried.
func isRefusal(err error) bool {
	for _, e := range []error{ErrNotFound, ErrExists, ErrInvalid, ErrNotAllowed, ErrNotProposed, ErrGone} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// resolveTarget turns a command's target into an actor IRI.
func (m *Moderation) resolveTarget(ctx context.Context, target string, mentions map[string]string) (string, error) {
	if isHTTPURL(target) {
		return target, nil
	}
	if iri, ok := mentions[strings.ToLower(target)]; ok {
		return iri, nil
	}
	if m.resolve == nil {
		return "", fmt.Errorf("%w: cannot look %s up", ErrNotFound, target)
	}
	iri, err := m.resolve.ResolveActor(ctx, target)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrNotFound, target, err)
	}
	return iri, nil
}

// pagePrefix is how the community's post pages here begin.
func (m *Moderation) pagePrefix(c Community) string {
	if m.postPages == nil {
		return "\x00" // matches nothing
	}
	return m.postPages(c)
}

func (m *Moderation) execute(ctx context.Context, c Community, from string, role Role, cmd Command, mentions map[string]string) (string, error) {
	spec := commands[cmd.Name]
	if spec.ownerOnly && role != RoleOwner {
		return "", fmt.Errorf("%w: only owners may %s", ErrNotAllowed, cmd.Name)
	}
	var actor string
	var post Post
	switch spec.arg {
	case "actor":
		var err error
		if actor, err = m.resolveTarget(ctx, cmd.Target, mentions); err != nil {
			return "", err
		}
	case "post":
		var err error
		if post, err = m.FindPost(ctx, c, cmd.Target); err != nil {
			return "", err
		}
	}
	switch cmd.Name {
	case "help":
		return HelpText(), nil
	case "ban":
		if err := m.Ban(ctx, c, from, actor, cmd.Reason, cmd.RemovePosts); err != nil {
			return "", err
		}
		return "Banned " + actor + " from " + c.Name + ".", nil
	case "unban":
		if err := m.Unban(ctx, c, from, actor); err != nil {
			return "", err
		}
		return "Unbanned " + actor + ".", nil
	case "remove":
		if err := m.RemovePost(ctx, c, from, post, cmd.Reason); err != nil {
			return "", err
		}
		return "Removed " + post.ObjectID + ".", nil
	case "restore":
		if err := m.RestorePost(ctx, c, from, post); err != nil {
			return "", err
		}
		return "Restored " + post.ObjectID + ".", nil
	case "approve":
		if err := m.Approve(ctx, c, from, actor); err != nil {
			return "", err
		}
		return "Approved " + actor + ": they are a member now.", nil
	case "reject":
		if err := m.Reject(ctx, c, from, actor); err != nil {
			return "", err
		}
		return "Rejected the join request of " + actor + ".", nil
	case "pending":
		ms, err := m.store.Members(ctx, c.ID, Pending, "", 50)
		if err != nil {
			return "", err
		}
		if len(ms) == 0 {
			return "No join requests.", nil
		}
		lines := []string{"Join requests:"}
		for _, mem := range ms {
			lines = append(lines, mem.Actor)
		}
		return strings.Join(lines, "\n"), nil
	case "pin":
		if err := m.Pin(ctx, c, from, post); err != nil {
			return "", err
		}
		return "Pinned " + post.ObjectID + ".", nil
	case "unpin":
		if err := m.Unpin(ctx, c, from, post); err != nil {
			return "", err
		}
		return "Unpinned " + post.ObjectID + ".", nil
	case "block":
		n, err := m.BlockDomain(ctx, &c, from, cmd.Target, cmd.Reason)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("Blocked %s in %s; %d members from there were removed.", cmd.Target, c.Name, n), nil
	case "unblock":
		if err := m.UnblockDomain(ctx, &c, from, cmd.Target); err != nil {
			return "", err
		}
		return "Unblocked " + cmd.Target + ".", nil
	case "mods":
		mods, err := m.mods.Moderators(ctx, c.ID)
		if err != nil {
			return "", err
		}
		lines := []string{"Moderators of " + c.Name + ":"}
		for _, mod := range mods {
			lines = append(lines, mod.Actor+" ("+string(mod.Role)+")")
		}
		return strings.Join(lines, "\n"), nil
	case "addmod":
		if err := m.AddModerator(ctx, c, from, actor, RoleModerator); err != nil {
			return "", err
		}
		return actor + " is a moderator of " + c.Name + " now.", nil
	case "delmod":
		if err := m.RemoveModerator(ctx, c, from, actor); err != nil {
			return "", err
		}
		return actor + " is no longer a moderator of " + c.Name + ".", nil
	case "reports":
		rs, err := m.mods.Reports(ctx, c.ID, true)
		if err != nil {
			return "", err
		}
		if len(rs) == 0 {
			return "No open reports.", nil
		}
		lines := []string{"Open reports:"}
		for _, r := range rs {
			lines = append(lines, fmt.Sprintf("#%d from %s: %s %s", r.ID, r.Reporter, truncate(r.Content, 200),
				strings.Join(r.Targets, " ")))
		}
		return strings.Join(lines, "\n"), nil
	case "resolve":
		id, _ := strconv.ParseInt(strings.TrimPrefix(cmd.Target, "#"), 10, 64)
		if err := m.ResolveReport(ctx, c, from, id); err != nil {
			return "", err
		}
		return fmt.Sprintf("Report #%d resolved.", id), nil
	}
	return HelpText(), nil
}
