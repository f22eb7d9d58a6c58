package federation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"time"

	"github.com/go-fed/activity/streams"
	"github.com/go-fed/activity/streams/vocab"
)

// agoraContext is the @context of every document Agora renders. Besides the
// two contexts every peer has built in, it defines inline the few
// extension terms Agora uses: a remote context URL would make Fedify fetch
// it, which fails on a closed network (docs/protocol.md, "Who is who").
func agoraContext() []any {
	return []any{
		asNamespace,
		"https://w3id.org/security/v1",
		map[string]any{
			"manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
			"sensitive":                 "as:sensitive",
			"toot":                      "http://joinmastodon.org/ns#",
			"discoverable":              "toot:discoverable",
			"featured":                  map[string]any{"@id": "toot:featured", "@type": "@id"},
			"lemmy":                     "https://join-lemmy.org/ns#",
			"postingRestrictedToMods":   "lemmy:postingRestrictedToMods",
		},
	}
}

// Actor is a local actor document: a community's Group, the instance's
// Application or its moderation Person.
type Actor struct {
	ID                string
	Type              string // "Group", "Application" or "Person"
	PreferredUsername string
	Name              string
	Summary           string // HTML
	URL               string // the HTML profile page
	Icon, Image       string // URLs, optional
	Inbox             string
	Outbox            string
	Followers         string
	Following         string
	Featured          string
	Moderators        string // the moderators collection, rendered as attributedTo
	SharedInbox       string
	PublicKeyID       string
	PublicKeyPEM      string

	ManuallyApprovesFollowers bool
	Discoverable              bool
	PostingRestrictedToMods   bool
	Published                 time.Time
}

// actorType is what RenderActor sets on go-fed's Group, Application and
// Person.
type actorType interface {
	vocab.Type
	SetJSONLDId(vocab.JSONLDIdProperty)
	SetActivityStreamsPreferredUsername(vocab.ActivityStreamsPreferredUsernameProperty)
	SetActivityStreamsName(vocab.ActivityStreamsNameProperty)
	SetActivityStreamsSummary(vocab.ActivityStreamsSummaryProperty)
	SetActivityStreamsUrl(vocab.ActivityStreamsUrlProperty)
	SetActivityStreamsIcon(vocab.ActivityStreamsIconProperty)
	SetActivityStreamsImage(vocab.ActivityStreamsImageProperty)
	SetActivityStreamsInbox(vocab.ActivityStreamsInboxProperty)
	SetActivityStreamsOutbox(vocab.ActivityStreamsOutboxProperty)
	SetActivityStreamsFollowers(vocab.ActivityStreamsFollowersProperty)
	SetActivityStreamsFollowing(vocab.ActivityStreamsFollowingProperty)
	SetTootFeatured(vocab.TootFeaturedProperty)
	SetActivityStreamsAttributedTo(vocab.ActivityStreamsAttributedToProperty)
	SetW3IDSecurityV1PublicKey(vocab.W3IDSecurityV1PublicKeyProperty)
	SetTootDiscoverable(vocab.TootDiscoverableProperty)
	SetActivityStreamsPublished(vocab.ActivityStreamsPublishedProperty)
}

