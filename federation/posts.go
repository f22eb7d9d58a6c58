package federation

import (
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	nethtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/agorafed/agora/community"
)

// Visibility reads who a post is for from the to and cc of o, as Mastodon
// addresses them (docs/protocol.md, "Mastodon's addressing"): the public collection in to is
// public, in cc unlisted; otherwise a post addressed to the author's
// followers collection is followers-only, and anything else is direct.
//
// authorFollowers is the author's followers collection when it is known
// (RemoteActor.Followers); it may be "". Any IRI ending in /followers counts
// as well, because that is how Mastodon, Lemmy, Mitra and Pleroma name the
// collection; Friendica's (/followers/{nick}) is recognised only through
// authorFollowers. Whether followers-only or direct, such a post is never
// announced (docs/protocol.md, "What Agora accepts"), so a wrong guess between the two
// costs nothing.
//
// Pass the object of a Create, or the activity when the object carries no
// addressing: Mastodon and Lemmy put the same to and cc on both (Lemmy puts
// Public in the to of its Create and of its Page).
func Visibility(o *Object, authorFollowers string) community.Visibility {
	if o == nil {
		return community.Direct
	}
	switch {
	case slices.Contains(o.To, PublicCollection):
		return community.Public
	case slices.Contains(o.Cc, PublicCollection):
		return community.Unlisted
	}
	for _, a := range slices.Concat(o.To, o.Cc) {
		if (authorFollowers != "" && a == authorFollowers) || strings.HasSuffix(a, "/followers") {
			return community.Followers
		}
	}
	return community.Direct
}

// PostVisibility reads who a post is for: from the object's to and cc, or
// the activity's when the object carries none. act may be nil (an object
// fetched alone). authorFollowers is as for Visibility.
//
// A post addressed to a community through audience, whose activity is
// public, is public even when the object's own to and cc name only the
// community: the Create says who may read it, and the audience is how the
// threadiverse names the community a post belongs to (FEP-1b12; Lemmy sets
// audience on its Page and its Create). Without audience the object's
// addressing decides, so a followers-only Note inside a public-looking
// Create stays followers-only.
func PostVisibility(act, obj *Object, authorFollowers string) community.Visibility {
	if obj == nil {
		return Visibility(act, authorFollowers)
	}
	if act == obj {
		act = nil
	}
	if act != nil && len(obj.To) == 0 && len(obj.Cc) == 0 {
		return Visibility(act, authorFollowers)
	}
	v := Visibility(obj, authorFollowers)
	if act == nil || len(obj.Audience) == 0 || v == community.Public || v == community.Unlisted {
		return v
	}
	if av := Visibility(act, authorFollowers); av == community.Public || av == community.Unlisted {
		return av
	}
	return v
}

