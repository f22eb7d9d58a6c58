package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/agorafed/agora/community"
)

// InboxLister lists where a community's members receive activities: one
// inbox per server (the shared inbox when there is one).
type InboxLister interface {
	MemberInboxes(ctx context.Context, communityID int64) ([]string, error)
}

// Publisher renders what a community decided as signed-to-be activities and
// queues them durably. It implements community.Publisher.
type Publisher struct {
	local     *Local
	docs      *Documents
	queue     Queue
	actors    *Actors
	inboxes   InboxLister
	dialects  *Dialects
	announces AnnounceStore
	now       func() time.Time
	notify    func() // wakes the delivery workers; nil when none run here (CLI)
}

// PublisherDeps are the dependencies of a Publisher.
type PublisherDeps struct {
	Local     *Local
	Docs      *Documents
	Queue     Queue
	Actors    *Actors
	Inboxes   InboxLister
	Dialects  *Dialects
	Announces AnnounceStore
	Now       func() time.Time
	Notify    func() // may be nil
}

// NewPublisher returns a Publisher.
func NewPublisher(d PublisherDeps) *Publisher {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Notify == nil {
		d.Notify = func() {}
	}
	return &Publisher{local: d.Local, docs: d.Docs, queue: d.Queue, actors: d.Actors, inboxes: d.Inboxes,
		dialects: d.Dialects, announces: d.Announces, now: d.Now, notify: d.Notify}
}

var _ community.Publisher = (*Publisher)(nil)

// send gives an activity of community c (nil for the instance) its IRI,
// renders it and queues one delivery per inbox.
func (p *Publisher) send(ctx context.Context, c *community.Community, act Activity, inboxes []string) (OutActivity, error) {
	return p.sendMarked(ctx, c, act, inboxes, OutActivity{})
}

// sendMarked is send, with what mark says the activity announces or
// withdraws recorded in the same transaction.
func (p *Publisher) sendMarked(ctx context.Context, c *community.Community, act Activity, inboxes []string, mark OutActivity) (OutActivity, error) {
	owner, actor := InstanceKeyOwner, p.local.InstanceIRI()
	var cid int64
	if c != nil {
		owner, actor, cid = CommunityKeyOwner(c.Name), p.local.CommunityIRI(c.Name), c.ID
	}
	n, iri, err := p.mintID(ctx, actor, act.Type)
	if err != nil {
		return OutActivity{}, fmt.Errorf("send %s: %w", act.Type, err)
	}
	now := p.now().UTC()
	act.ID = iri
	act.Actor = actor
	if act.Published.IsZero() {
		act.Published = now
	}
	body, err := RenderActivity(act)
	if err != nil {
		return OutActivity{}, fmt.Errorf("send %s: %w", act.Type, err)
	}
	out := OutActivity{ID: n, IRI: act.ID, Type: act.Type, CommunityID: cid, Signer: owner, Body: body, CreatedAt: now,
		Announces: mark.Announces, Withdraws: mark.Withdraws}
	if err := p.queue.Enqueue(ctx, out, inboxes, now); err != nil {
		return OutActivity{}, fmt.Errorf("send %s: %w", act.Type, err)
	}
	p.notify()
	return out, nil
}

// mintID reserves the next activity number and makes the IRI of an
// activity or object of that type under base (a community or the
// instance actor): {base}/{type}/{n}, the type in lower case. An activity
// is stored under its number, and web serves it at that IRI.
func (p *Publisher) mintID(ctx context.Context, base, typ string) (int64, string, error) {
	n, err := p.queue.NextOutActivityID(ctx)
	if err != nil {
		return 0, "", err
	}
	return n, base + "/" + strings.ToLower(typ) + "/" + strconv.FormatInt(n, 10), nil
}