// RenderActor renders an actor document with every field docs/protocol.md,
// "Who is who" lists. Empty optional fields are left out.
func RenderActor(a Actor) ([]byte, error) {
	var t actorType
	switch a.Type {
	case "Group":
		t = streams.NewActivityStreamsGroup()
	case "Application":
		t = streams.NewActivityStreamsApplication()
	case "Person":
		t = streams.NewActivityStreamsPerson()
	default:
		return nil, fmt.Errorf("render actor %s: type %q is not Group, Application or Person", a.ID, a.Type)
	}
	var r iris
	id := r.required("id", a.ID)
	inbox := r.required("inbox", a.Inbox)
	keyID := r.required("publicKey.id", a.PublicKeyID)
	sharedInbox := r.optional("endpoints.sharedInbox", a.SharedInbox)
	if a.PublicKeyPEM == "" {
		r.fail(fmt.Errorf("publicKey.publicKeyPem is empty"))
	}
	t.SetJSONLDId(idProp(id))
	if a.PreferredUsername != "" {
		p := streams.NewActivityStreamsPreferredUsernameProperty()
		p.SetXMLSchemaString(a.PreferredUsername)
		t.SetActivityStreamsPreferredUsername(p)
	}
	if a.Name != "" {
		p := streams.NewActivityStreamsNameProperty()
		p.AppendXMLSchemaString(a.Name)
		t.SetActivityStreamsName(p)
	}
	if a.Summary != "" {
		p := streams.NewActivityStreamsSummaryProperty()
		p.AppendXMLSchemaString(a.Summary)
		t.SetActivityStreamsSummary(p)
	}
	if u := r.optional("url", a.URL); u != nil {
		p := streams.NewActivityStreamsUrlProperty()
		p.AppendIRI(u)
		t.SetActivityStreamsUrl(p)
	}
	if u := r.optional("icon", a.Icon); u != nil {
		p := streams.NewActivityStreamsIconProperty()
		p.AppendActivityStreamsImage(image(u))
		t.SetActivityStreamsIcon(p)
	}
	if u := r.optional("image", a.Image); u != nil {
		p := streams.NewActivityStreamsImageProperty()
		p.AppendActivityStreamsImage(image(u))
		t.SetActivityStreamsImage(p)
	}
	{
		p := streams.NewActivityStreamsInboxProperty()
		p.SetIRI(inbox)
		t.SetActivityStreamsInbox(p)
	}
	if u := r.optional("outbox", a.Outbox); u != nil {
		p := streams.NewActivityStreamsOutboxProperty()
		p.SetIRI(u)
		t.SetActivityStreamsOutbox(p)
	}
	if u := r.optional("followers", a.Followers); u != nil {
		p := streams.NewActivityStreamsFollowersProperty()
		p.SetIRI(u)
		t.SetActivityStreamsFollowers(p)
	}
	if u := r.optional("following", a.Following); u != nil {
		p := streams.NewActivityStreamsFollowingProperty()
		p.SetIRI(u)
		t.SetActivityStreamsFollowing(p)
	}
	if u := r.optional("featured", a.Featured); u != nil {
		p := streams.NewTootFeaturedProperty()
		p.SetIRI(u)
		t.SetTootFeatured(p)
	}
	if u := r.optional("attributedTo", a.Moderators); u != nil {
		p := streams.NewActivityStreamsAttributedToProperty()
		p.AppendIRI(u)
		t.SetActivityStreamsAttributedTo(p)
	}
	{
		key := streams.NewW3IDSecurityV1PublicKey()
		key.SetJSONLDId(idProp(keyID))
		owner := streams.NewW3IDSecurityV1OwnerProperty()
		owner.SetIRI(id)
		key.SetW3IDSecurityV1Owner(owner)
		pem := streams.NewW3IDSecurityV1PublicKeyPemProperty()
		pem.Set(a.PublicKeyPEM)
		key.SetW3IDSecurityV1PublicKeyPem(pem)
		p := streams.NewW3IDSecurityV1PublicKeyProperty()
		p.AppendW3IDSecurityV1PublicKey(key)
		t.SetW3IDSecurityV1PublicKey(p)
	}
	{
		p := streams.NewTootDiscoverableProperty()
		p.Set(a.Discoverable)
		t.SetTootDiscoverable(p)
	}
	if !a.Published.IsZero() {
		t.SetActivityStreamsPublished(publishedProp(a.Published))
	}
	if r.err != nil {
		return nil, fmt.Errorf("render actor %s: %w", a.ID, r.err)
	}

	m, err := streams.Serialize(t)
	if err != nil {
		return nil, fmt.Errorf("render actor %s: %w", a.ID, err)
	}
	// Mastodon's publicKey has no type, and go-fed's "PublicKey" is no
	// term of the security context: leave it out rather than make strict
	// JSON-LD processors guess.
	if k, ok := m["publicKey"].(map[string]any); ok {
		delete(k, "type")
	}
	// Terms go-fed v1.0.0 does not know.
	m["manuallyApprovesFollowers"] = a.ManuallyApprovesFollowers
	if sharedInbox != nil {
		m["endpoints"] = map[string]any{"sharedInbox": sharedInbox.String()}
	}
	if a.Type == "Group" {
		m["postingRestrictedToMods"] = a.PostingRestrictedToMods
	}
	b, err := encode(m, nil)
	if err != nil {
		return nil, fmt.Errorf("render actor %s: %w", a.ID, err)
	}
	return b, nil
}

