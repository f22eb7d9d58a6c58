package web_test

// Handler tests of the public pages (issue 16): how posts' summaries show,
// languages, error pages, feeds and previews, and the Write/Reply forms.

import (
	"context"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
	"github.com/agorafed/agora/storage/sqlite"
	"github.com/agorafed/agora/web"
)

// addTyped stores an announced public post of a type, with a summary and
// sensitive flag, as the inbox would have.
func (c *console) addTyped(cm community.Community, typ, title, summary, text string, sensitive bool) community.Post {
	c.t.Helper()
	c.seen++
	now := time.Now().UTC()
	p := community.Post{
		CommunityID: cm.ID, ObjectID: fmt.Sprintf("https://social.example/objects/%d", c.seen),
		ActivityID: fmt.Sprintf("https://social.example/objects/%d/activity", c.seen), Type: typ,
		Author: "https://social.example/users/alice", Title: title, Summary: summary, Sensitive: sensitive,
		Content: "<p>" + text + "</p>", Visibility: community.Public,
		Published: now, ReceivedAt: now, Decision: community.Announce, Reason: community.ReasonAccepted,
	}
	if err := c.db.AddPost(context.Background(), &p); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// TestSummaryOnPages: an Article's or a Page's summary shows as an excerpt
// beside the content; a Note's collapses the content behind it; sensitive
// without a summary collapses behind a generic warning.
func TestSummaryOnPages(t *testing.T) {
	c := newConsole(t)
	cm := c.community("blogs")
	tests := []struct {
		name                string
		typ, summary, title string
		sensitive           bool
		want, absent        []string
	}{
		{"Article", "Article", "Why I plant late", "Tomatoes", false,
			[]string{`<p class="excerpt">Why I plant late</p><div class="content"><p>body Article</p>`}, []string{`<details class="cw"><summary>Why I plant late`}},
		{"Page", "Page", "A forum abstract", "Thread", false,
			[]string{`<p class="excerpt">A forum abstract</p>`}, []string{`<summary>A forum abstract`}},
		{"sensitive Article", "Article", "An excerpt", "Hard topic", true,
			[]string{`<details class="cw"><summary>Sensitive content</summary><p class="excerpt">An excerpt</p>`}, nil},
		{"Note with a warning", "Note", "Spoilers", "", false,
			[]string{`<details class="cw"><summary>Spoilers</summary><div class="content"><p>body Note with a warning</p>`}, []string{`class="excerpt"`}},
		{"sensitive Note", "Note", "", "", true,
			[]string{`<details class="cw"><summary>Sensitive content</summary>`}, nil},
	}
	b := c.browser()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := c.addTyped(cm, tt.typ, tt.title, tt.summary, "body "+tt.name, tt.sensitive)
			resp, body := b.get(fmt.Sprintf("/c/blogs/p/%d", p.ID))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("post page: %d", resp.StatusCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("post page lacks %s", w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(body, a) {
					t.Errorf("post page has %s", a)
				}
			}
		})
	}
}

