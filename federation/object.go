// Package federation speaks ActivityPub at Agora's edge: it parses and renders
// ActivityStreams 2.0 (with go-fed's streams, used only here), signs and
// verifies HTTP Signatures, fetches remote documents through an SSRF-safe
// client, runs the inbox pipeline and the delivery queue workers.
package federation

import "time"

// PublicCollection is the ActivityStreams public addressing collection.
// "as:Public" and "Public" are normalised to it by Parse.
const PublicCollection = "https://www.w3.org/ns/activitystreams#Public"

// Object is an ActivityStreams object or activity as Agora understands it,
// whatever software sent it. An activity is an Object whose Actor is set.
// A reference given only as an IRI is an Object with ID set and Type empty.
type Object struct {
	ID   string
	Type string // "Create", "Note", "Follow", ...; unknown types are kept as sent

	Actor  string  // activities: the actor's IRI
	Object *Object // activities: the object, embedded or IRI-only
	Target string  // activities: target IRI (Add/Remove)

	// Objects lists every value of the activity's object, in order;
	// Object is the first. Flags name several: Mastodon's the reported
	// account then its posts, Mbin's the post then its author.
	Objects []*Object

	AttributedTo string // objects: the author (first actor if several)
	To           []string
	Cc           []string
	Audience     []string

	InReplyTo string
	// Context is as:context, the thread the object belongs to: NodeBB's
	// topic collection ("{url}/topic/{tid}", src/activitypub/mocks.js
	// notes.public), FEP-7888. Not to be confused with JSON-LD's @context.
	Context   string
	Name      string
	Summary   string // HTML as sent; content warning for Mastodon
	Content   string // HTML as sent, never sanitized here
	MediaType string
	URL       string // first URL (the human-readable page)
	Sensitive bool

	Mentions    []Mention
	Hashtags    []string // tag names without the leading '#'
	Attachments []Attachment

	Published time.Time
	Updated   time.Time

	// Raw is the document as received (the whole body for a top-level
	// activity, the embedded JSON for an embedded object).
	Raw []byte
}

// Mention is a Mention tag: Href is the mentioned actor's IRI, Name is the
// text ("@gardening@agora.example").
type Mention struct {
	Href string
	Name string
}

// Attachment is a media attachment of a post.
type Attachment struct {
	URL       string
	MediaType string
	Name      string // alt text
}

// IsActivity tells whether o is an activity (has an actor).
func (o *Object) IsActivity() bool { return o != nil && o.Actor != "" }
