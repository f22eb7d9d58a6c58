package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"slices"
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

// A moderation activity goes out as Lemmy sends its own
// (send_activity_in_community, crates/apub/src/activities/community): its
// actor is a Person, the moderator, and the community Announces it to its
// threadiverse members. Lemmy refuses a Group as the actor of Block, Add,
// Remove or a removal's Delete: it dereferences the actor as a Person
// (UserTypes: Person or Service) and accepts the action when that Person
// moderates the community or lives on the community's host
// (verify_mod_action). Agora's moderators may live on other servers and
// Agora cannot sign as them, so the instance's moderation Person
// (Local.ModerationIRI, listed among every community's moderators) acts
// for them.

// modActivity fills in a moderation activity of community c: its IRI, the
// moderation Person as actor and signer, Lemmy's addressing (public, cc
// the community); extra adds terms go-fed does not know. It returns the
// activity as sendMod stores it.
func (p *Publisher) modActivity(ctx context.Context, c community.Community, a Activity, extra map[string]any) (OutActivity, error) {
	iri := p.local.CommunityIRI(c.Name)
	n, id, err := p.mintID(ctx, iri, a.Type)
	if err != nil {
		return OutActivity{}, err
	}
	a.ID = id
	a.Actor = p.local.ModerationIRI()
	a.To, a.Cc, a.Audience = []string{PublicCollection}, []string{iri}, []string{iri}
	a.Published = p.now().UTC()
	body, err := RenderActivity(a)
	if err == nil && len(extra) > 0 {
		var m map[string]json.RawMessage
		if err = json.Unmarshal(body, &m); err == nil {
			for k, v := range extra {
				m[k] = mustJSON(v)
			}
			body, err = encodeRaw(m)
		}
	}
	if err != nil {
		return OutActivity{}, err
	}
	return OutActivity{ID: n, IRI: a.ID, Type: a.Type, CommunityID: c.ID, Signer: ModerationKeyOwner,
		Body: body, CreatedAt: a.Published}, nil
}

// sendMod stores a moderation activity made by modActivity (it is served
// at its IRI), sends it in the community's Announce to inboxes, and as it
// is, signed by the moderation Person, to direct.
func (p *Publisher) sendMod(ctx context.Context, c community.Community, out OutActivity, inboxes, direct []string) error {
	if err := p.queue.Enqueue(ctx, out, direct, out.CreatedAt); err != nil {
		return fmt.Errorf("%s in %s: %w", out.Type, c.Name, err)
	}
	iri := p.local.CommunityIRI(c.Name)
	_, err := p.send(ctx, &c, Activity{Type: "Announce", ObjectRaw: stripContext(out.Body),
		To: []string{PublicCollection}, Cc: []string{iri + "/followers"}, Audience: []string{iri}}, inboxes)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", out.Type, c.Name, err)
	}
	return nil
}

// sendModToMembers sends a moderation activity to threadiverse members in
// the community's Announce, and as it is to the server of also (the
// banned actor: no longer a member, its server would not learn of it)
// unless that server is a member's or a microblog one.
func (p *Publisher) sendModToMembers(ctx context.Context, c community.Community, out OutActivity, also string) error {
	inboxes, err := p.threadiverseInboxes(ctx, c)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", out.Type, c.Name, err)
	}
	var direct []string
	if inbox := p.actorServer(ctx, also); inbox != "" && !slices.Contains(inboxes, inbox) {
		direct = []string{inbox}
	}
	return p.sendMod(ctx, c, out, inboxes, direct)
}

// actorServer returns the inbox where actor's server takes a community's
// Block, "" when there is none: no actor, one that cannot be fetched, or a
// microblog server (which has no use for it).
func (p *Publisher) actorServer(ctx context.Context, actor string) string {
	if actor == "" {
		return ""
	}
	a, err := p.actors.Get(ctx, actor, false)
	if err != nil || p.dialects.Of(ctx, community.HostOf(a.DeliveryInbox())) == Microblog {
		return ""
	}
	return a.DeliveryInbox()
}

// block renders the Block of a ban (Lemmy's community ban: Block with the
// community as target, removeData asking to remove the actor's content
// there too), to send or to embed in its Undo.
func (p *Publisher) block(ctx context.Context, c community.Community, actor, reason string, removeData bool) (OutActivity, error) {
	return p.modActivity(ctx, c, Activity{Type: "Block", ObjectIRI: actor, Target: p.local.CommunityIRI(c.Name), Summary: reason},
		map[string]any{"removeData": removeData})
}

// BlockActor tells threadiverse members, and the actor's server, that
// actor is banned from the community.
func (p *Publisher) BlockActor(ctx context.Context, c community.Community, actor, reason string, removeData bool) error {
	out, err := p.block(ctx, c, actor, reason, removeData)
	if err != nil {
		return fmt.Errorf("block %s: %w", actor, err)
	}
	return p.sendModToMembers(ctx, c, out, actor)
}

// UnblockActor takes a ban back: Undo{Block}, sent as the Block was.
func (p *Publisher) UnblockActor(ctx context.Context, c community.Community, actor string) error {
	inner, err := p.block(ctx, c, actor, "", false)
	if err != nil {
		return fmt.Errorf("unblock %s: %w", actor, err)
	}
	out, err := p.modActivity(ctx, c, Activity{Type: "Undo", ObjectRaw: stripContext(inner.Body)}, nil)
	if err != nil {
		return fmt.Errorf("unblock %s: %w", actor, err)
	}
	return p.sendModToMembers(ctx, c, out, actor)
}

// collectionChange sends Add or Remove of object to one of the
// community's collections.
func (p *Publisher) collectionChange(ctx context.Context, c community.Community, typ, object, collection string) error {
	out, err := p.modActivity(ctx, c, Activity{Type: typ, ObjectIRI: object, Target: p.local.CommunityIRI(c.Name) + "/" + collection}, nil)
	if err != nil {
		return fmt.Errorf("%s %s: %w", typ, object, err)
	}
	return p.sendModToMembers(ctx, c, out, "")
}

// ModeratorAdded sends Add{actor} to the moderators collection.
func (p *Publisher) ModeratorAdded(ctx context.Context, c community.Community, actor string) error {
	return p.collectionChange(ctx, c, "Add", actor, "moderators")
}

// ModeratorRemoved sends Remove{actor} from the moderators collection.
func (p *Publisher) ModeratorRemoved(ctx context.Context, c community.Community, actor string) error {
	return p.collectionChange(ctx, c, "Remove", actor, "moderators")
}

// PostPinned sends Add{post} to the featured collection (Lemmy's sticky).
func (p *Publisher) PostPinned(ctx context.Context, c community.Community, post community.Post) error {
	return p.collectionChange(ctx, c, "Add", post.ObjectID, "featured")
}

// PostUnpinned sends Remove{post} from the featured collection.
func (p *Publisher) PostUnpinned(ctx context.Context, c community.Community, post community.Post) error {
	return p.collectionChange(ctx, c, "Remove", post.ObjectID, "featured")
}

// DirectMessage sends a private Note from the community to one actor
// (a moderator): Create{Note} addressed to them only, mentioning them, so
// that Mastodon shows it as a direct message.
func (p *Publisher) DirectMessage(ctx context.Context, c community.Community, to, text string) error {
	a, err := p.actors.Get(ctx, to, false)
	if err != nil {
		return fmt.Errorf("message to %s: %w", to, err)
	}
	iri := p.local.CommunityIRI(c.Name)
	_, noteID, err := p.mintID(ctx, iri, "Note")
	if err != nil {
		return fmt.Errorf("message to %s: %w", to, err)
	}
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
		"id":           noteID,
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