// get fetches a page with headers (name, value pairs).
func (b *client) getWith(path string, headers ...string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// TestLanguageChoice: the footer's choice (a cookie) first, then the
// browser's Accept-Language, then the instance default, then English;
// the lang attribute and Content-Language follow.
func TestLanguageChoice(t *testing.T) {
	c := newConsole(t)
	cm := c.community("jardins")
	c.addTyped(cm, "Note", "", "", "Bonjour", false)
	b := c.browser()
	check := func(what string, resp *http.Response, body, lang, text string) {
		t.Helper()
		if !strings.Contains(body, `<html lang="`+lang+`">`) || resp.Header.Get("Content-Language") != lang || !strings.Contains(body, text) {
			t.Errorf("%s: %d Content-Language %q, want lang %s with %q\n%s", what, resp.StatusCode, resp.Header.Get("Content-Language"), lang, text, body)
		}
		if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Language") {
			t.Errorf("%s: Vary %v lacks Accept-Language", what, resp.Header.Values("Vary"))
		}
	}
	resp, body := b.getWith("/", "Accept-Language", "fr-CA,fr;q=0.9,en;q=0.5")
	check("Accept-Language fr-CA", resp, body, "fr", "Communautés")
	resp, body = b.getWith("/c/jardins", "Accept-Language", "fr")
	check("community page in French", resp, body, "fr", "Comment publier")
	if !regexp.MustCompile(`\d+ (janv\.|févr\.|mars|avr\.|mai|juin|juil\.|août|sept\.|oct\.|nov\.|déc\.) \d{4} à \d\d:\d\d`).MatchString(body) {
		t.Errorf("no French date on the community page")
	}
	resp, body = b.getWith("/", "Accept-Language", "de-DE,de;q=0.9")
	check("German, no default", resp, body, "en", "Communities")
	resp, body = b.getWith("/")
	check("no Accept-Language", resp, body, "en", "Communities")

	// The admin sets the instance default in the console.
	admin := c.admin()
	if _, form := admin.get("/admin/settings"); !strings.Contains(form, `<option value="fr" lang="fr">Français</option>`) {
		t.Fatalf("settings form lacks the default language:\n%s", form)
	}
	if resp, _ := admin.post("/admin/settings", "ok", url.Values{"name": {"Agora"}, "language": {"fr"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving the default language: %d", resp.StatusCode)
	}
	if set, _ := c.db.Settings(context.Background()); set["language"] != "fr" {
		t.Fatalf("language setting %q", set["language"])
	}
	if _, body := admin.getWith("/admin/settings?notice=Saved", "Accept-Language", "de"); !strings.Contains(body, `<option value="fr" lang="fr" selected>`) ||
		!strings.Contains(body, `role="status">Enregistré</p>`) || !strings.Contains(body, "Langue par défaut") {
		t.Errorf("console in French after the default changed:\n%s", body)
	}
	resp, body = b.getWith("/", "Accept-Language", "de")
	check("German, instance default French", resp, body, "fr", "Communautés")
	resp, body = b.getWith("/", "Accept-Language", "en-GB")
	check("English asked, instance default French", resp, body, "en", "Communities")

	// The footer's switch: a link, remembered in a cookie, back to the page.
	if !strings.Contains(body, `href="/lang/fr?back=%2F"`) {
		t.Errorf("footer lacks the switch to French")
	}
	tests := []struct {
		path, location string
		code           int
	}{
		{"/lang/en?back=" + url.QueryEscape("/c/jardins?before=9"), "/c/jardins?before=9", http.StatusSeeOther},
		{"/lang/en?back=" + url.QueryEscape("//evil.example/"), "/", http.StatusSeeOther},
		{"/lang/de?back=/", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		resp, _ := b.getWith(tt.path)
		if resp.StatusCode != tt.code || resp.Header.Get("Location") != tt.location {
			t.Errorf("%s: %d Location %q, want %d %q", tt.path, resp.StatusCode, resp.Header.Get("Location"), tt.code, tt.location)
		}
	}
	resp, body = b.getWith("/c/jardins", "Accept-Language", "fr")
	check("cookie en over Accept-Language fr", resp, body, "en", "How posting works")
	b.getWith("/lang/fr?back=/")
	resp, body = b.getWith("/nowhere", "Accept-Language", "en")
	check("404 in the chosen language", resp, body, "fr", "Page introuvable")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown page: %d", resp.StatusCode)
	}
}

// TestErrorPages: a browser gets errors as pages in the site's look, in
// its language, with a way back; servers and scripts get a line of text.
func TestErrorPages(t *testing.T) {
	c := newConsole(t)
	ctx := context.Background()
	cm := c.community("garden")
	open := c.community("open")
	gone := c.addTyped(cm, "Note", "", "", "I will delete this", false)
	gone.DeletedAt = time.Now()
	if err := c.db.UpdatePost(ctx, gone); err != nil {
		t.Fatal(err)
	}
	removed := c.addTyped(cm, "Note", "", "", "Buy pills", false)
	if err := c.mod.RemovePost(ctx, cm, "local:root", removed, "spam, again"); err != nil {
		t.Fatal(err)
	}
	removedOpen := c.addTyped(open, "Note", "", "", "Off topic", false)
	if err := c.mod.RemovePost(ctx, open, "local:root", removedOpen, "off-topic"); err != nil {
		t.Fatal(err)
	}
	if err := c.mod.SetLogPublic(ctx, open, "local:root", true); err != nil {
		t.Fatal(err)
	}
	b := c.browser()
	csrf := csrfField.FindStringSubmatch(func() string { _, body := b.get("/c/garden/join"); return body }())[1]
	postForm := func(path string, form url.Values, lang string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Accept-Language", lang)
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	type page struct {
		resp *http.Response
		body string
	}
	get := func(path, lang string) page {
		resp, body := b.getWith(path, "Accept-Language", lang)
		return page{resp, body}
	}
	post := func(path string, form url.Values, lang string) page {
		resp, body := postForm(path, form, lang)
		return page{resp, body}
	}
	// 20 Join lookups a minute are allowed: the 21st is refused.
	for range JoinLookupsForTest {
		post("/c/garden/join", url.Values{"csrf": {csrf}, "handle": {"not a handle"}}, "en")
	}
	tests := []struct {
		name   string
		got    page
		code   int
		want   []string
		absent []string
	}{
		{"unknown URL", get("/no/such/page", "en"), 404, []string{"Page not found", `<html lang="en">`, `href="/">Home page</a>`}, nil},
		{"unknown URL, French", get("/no/such/page", "fr"), 404, []string{"Page introuvable", `<html lang="fr">`, "Page d&#39;accueil"}, nil},
		{"unknown community", get("/c/nosuch", "en"), 404, []string{"Page not found"}, []string{"Back to"}},
		{"unknown post: back to its community", get("/c/garden/p/999999", "en"), 404, []string{"Page not found", `href="/c/garden">Back to Garden</a>`}, nil},
		{"post deleted by its author", get(fmt.Sprintf("/c/garden/p/%d", gone.ID), "en"), 410, []string{"This post is gone", "Its author deleted this post.", "Back to Garden"}, []string{"I will delete this"}},
		{"removed, log not public: no reason", get(fmt.Sprintf("/c/garden/p/%d", removed.ID), "en"), 410, []string{"moderators removed this post."}, []string{"spam, again", "Buy pills"}},
		{"removed, public log: the reason", get(fmt.Sprintf("/c/open/p/%d", removedOpen.ID), "fr"), 410, []string{"Cette publication n&#39;est plus là", "Motif\u00a0: off-topic", "Retour à Open"}, nil},
		{"CSRF refused", post("/c/garden/join", url.Values{"handle": {"@a@b.example"}}, "en"), 403, []string{"Not allowed", "CSRF", `href="/c/garden">Back to Garden</a>`}, nil},
		{"too large", post("/c/garden/join", url.Values{"csrf": {csrf}, "handle": {strings.Repeat("x", 17<<20)}}, "fr"), 413, []string{"Trop volumineux"}, nil},
		{"too many Join lookups", post("/c/garden/join", url.Values{"csrf": {csrf}, "handle": {"@a@b.example"}}, "en"), 429, []string{"Too many requests", "Wait a minute"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d", tt.got.resp.StatusCode, tt.code)
			}
			if ct := tt.got.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q", ct)
			}
			for _, w := range append(tt.want, `<link rel="stylesheet" href="/static/agora.css">`, `class="error-page"`) {
				if !strings.Contains(tt.got.body, w) {
					t.Errorf("page lacks %s\n%s", w, tt.got.body)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(tt.got.body, a) {
					t.Errorf("page has %s", a)
				}
			}
		})
	}
	if got := get("/c/garden/join", "en"); got.resp.StatusCode != 200 {
		t.Errorf("join form after the limit: %d (GETs are not limited)", got.resp.StatusCode)
	}
	if resp, _ := b.getWith("/c/garden/join"); resp.StatusCode != http.StatusOK {
		t.Fatalf("join form: %d", resp.StatusCode)
	}
	// Servers and scripts get text, not a page.
	for _, accept := range []string{"application/activity+json", "*/*"} {
		resp, body := b.getWith(fmt.Sprintf("/c/garden/p/%d", gone.ID), "Accept", accept)
		if resp.StatusCode != http.StatusGone || strings.Contains(body, "<html") {
			t.Errorf("Accept %s: %d %q, want 410 in text", accept, resp.StatusCode, body)
		}
	}
}

// JoinLookupsForTest is web.JoinLookups, spelled here so the test reads alone.
const JoinLookupsForTest = 20

// atom is what TestFeedAndPreviews reads of a feed, element by element
// (RFC 4287 section 4).
type atom struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"id"`
	Title   string   `xml:"title"`
	Updated string   `xml:"updated"`
	Links   []struct {
		Rel  string `xml:"rel,attr"`
		Type string `xml:"type,attr"`
		Href string `xml:"href,attr"`
	} `xml:"link"`
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Links   []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"link"`
		Author struct {
			Name string `xml:"name"`
			URI  string `xml:"uri"`
		} `xml:"author"`
		Summary *struct {
			Type string `xml:"type,attr"`
			Body string `xml:",chardata"`
		} `xml:"summary"`
		Content struct {
			Type string `xml:"type,attr"`
			Body string `xml:",chardata"`
		} `xml:"content"`
	} `xml:"entry"`
}

