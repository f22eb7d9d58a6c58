package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/agorafed/agora/community"
)

var _ community.PostPublisher = (*Publisher)(nil)

// splitByDialect sorts members' inboxes by what their host understands,
// with one store look-up for all of them: microblog and threadiverse
// inboxes, and unknown hosts' inboxes, which go in both the first two
// lists too (Mastodon ignores Announce{Create}, so it cannot show a post
// twice).
//
// Origin-strict inboxes are threadiverse ones here: what the community
// itself originates is of its own origin, which they take embedded.
// AnnouncePost and WithdrawPost use split, which lists them apart.
func (p *Publisher) splitByDialect(ctx context.Context, inboxes []string) (microblog, threadiverse, unknown []string) {
	microblog, threadiverse, unknown, strict := p.split(ctx, inboxes)
	return microblog, append(threadiverse, strict...), unknown
}

// split is splitByDialect with the origin-strict inboxes (OriginStrict)
// in a list of their own.
func (p *Publisher) split(ctx context.Context, inboxes []string) (microblog, threadiverse, unknown, strict []string) {
	hosts := make([]string, len(inboxes))
	for i, inbox := range inboxes {
		if u, err := url.Parse(inbox); err == nil {
			hosts[i] = u.Host
		}
	}
	dialects := p.dialects.OfHosts(ctx, hosts)
	for i, inbox := range inboxes {
		if hosts[i] == "" {
			continue
		}
		switch dialects[hosts[i]] {
		case Microblog:
			microblog = append(microblog, inbox)
		case Threadiverse:
			threadiverse = append(threadiverse, inbox)
		case OriginStrict:
			strict = append(strict, inbox)
		default:
			microblog = append(microblog, inbox)
			threadiverse = append(threadiverse, inbox)
			unknown = append(unknown, inbox)
		}
	}
	return microblog, threadiverse, unknown, strict
}

// addressing of everything a community sends about a post: public, to its
// followers and the author, in the community's audience.
func (p *Publisher) postAddressing(c community.Community, post community.Post, act *Activity) {
	iri := p.local.CommunityIRI(c.Name)
	act.To = []string{PublicCollection}
	act.Cc = []string{iri + "/followers", post.Author}
	act.Audience = []string{iri}
}

// AnnouncePost boosts a post: Announce{object id} for microblog and
// origin-strict peers, Announce{the Create as received} for threadiverse
// peers (FEP-1b12).
// Both are stored even with no recipients: the outbox lists them. A
// dialect in which the post has a live (not withdrawn) Announce already
// is skipped: a post is never boosted twice at once, and doing it again
// after a crash completes what the crash cut short.
func (p *Publisher) AnnouncePost(ctx context.Context, c community.Community, post community.Post) error {
	refs, err := p.announces.Announces(ctx, post.ID)
	if err != nil {
		return fmt.Errorf("announce %s: %w", post.ObjectID, err)
	}
	live := map[Dialect]bool{}
	for _, r := range refs {
		if r.WithdrawnAt.IsZero() {
			live[r.Dialect] = true
		}
	}
	if live[Microblog] && (live[Threadiverse] || len(post.Activity) == 0) {
		return nil
	}
	inboxes, err := p.inboxes.MemberInboxes(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("announce %s: %w", post.ObjectID, err)
	}
	micro, thread, _, strict := p.split(ctx, inboxes)

	if !live[Microblog] {
		a := Activity{Type: "Announce", ObjectIRI: post.ObjectID}
		p.postAddressing(c, post, &a)
		if _, err := p.sendMarked(ctx, &c, a, append(micro, strict...), OutActivity{Announces: &AnnounceMark{post.ID, Microblog}}); err != nil {
			return err
		}
	}
	if len(post.Activity) == 0 || live[Threadiverse] {
		return nil
	}
	a := Activity{Type: "Announce", ObjectRaw: stripContext(post.Activity)}
	p.postAddressing(c, post, &a)
	_, err = p.sendMarked(ctx, &c, a, thread, OutActivity{Announces: &AnnounceMark{post.ID, Threadiverse}})
	return err
}

