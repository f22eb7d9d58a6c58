package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"strconv"
	"time"

	"github.com/agorafed/agora/community"
)

// MemberLister is what the collection documents need from the member store.
type MemberLister interface {
	Members(ctx context.Context, communityID int64, state community.MemberState, after string, limit int) ([]community.Member, error)
	CountMembers(ctx context.Context, communityID int64, state community.MemberState) (int, error)
}

// Documents renders Agora's own AS2 documents: actors and collections.
type Documents struct {
	local     *Local
	members   MemberLister
	announces AnnounceStore
	started   time.Time

	// SummaryHTML renders a community's summary for its actor document;
	// nil is TextToHTML. cmd/agora sets the web pages'
	// Markdown renderer, so peers show what the page shows.
	SummaryHTML func(string) string
}

// NewDocuments returns Documents. started dates the instance's own actors
// (/actor, /moderation): the instance's first start, the same across restarts.
func NewDocuments(local *Local, members MemberLister, announces AnnounceStore, started time.Time) *Documents {
	return &Documents{local: local, members: members, announces: announces, started: started}
}

// PageSize is the number of items on one collection page.
const PageSize = 50

// GroupActor renders a community's Group actor.
func (d *Documents) GroupActor(ctx context.Context, c community.Community) ([]byte, error) {
	pem, err := d.local.PublicKeyPEM(ctx, CommunityKeyOwner(c.Name))
	if err != nil {
		return nil, err
	}
	iri := d.local.CommunityIRI(c.Name)
	return RenderActor(Actor{
		ID:                        iri,
		Type:                      "Group",
		PreferredUsername:         c.Name,
		Name:                      c.Title,
		Summary:                   d.summaryHTML(c.Summary),
		URL:                       iri,
		Icon:                      d.mediaURL(c.Avatar),
		Image:                     d.mediaURL(c.Cover),
		Inbox:                     iri + "/inbox",
		Outbox:                    iri + "/outbox",
		Followers:                 iri + "/followers",
		Featured:                  iri + "/featured",
		Moderators:                iri + "/moderators",
		SharedInbox:               d.local.SharedInbox(),
		PublicKeyID:               KeyID(iri),
		PublicKeyPEM:              pem,
		ManuallyApprovesFollowers: c.RequiresApproval,
		Discoverable:              true,
		Published:                 c.CreatedAt,
	})
}

func (d *Documents) summaryHTML(s string) string {
	if d.SummaryHTML != nil {
		return d.SummaryHTML(s)
	}
	return TextToHTML(s)
}

// mediaURL is where an uploaded image is served ("" for none).
func (d *Documents) mediaURL(id string) string {
	if id == "" {
		return ""
	}
	return d.local.Base() + "/media/" + id
}

// InstanceActor renders the instance's Application actor, which signs the
// GETs no community is behind.
func (d *Documents) InstanceActor(ctx context.Context) ([]byte, error) {
	return d.instanceLevelActor(ctx, InstanceKeyOwner, Actor{
		ID:                        d.local.InstanceIRI(),
		Type:                      "Application",
		PreferredUsername:         d.local.base.Hostname(),
		Name:                      "Agora",
		ManuallyApprovesFollowers: true,
	})
}

// ModerationActor renders the instance's moderation Person, the actor of
// the moderation activities communities send (publish_mod.go): shaped as
// Lemmy reads a Person (crates/apub/src/protocol/objects/person.rs:
// preferredUsername, inbox, outbox and publicKey are required).
func (d *Documents) ModerationActor(ctx context.Context) ([]byte, error) {
	return d.instanceLevelActor(ctx, ModerationKeyOwner, Actor{
		ID:                d.local.ModerationIRI(),
		Type:              "Person",
		PreferredUsername: "moderation",
		Name:              "Moderation",
		Summary:           "<p>Acts for the moderators of the communities on " + html.EscapeString(d.local.Host()) + ".</p>",
	})
}