// AddressedCommunities returns the names of the local communities a post is
// addressed to, without duplicates, in the order first seen: those whose
// actor IRI is in the to, cc or audience of the activity or of its object,
// or whose followers collection ({actor}/followers) is in to or cc (Mastodon
// and Friendica list it beside the group), or that a Mention tag of the
// object names. Mention tags of the activity count too: Lemmy copies the
// object's tags onto its Create.
//
// act may also be an object that came without an activity (a Note fetched
// by id); it is then read as the object. The activity's object must be
// embedded: a reference given only by IRI has no addressing to read, so the
// caller fetches it first and puts it in act.Object.
//
// The object or target of activities such as Follow, which also route an
// activity to a community (docs/protocol.md, "What Agora accepts"), are not a post's
// addressing and are left to the inbox.
func AddressedCommunities(local *Local, act *Object) []string {
	if local == nil || act == nil {
		return nil
	}
	obj := act.Object
	if !act.IsActivity() {
		obj, act = act, nil
	}
	var names []string
	add := func(name string) {
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	addressing := func(o *Object) {
		if o == nil {
			return
		}
		for _, iri := range slices.Concat(o.To, o.Cc) {
			add(local.CommunityName(iri))
			if actor, ok := strings.CutSuffix(iri, "/followers"); ok {
				add(local.CommunityName(actor))
			}
		}
		for _, iri := range o.Audience {
			add(local.CommunityName(iri))
		}
	}
	mentions := func(o *Object) {
		if o == nil {
			return
		}
		for _, m := range o.Mentions {
			add(local.CommunityName(m.Href))
		}
	}
	addressing(act)
	addressing(obj)
	mentions(obj)
	mentions(act)
	return names
}

// PostFromObject turns an incoming post into the community.Post the
// community keeps: act is the activity that brought it (the Create, or
// PeerTube's Announce of a Video), obj the post itself, embedded in act or
// fetched by its id. act may be nil, or obj itself, for an object that came
// without an activity; ActivityID and Activity are then empty.
//
// Text is made safe here, once, for every page that shows it: Title and
// Summary become plain text (escape them when rendering), Content becomes
// HTML that SanitizeHTML allows. Content sent as text/markdown or text/plain
// (PeerTube's Video descriptions) is escaped and split into paragraphs
// rather than read as HTML; Agora renders no Markdown. A post without content
// (a Lemmy or lotide link post: a title and a Link) keeps Content empty: the
// title, URL and attachments say it all.
//
// ThreadRoot is set to InReplyTo for a reply, and to the post's own id
// otherwise: the root of the parent's thread is not known here. The caller,
// who has the store, replaces it with the parent's ThreadRoot when it has
// the parent.
//
// Visibility is read by PostVisibility without the author's followers
// collection; the caller may recompute it once it knows the author's actor. Public and unlisted, the two
// that matter for announcing, do not depend on it.
//
// URLs that are not http or https (the page URL, attachments) are dropped:
// they end up as links on Agora's pages.
//
// Title, Summary and alt text are cut to MaxPostTitle, MaxContentWarning
// and MaxAltText characters, and attachments beyond MaxAttachments are
// dropped, so that a hostile server cannot put a 500 KB title on a
// community page. Only what Agora keeps and shows is cut: Activity stays
// as received, and announces name the original object, so peers see the
// original.
func PostFromObject(act, obj *Object) community.Post {
	if obj == nil {
		return community.Post{}
	}
	if act == obj {
		act = nil
	}
	p := community.Post{
		ObjectID:  obj.ID,
		Type:      obj.Type,
		Author:    obj.AttributedTo,
		URL:       webURL(obj.URL),
		Title:     capRunes(PlainText(obj.Name), MaxPostTitle),
		Summary:   capRunes(PlainText(obj.Summary), MaxContentWarning),
		Content:   contentHTML(obj.Content, obj.MediaType),
		Sensitive: obj.Sensitive,
		InReplyTo: obj.InReplyTo,
		Published: obj.Published,
		Updated:   obj.Updated,
	}
	if act != nil {
		p.ActivityID = act.ID
		p.Activity = act.Raw
		if p.Author == "" {
			p.Author = act.Actor
		}
	}
	if p.URL == "" {
		p.URL = webURL(obj.ID)
	}
	for _, a := range obj.Attachments {
		if len(p.Attachments) == MaxAttachments {
			break
		}
		if u := webURL(a.URL); u != "" {
			p.Attachments = append(p.Attachments, community.Attachment{URL: u, MediaType: a.MediaType, Alt: capRunes(PlainText(a.Name), MaxAltText)})
		}
	}
	p.ThreadRoot = p.ObjectID
	if p.InReplyTo != "" {
		p.ThreadRoot = p.InReplyTo
	}
	p.Visibility = PostVisibility(act, obj, "")
	return p
}

// Caps on what remote servers send, in characters (runes), set at or
// above what the peers that send each field allow their own users, so that
// no real post is cut:
//
//   - a post's title (name): Lemmy allows 200 (is_valid_post_title in
//     crates/utils/src/utils/validation.rs, 3..=200 chars), Mbin 255
//     (Entry::MAX_TITLE_LENGTH in src/Entity/Entry.php), PeerTube 120 for
//     a video's name (CONSTRAINTS_FIELDS.VIDEOS.NAME in
//     server/initializers/constants.ts);
//   - a content warning (summary): Mastodon counts it in a status's 500
//     characters (StatusLengthValidator, MAX_CHARS, raised by some
//     instances), GoToSocial allows 100 by default (statuses-cw-max-chars);
//     Articles carry a summary of a few hundred characters;
//   - alt text (an attachment's name): Mastodon's limit is 1,500
//     (MediaAttachment::MAX_DESCRIPTION_LENGTH), and it cuts remote
//     descriptions to it too (prepare_description);
//   - attachments: Mastodon allows 4 on a status (Status::MEDIA_ATTACHMENTS_LIMIT)
//     and keeps more of a remote one, up to Status::REMOTE_MEDIA_ATTACHMENTS_LIMIT
//     (ActivityPub::ProcessStatusUpdateService; 16 in the forks that set
//     it, whose definition upstream we did not find), GoToSocial 6 by
//     default (statuses-media-max-files), Lemmy and Mbin one link or image.
const (
	MaxPostTitle      = 255
	MaxContentWarning = 1000
	MaxAltText        = 1500
	MaxAttachments    = 16
)

// ellipsis ends a text that capRunes cut.
const ellipsis = "…"

// capRunes returns s if it has at most n runes; else its first runes and
// an ellipsis, n runes in all. The cut falls between runes, never inside a
// UTF-8 sequence, and before a base character whose combining marks would
// not all fit, so that no accent is left without its letter or cut off
// its letter.
func capRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut := 0
	for i := 0; i < n-1; i++ {
		_, size := utf8.DecodeRuneInString(s[cut:])
		cut += size
	}
	for cut > 0 {
		if r, _ := utf8.DecodeRuneInString(s[cut:]); !unicode.Is(unicode.Mn, r) {
			break
		}
		_, size := utf8.DecodeLastRuneInString(s[:cut])
		cut -= size
	}
	return strings.TrimRightFunc(s[:cut], unicode.IsSpace) + ellipsis
}