// WithdrawPost takes a boost back (docs/protocol.md, the peer families): microblog peers
// get Undo{the whole earlier Announce}; threadiverse peers get
// Announce{Delete}: the author's own Delete when there is one, else a
// Delete by the community with the reason as summary. Origin-strict peers,
// which got the microblog Announce, get its Undo and the community's own
// Announce{Delete} (an author's Delete of another origin would be fetched
// by id, which fails for Mastodon's "#delete" ids; NodeBB deletes a post
// on an Announce{Delete} by its category, src/activitypub/inbox.js). The community never
// sends a Delete of someone else's post on its own.
func (p *Publisher) WithdrawPost(ctx context.Context, c community.Community, post community.Post, reason community.Reason, del []byte) error {
	refs, err := p.announces.Announces(ctx, post.ID)
	if err != nil {
		return fmt.Errorf("withdraw %s: %w", post.ObjectID, err)
	}
	if !slices.ContainsFunc(refs, func(r AnnounceRef) bool { return r.WithdrawnAt.IsZero() }) {
		return nil // nothing (left) to take back
	}
	inboxes, err := p.inboxes.MemberInboxes(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("withdraw %s: %w", post.ObjectID, err)
	}
	micro, thread, _, strict := p.split(ctx, inboxes)
	withdrew := map[Dialect]bool{}
	for _, ref := range refs {
		if !ref.WithdrawnAt.IsZero() || withdrew[ref.Dialect] {
			continue
		}
		withdrew[ref.Dialect] = true
		switch ref.Dialect {
		case Microblog:
			if len(strict) > 0 {
				// Sent first: should the Undo's transaction be cut short,
				// doing it again sends both.
				inner, err := p.communityDelete(ctx, c, post, reason)
				if err != nil {
					return err
				}
				a := Activity{Type: "Announce", ObjectRaw: inner}
				p.postAddressing(c, post, &a)
				if _, err := p.send(ctx, &c, a, strict); err != nil {
					return err
				}
			}
			a := Activity{Type: "Undo", ObjectRaw: stripContext(ref.Activity.Body)}
			p.postAddressing(c, post, &a)
			if _, err := p.sendMarked(ctx, &c, a, append(micro, strict...), OutActivity{Withdraws: &AnnounceMark{post.ID, Microblog}}); err != nil {
				return err
			}
		case Threadiverse:
			inner := json.RawMessage(stripContext(del))
			if len(del) == 0 {
				inner, err = p.communityDelete(ctx, c, post, reason)
				if err != nil {
					return err
				}
			}
			a := Activity{Type: "Announce", ObjectRaw: inner}
			p.postAddressing(c, post, &a)
			if _, err := p.sendMarked(ctx, &c, a, thread, OutActivity{Withdraws: &AnnounceMark{post.ID, Threadiverse}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// communityDelete renders the Delete a community embeds in an Announce
// when it takes a post out (Lemmy's removal by a moderator), with the
// reason as summary. Its actor is the moderation Person: Lemmy takes a
// Delete of someone else's post with a summary for a moderator's removal
// and refuses it from other than a Person (see publish_mod.go).
func (p *Publisher) communityDelete(ctx context.Context, c community.Community, post community.Post, reason community.Reason) (json.RawMessage, error) {
	out, err := p.modActivity(ctx, c, Activity{Type: "Delete", ObjectIRI: post.ObjectID, Summary: string(reason)}, nil)
	if err != nil {
		return nil, err
	}
	return stripContext(out.Body), nil
}

// RelayActivity forwards an author's edit (to threadiverse and unknown
// peers) or a Like/Dislike (to threadiverse peers only) as
// Announce{activity}: Mastodon ignores Announce{Update} and shows no likes
// of boosts.
func (p *Publisher) RelayActivity(ctx context.Context, c community.Community, post community.Post, activity []byte) error {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(activity, &head); err != nil {
		return fmt.Errorf("relay activity: %w", err)
	}
	inboxes, err := p.inboxes.MemberInboxes(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("relay %s: %w", head.Type, err)
	}
	_, to, unknown := p.splitByDialect(ctx, inboxes)
	if head.Type != "Update" {
		// Likes go to known threadiverse peers only.
		skip := make(map[string]bool, len(unknown))
		for _, inbox := range unknown {
			skip[inbox] = true
		}
		to = slices.DeleteFunc(to, func(inbox string) bool { return skip[inbox] })
	}
	if len(to) == 0 {
		return nil
	}
	a := Activity{Type: "Announce", ObjectRaw: stripContext(activity)}
	p.postAddressing(c, post, &a)
	_, err = p.send(ctx, &c, a, to)
	return err
}

// refusalStatuses are the answers to an Announce{activity of another
// origin} that make its host origin-strict: NodeBB's 424 ("Failed to
// resolve object(s)", src/middleware/activitypub.js resolveObjects), and
// 400 and 422, which a receiver checking the embedded activity against
// the sender would give. 401, 403 (signature, blocks), 404 and 410 are
// about the inbox or the sender, not the form.
var refusalStatuses = map[int]bool{400: true, 422: true, 424: true}

// DeliveryRefused is told by the Deliverer when a delivery got a 4xx. When
// the delivery was an Announce that embeds an activity of another origin
// than the community's, and the answer is one of refusalStatuses, the host
// switches to the OriginStrict dialect, once, remembered across restarts
// (Dialects.LearnOriginStrict): later posts reach it as Announce{object
// id}. A host that refuses that form too is not switched again (never the
// same form forever, never back and forth); its refusals stay in the log
// and in agora_delivery_refusals_total.
//
// When the host switches, the refused post is sent to it again in the new
// form (its Announce{object id}), when the queue can do that
// (AnnounceRedeliverer).
func (p *Publisher) DeliveryRefused(ctx context.Context, dl Delivery, status int) (switched bool, err error) {
	if !refusalStatuses[status] || p.dialects == nil {
		return false, nil
	}
	var a struct {
		Type   string          `json:"type"`
		Actor  string          `json:"actor"`
		Object json.RawMessage `json:"object"`
	}
	if json.Unmarshal(dl.Body, &a) != nil || a.Type != "Announce" {
		return false, nil
	}
	var inner struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(a.Object, &inner) != nil || inner.ID == "" || SameHost(inner.ID, a.Actor) {
		return false, nil // an IRI, or the community's own activity
	}
	switched, err = p.dialects.LearnOriginStrict(ctx, dl.Host)
	if err != nil || !switched {
		return switched, err
	}
	if r, ok := p.queue.(AnnounceRedeliverer); ok {
		queued, err := r.RedeliverAnnounce(ctx, dl.ActivityID, dl.Inbox, dl.Host, p.now().UTC())
		if err != nil {
			return true, err
		}
		if queued {
			p.notify()
		}
	}
	return true, nil
}

// AnnounceRedeliverer is a Queue that can send a post's Announce{object
// id} to one more inbox: the one that refused its Announce{Create}.
type AnnounceRedeliverer interface {
	RedeliverAnnounce(ctx context.Context, refusedID int64, inbox, host string, now time.Time) (bool, error)
}
