package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"slices"
	"strconv"
	"strings"

	"github.com/agorafed/agora/community"
)

var _ community.ModPublisher = (*Publisher)(nil)

// threadiverseInboxes lists the inboxes of a community's members whose
// servers understand FEP-1b12 moderation activities (Block, Add, Remove),
// unknown servers included: a microblog server ignores them.
func (p *Publisher) threadiverseInboxes(ctx context.Context, c community.Community) ([]string, error) {
	inboxes, err := p.inboxes.MemberInboxes(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	_, thread, _ := p.splitByDialect(ctx, inboxes)
	return thread, nil
}

// toThreadiverse sends a moderation activity, addressed as Lemmy
// addresses its own (public, cc the community), to threadiverse members.
// The servers of also (the banned actor) are told too: no longer members,
// they would otherwise not learn of it.
func (p *Publisher) toThreadiverse(ctx context.Context, c community.Community, a Activity, also ...string) error {
	inboxes, err := p.threadiverseInboxes(ctx, c)
	if err != nil {
		return fmt.Errorf("%s to threadiverse members of %s: %w", a.Type, c.Name, err)
	}
	for _, actor := range also {
		inboxes = p.withActorServer(ctx, inboxes, actor)
	}
	iri := p.local.CommunityIRI(c.Name)
	a.To = []string{PublicCollection}
	a.Cc = []string{iri}
	a.Audience = []string{iri}
	_, err = p.send(ctx, &c, a, inboxes)
	return err
}

// withActorServer adds the inbox of actor's server to inboxes, unless the
// server is a microblog one (which has no use for a community's Block) or
// the actor cannot be fetched.
func (p *Publisher) withActorServer(ctx context.Context, inboxes []string, actor string) []string {
	a, err := p.actors.Get(ctx, actor, false)
	if err != nil || p.dialects.Of(ctx, community.HostOf(a.DeliveryInbox())) == Microblog {
		return inboxes
	}
	if inbox := a.DeliveryInbox(); !slices.Contains(inboxes, inbox) {
		inboxes = append(inboxes, inbox)
	}
	return inboxes
}

// blockJSON renders the Block of a ban (Lemmy's community ban: Block with
// the community as target, removeData asking to remove the actor's
// content there too), to send or to embed in its Undo. It returns the
// number its IRI carries.
func (p *Publisher) blockJSON(ctx context.Context, c community.Community, actor, reason string, removeData bool) (int64, []byte, error) {
	n, err := p.queue.NextOutActivityID(ctx)
	if err != nil {
		return 0, nil, err
	}
	iri := p.local.CommunityIRI(c.Name)
	body, err := RenderActivity(Activity{ID: iri + "/block/" + strconv.FormatInt(n, 10), Type: "Block", Actor: iri,
		ObjectIRI: actor, Target: iri, Summary: reason, To: []string{PublicCollection}, Cc: []string{iri},
		Audience: []string{iri}, Published: p.now().UTC()})
	if err != nil {
		return 0, nil, err
	}
	// removeData is a Lemmy term go-fed does not know.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return 0, nil, err
	}
	m["removeData"] = mustJSON(removeData)
	body, err = encodeRaw(m)
	return n, body, err
}

// BlockActor tells threadiverse members that actor is banned from the
// community.
func (p *Publisher) BlockActor(ctx context.Context, c community.Community, actor, reason string, removeData bool) error {
	inboxes, err := p.threadiverseInboxes(ctx, c)
	if err != nil {
		return fmt.Errorf("block %s: %w", actor, err)
	}
	inboxes = p.withActorServer(ctx, inboxes, actor)
	n, body, err := p.blockJSON(ctx, c, actor, reason, removeData)
	if err != nil {
		return fmt.Errorf("block %s: %w", actor, err)
	}
	now := p.now().UTC()
	out := OutActivity{ID: n, IRI: p.local.CommunityIRI(c.Name) + "/block/" + strconv.FormatInt(n, 10), Type: "Block",
		CommunityID: c.ID, Signer: CommunityKeyOwner(c.Name), Body: body, CreatedAt: now}
	if err := p.queue.Enqueue(ctx, out, inboxes, now); err != nil {
		return fmt.Errorf("block %s: %w", actor, err)
	}
	p.notify()
	return nil
}

