package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-fed/activity/streams"
	"github.com/go-fed/activity/streams/vocab"
)

// ErrMalformed is wrapped by every error Parse returns: the body is not an
// ActivityStreams document at all (not a JSON object, no type, absurdly deep).
// The web layer answers 400.
var ErrMalformed = errors.New("malformed ActivityStreams document")

// maxDepth bounds JSON nesting. Real documents stay under 10 (PeerTube's
// Video, the deepest fixture, reaches 6); the bound is checked on the raw
// bytes so that a hostile body is refused before any decoder recurses into it.
const maxDepth = 64

// maxEmbedded bounds how deep activities embedded in activities are read
// (Undo{Announce{Create{Note}}} is 3). Each level costs a pass over its own
// bytes to find its Raw; deeper objects are kept as references.
const maxEmbedded = 8

// goFedBudget bounds how many JSON objects one Parse hands to go-fed. go-fed
// tries every type it knows on each embedded object, ~30µs for one of a type
// it lacks, so 1 MiB of tiny tags would cost a second of CPU. The largest
// fixture (PeerTube's Video) has 62 objects; a document past the budget is
// read from the JSON alone.
const goFedBudget = 1000

const (
	asNamespace = "https://www.w3.org/ns/activitystreams"
	asPrefix    = asNamespace + "#"
)

// Parse turns an incoming ActivityStreams document into an Object.
//
// It is lenient in what it accepts (docs/protocol.md, "What Agora accepts"): no @context,
// types it does not know, single values where arrays are usual, objects
// embedded or given as IRIs. It fails, with an error wrapping ErrMalformed,
// only when the input is not a JSON object with a type.
func Parse(raw []byte) (*Object, error) {
	o, _, err := parse(raw)
	return o, err
}

// readPath says how a document was read: through go-fed, through go-fed after
// retyping an unknown type, or from the JSON alone. Parse reports the least
// faithful path among the document's embedded objects; the fixture test
// counts them.
type readPath int

const (
	viaGoFed   readPath = iota // go-fed knows the type
	viaRetyped                 // unknown type, read by go-fed as a plain Activity or Object
	viaJSON                    // too large for go-fed, or go-fed failed
)

func (p readPath) String() string {
	return [...]string{"go-fed", "retyped", "json"}[p]
}