// Activity is an activity a local actor sends.
type Activity struct {
	ID, Type, Actor string
	ObjectIRI       string
	// ObjectRaw, when set, is embedded as the object byte for byte, and
	// takes precedence over ObjectIRI: the Follow being accepted, or the
	// original activity being announced (FEP-1b12), must reach peers
	// exactly as its author wrote it. An @context inside it stays too
	// (Lemmy's names https://join-lemmy.org/context.json, which a JSON-LD
	// processor such as Fedify would try to fetch).
	ObjectRaw        json.RawMessage
	Target           string
	To, Cc, Audience []string
	Summary          string
	Published        time.Time
}

// activityType is what RenderActivity sets on go-fed's activity types.
type activityType interface {
	vocab.Type
	SetJSONLDId(vocab.JSONLDIdProperty)
	SetActivityStreamsActor(vocab.ActivityStreamsActorProperty)
	SetActivityStreamsObject(vocab.ActivityStreamsObjectProperty)
	SetActivityStreamsTarget(vocab.ActivityStreamsTargetProperty)
	SetActivityStreamsTo(vocab.ActivityStreamsToProperty)
	SetActivityStreamsCc(vocab.ActivityStreamsCcProperty)
	SetActivityStreamsAudience(vocab.ActivityStreamsAudienceProperty)
	SetActivityStreamsSummary(vocab.ActivityStreamsSummaryProperty)
	SetActivityStreamsPublished(vocab.ActivityStreamsPublishedProperty)
}

// newActivity has the types Agora sends.
var newActivity = map[string]func() activityType{
	"Accept":   func() activityType { return streams.NewActivityStreamsAccept() },
	"Reject":   func() activityType { return streams.NewActivityStreamsReject() },
	"Delete":   func() activityType { return streams.NewActivityStreamsDelete() },
	"Update":   func() activityType { return streams.NewActivityStreamsUpdate() },
	"Undo":     func() activityType { return streams.NewActivityStreamsUndo() },
	"Announce": func() activityType { return streams.NewActivityStreamsAnnounce() },
	"Add":      func() activityType { return streams.NewActivityStreamsAdd() },
	"Remove":   func() activityType { return streams.NewActivityStreamsRemove() },
	"Block":    func() activityType { return streams.NewActivityStreamsBlock() },
	"Create":   func() activityType { return streams.NewActivityStreamsCreate() },
}

// RenderActivity renders an Accept, Reject, Delete, Update, Undo, Announce,
// Add, Remove, Block or Create.
func RenderActivity(a Activity) ([]byte, error) {
	b, err := renderActivity(a)
	if err != nil {
		return nil, fmt.Errorf("render %s %s: %w", a.Type, a.ID, err)
	}
	return b, nil
}

func renderActivity(a Activity) ([]byte, error) {
	newType, ok := newActivity[a.Type]
	if !ok {
		return nil, fmt.Errorf("unsupported activity type %q", a.Type)
	}
	t := newType()
	var r iris
	t.SetJSONLDId(idProp(r.required("id", a.ID)))
	{
		p := streams.NewActivityStreamsActorProperty()
		p.AppendIRI(r.required("actor", a.Actor))
		t.SetActivityStreamsActor(p)
	}
	var splice map[string]json.RawMessage
	switch {
	case len(a.ObjectRaw) > 0:
		if !json.Valid(a.ObjectRaw) {
			return nil, fmt.Errorf("embedded object is not valid JSON")
		}
		splice = map[string]json.RawMessage{"object": a.ObjectRaw}
	case a.ObjectIRI != "":
		p := streams.NewActivityStreamsObjectProperty()
		p.AppendIRI(r.required("object", a.ObjectIRI))
		t.SetActivityStreamsObject(p)
	default:
		return nil, fmt.Errorf("no object")
	}
	if u := r.optional("target", a.Target); u != nil {
		p := streams.NewActivityStreamsTargetProperty()
		p.AppendIRI(u)
		t.SetActivityStreamsTarget(p)
	}
	if len(a.To) > 0 {
		p := streams.NewActivityStreamsToProperty()
		for _, s := range a.To {
			p.AppendIRI(r.required("to", s))
		}
		t.SetActivityStreamsTo(p)
	}
	if len(a.Cc) > 0 {
		p := streams.NewActivityStreamsCcProperty()
		for _, s := range a.Cc {
			p.AppendIRI(r.required("cc", s))
		}
		t.SetActivityStreamsCc(p)
	}
	if len(a.Audience) > 0 {
		p := streams.NewActivityStreamsAudienceProperty()
		for _, s := range a.Audience {
			p.AppendIRI(r.required("audience", s))
		}
		t.SetActivityStreamsAudience(p)
	}
	if a.Summary != "" {
		p := streams.NewActivityStreamsSummaryProperty()
		p.AppendXMLSchemaString(a.Summary)
		t.SetActivityStreamsSummary(p)
	}
	if !a.Published.IsZero() {
		t.SetActivityStreamsPublished(publishedProp(a.Published))
	}
	if r.err != nil {
		return nil, r.err
	}
	m, err := streams.Serialize(t)
	if err != nil {
		return nil, err
	}
	// go-fed writes IRIs back through net/url, which re-escapes non-ASCII
	// characters: the IRIs that may be remote ones are written as given.
	// Addressing stays a list even with one entry, as Mastodon writes it.
	if splice == nil {
		m["object"] = a.ObjectIRI
	}
	for k, list := range map[string][]string{"to": a.To, "cc": a.Cc, "audience": a.Audience} {
		if len(list) > 0 {
			m[k] = list
		}
	}
	return encode(m, splice)
}