// followJSON rebuilds the Follow being answered, to embed it in the answer:
// Mastodon matches an Accept by the embedded Follow's actor and object as
// well as by its id.
func (p *Publisher) followJSON(c community.Community, m community.Member) json.RawMessage {
	b, _ := json.Marshal(map[string]string{
		"id":     m.FollowID,
		"type":   "Follow",
		"actor":  m.Actor,
		"object": p.local.CommunityIRI(c.Name),
	})
	return b
}

func (p *Publisher) answerFollow(ctx context.Context, typ string, c community.Community, m community.Member) error {
	a, err := p.actors.Get(ctx, m.Actor, false)
	if err != nil {
		return fmt.Errorf("%s follow of %s: %w", typ, m.Actor, err)
	}
	_, err = p.send(ctx, &c, Activity{Type: typ, ObjectRaw: p.followJSON(c, m), To: []string{m.Actor}}, []string{a.Inbox})
	return err
}

// AcceptFollow queues an Accept of a member's Follow.
func (p *Publisher) AcceptFollow(ctx context.Context, c community.Community, m community.Member) error {
	return p.answerFollow(ctx, "Accept", c, m)
}

// RejectFollow queues a Reject of a Follow.
func (p *Publisher) RejectFollow(ctx context.Context, c community.Community, m community.Member) error {
	return p.answerFollow(ctx, "Reject", c, m)
}

// CommunityUpdated sends Update{Group} to every member's server, so they
// show the new title and summary: by the community to microblog servers
// (Mastodon takes an actor's Update from that actor only), by the
// moderation Person in the community's Announce to threadiverse ones
// (Lemmy's UpdateCommunity: a moderator's action, see publish_mod.go);
// servers of unknown software get both.
func (p *Publisher) CommunityUpdated(ctx context.Context, c community.Community) error {
	return p.aboutCommunity(ctx, c, func() (Activity, error) {
		doc, err := p.docs.GroupActor(ctx, c)
		return Activity{Type: "Update", ObjectRaw: stripContext(doc)}, err
	})
}

// CommunityDeleted sends Delete{Group} to every member's server, as
// CommunityUpdated sends its Update.
func (p *Publisher) CommunityDeleted(ctx context.Context, c community.Community) error {
	return p.aboutCommunity(ctx, c, func() (Activity, error) {
		return Activity{Type: "Delete", ObjectIRI: p.local.CommunityIRI(c.Name)}, nil
	})
}

// aboutCommunity sends an activity about the community itself, made by
// activity when the community has members, in the two ways
// CommunityUpdated tells.
func (p *Publisher) aboutCommunity(ctx context.Context, c community.Community, activity func() (Activity, error)) error {
	inboxes, err := p.inboxes.MemberInboxes(ctx, c.ID)
	if err != nil || len(inboxes) == 0 {
		return err
	}
	a, err := activity()
	if err != nil {
		return fmt.Errorf("about %s: %w", c.Name, err)
	}
	micro, thread, _ := p.splitByDialect(ctx, inboxes)
	if len(micro) > 0 {
		own := a // the microblog form, addressed to the followers
		iri := p.local.CommunityIRI(c.Name)
		own.To, own.Cc = []string{PublicCollection}, []string{iri + "/followers"}
		if _, err := p.send(ctx, &c, own, micro); err != nil {
			return err
		}
	}
	if len(thread) == 0 {
		return nil
	}
	out, err := p.modActivity(ctx, c, a, nil)
	if err != nil {
		return fmt.Errorf("%s %s: %w", a.Type, c.Name, err)
	}
	return p.sendMod(ctx, c, out, thread, nil)
}

// stripContext removes the top-level @context from a document about to be
// embedded: the embedding activity carries one, and Fedify would try to
// fetch a remote context (Lemmy's) and fail. Every other value is kept as
// sent (keys come out sorted, HTML is not re-escaped).
func stripContext(doc []byte) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(doc, &m) != nil {
		return doc
	}
	if _, ok := m["@context"]; !ok {
		return doc
	}
	delete(m, "@context")
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return doc
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}
