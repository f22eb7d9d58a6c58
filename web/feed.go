package web

// Feeds and previews: a community's Atom feed (RFC 4287), and the
// description, Open Graph and canonical tags that make links to Agora's
// pages unfurl in Mastodon, Matrix and chat apps. Every URL in them is
// absolute: previews are read far from this site.

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/go-chi/chi/v5"
)

// meta is what the layout puts in <head> for previews (see layout.html).
type meta struct {
	Title       string
	Description string // plain text, about 200 characters
	Canonical   string // absolute URL of the page
	Type        string // og:type: website, profile, article
	SiteName    string
	Locale      string // og:locale: en_US, fr_FR
	Image       string // absolute URL, or ""
	ImageAlt    string
	Published   string // article:published_time (RFC 3339)
	Feed        string // absolute URL of the page's Atom feed, or ""
	FeedTitle   string
}

// ogLocales are Open Graph's names of the page languages.
var ogLocales = map[string]string{"en": "en_US", "fr": "fr_FR"}

// abs makes a path of this site absolute.
func (s *server) abs(p string) string {
	if p == "" || strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		return p
	}
	return s.Local.Base() + p
}

// plain turns HTML into one line of text of about n bytes.
func plain(h string, n int) string { return clip(federation.PlainText(h), n) }

// baseMeta is the preview of any page: the site's name and description,
// the page's own URL without its query.
func (s *server) baseMeta(r *http.Request, st site, l *lang) meta {
	return meta{
		Title: st.Name, Description: plain(string(st.Description), 200), Canonical: s.abs(r.URL.Path),
		Type: "website", SiteName: st.Name, Locale: ogLocales[l.Code],
	}
}

// communityMeta is the preview of a community page: its title, summary
// and avatar (else cover), and its feed. An older page of the feed
// (?before=) is its own canonical page.
func (s *server) communityMeta(r *http.Request, c community.Community, members int) meta {
	l := s.lang(r)
	m := s.baseMeta(r, s.site(r), l)
	m.Title, m.Type = c.Title, "profile"
	m.Description = plain(string(Markdown(c.Summary)), 200)
	if m.Description == "" {
		m.Description = l.T("members", members) + " · " + s.handle(c)
	}
	if before := r.URL.Query().Get("before"); before != "" {
		if n, err := strconv.ParseInt(before, 10, 64); err == nil {
			m.Canonical += "?before=" + strconv.FormatInt(n, 10)
		}
	}
	switch {
	case c.Avatar != "":
		m.Image, m.ImageAlt = s.abs(s.mediaURL(c.Avatar)), l.T("community.avatar_alt", "Name", c.Title)
	case c.Cover != "":
		m.Image, m.ImageAlt = s.abs(s.mediaURL(c.Cover)), l.T("community.cover_alt", "Name", c.Title)
	}
	m.Feed, m.FeedTitle = s.abs(feedPath(c)), c.Title
	return m
}

// postMeta is the preview of a post page. A post behind a content warning
// (or marked sensitive) shows the warning, never its text or images.
func (s *server) postMeta(r *http.Request, c community.Community, v postView) meta {
	l := s.lang(r)
	m := s.baseMeta(r, s.site(r), l)
	m.Type, m.SiteName = "article", c.Title+" · "+m.SiteName
	m.Title = v.P.Title
	if m.Title == "" {
		m.Title = l.T("post.title", "Name", v.AuthorName)
	}
	m.Published = v.P.Published.UTC().Format(time.RFC3339)
	hidden := v.P.ContentWarning() != "" || v.P.Sensitive
	switch {
	case v.P.ContentWarning() != "":
		m.Description = v.P.ContentWarning()
	case v.P.Sensitive:
		m.Description = l.T("post.sensitive")
	case v.P.Excerpt() != "":
		m.Description = clip(v.P.Excerpt(), 200)
	default:
		m.Description = plain(v.P.Content, 200)
	}
	if len(v.Images) > 0 && !hidden {
		m.Image, m.ImageAlt = v.Images[0].URL, v.Images[0].Alt
	} else if c.Avatar != "" {
		m.Image, m.ImageAlt = s.abs(s.mediaURL(c.Avatar)), l.T("community.avatar_alt", "Name", c.Title)
	}
	m.Feed, m.FeedTitle = s.abs(feedPath(c)), c.Title
	return m
}

func feedPath(c community.Community) string { return "/c/" + c.Name + "/feed.atom" }

