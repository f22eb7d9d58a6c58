package federation

import (
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
	local   *Local
	docs    *Documents
	queue   Queue
	actors  *Actors
	inboxes InboxLister
	now     func() time.Time
	notify  func() // wakes the delivery workers; nil when none run here (CLI)
}

// NewPublisher returns a Publisher. notify may be nil.
func NewPublisher(local *Local, docs *Documents, queue Queue, actors *Actors, inboxes InboxLister, now func() time.Time, notify func()) *Publisher {
	if now == nil {
		now = time.Now
	}
	if notify == nil {
		notify = func() {}
	}
	return &Publisher{local: local, docs: docs, queue: queue, actors: actors, inboxes: inboxes, now: now, notify: notify}
}

var _ community.Publisher = (*Publisher)(nil)

// send gives an activity of community c (nil for the instance) its IRI,
// renders it and queues one delivery per inbox.
func (p *Publisher) send(ctx context.Context, c *community.Community, act Activity, inboxes []string) (OutActivity, error) {
	n, err := p.queue.NextOutActivityID(ctx)
	if err != nil {
		return OutActivity{}, fmt.Errorf("send %s: %w", act.Type, err)
	}
	owner, actor := InstanceKeyOwner, p.local.InstanceIRI()
	var cid int64
	if c != nil {
		owner, actor, cid = CommunityKeyOwner(c.Name), p.local.CommunityIRI(c.Name), c.ID
	}
	now := p.now().UTC()
	act.ID = actor + "/" + strings.ToLower(act.Type) + "/" + strconv.FormatInt(n, 10)
	act.Actor = actor
	if act.Published.IsZero() {
		act.Published = now
	}
	body, err := RenderActivity(act)
	if err != nil {
		return OutActivity{}, fmt.Errorf("send %s: %w", act.Type, err)
	}
	out := OutActivity{ID: n, IRI: act.ID, Type: act.Type, CommunityID: cid, Signer: owner, Body: body, CreatedAt: now}
	if err := p.queue.Enqueue(ctx, out, inboxes, now); err != nil {
		return OutActivity{}, fmt.Errorf("send %s: %w", act.Type, err)
	}
	p.notify()
	return out, nil
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
// show the new title and summary.
func (p *Publisher) CommunityUpdated(ctx context.Context, c community.Community) error {
	inboxes, err := p.inboxes.MemberInboxes(ctx, c.ID)
	if err != nil || len(inboxes) == 0 {
		return err
	}
	doc, err := p.docs.GroupActor(ctx, c)
	if err != nil {
		return err
	}
	iri := p.local.CommunityIRI(c.Name)
	_, err = p.send(ctx, &c, Activity{Type: "Update", ObjectRaw: stripContext(doc),
		To: []string{PublicCollection}, Cc: []string{iri + "/followers"}}, inboxes)
	return err
}

// CommunityDeleted sends Delete{Group} to every member's server.
func (p *Publisher) CommunityDeleted(ctx context.Context, c community.Community) error {
	inboxes, err := p.inboxes.MemberInboxes(ctx, c.ID)
	if err != nil || len(inboxes) == 0 {
		return err
	}
	iri := p.local.CommunityIRI(c.Name)
	_, err = p.send(ctx, &c, Activity{Type: "Delete", ObjectIRI: iri,
		To: []string{PublicCollection}, Cc: []string{iri + "/followers"}}, inboxes)
	return err
}

// stripContext removes @context from a document about to be embedded:
// the embedding activity carries it.
func stripContext(doc []byte) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(doc, &m) != nil {
		return doc
	}
	delete(m, "@context")
	b, err := json.Marshal(m)
	if err != nil {
		return doc
	}
	return b
}
