package web_test

// Handler tests of the public pages (issue 16): how posts' summaries show,
// languages, error pages, feeds and previews, and the Write/Reply forms.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
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

	if err := c.db.SetSetting(context.Background(), "language", "fr"); err != nil {
		t.Fatal(err)
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