// TestFeedAndPreviews: a community's Atom feed, validated element by
// element; its autodiscovery link; Open Graph, description and canonical
// tags with absolute URLs on community and post pages; the favicon.
func TestFeedAndPreviews(t *testing.T) {
	c := newConsole(t)
	cm := c.community("garden")
	if _, err := c.svc.Edit(context.Background(), cm.Name, func(cm *community.Community) { cm.Summary = "Seeds, **soil** & sun." }); err != nil {
		t.Fatal(err)
	}
	note := c.addTyped(cm, "Note", "", "", "Tomatoes <b>&amp;</b> basil", false)
	article := c.addTyped(cm, "Article", "Winter plans", "What to sow in March", "Long text", false)
	cw := c.addTyped(cm, "Note", "", "Slugs (gross)", "The slugs ate my lettuce", false)
	b := c.browser()

	resp, body := b.getWith("/c/garden/feed.atom")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
		t.Fatalf("feed: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var f atom
	if err := xml.Unmarshal([]byte(body), &f); err != nil {
		t.Fatalf("feed is not Atom: %v\n%s", err, body)
	}
	rfc3339 := func(what, s string) {
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s %q is not an RFC 3339 date", what, s)
		}
	}
	if f.ID != c.url+"/c/garden" || f.Title != "Garden" {
		t.Errorf("feed id %q title %q", f.ID, f.Title)
	}
	rfc3339("feed updated", f.Updated)
	links := map[string]string{}
	for _, l := range f.Links {
		links[l.Rel] = l.Href
	}
	if links["self"] != c.url+"/c/garden/feed.atom" || links["alternate"] != c.url+"/c/garden" {
		t.Errorf("feed links %v", links)
	}
	if len(f.Entries) != 3 {
		t.Fatalf("feed has %d entries, want 3", len(f.Entries))
	}
	byID := map[string]int{}
	for i, e := range f.Entries {
		byID[e.ID] = i
		rfc3339("entry updated", e.Updated)
		if e.Title == "" || e.Author.Name == "" || e.Content.Type != "html" {
			t.Errorf("entry %s: title %q author %q content type %q", e.ID, e.Title, e.Author.Name, e.Content.Type)
		}
		alt := ""
		for _, l := range e.Links {
			if l.Rel == "alternate" {
				alt = l.Href
			}
		}
		if !strings.HasPrefix(alt, c.url+"/c/garden/p/") {
			t.Errorf("entry %s: alternate %q, want the absolute page here", e.ID, alt)
		}
	}
	if f.Entries[0].ID != cw.ObjectID {
		t.Errorf("first entry %s, want the newest", f.Entries[0].ID)
	}
	if e := f.Entries[byID[note.ObjectID]]; e.Content.Body != "<p>Tomatoes <b>&amp;</b> basil</p>" {
		t.Errorf("note content %q", e.Content.Body)
	}
	if e := f.Entries[byID[article.ObjectID]]; e.Title != "Winter plans" || e.Summary == nil || e.Summary.Body != "What to sow in March" {
		t.Errorf("article entry: %q %+v", e.Title, e.Summary)
	}
	if e := f.Entries[byID[cw.ObjectID]]; e.Summary == nil || e.Summary.Body != "Slugs (gross)" {
		t.Errorf("content warning entry: %+v", e.Summary)
	}
	if resp, _ := b.getWith("/c/nosuch/feed.atom", "Accept", "*/*"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("feed of an unknown community: %d", resp.StatusCode)
	}

	// Previews: every URL absolute.
	metaRE := regexp.MustCompile(`<(?:meta (?:property|name)="([^"]+)" content|link rel="([a-z]+)"(?: type="[^"]+")?(?: title="[^"]*")? href)="([^"]*)"`)
	tags := func(path string) map[string]string {
		_, body := b.getWith(path)
		out := map[string]string{}
		for _, m := range metaRE.FindAllStringSubmatch(body, -1) {
			out[m[1]+m[2]] = m[3]
		}
		return out
	}
	tests := []struct {
		path string
		want map[string]string
	}{
		{"/c/garden", map[string]string{
			"og:title": "Garden", "og:type": "profile", "og:url": c.url + "/c/garden", "canonical": c.url + "/c/garden",
			"description": "Seeds, soil &amp; sun.", "og:description": "Seeds, soil &amp; sun.", "alternate": c.url + "/c/garden/feed.atom",
			"og:site_name": "Agora", "og:locale": "en_US",
		}},
		{"/c/garden?before=99&x=1", map[string]string{"canonical": c.url + "/c/garden?before=99"}},
		{fmt.Sprintf("/c/garden/p/%d", article.ID), map[string]string{
			"og:title": "Winter plans", "og:type": "article", "og:url": fmt.Sprintf("%s/c/garden/p/%d", c.url, article.ID),
			"description": "What to sow in March", "alternate": c.url + "/c/garden/feed.atom",
		}},
		{fmt.Sprintf("/c/garden/p/%d", cw.ID), map[string]string{"description": "Slugs (gross)", "og:description": "Slugs (gross)"}},
		{fmt.Sprintf("/c/garden/p/%d", note.ID), map[string]string{"description": "Tomatoes &amp; basil"}},
		{"/", map[string]string{"canonical": c.url + "/", "og:type": "website", "og:title": "Agora"}},
	}
	for _, tt := range tests {
		got := tags(tt.path)
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tt.path, k, got[k], v)
			}
		}
		for k, v := range got {
			if (strings.HasSuffix(k, "url") || k == "canonical" || k == "alternate" || k == "og:image") && !strings.HasPrefix(v, "http") {
				t.Errorf("%s: %s = %q is not absolute", tt.path, k, v)
			}
		}
		if strings.Contains(got["description"], "slugs ate") {
			t.Errorf("%s: the preview shows text behind a content warning", tt.path)
		}
	}

	// The favicon, as SVG and as ICO holding a PNG.
	resp, svg := b.getWith("/favicon.svg")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(svg, "<svg") {
		t.Errorf("favicon.svg: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, ico := b.getWith("/favicon.ico")
	if resp.StatusCode != 200 || len(ico) < 22 || ico[:4] != "\x00\x00\x01\x00" {
		t.Fatalf("favicon.ico: %d, %d bytes", resp.StatusCode, len(ico))
	}
	img, err := png.Decode(strings.NewReader(ico[22:]))
	if err != nil || img.Bounds().Dx() != 32 {
		t.Errorf("favicon.ico's PNG: %v", err)
	}
}

// withRemote lets the console's pages look visitors' servers up on
// loopback, as cmd/agora wires them with allow_private_addresses.
func withRemote(d *web.Deps) {
	client := federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true})
	fetcher := federation.NewFetcher(client, nil)
	d.Finger, d.API, d.AllowHTTP = fetcher, fetcher, true
	d.Software = federation.NewDialects(d.Pages.(*sqlite.DB), client, nil)
}