// Collection is an OrderedCollection (outbox, followers, featured,
// moderators) or one of its pages.
type Collection struct {
	ID         string
	Type       string // "OrderedCollection" or "OrderedCollectionPage"
	TotalItems int
	First      string // collections
	Next, Prev string // pages
	PartOf     string // pages
	// Items are rendered as orderedItems, each an IRI as a JSON string or
	// an embedded object, inserted as given. orderedItems is present when
	// Items is non-nil, and always on a page: an empty page says so with
	// "orderedItems": [].
	Items []json.RawMessage
}

// collectionType is what RenderCollection sets on both collection types.
type collectionType interface {
	vocab.Type
	SetJSONLDId(vocab.JSONLDIdProperty)
	SetActivityStreamsTotalItems(vocab.ActivityStreamsTotalItemsProperty)
	SetActivityStreamsFirst(vocab.ActivityStreamsFirstProperty)
}

// pageType is what only a page has.
type pageType interface {
	SetActivityStreamsNext(vocab.ActivityStreamsNextProperty)
	SetActivityStreamsPrev(vocab.ActivityStreamsPrevProperty)
	SetActivityStreamsPartOf(vocab.ActivityStreamsPartOfProperty)
}

// RenderCollection renders an OrderedCollection or OrderedCollectionPage.
// totalItems is always present, 0 included.
func RenderCollection(c Collection) ([]byte, error) {
	b, err := renderCollection(c)
	if err != nil {
		return nil, fmt.Errorf("render collection %s: %w", c.ID, err)
	}
	return b, nil
}

func renderCollection(c Collection) ([]byte, error) {
	var t collectionType
	var page pageType
	switch c.Type {
	case "OrderedCollection":
		t = streams.NewActivityStreamsOrderedCollection()
	case "OrderedCollectionPage":
		p := streams.NewActivityStreamsOrderedCollectionPage()
		t, page = p, p
	default:
		return nil, fmt.Errorf("type %q is neither OrderedCollection nor OrderedCollectionPage", c.Type)
	}
	if page == nil && (c.Next != "" || c.Prev != "" || c.PartOf != "") {
		return nil, fmt.Errorf("next, prev and partOf belong to pages")
	}
	if c.TotalItems < 0 {
		return nil, fmt.Errorf("negative totalItems %d", c.TotalItems)
	}
	var r iris
	t.SetJSONLDId(idProp(r.required("id", c.ID)))
	{
		p := streams.NewActivityStreamsTotalItemsProperty()
		p.Set(c.TotalItems)
		t.SetActivityStreamsTotalItems(p)
	}
	if u := r.optional("first", c.First); u != nil {
		p := streams.NewActivityStreamsFirstProperty()
		p.SetIRI(u)
		t.SetActivityStreamsFirst(p)
	}
	if u := r.optional("next", c.Next); u != nil {
		p := streams.NewActivityStreamsNextProperty()
		p.SetIRI(u)
		page.SetActivityStreamsNext(p)
	}
	if u := r.optional("prev", c.Prev); u != nil {
		p := streams.NewActivityStreamsPrevProperty()
		p.SetIRI(u)
		page.SetActivityStreamsPrev(p)
	}
	if u := r.optional("partOf", c.PartOf); u != nil {
		p := streams.NewActivityStreamsPartOfProperty()
		p.SetIRI(u)
		page.SetActivityStreamsPartOf(p)
	}
	if r.err != nil {
		return nil, r.err
	}
	var splice map[string]json.RawMessage
	if c.Items != nil || page != nil {
		// Built by hand rather than through go-fed, which would have to
		// decode and re-encode each embedded item.
		var items bytes.Buffer
		items.WriteByte('[')
		for i, it := range c.Items {
			if !json.Valid(it) {
				return nil, fmt.Errorf("item %d is not valid JSON", i)
			}
			if i > 0 {
				items.WriteByte(',')
			}
			items.Write(it)
		}
		items.WriteByte(']')
		splice = map[string]json.RawMessage{"orderedItems": items.Bytes()}
	}
	m, err := streams.Serialize(t)
	if err != nil {
		return nil, err
	}
	return encode(m, splice)
}