// UnblockActor takes a ban back: Undo{Block} to threadiverse members.
func (p *Publisher) UnblockActor(ctx context.Context, c community.Community, actor string) error {
	_, inner, err := p.blockJSON(ctx, c, actor, "", false)
	if err != nil {
		return err
	}
	return p.toThreadiverse(ctx, c, Activity{Type: "Undo", ObjectRaw: stripContext(inner)}, actor)
}

// ModeratorAdded sends Add{actor} to the moderators collection.
func (p *Publisher) ModeratorAdded(ctx context.Context, c community.Community, actor string) error {
	return p.toThreadiverse(ctx, c, Activity{Type: "Add", ObjectIRI: actor, Target: p.local.CommunityIRI(c.Name) + "/moderators"})
}

// ModeratorRemoved sends Remove{actor} from the moderators collection.
func (p *Publisher) ModeratorRemoved(ctx context.Context, c community.Community, actor string) error {
	return p.toThreadiverse(ctx, c, Activity{Type: "Remove", ObjectIRI: actor, Target: p.local.CommunityIRI(c.Name) + "/moderators"})
}

// PostPinned sends Add{post} to the featured collection (Lemmy's sticky).
func (p *Publisher) PostPinned(ctx context.Context, c community.Community, post community.Post) error {
	return p.toThreadiverse(ctx, c, Activity{Type: "Add", ObjectIRI: post.ObjectID, Target: p.local.CommunityIRI(c.Name) + "/featured"})
}

// PostUnpinned sends Remove{post} from the featured collection.
func (p *Publisher) PostUnpinned(ctx context.Context, c community.Community, post community.Post) error {
	return p.toThreadiverse(ctx, c, Activity{Type: "Remove", ObjectIRI: post.ObjectID, Target: p.local.CommunityIRI(c.Name) + "/featured"})
}

// DirectMessage sends a private Note from the community to one actor
// (a moderator): Create{Note} addressed to them only, mentioning them, so
// that Mastodon shows it as a direct message.
func (p *Publisher) DirectMessage(ctx context.Context, c community.Community, to, text string) error {
	a, err := p.actors.Get(ctx, to, false)
	if err != nil {
		return fmt.Errorf("message to %s: %w", to, err)
	}
	n, err := p.queue.NextOutActivityID(ctx)
	if err != nil {
		return fmt.Errorf("message to %s: %w", to, err)
	}
	iri := p.local.CommunityIRI(c.Name)
	handle := "@" + a.PreferredUsername + "@" + community.HostOf(to)
	if a.PreferredUsername == "" {
		handle = to
	}
	profile := a.URL
	if profile == "" {
		profile = to
	}
	var content strings.Builder
	fmt.Fprintf(&content, `<p><span class="h-card"><a href="%s" class="u-url mention">%s</a></span> `,
		html.EscapeString(profile), html.EscapeString(handle))
	for i, para := range strings.Split(text, "\n") {
		if i > 0 {
			content.WriteString("<br>")
		}
		content.WriteString(html.EscapeString(para))
	}
	content.WriteString("</p>")
	now := p.now().UTC()
	note := map[string]any{
		"id":           iri + "/note/" + strconv.FormatInt(n, 10),
		"type":         "Note",
		"attributedTo": iri,
		"content":      content.String(),
		"to":           []string{to},
		"cc":           []string{},
		"tag":          []map[string]string{{"type": "Mention", "href": to, "name": handle}},
		"published":    now.Format("2006-01-02T15:04:05Z"),
	}
	obj, err := encodeRaw(note)
	if err != nil {
		return err
	}
	_, err = p.send(ctx, &c, Activity{Type: "Create", ObjectRaw: obj, To: []string{to}}, []string{a.Inbox})
	return err
}

// encodeRaw writes v as JSON without escaping HTML.
func encodeRaw(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