// TestWriteAPost: the Write form sends each server family to its own
// page for writing, with the community mentioned, or shows the text and
// the steps.
func TestWriteAPost(t *testing.T) {
	c := newConsole(t, withRemote)
	c.community("garden")
	host := strings.TrimPrefix(c.url, "http://")
	mention := "@garden@" + host + " "
	mastodon := fedtest.NewHome(t, fedtest.HomeOptions{Software: "mastodon", Interaction: "/authorize_interaction?uri={uri}"})
	misskey := fedtest.NewHome(t, fedtest.HomeOptions{Software: "sharkey", Interaction: "/authorize-follow?acct={uri}"})
	lemmy := fedtest.NewHome(t, fedtest.HomeOptions{Software: "lemmy", LemmyCommunities: map[string]int64{"garden@" + host: 42}})
	lemmyNew := fedtest.NewHome(t, fedtest.HomeOptions{Software: "lemmy"})
	mbin := fedtest.NewHome(t, fedtest.HomeOptions{Software: "mbin"})
	gts := fedtest.NewHome(t, fedtest.HomeOptions{Software: "gotosocial"})
	piefed := fedtest.NewHome(t, fedtest.HomeOptions{Software: "piefed"})
	pleroma := fedtest.NewHome(t, fedtest.HomeOptions{Software: "pleroma", Interaction: "/ostatus_subscribe?acct={uri}"})
	b := c.browser()
	_, page := b.get("/c/garden/write")
	csrf := csrfField.FindStringSubmatch(page)[1]
	if !strings.Contains(page, `value="`+mention+`"`) || !strings.Contains(page, "How posting works") {
		t.Fatalf("write page lacks the text or the how-to:\n%s", page)
	}
	tests := []struct {
		name, handle string
		code         int
		location     string
		page         []string
	}{
		{"Mastodon: its composer", "@me@" + mastodon.Host(), 303, mastodon.URL() + "/share?text=" + url.QueryEscape(mention), nil},
		{"Misskey family: composer, public", "@me@" + misskey.Host(), 303, misskey.URL() + "/share?text=" + url.QueryEscape(mention) + "&visibility=public", nil},
		{"Lemmy: its new-post page for the community", "@me@" + lemmy.Host(), 303, lemmy.URL() + "/create_post?communityId=42", nil},
		{"Lemmy that does not know it: its search", "@me@" + lemmyNew.Host(), 303, lemmyNew.URL() + "/search?q=" + url.QueryEscape("!garden@"+host) + "&type=Communities", nil},
		{"Mbin: the magazine's new thread", "@me@" + mbin.Host(), 303, mbin.URL() + "/m/" + url.PathEscape("garden@"+host) + "/new_entry", nil},
		{"GoToSocial: text and steps", "@me@" + gts.Host(), 200, "", []string{"GoToSocial has no page for writing", `value="` + mention + `"`, "Check that the post is Public"}},
		{"PieFed: steps in the community", "@me@" + piefed.Host(), 200, "", []string{"Search for the community", "!garden@" + host, "subscribe, then create a post"}},
		{"Pleroma: text and steps", "@me@" + pleroma.Host(), 200, "", []string{"Open your server (" + pleroma.Host() + ")", "Start a new post"}},
		{"unreachable server", "@me@127.0.0.1:1", 200, "", []string{"could not reach 127.0.0.1:1", "Start a new post"}},
		{"not a handle", "me", 400, "", []string{"@you@your.server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := b.post("/c/garden/write", "", url.Values{"csrf": {csrf}, "handle": {tt.handle}})
			if resp.StatusCode != tt.code || resp.Header.Get("Location") != tt.location {
				t.Fatalf("%d Location %q, want %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), tt.code, tt.location, body)
			}
			for _, w := range tt.page {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q\n%s", w, body)
				}
			}
		})
	}
	// The handle is remembered for the next form.
	if _, page := b.get("/c/garden/write"); !strings.Contains(page, `value="@me@127.0.0.1:1"`) {
		t.Errorf("the write form does not remember the handle")
	}
}