// RenderTombstone renders what a deleted object's URL serves: a Tombstone
// with the type it had and when it was deleted.
func RenderTombstone(id string, formerType string, deleted time.Time) ([]byte, error) {
	t := streams.NewActivityStreamsTombstone()
	var r iris
	t.SetJSONLDId(idProp(r.required("id", id)))
	if r.err != nil {
		return nil, fmt.Errorf("render tombstone %s: %w", id, r.err)
	}
	if formerType != "" {
		p := streams.NewActivityStreamsFormerTypeProperty()
		p.AppendXMLSchemaString(formerType)
		t.SetActivityStreamsFormerType(p)
	}
	if !deleted.IsZero() {
		p := streams.NewActivityStreamsDeletedProperty()
		p.Set(deleted.UTC())
		t.SetActivityStreamsDeleted(p)
	}
	m, err := streams.Serialize(t)
	if err != nil {
		return nil, fmt.Errorf("render tombstone %s: %w", id, err)
	}
	b, err := encode(m, nil)
	if err != nil {
		return nil, fmt.Errorf("render tombstone %s: %w", id, err)
	}
	return b, nil
}

// encode replaces go-fed's @context with Agora's, then writes m as JSON
// followed by the spliced fields, whose bytes are written unchanged
// (encoding/json would compact them and escape their HTML).
func encode(m map[string]any, splice map[string]json.RawMessage) ([]byte, error) {
	m["@context"] = agoraContext()
	for k := range splice {
		delete(m, k)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // summaries are HTML; keep them legible
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	b := bytes.TrimRight(buf.Bytes(), "\n")
	if len(splice) == 0 {
		return b, nil
	}
	// m is never empty (it has @context), so every spliced field follows
	// another: drop the closing brace, append ,"key":value pairs, close.
	b = b[:len(b)-1]
	for _, k := range slices.Sorted(maps.Keys(splice)) {
		key, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b = append(b, ',')
		b = append(b, key...)
		b = append(b, ':')
		b = append(b, splice[k]...)
	}
	return append(b, '}'), nil
}

// iris parses the IRIs of a document being rendered and keeps the first
// error, so that a renderer reads as a list of fields.
type iris struct{ err error }

func (r *iris) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *iris) required(field, s string) *url.URL {
	if s == "" {
		r.fail(fmt.Errorf("%s is empty", field))
		return nil
	}
	return r.optional(field, s)
}

// optional returns nil for an empty s.
func (r *iris) optional(field, s string) *url.URL {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		r.fail(fmt.Errorf("%s: %w", field, err))
		return nil
	}
	if !u.IsAbs() || u.Host == "" {
		r.fail(fmt.Errorf("%s %q is not an absolute IRI", field, s))
		return nil
	}
	return u
}

func idProp(u *url.URL) vocab.JSONLDIdProperty {
	p := streams.NewJSONLDIdProperty()
	p.Set(u)
	return p
}

func publishedProp(t time.Time) vocab.ActivityStreamsPublishedProperty {
	p := streams.NewActivityStreamsPublishedProperty()
	p.Set(t.UTC())
	return p
}

func image(u *url.URL) vocab.ActivityStreamsImage {
	img := streams.NewActivityStreamsImage()
	p := streams.NewActivityStreamsUrlProperty()
	p.AppendIRI(u)
	img.SetActivityStreamsUrl(p)
	return img
}