// webURL returns s if it is an absolute http or https URL, else "".
func webURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return s
}

// contentHTML makes a post's content safe HTML. HTML is the ActivityStreams
// default when mediaType is absent; text/markdown is what PeerTube sends for
// a Video's description (Lemmy sends HTML and puts its Markdown in source).
func contentHTML(content, mediaType string) string {
	mt, _, _ := strings.Cut(strings.ToLower(mediaType), ";")
	switch strings.TrimSpace(mt) {
	case "text/markdown", "text/plain":
		return SanitizeHTML(TextToHTML(content))
	}
	return SanitizeHTML(content)
}

// blankLines separates paragraphs of plain text.
var blankLines = regexp.MustCompile(`\n[ \t]*\n\s*`)

// TextToHTML escapes plain text and keeps its line structure: blank lines
// separate paragraphs, single line breaks become <br>. It renders posts
// sent as text/plain or text/markdown, and a community's summary when no
// richer renderer is given (Documents.SummaryHTML).
func TextToHTML(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	for _, para := range blankLines.Split(strings.TrimSpace(s), -1) {
		if para = strings.TrimSpace(para); para == "" {
			continue
		}
		b.WriteString("<p>")
		b.WriteString(strings.ReplaceAll(html.EscapeString(para), "\n", "<br>"))
		b.WriteString("</p>")
	}
	return b.String()
}

// statusPolicy is what post content may keep. It follows Mastodon's
// sanitizer for remote statuses (Sanitize::Config::MASTODON_STRICT in
// app/lib/sanitize_config.rb): paragraphs, line breaks, spans, links and
// simple formatting, no images, no embeds, no styles, no event handlers.
// Beyond Mastodon it keeps the headings, sub, sup and hr that Lemmy's
// Markdown renderer (markdown-it) emits, so that threadiverse posts keep
// their shape. A bluemonday Policy is safe for concurrent use once built.
var statusPolicy = newStatusPolicy()

// plainPolicy drops every tag (and the content of script, style and the
// like). The space it puts where a tag was keeps words of adjacent
// paragraphs apart; PlainText then collapses the runs.
var plainPolicy = bluemonday.StrictPolicy().AddSpaceWhenStrippingTag(true)

func newStatusPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "span", "a", "del", "s", "pre", "code",
		"em", "strong", "b", "i", "u", "ul", "ol", "li", "blockquote",
		"h1", "h2", "h3", "h4", "h5", "h6", "sub", "sup", "hr")
	p.AllowAttrs("href").OnElements("a")
	// Mastodon: http and https links (and a few exotic schemes Agora
	// does not need); mailto for Lemmy's autolinked addresses, and then
	// only a plain address. No relative URLs: they would resolve against
	// Agora's pages.
	p.AllowURLSchemes("http", "https")
	p.AllowURLSchemeWithCustomPolicy("mailto", func(u *url.URL) bool {
		return u.RawQuery == "" && u.Fragment == "" && mailAddress.MatchString(u.Opaque)
	})
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	// Class names are whitelisted one by one in fixAttrs; here only
	// the attribute's alphabet is checked.
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^[\w\- ]*$`)).OnElements("a", "span")
	// Markdown lists that start elsewhere than 1 (Mastodon keeps these too).
	p.AllowAttrs("start").Matching(bluemonday.Integer).OnElements("ol")
	p.AllowAttrs("value").Matching(bluemonday.Integer).OnElements("li")
	// Without it "<div>a</div><div>b</div>" would read "ab".
	p.AddSpaceWhenStrippingTag(true)
	return p
}

// mailAddress is what a mailto link may name: one address, nothing that
// could read as another scheme.
var mailAddress = regexp.MustCompile(`^[^@\s:/?#]+@[^@\s:/?#]+$`)

// allowedClasses are the classes Mastodon's CLASS_WHITELIST_TRANSFORMER
// keeps that Agora's pages style: mentions and hashtags (h-card, u-url,
// mention, hashtag) and Mastodon's shortened links (invisible, ellipsis).
var allowedClasses = []string{"mention", "hashtag", "u-url", "h-card", "invisible", "ellipsis"}

// linkRel is what every link gets, as Mastodon's MASTODON_STRICT adds it:
// no ranking credit for spam, no window.opener, no Referer leaking
// Agora's page to the linked site.
const linkRel = "nofollow noopener noreferrer"

// SanitizeHTML returns s with only what Mastodon shows of a remote status
// (see statusPolicy): links keep an http, https or plain mailto href and get
// rel="nofollow noopener noreferrer" and no target; spans and links keep
// only the classes Mastodon uses for mentions, hashtags and shortened links.
// Tags left open are closed and stray end tags dropped, so that a post
// cannot spill its bold, heading or list over the rest of a page.
func SanitizeHTML(s string) string {
	if s == "" {
		return ""
	}
	return strings.TrimSpace(tidy(statusPolicy.Sanitize(s)))
}

// fragmentContext is where post content ends up: inside a <div> of a page.
var fragmentContext = &nethtml.Node{Type: nethtml.ElementNode, Data: "div", DataAtom: atom.Div}

// tidy parses bluemonday's output as a browser would and writes the tree
// back, which balances the tags, and on the way sets rel on links and
// filters class names one by one as Mastodon does (bluemonday can only keep
// or drop an attribute whole).
//
// bluemonday stays the security boundary: its output holds only allowed
// elements and attributes and no raw-text element (script, style,
// textarea...), so the parse cannot turn text into markup, and Render
// escapes whatever it writes. Parsing adds at most the p, br or
// formatting elements that HTML's tree rules imply, all of them allowed.
func tidy(s string) string {
	nodes, err := nethtml.ParseFragment(strings.NewReader(s), fragmentContext)
	if err != nil {
		// x/net/html refuses elements nested deeper than 512, which no
		// post written by a person reaches: drop it all rather than guess.
		return ""
	}
	var b strings.Builder
	b.Grow(len(s) + 64)
	for _, n := range nodes {
		fixAttrs(n)
		if err := nethtml.Render(&b, n); err != nil {
			return ""
		}
	}
	return b.String()
}

// fixAttrs sets rel on links and filters classes in the tree under n.
func fixAttrs(n *nethtml.Node) {
	if n.Type == nethtml.ElementNode && (n.DataAtom == atom.A || n.DataAtom == atom.Span) {
		attrs, href := n.Attr[:0], false
		for _, a := range n.Attr {
			switch a.Key {
			case "href":
				href = true
			case "rel", "target":
				continue
			case "class":
				if a.Val = filterClasses(a.Val); a.Val == "" {
					continue
				}
			}
			attrs = append(attrs, a)
		}
		if href {
			attrs = append(attrs, nethtml.Attribute{Key: "rel", Val: linkRel})
		}
		n.Attr = attrs
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		fixAttrs(c)
	}
}

func filterClasses(v string) string {
	var keep []string
	for _, c := range strings.Fields(v) {
		if slices.Contains(allowedClasses, c) && !slices.Contains(keep, c) {
			keep = append(keep, c)
		}
	}
	return strings.Join(keep, " ")
}

// PlainText turns a short piece of HTML (a title, a content warning, alt
// text) into plain text: tags dropped, entities decoded, white space
// collapsed to single spaces. The result is text, not HTML: escape it when
// rendering.
func PlainText(s string) string {
	if s == "" {
		return ""
	}
	return strings.Join(strings.Fields(html.UnescapeString(plainPolicy.Sanitize(s))), " ")
}