// TestReplyBoostLike: Reply, Boost and Like send the visitor to their
// server's remote-interaction page with the post's id at its origin.
func TestReplyBoostLike(t *testing.T) {
	c := newConsole(t, withRemote)
	cm := c.community("garden")
	p := c.addTyped(cm, "Note", "", "", "Tomatoes", false)
	refused := c.addPost(cm, "Followers only", community.Refuse, community.ReasonNotPublic)
	mastodon := fedtest.NewHome(t, fedtest.HomeOptions{Software: "mastodon", Interaction: "/authorize_interaction?uri={uri}"})
	gts := fedtest.NewHome(t, fedtest.HomeOptions{Software: "gotosocial"})
	evil := fedtest.NewHome(t, fedtest.HomeOptions{Interaction: "/x?u={uri}\x00"})
	b := c.browser()
	local := fmt.Sprintf("/c/garden/p/%d", p.ID)
	_, page := b.get(local)
	for _, do := range []string{"reply", "boost", "like"} {
		if !strings.Contains(page, `href="`+local+`/`+do+`"`) {
			t.Errorf("post page lacks the %s link", do)
		}
	}
	_, form := b.get(local + "/reply")
	csrf := csrfField.FindStringSubmatch(form)[1]
	tests := []struct {
		name, path, handle string
		code               int
		location           string
		page               []string
	}{
		{"reply via Mastodon", local + "/reply", "@me@" + mastodon.Host(), 303, mastodon.URL() + "/authorize_interaction?uri=" + url.QueryEscape(p.ObjectID), nil},
		{"like via Mastodon", local + "/like", "@me@" + mastodon.Host(), 303, mastodon.URL() + "/authorize_interaction?uri=" + url.QueryEscape(p.ObjectID), nil},
		{"boost via GoToSocial: the address and steps", local + "/boost", "@me@" + gts.Host(), 200, "", []string{`value="` + p.ObjectID + `"`, "boost it"}},
		{"a broken template: steps", local + "/reply", "@me@" + evil.Host(), 200, "", []string{`value="` + p.ObjectID + `"`}},
		{"a post not shown", fmt.Sprintf("/c/garden/p/%d/reply", refused.ID), "@me@" + mastodon.Host(), 404, "", nil},
		{"not a handle", local + "/reply", "nobody", 400, "", []string{"@you@your.server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := b.post(tt.path, "", url.Values{"csrf": {csrf}, "handle": {tt.handle}})
			if resp.StatusCode != tt.code || resp.Header.Get("Location") != tt.location {
				t.Fatalf("%d Location %q, want %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), tt.code, tt.location, body)
			}
			for _, w := range tt.page {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q\n%s", w, body)
				}
			}
		})
	}
	if resp, _ := b.get(fmt.Sprintf("/c/garden/p/%d/like", refused.ID)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("form of a post not shown: %d", resp.StatusCode)
	}
}