// Atom documents (RFC 4287), as encoding/xml writes them.
type atomFeed struct {
	XMLName   xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID        string      `xml:"id"`
	Title     string      `xml:"title"`
	Subtitle  string      `xml:"subtitle,omitempty"`
	Updated   string      `xml:"updated"`
	Links     []atomLink  `xml:"link"`
	Author    atomPerson  `xml:"author"` // required of a feed without entries (RFC 4287 4.1.1)
	Icon      string      `xml:"icon,omitempty"`
	Generator atomGen     `xml:"generator"`
	Entries   []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomGen struct {
	URI  string `xml:"uri,attr"`
	Name string `xml:",chardata"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

type atomPerson struct {
	Name string `xml:"name"`
	URI  string `xml:"uri,omitempty"`
}

type atomEntry struct {
	ID        string     `xml:"id"`
	Title     string     `xml:"title"`
	Links     []atomLink `xml:"link"`
	Author    atomPerson `xml:"author"`
	Published string     `xml:"published"`
	Updated   string     `xml:"updated"`
	Summary   *atomText  `xml:"summary,omitempty"`
	Content   atomText   `xml:"content"`
}

// FeedEntries is how many posts a community's feed holds, newest first.
const FeedEntries = 20

// feed serves a community's Atom feed: its newest announced posts, each
// linking to its page here and to the original. A post behind a content
// warning carries the warning as its summary, as readers show it first.
func (s *server) feed(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.Communities.Get(ctx, chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ps, err := s.Posts.List(ctx, c, 0, FeedEntries, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	views, err := s.views(ctx, c, ps)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	l := s.lang(r)
	page := s.abs("/c/" + c.Name)
	updated := c.UpdatedAt
	f := atomFeed{
		ID: page, Title: c.Title, Subtitle: plain(string(Markdown(c.Summary)), 300),
		Links: []atomLink{
			{Rel: "self", Type: "application/atom+xml", Href: s.abs(feedPath(c))},
			{Rel: "alternate", Type: "text/html", Href: page},
		},
		Author:    atomPerson{Name: c.Title, URI: page},
		Generator: atomGen{URI: "https://github.com/agorafed/agora", Name: "Agora"},
	}
	if c.Avatar != "" {
		f.Icon = s.abs(s.mediaURL(c.Avatar))
	}
	for _, v := range views {
		p := v.P
		e := atomEntry{
			ID: p.ObjectID, Title: p.Title,
			Links:     []atomLink{{Rel: "alternate", Type: "text/html", Href: s.abs(v.Local)}},
			Author:    atomPerson{Name: v.AuthorName, URI: v.AuthorURL},
			Published: atomTime(p.Published, p.ReceivedAt),
			Updated:   atomTime(p.Updated, p.Published, p.ReceivedAt),
			Content:   atomText{Type: "html", Body: p.Content},
		}
		if e.Title == "" {
			e.Title = l.T("post.title", "Name", v.AuthorName)
		}
		if v.Original != "" {
			e.Links = append(e.Links, atomLink{Rel: "related", Type: "text/html", Href: v.Original})
		}
		switch {
		case p.ContentWarning() != "":
			e.Summary = &atomText{Type: "text", Body: p.ContentWarning()}
		case p.Sensitive:
			e.Summary = &atomText{Type: "text", Body: l.T("post.sensitive")}
		case p.Excerpt() != "":
			e.Summary = &atomText{Type: "text", Body: p.Excerpt()}
		}
		for _, img := range v.Images {
			e.Content.Body += `<p><img src="` + xmlAttr(img.URL) + `" alt="` + xmlAttr(img.Alt) + `"></p>`
		}
		f.Entries = append(f.Entries, e)
		if t := firstTime(p.Updated, p.Published, p.ReceivedAt); t.After(updated) {
			updated = t
		}
	}
	f.Updated = atomTime(updated, c.CreatedAt)
	out, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write([]byte(xml.Header))
	w.Write(out)
}

// firstTime is the first of ts that is set.
func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// atomTime formats the first set time as RFC 3339, as Atom dates are.
func atomTime(ts ...time.Time) string {
	return firstTime(ts...).UTC().Format(time.RFC3339)
}

// xmlAttr escapes a value for an HTML attribute inside the feed's HTML
// content (which encoding/xml then escapes once more as text).
func xmlAttr(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // quotes too
	return b.String()
}