func parse(raw []byte) (*Object, readPath, error) {
	if err := CheckShape(raw); err != nil {
		return nil, 0, fmt.Errorf("parse activity: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, 0, fmt.Errorf("parse activity: %w: %w", ErrMalformed, err)
	}
	if m == nil {
		return nil, 0, fmt.Errorf("parse activity: %w: null instead of an object", ErrMalformed)
	}
	if len(normalizeTypeList(m["type"])) == 0 {
		return nil, 0, fmt.Errorf("parse activity: %w: no type", ErrMalformed)
	}
	p := parser{budget: goFedBudget}
	o := p.object(bytes.Clone(raw), m, nil, 0)
	return o, p.path, nil
}

// Bounds on the shape of a document, checked on the raw bytes before any
// decoder sees it (CheckShape): go-fed keeps about 3 KB for each string of
// an array, so 100,000 short recipients in a 600 KB body cost 290 MB.
// The largest real payloads (../shared/fixtures, TestShapeOfFixtures)
// stay far below: tens of array items, a few hundred values.
const (
	maxArrayItems = 500  // items of one array
	maxValues     = 4000 // strings, numbers, literals, objects and arrays in all
)

// CheckShape refuses, with an error wrapping ErrMalformed, a document
// nested deeper than maxDepth, with an array of more than maxArrayItems
// items, or with more than maxValues values. It reads the bytes once and
// allocates nothing, so it can run before the signature is verified.
func CheckShape(b []byte) error {
	const maxLevels = maxDepth + 1
	var items [maxLevels]int // per open level: items so far (arrays only)
	var isArray [maxLevels]bool
	depth, values := 0, 0
	inString, escaped, inScalar := false, false, false
	value := func() error {
		values++
		if values > maxValues {
			return fmt.Errorf("%w: more than %d values", ErrMalformed, maxValues)
		}
		if depth > 0 && isArray[depth] {
			items[depth]++
			if items[depth] > maxArrayItems {
				return fmt.Errorf("%w: an array of more than %d items", ErrMalformed, maxArrayItems)
			}
		}
		return nil
	}
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString, inScalar = true, false
			// A key is a string too: counted, it only makes the bound
			// count object members as well.
			if err := value(); err != nil {
				return err
			}
		case '{', '[':
			inScalar = false
			if err := value(); err != nil {
				return err
			}
			depth++
			if depth > maxDepth {
				return fmt.Errorf("%w: nested deeper than %d levels", ErrMalformed, maxDepth)
			}
			isArray[depth], items[depth] = c == '[', 0
		case '}', ']':
			inScalar = false
			if depth > 0 {
				depth--
			}
		case ',', ':', ' ', '\t', '\n', '\r':
			inScalar = false
		default: // a number or a literal: counted at its first byte
			if !inScalar {
				inScalar = true
				if err := value(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

type parser struct {
	path   readPath // the least faithful path taken so far
	budget int      // JSON objects go-fed may still be given
}

// toType reads m with go-fed.
//
// go-fed gets a fixed @context: the document's own is kept in Raw, and go-fed
// would otherwise refuse a document without one (all of Lemmy's samples) and
// look for prefixed names ("as:object") whenever a context defines a prefix
// for ActivityStreams, which no sender means.
//
// go-fed refuses only types it does not know. Such a type is retyped as
// Activity (when it has an actor) or Object, so that its generic properties
// still come through go-fed. Measured over the 100 fixture files (with the
// context supplied): 92 are read by go-fed throughout, 8 have a retyped
// part: 5 at the top (Lemmy's Lock twice, Resolve, Warn; Pleroma's
// ChatMessage) and 3 embedded (Lemmy's Undo{Lock} twice, Create{ChatMessage}
// from Lemmy 0.19). None takes the JSON-only path, which is kept for
// documents past goFedBudget and for whatever go-fed might choke on (it is
// generated code; a panic in it leads there too).
func (p *parser) toType(m map[string]any) (t vocab.Type, retyped bool) {
	n := countObjects(m, p.budget+1)
	if n > p.budget {
		p.path = viaJSON
		return nil, false
	}
	p.budget -= n
	doc := maps.Clone(m)
	doc["@context"] = asNamespace
	doc["type"] = normalizeTypes(m["type"])
	if t, err := resolve(doc); err == nil {
		return t, false
	}
	if _, ok := m["actor"]; ok {
		doc["type"] = "Activity"
	} else {
		doc["type"] = "Object"
	}
	if t, err := resolve(doc); err == nil {
		p.path = max(p.path, viaRetyped)
		return t, true
	}
	p.path = viaJSON
	return nil, false
}

// countObjects counts the JSON objects in v, stopping past limit.
func countObjects(v any, limit int) int {
	n := 0
	switch v := v.(type) {
	case map[string]any:
		n++
		for _, c := range v {
			if n > limit {
				break
			}
			n += countObjects(c, limit-n)
		}
	case []any:
		for _, c := range v {
			if n > limit {
				break
			}
			n += countObjects(c, limit-n)
		}
	}
	return n
}

func resolve(doc map[string]any) (t vocab.Type, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("go-fed panicked: %v", r)
		}
	}()
	return streams.ToType(context.Background(), doc)
}

// node is one JSON object of the input together with go-fed's reading of it.
// t is nil when go-fed could not read it (an embedded value of a type go-fed
// does not know, such as a Hashtag tag); its properties then come from m.
type node struct {
	raw     []byte
	m       map[string]any
	t       vocab.Type
	retyped bool
}

// object builds the Object for one JSON object. t is go-fed's reading of it
// when the enclosing document already has one; depth counts the activities
// it is embedded in.
func (p *parser) object(raw []byte, m map[string]any, t vocab.Type, depth int) *Object {
	n := node{raw: raw, m: m, t: t}
	if n.t == nil {
		n.t, n.retyped = p.toType(m)
	}
	o := &Object{
		ID:           n.id(),
		Type:         n.typeName(),
		Actor:        firstRef(prop(n, "actor", withActor.GetActivityStreamsActor)),
		Target:       firstRef(prop(n, "target", withTarget.GetActivityStreamsTarget)),
		AttributedTo: author(prop(n, "attributedTo", withAttributedTo.GetActivityStreamsAttributedTo)),
		To:           addresses(prop(n, "to", withTo.GetActivityStreamsTo)),
		Cc:           addresses(prop(n, "cc", withCc.GetActivityStreamsCc)),
		Audience:     addresses(prop(n, "audience", withAudience.GetActivityStreamsAudience)),
		InReplyTo:    firstRef(prop(n, "inReplyTo", withInReplyTo.GetActivityStreamsInReplyTo)),
		Context:      firstRef(prop(n, "context", withContext.GetActivityStreamsContext)),
		Name:         text(n, "name", withName.GetActivityStreamsName),
		Summary:      text(n, "summary", withSummary.GetActivityStreamsSummary),
		Content:      text(n, "content", withContent.GetActivityStreamsContent),
		MediaType:    n.mediaType(),
		URL:          n.url(),
		Sensitive:    n.m["sensitive"] == true, // go-fed v1.0.0 lacks as:sensitive
		Published:    date(n, "published", withPublished.GetActivityStreamsPublished),
		Updated:      date(n, "updated", withUpdated.GetActivityStreamsUpdated),
		Raw:          raw,
	}
	o.Mentions, o.Hashtags = tags(prop(n, "tag", withTag.GetActivityStreamsTag))
	o.Attachments = attachments(prop(n, "attachment", withAttachment.GetActivityStreamsAttachment))
	o.Objects = p.objects(n, depth)
	if len(o.Objects) > 0 {
		o.Object = o.Objects[0]
	}
	return o
}

// objects reads the object property: IRIs become references, embedded
// objects recurse with the bytes they had in the input as their Raw.
func (p *parser) objects(n node, depth int) []*Object {
	vals := prop(n, "object", withObject.GetActivityStreamsObject)
	if len(vals) == 0 {
		return nil
	}
	if depth >= maxEmbedded {
		var out []*Object
		for _, v := range vals {
			if id := v.ref(); id != "" {
				out = append(out, &Object{ID: id, Type: v.typeName()})
			}
		}
		return out
	}
	raws := rawValues(n.raw, "object")
	var out []*Object
	for i, v := range vals {
		switch js := v.js.(type) {
		case string:
			if js != "" {
				out = append(out, &Object{ID: js})
			}
		case map[string]any:
			var raw []byte
			if len(raws) == len(vals) {
				raw = raws[i]
			} else if b, err := json.Marshal(js); err == nil {
				// Cannot happen while both come from the same bytes;
				// a re-encoding is the closest to "as it appeared".
				raw = b
			}
			out = append(out, p.object(raw, js, v.t, depth+1))
		}
	}
	return out
}

// rawValues returns the bytes of each value of the field name in the JSON
// object raw, as they appear there.
func rawValues(raw []byte, name string) []json.RawMessage {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return nil
	}
	v := bytes.TrimSpace(fields[name])
	if len(v) == 0 {
		return nil
	}
	if v[0] != '[' {
		return []json.RawMessage{v}
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) != nil {
		return nil
	}
	return list
}

func (n node) id() string {
	s, _ := n.m["id"].(string)
	return s
}

// typeName is the type as sent, or go-fed's choice when several are given.
func (n node) typeName() string {
	if n.t != nil && !n.retyped {
		return n.t.GetTypeName()
	}
	if names := normalizeTypeList(n.m["type"]); len(names) > 0 {
		return names[0]
	}
	return ""
}

func (n node) mediaType() string {
	if n.t == nil {
		s, _ := n.m["mediaType"].(string)
		return s
	}
	if o, ok := n.t.(withMediaType); ok {
		if p := o.GetActivityStreamsMediaType(); p != nil && p.IsRFCRfc2045() {
			return p.Get()
		}
	}
	return ""
}

// href is a Link's target, taken from the JSON so that the IRI stays
// byte-for-byte as sent (see val).
func (n node) href() string {
	if !has[withHref](n) {
		return ""
	}
	s, _ := n.m["href"].(string)
	return s
}

// url picks the human-readable page among the url values: the first
// text/html one, else the first without a media type, else the first.
func (n node) url() string {
	var first, untyped string
	for _, v := range prop(n, "url", withURL.GetActivityStreamsUrl) {
		href, _ := v.js.(string)
		mediaType := ""
		if c, ok := v.node(); ok {
			href, mediaType = c.href(), c.mediaType()
		}
		switch {
		case href == "":
			continue
		case mediaType == "text/html":
			return href
		case mediaType == "" && untyped == "":
			untyped = href
		case first == "":
			first = href
		}
	}
	if untyped != "" {
		return untyped
	}
	return first
}

// val is one value of a property: the JSON it came from, and go-fed's typed
// reading of it when it is an embedded object of a type go-fed knows.
//
// IRIs are always taken from the JSON: go-fed returns them through net/url,
// which re-escapes non-ASCII characters (an IDN host, a unicode path), and an
// id that no longer equals what the sender wrote breaks deduplication and the
// "fetched id equals the URL" check.
type val struct {
	js any
	t  vocab.Type
}

func (v val) node() (node, bool) {
	m, ok := v.js.(map[string]any)
	return node{m: m, t: v.t}, ok
}

// ref is the IRI a value names: the value itself, or an embedded object's id.
func (v val) ref() string {
	switch js := v.js.(type) {
	case string:
		return js
	case map[string]any:
		s, _ := js["id"].(string)
		return s
	}
	return ""
}

func (v val) typeName() string {
	if v.t != nil {
		return v.t.GetTypeName()
	}
	if m, ok := v.js.(map[string]any); ok {
		if names := normalizeTypeList(m["type"]); len(names) > 0 {
			return names[0]
		}
	}
	return ""
}

// Local views of go-fed's types: each names one property, so one code path
// reads every activity and object type that has it.
type (
	withActor interface {
		GetActivityStreamsActor() vocab.ActivityStreamsActorProperty
	}
	withObject interface {
		GetActivityStreamsObject() vocab.ActivityStreamsObjectProperty
	}
	withTarget interface {
		GetActivityStreamsTarget() vocab.ActivityStreamsTargetProperty
	}
	withAttributedTo interface {
		GetActivityStreamsAttributedTo() vocab.ActivityStreamsAttributedToProperty
	}
	withTo interface {
		GetActivityStreamsTo() vocab.ActivityStreamsToProperty
	}
	withCc interface {
		GetActivityStreamsCc() vocab.ActivityStreamsCcProperty
	}
	withAudience interface {
		GetActivityStreamsAudience() vocab.ActivityStreamsAudienceProperty
	}
	withInReplyTo interface {
		GetActivityStreamsInReplyTo() vocab.ActivityStreamsInReplyToProperty
	}
	withContext interface {
		GetActivityStreamsContext() vocab.ActivityStreamsContextProperty
	}
	withURL interface {
		GetActivityStreamsUrl() vocab.ActivityStreamsUrlProperty
	}
	withTag interface {
		GetActivityStreamsTag() vocab.ActivityStreamsTagProperty
	}
	withAttachment interface {
		GetActivityStreamsAttachment() vocab.ActivityStreamsAttachmentProperty
	}
	withName interface {
		GetActivityStreamsName() vocab.ActivityStreamsNameProperty
	}
	withSummary interface {
		GetActivityStreamsSummary() vocab.ActivityStreamsSummaryProperty
	}
	withContent interface {
		GetActivityStreamsContent() vocab.ActivityStreamsContentProperty
	}
	withMediaType interface {
		GetActivityStreamsMediaType() vocab.ActivityStreamsMediaTypeProperty
	}
	withHref interface {
		GetActivityStreamsHref() vocab.ActivityStreamsHrefProperty
	}
	withPublished interface {
		GetActivityStreamsPublished() vocab.ActivityStreamsPublishedProperty
	}
	withUpdated interface {
		GetActivityStreamsUpdated() vocab.ActivityStreamsUpdatedProperty
	}
)

// typedItem and multiProp are what every non-functional go-fed property that
// can hold objects has in common.
type (
	typedItem              interface{ GetType() vocab.Type }
	multiProp[I typedItem] interface {
		Len() int
		At(int) I
	}
)

// has tells whether the node's type has the property that T reads. A
// property the type lacks is ignored (Pleroma puts an actor on its Notes); a
// node go-fed could not read is taken at its word.
func has[T any](n node) bool {
	if n.t == nil {
		return true
	}
	_, ok := n.t.(T)
	return ok
}

// prop returns the values of the property name, each paired with go-fed's
// reading of it. A single value counts as a list of one.
func prop[T any, P multiProp[I], I typedItem](n node, name string, get func(T) P) []val {
	elems := asList(n.m[name])
	if n.t == nil {
		return jsonVals(elems)
	}
	o, ok := n.t.(T)
	if !ok {
		return nil
	}
	p := get(o)
	// go-fed keeps one iterator per JSON value, in order; anything else
	// means the two readings cannot be paired, and the JSON wins.
	if any(p) == nil || p.Len() != len(elems) {
		return jsonVals(elems)
	}
	vals := make([]val, len(elems))
	for i, js := range elems {
		vals[i] = val{js: js, t: p.At(i).GetType()}
	}
	return vals
}

func jsonVals(elems []any) []val {
	vals := make([]val, len(elems))
	for i, js := range elems {
		vals[i] = val{js: js}
	}
	return vals
}

func asList(js any) []any {
	switch js := js.(type) {
	case nil:
		return nil
	case []any:
		return js
	}
	return []any{js}
}

func firstRef(vals []val) string {
	for _, v := range vals {
		if s := v.ref(); s != "" {
			return s
		}
	}
	return ""
}

// author is the attributedTo actor. Lemmy and PeerTube list the Person with
// the Group it posted in; the Person is the author.
func author(vals []val) string {
	for _, v := range vals {
		if v.typeName() == "Person" {
			if s := v.ref(); s != "" {
				return s
			}
		}
	}
	return firstRef(vals)
}

// addresses returns the IRIs of an addressing property with the spellings
// of the public collection normalised, without duplicates.
func addresses(vals []val) []string {
	var out []string
	seen := make(map[string]bool, len(vals))
	for _, v := range vals {
		s := v.ref()
		switch s {
		case "":
			continue
		case "as:Public", "Public", "http://www.w3.org/ns/activitystreams#Public":
			s = PublicCollection
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func tags(vals []val) (mentions []Mention, hashtags []string) {
	for _, v := range vals {
		c, ok := v.node()
		if !ok {
			continue
		}
		name := text(c, "name", withName.GetActivityStreamsName)
		switch v.typeName() {
		case "Mention":
			if href := c.href(); href != "" {
				mentions = append(mentions, Mention{Href: href, Name: name})
			}
		case "Hashtag": // not in go-fed v1.0.0: read from the JSON
			if tag := strings.TrimPrefix(name, "#"); tag != "" {
				hashtags = append(hashtags, tag)
			}
		}
	}
	return mentions, hashtags
}

// attachments reads Documents and Images (url, mediaType, name) and Links
// (href). An attachment with no URL (Mastodon's PropertyValue profile
// fields) is no media and is skipped.
func attachments(vals []val) []Attachment {
	var out []Attachment
	for _, v := range vals {
		if s, ok := v.js.(string); ok && s != "" {
			out = append(out, Attachment{URL: s})
			continue
		}
		c, ok := v.node()
		if !ok {
			continue
		}
		a := Attachment{
			URL:       c.href(),
			MediaType: c.mediaType(),
			Name:      text(c, "name", withName.GetActivityStreamsName),
		}
		if a.URL == "" {
			a.URL = c.url()
		}
		if a.URL != "" {
			out = append(out, a)
		}
	}
	return out
}

// langItem and langProp are what go-fed's natural-language properties
// (name, summary, content, with their ...Map forms) have in common.
type (
	langItem interface {
		IsXMLSchemaString() bool
		GetXMLSchemaString() string
		IsRDFLangString() bool
		GetRDFLangString() map[string]string
	}
	langProp[I langItem] interface {
		Len() int
		At(int) I
	}
)

// text reads a natural-language property: the plain string when there is
// one, else a value of the language map (contentMap, nameMap, ...).
func text[T any, P langProp[I], I langItem](n node, name string, get func(T) P) string {
	if !has[T](n) {
		return ""
	}
	if n.t != nil {
		if p := get(n.t.(T)); any(p) != nil {
			for i := range p.Len() {
				if it := p.At(i); it.IsXMLSchemaString() && it.GetXMLSchemaString() != "" {
					return it.GetXMLSchemaString()
				}
			}
			for i := range p.Len() {
				if it := p.At(i); it.IsRDFLangString() {
					if s := pickLanguage(it.GetRDFLangString()); s != "" {
						return s
					}
				}
			}
		}
	}
	// go-fed reads the ...Map form only when the plain one is absent, so
	// "summary": null next to a summaryMap needs this too.
	if s, _ := n.m[name].(string); s != "" {
		return s
	}
	if lm, ok := n.m[name+"Map"].(map[string]any); ok {
		strs := make(map[string]string, len(lm))
		for k, v := range lm {
			if s, ok := v.(string); ok {
				strs[k] = s
			}
		}
		return pickLanguage(strs)
	}
	return ""
}

// pickLanguage chooses one text from a language map: the undetermined
// language if given, else the first language in sorted order, so that the
// choice does not depend on map iteration.
func pickLanguage(m map[string]string) string {
	if s := m["und"]; s != "" {
		return s
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] != "" {
			return m[k]
		}
	}
	return ""
}

type dateProp interface {
	IsXMLSchemaDateTime() bool
	Get() time.Time
}

// date reads published or updated. go-fed accepts RFC 3339 only; a date it
// refused is tried with the other layouts seen in the wild.
func date[T any, P dateProp](n node, name string, get func(T) P) time.Time {
	if !has[T](n) {
		return time.Time{}
	}
	if n.t != nil {
		if p := get(n.t.(T)); any(p) != nil && p.IsXMLSchemaDateTime() {
			return p.Get()
		}
	}
	s, _ := n.m[name].(string)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// typeNames returns the non-empty strings of a type value (a string or a list).
func typeNames(js any) []string {
	var out []string
	for _, v := range asList(js) {
		if s, ok := v.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// normalizeTypeList returns the type names with the ActivityStreams
// namespace written out ("as:Note", ".../activitystreams#Note") reduced to
// the plain term.
func normalizeTypeList(js any) []string {
	var names []string
	for _, s := range typeNames(js) {
		s = strings.TrimPrefix(s, "as:")
		s = strings.TrimPrefix(s, asPrefix)
		s = strings.TrimPrefix(s, "http://www.w3.org/ns/activitystreams#")
		if s != "" {
			names = append(names, s)
		}
	}
	return names
}

// normalizeTypes is normalizeTypeList in the shape go-fed reads.
func normalizeTypes(js any) any {
	names := normalizeTypeList(js)
	if len(names) == 1 {
		return names[0]
	}
	out := make([]any, len(names))
	for i, s := range names {
		out[i] = s
	}
	return out
}