// instanceLevelActor renders an actor of the instance itself, not of a
// community: a, with the instance's home page, the shared inbox, an
// outbox and owner's key.
func (d *Documents) instanceLevelActor(ctx context.Context, owner string, a Actor) ([]byte, error) {
	pem, err := d.local.PublicKeyPEM(ctx, owner)
	if err != nil {
		return nil, err
	}
	a.URL = d.local.Base() + "/"
	a.Inbox, a.SharedInbox = d.local.SharedInbox(), d.local.SharedInbox()
	a.Outbox = a.ID + "/outbox"
	a.PublicKeyID, a.PublicKeyPEM = KeyID(a.ID), pem
	a.Published = d.started
	return RenderActor(a)
}

// Followers renders a community's followers collection: its size, never
// who the members are. Anyone may fetch it, and a member list would tell
// them who belongs to an approval-only community; Lemmy serves the same,
// totalItems and no items, for its communities
// (crates/apub/src/protocol/collections/group_followers.rs). Moderators
// see the members in the console; deliveries read them from the store.
func (d *Documents) Followers(ctx context.Context, c community.Community) ([]byte, error) {
	total, err := d.members.CountMembers(ctx, c.ID, community.Joined)
	if err != nil {
		return nil, fmt.Errorf("followers of %s: %w", c.Name, err)
	}
	return RenderCollection(Collection{ID: d.local.CommunityIRI(c.Name) + "/followers", Type: "OrderedCollection", TotalItems: total})
}

func pageIRI(collection, after string) string {
	if after == "" {
		return collection + "?page=1"
	}
	return collection + "?page=1&after=" + url.QueryEscape(after)
}

// EmptyCollection renders a collection that has nothing yet (outbox,
// featured, moderators until later issues fill them).
func (d *Documents) EmptyCollection(iri string, page bool) ([]byte, error) {
	if page {
		return RenderCollection(Collection{ID: iri + "?page=1", Type: "OrderedCollectionPage", PartOf: iri, Items: []json.RawMessage{}})
	}
	return RenderCollection(Collection{ID: iri, Type: "OrderedCollection", Items: []json.RawMessage{}})
}

// Outbox renders a community's outbox: its Announces of live posts, newest
// first. page false renders the collection with its count; otherwise the
// page of Announces older than before (an out-activity number, 0: newest).
func (d *Documents) Outbox(ctx context.Context, c community.Community, page bool, before int64) ([]byte, error) {
	iri := d.local.CommunityIRI(c.Name) + "/outbox"
	total, err := d.announces.CountOutbox(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("outbox of %s: %w", c.Name, err)
	}
	if !page {
		return RenderCollection(Collection{ID: iri, Type: "OrderedCollection", TotalItems: total, First: iri + "?page=1"})
	}
	acts, err := d.announces.Outbox(ctx, c.ID, before, PageSize)
	if err != nil {
		return nil, fmt.Errorf("outbox of %s: %w", c.Name, err)
	}
	items := make([]json.RawMessage, 0, len(acts))
	for _, a := range acts {
		items = append(items, stripContext(a.Body))
	}
	id := iri + "?page=1"
	if before > 0 {
		id += "&before=" + strconv.FormatInt(before, 10)
	}
	p := Collection{ID: id, Type: "OrderedCollectionPage", TotalItems: total, PartOf: iri, Items: items}
	if len(acts) == PageSize {
		p.Next = iri + "?page=1&before=" + strconv.FormatInt(acts[len(acts)-1].ID, 10)
	}
	return RenderCollection(p)
}

// PostIRI is the page of a post at Agora.
func (d *Documents) PostIRI(c community.Community, p community.Post) string {
	return d.local.CommunityIRI(c.Name) + "/p/" + strconv.FormatInt(p.ID, 10)
}

// PostDocument renders a post's page at Agora for ActivityPub clients: an
// Announce by the community linking the original, with the page's own id,
// so a fetch of this URL gets a document whose id is the URL.
func (d *Documents) PostDocument(c community.Community, p community.Post) ([]byte, error) {
	iri := d.local.CommunityIRI(c.Name)
	return RenderActivity(Activity{
		ID: d.PostIRI(c, p), Type: "Announce", Actor: iri, ObjectIRI: p.ObjectID,
		To: []string{PublicCollection}, Cc: []string{iri + "/followers", p.Author}, Audience: []string{iri},
		Published: p.ReceivedAt,
	})
}
