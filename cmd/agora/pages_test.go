package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation/fedtest"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// browser is an HTTP client that keeps cookies and does not follow
// redirects, so tests see each answer.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", browserAccept)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (b *browser) get(u string) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) postForm(u string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// files are the images of a multipart form, by field name.
func (b *browser) postMultipart(u string, form url.Values, files map[string][]byte) (*http.Response, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range form {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for field, data := range files {
		fw, _ := mw.CreateFormFile(field, field+".img")
		fw.Write(data)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, u, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token of the form on a page.
func (b *browser) csrf(u string) string {
	b.t.Helper()
	_, body := b.get(u)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no CSRF field on %s:\n%s", u, body)
	}
	return m[1]
}

// testJPEG is a JPEG with an EXIF block (a GPS position, say) that an
// upload must not keep.
func testJPEG(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x), 120, uint8(y), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	exif := append([]byte{0xFF, 0xE1, 0, 0}, []byte("Exif\x00\x00GPS secret-place")...)
	exif[2], exif[3] = 0, byte(len(exif)-2)
	b := buf.Bytes()
	return append(append(append([]byte{}, b[:2]...), exif...), b[2:]...)
}

func testPNG(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(40 + x*150/w), uint8(90 + y*120/h), 160, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// otherToken is token with its first character changed (never to itself).
func otherToken(token string) string {
	if token[0] == 'x' {
		return "y" + token[1:]
	}
	return "x" + token[1:]
}

// setupLink prints the first-admin link as `agora serve` does and returns it.
func setupLink(t *testing.T, a *testAgora) string {
	t.Helper()
	var out bytes.Buffer
	if err := printSetupLink(context.Background(), a.srv.App, &out); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`http://\S+/admin/setup\?token=\S+`).FindString(out.String())
	if m == "" {
		t.Fatalf("no setup link in %q", out.String())
	}
	return m
}

func TestAdminSetupLoginAndCSRF(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	b := newBrowser(t)

	if resp, _ := b.get(a.base() + "/admin"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Fatalf("GET /admin logged out: %d %s, want 303 to the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	link := setupLink(t, a)
	if resp, _ := b.get(a.base() + "/admin/setup?token=forged"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("forged setup token: %d, want 404", resp.StatusCode)
	}
	token := link[strings.Index(link, "token=")+len("token="):]
	csrf := b.csrf(link)
	form := url.Values{"token": {token}, "name": {"root"}, "password": {"correct horse battery"}, "confirm": {"correct horse battery"}}
	tests := []struct {
		name string
		form url.Values
		want int
	}{
		{"no CSRF token", form, http.StatusForbidden},
		{"wrong CSRF token", with(form, "csrf", otherToken(csrf)), http.StatusForbidden},
		{"passwords differ", with(with(form, "csrf", csrf), "confirm", "something else!"), http.StatusBadRequest},
		{"short password", with(with(with(form, "csrf", csrf), "confirm", "short"), "password", "short"), http.StatusBadRequest},
		{"bad name", with(with(form, "csrf", csrf), "name", "Root!"), http.StatusBadRequest},
		{"forged token", with(with(form, "csrf", csrf), "token", "forged"), http.StatusNotFound},
		{"ok", with(form, "csrf", csrf), http.StatusSeeOther},
		// Logged in by the setup: the form token is now the session's.
		{"the visitor's token, once logged in", with(form, "csrf", csrf), http.StatusForbidden},
		{"link used twice", nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		if tt.form == nil {
			tt.form = with(form, "csrf", b.csrf(a.base()+"/admin"))
		}
		if resp, body := b.postForm(a.base()+"/admin/setup", tt.form); resp.StatusCode != tt.want {
			t.Fatalf("setup, %s: %d, want %d\n%s", tt.name, resp.StatusCode, tt.want, body)
		}
	}
	if resp, body := b.get(a.base() + "/admin"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Admin console") {
		t.Fatalf("after setup, GET /admin: %d", resp.StatusCode)
	}
	var out bytes.Buffer
	if err := printSetupLink(context.Background(), a.srv.App, &out); err != nil || out.Len() != 0 {
		t.Fatalf("setup link printed with an admin present: %q %v", out.String(), err)
	}

	// Log out, then in again; the session cookie is HttpOnly and SameSite=Lax.
	resp, _ := b.postForm(a.base()+"/admin/logout", url.Values{"csrf": {b.csrf(a.base() + "/admin")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := b.get(a.base() + "/admin"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout, GET /admin: %d, want 303", resp.StatusCode)
	}
	csrf = b.csrf(a.base() + "/admin/login")
	logins := []struct {
		form url.Values
		want int
	}{
		{url.Values{"name": {"root"}, "password": {"correct horse battery"}}, http.StatusForbidden},
		{url.Values{"csrf": {csrf}, "name": {"root"}, "password": {"wrong password!"}}, http.StatusUnauthorized},
		{url.Values{"csrf": {csrf}, "name": {"nobody"}, "password": {"correct horse battery"}}, http.StatusUnauthorized},
		{url.Values{"csrf": {csrf}, "name": {"root"}, "password": {"correct horse battery"}}, http.StatusSeeOther},
	}
	for _, l := range logins {
		resp, _ := b.postForm(a.base()+"/admin/login", l.form)
		if resp.StatusCode != l.want {
			t.Fatalf("login %v: %d, want %d", l.form, resp.StatusCode, l.want)
		}
		if resp.StatusCode == http.StatusSeeOther {
			cookie := resp.Header.Get("Set-Cookie")
			if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") || strings.Contains(cookie, "Secure") {
				t.Errorf("session cookie %q: want HttpOnly, SameSite=Lax, no Secure on http", cookie)
			}
		}
	}
	// A logged-in admin's form without its token is refused too.
	if resp, _ := b.postForm(a.base()+"/admin/settings", url.Values{"name": {"Hacked"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("settings without CSRF: %d, want 403", resp.StatusCode)
	}
	// Another browser, without a session, cannot post admin forms.
	other := newBrowser(t)
	if resp, _ := other.postForm(a.base()+"/admin/settings", url.Values{"csrf": {other.csrf(a.base() + "/admin/login")}, "name": {"Hacked"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("settings without a session: %d, want 401", resp.StatusCode)
	}

	// Login attempts are rate limited per address.
	limited := false
	for range 15 {
		resp, _ := other.postForm(a.base()+"/admin/login", url.Values{"csrf": {other.csrf(a.base() + "/admin/login")}, "name": {"root"}, "password": {"guess guess guess"}})
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("15 wrong logins in a row were never answered 429")
	}
}

func with(v url.Values, k, val string) url.Values {
	out := url.Values{}
	for kk, vv := range v {
		out[kk] = append([]string(nil), vv...)
	}
	out.Set(k, val)
	return out
}

// loggedIn returns a browser logged in as an admin made with `agora admin create`.
func loggedIn(t *testing.T, a *testAgora) *browser {
	t.Helper()
	old := stdin
	stdin = strings.NewReader("correct horse battery\n")
	defer func() { stdin = old }()
	a.mustCLI("admin", "create", "root")
	b := newBrowser(t)
	csrf := b.csrf(a.base() + "/admin/login")
	resp, _ := b.postForm(a.base()+"/admin/login", url.Values{"csrf": {csrf}, "name": {"root"}, "password": {"correct horse battery"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	return b
}

func TestAdminCreatesCommunityWithImages(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	b := loggedIn(t, a)
	csrf := b.csrf(a.base() + "/admin/communities/new")
	form := url.Values{"csrf": {csrf}, "name": {"birds"}, "title": {"Birdwatching"}, "posting": {"members"},
		"summary": {"Notes on **birds**.\n\n<script>alert(1)</script>"}, "rules": {"1. Be kind\n2. [No](javascript:alert(1)) spam"}}
	jpg, pngData := testJPEG(t, 300, 200), testPNG(t, 64, 64)
	refused := []struct {
		name  string
		form  url.Values
		files map[string][]byte
		want  int
	}{
		{"no CSRF", with(form, "csrf", ""), map[string][]byte{"avatar": pngData}, http.StatusForbidden},
		{"not an image", form, map[string][]byte{"avatar": []byte("<svg onload=alert(1)>")}, http.StatusBadRequest},
		{"truncated image", form, map[string][]byte{"cover": jpg[:200]}, http.StatusBadRequest},
		{"bad name", with(form, "name", "Bad Name"), nil, http.StatusBadRequest},
		{"too large", form, map[string][]byte{"cover": bytes.Repeat([]byte{0xFF}, 9<<20)}, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range refused {
		if resp, body := b.postMultipart(a.base()+"/admin/communities/new", tt.form, tt.files); resp.StatusCode != tt.want {
			t.Fatalf("%s: %d, want %d\n%s", tt.name, resp.StatusCode, tt.want, body)
		}
	}
	resp, body := b.postMultipart(a.base()+"/admin/communities/new", form, map[string][]byte{"avatar": pngData, "cover": jpg})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", resp.StatusCode, body)
	}

	// The Group actor carries the images; they are served re-encoded.
	code, doc := getJSON(t, a.base()+"/c/birds")
	if code != http.StatusOK {
		t.Fatalf("actor: %d", code)
	}
	if sum, _ := doc["summary"].(string); !strings.Contains(sum, "<strong>birds</strong>") || strings.Contains(sum, "<script") {
		t.Errorf("actor summary %q, want the Markdown rendered and sanitized", sum)
	}
	urls := map[string]string{}
	for _, k := range []string{"icon", "image"} {
		m, _ := doc[k].(map[string]any)
		u, _ := m["url"].(string)
		if !strings.HasPrefix(u, a.base()+"/media/") {
			t.Fatalf("actor %s = %v, want an uploaded image", k, doc[k])
		}
		urls[k] = u
	}
	for k, want := range map[string]string{"icon": "image/png", "image": "image/jpeg"} {
		resp, body := newBrowser(t).get(urls[k])
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != want || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: %d %q", urls[k], resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if strings.Contains(body, "Exif") || strings.Contains(body, "secret-place") {
			t.Errorf("%s kept the EXIF block of the upload", urls[k])
		}
		if _, _, err := image.Decode(strings.NewReader(body)); err != nil {
			t.Errorf("%s: %v", urls[k], err)
		}
	}

	// The page shows the Markdown rendered and sanitized.
	_, page := newBrowser(t).get(a.base() + "/c/birds")
	for _, want := range []string{"<strong>birds</strong>", "Be kind", `src="/media/`, "Birdwatching"} {
		if !strings.Contains(page, want) {
			t.Errorf("community page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>alert", "javascript:"} {
		if strings.Contains(page, bad) {
			t.Errorf("community page contains %q", bad)
		}
	}

	// Editing sends Update{Group} and keeps the images.
	csrf = b.csrf(a.base() + "/admin/c/birds")
	resp, body = b.postMultipart(a.base()+"/admin/c/birds", url.Values{"csrf": {csrf}, "title": {"Birds"}, "posting": {"open"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", resp.StatusCode, body)
	}
	c, err := a.srv.App.Svc.Get(context.Background(), "birds")
	if err != nil || c.Title != "Birds" || c.PostingPolicy != "open" || c.Avatar == "" || c.Cover == "" {
		t.Fatalf("after edit: %+v %v", c, err)
	}
}

func TestContentNegotiation(t *testing.T) {
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	a, group := gardening(t, nil, joiner{remote, "alice"})
	n := note{id: remote.URL() + "/notes/1", content: "<p>Tomatoes</p>", to: []string{asPublic},
		cc: []string{group}, mentions: []string{group}}
	n.publish(t, a, remote, "alice")
	p := postOf(t, a, "gardening", n.id)
	postURL := group + "/p/" + itoa(p.ID)

	for _, u := range []string{group, postURL} {
		for _, tt := range []struct {
			accept, wantType string
		}{
			{"application/activity+json", "application/activity+json"},
			{`application/ld+json; profile="https://www.w3.org/ns/activitystreams"`, "application/ld+json"},
			{browserAccept, "text/html"},
			{"", "text/html"},
		} {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			ct := resp.Header.Get("Content-Type")
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, tt.wantType) || !strings.Contains(resp.Header.Get("Vary"), "Accept") {
				t.Fatalf("GET %s Accept %q: %d %q Vary %q", u, tt.accept, resp.StatusCode, ct, resp.Header.Get("Vary"))
			}
			if strings.HasPrefix(tt.wantType, "text/html") {
				if !strings.Contains(string(body), "<!doctype html>") || !strings.Contains(string(body), "Tomatoes") {
					t.Errorf("GET %s as a browser: not the page\n%s", u, body)
				}
				if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
					t.Errorf("CSP %q", csp)
				}
				continue
			}
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil || doc["id"] == nil {
				t.Fatalf("GET %s Accept %q: not AS2: %v\n%s", u, tt.accept, err, body)
			}
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestJoinFromBrowser(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	actor := a.base() + "/c/gardening"
	// A Mastodon-like server with a remote-follow template, one with a
	// javascript: template, and fedtest's, which has none.
	withTemplate := fakeSubscribeServer(t, "/authorize_interaction?uri={uri}")
	evil := fakeSubscribeServer(t, "javascript:alert(1)//{uri}")
	plain := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}})

	b := newBrowser(t)
	csrf := b.csrf(a.base() + "/c/gardening/join")
	hostOf := func(u string) string { return strings.TrimPrefix(u, "http://") }
	tests := []struct {
		name, handle string
		noCSRF       bool
		want         int
		location     string
		page         string
	}{
		{"redirect", "@me@" + hostOf(withTemplate.URL), false, http.StatusSeeOther,
			withTemplate.URL + "/authorize_interaction?uri=" + url.QueryEscape(actor), ""},
		{"no template", "@alice@" + hostOf(plain.URL()), false, http.StatusOK, "", "Search for"},
		{"javascript template", "@me@" + hostOf(evil.URL), false, http.StatusOK, "", "Search for"},
		{"unreachable server", "@me@127.0.0.1:1", false, http.StatusOK, "", "could not reach"},
		{"not a handle", "me at home", false, http.StatusBadRequest, "", "@you@your.server"},
		{"no CSRF token", "@me@" + hostOf(withTemplate.URL), true, http.StatusForbidden, "", ""},
	}
	for _, tt := range tests {
		form := url.Values{"handle": {tt.handle}, "csrf": {csrf}}
		if tt.noCSRF {
			form.Del("csrf")
		}
		resp, body := b.postForm(a.base()+"/c/gardening/join", form)
		if resp.StatusCode != tt.want || resp.Header.Get("Location") != tt.location || !strings.Contains(body, tt.page) {
			t.Fatalf("%s: %d Location %q, want %d %q with %q\n%s", tt.name, resp.StatusCode, resp.Header.Get("Location"), tt.want, tt.location, tt.page, body)
		}
	}
	// The visitor's handle is remembered for next time.
	if _, body := b.get(a.base() + "/c/gardening/join"); !strings.Contains(body, `value="me at home"`) && !strings.Contains(body, "@me@") {
		t.Errorf("join form does not remember the visitor's handle")
	}
}

// fakeSubscribeServer is a remote server whose WebFinger answers any acct:
// with a remote-follow template (relative templates get its URL).
func fakeSubscribeServer(t *testing.T, template string) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/authorize_interaction" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "Follow "+r.URL.Query().Get("uri")+"?")
			return
		}
		if r.URL.Path != "/.well-known/webfinger" {
			http.NotFound(w, r)
			return
		}
		tmpl := template
		if strings.HasPrefix(tmpl, "/") {
			tmpl = srv.URL + tmpl
		}
		w.Header().Set("Content-Type", "application/jrd+json")
		json.NewEncoder(w).Encode(map[string]any{
			"subject": r.URL.Query().Get("resource"),
			"links":   []map[string]string{{"rel": "http://ostatus.org/schema/1.0/subscribe", "template": tmpl}},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// publishWith publishes a note whose object gets extra fields (summary,
// sensitive, attachment...).
func publishWith(t *testing.T, a *testAgora, remote *fedtest.Server, user string, n note, extra map[string]any) {
	t.Helper()
	obj := n.object(remote, user)
	for k, v := range extra {
		obj[k] = v
	}
	doc, _ := json.Marshal(obj)
	remote.PutDocument(strings.TrimPrefix(n.id, remote.URL()), doc)
	body, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       n.id + "/create", "type": "Create", "actor": remote.ActorIRI(user),
		"object": obj, "to": n.to, "cc": n.cc,
	})
	post(t, remote, a.base()+"/inbox", user, body)
}

func TestCommunityFeedAndThread(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", func(c *agora.Config) { c.Posting.RatePosts = 0 })
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob"}, Software: "mastodon"})
	group := a.base() + "/c/gardening"
	for _, u := range []string{"alice", "bob"} {
		body, _ := follow(remote, u, group)
		post(t, remote, a.base()+"/inbox", u, body)
	}
	waitUntil(t, "members", func() bool { return followersCount(t, a, "gardening") == 2 })
	addr := func(user string) note {
		return note{to: []string{asPublic}, cc: []string{remote.ActorIRI(user) + "/followers", group}, mentions: []string{group}}
	}

	// A post with a content warning and media, a reply to it, one its
	// author deletes, and enough others to need a second page.
	cw := addr("alice")
	cw.id, cw.content = remote.URL()+"/notes/cw", "<p>The slugs ate everything</p>"
	publishWith(t, a, remote, "alice", cw, map[string]any{"summary": "Garden horror", "sensitive": true,
		"attachment": []map[string]any{
			{"type": "Document", "mediaType": "image/jpeg", "url": remote.URL() + "/media/slug.jpg", "name": "A fat slug on a leaf"},
			{"type": "Document", "mediaType": "video/mp4", "url": remote.URL() + "/media/slug.mp4", "name": "Slug video"},
			{"type": "Document", "mediaType": "image/png", "url": "javascript:alert(1)", "name": "evil"},
		}})
	cwPost := postOf(t, a, "gardening", cw.id)
	reply := addr("bob")
	reply.id, reply.content, reply.inReplyTo = remote.URL()+"/notes/reply", "<p>Beer traps work</p>", cw.id
	reply.publish(t, a, remote, "bob")
	postOf(t, a, "gardening", reply.id)
	gone := addr("bob")
	gone.id, gone.content = remote.URL()+"/notes/gone", "<p>I will delete this</p>"
	gone.publish(t, a, remote, "bob")
	gonePost := postOf(t, a, "gardening", gone.id)
	del, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": gone.id + "/delete",
		"type": "Delete", "actor": remote.ActorIRI("bob"), "object": map[string]any{"id": gone.id, "type": "Tombstone"}, "to": []string{asPublic}})
	post(t, remote, a.base()+"/inbox", "bob", del)
	waitUntil(t, "deleted", func() bool {
		p, err := a.srv.App.Posts.ByID(context.Background(), gonePost.ID)
		return err == nil && !p.DeletedAt.IsZero()
	})
	var last note
	for i := range FeedPageForTest + 1 {
		last = addr("alice")
		last.id, last.content = remote.URL()+"/notes/n"+strconv.Itoa(i), "<p>Note number "+strconv.Itoa(i)+"</p>"
		last.publish(t, a, remote, "alice")
	}
	postOf(t, a, "gardening", last.id)

	b := newBrowser(t)
	_, page1 := b.get(group)
	m := regexp.MustCompile(`href="(/c/gardening\?before=\d+)"`).FindStringSubmatch(page1)
	if m == nil {
		t.Fatalf("first page has no link to older posts")
	}
	_, page2 := b.get(a.base() + strings.ReplaceAll(m[1], "&amp;", "&"))
	both := page1 + page2
	if strings.Count(page1, `<article class="post">`) != FeedPageForTest {
		t.Errorf("first page shows %d posts, want %d", strings.Count(page1, `<article class="post">`), FeedPageForTest)
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"newest first", strings.Index(page1, "Note number 20") < strings.Index(page1, "Note number 19")},
		{"content warning collapsed", strings.Contains(both, `<details class="cw"><summary>Garden horror</summary>`)},
		{"image with alt text, lazy", strings.Contains(both, `alt="A fat slug on a leaf" loading="lazy"`)},
		{"other media as a link", strings.Contains(both, `href="`+remote.URL()+`/media/slug.mp4"`)},
		{"no javascript: attachment", !strings.Contains(both, "javascript:")},
		{"reply count", strings.Contains(both, "1 reply")},
		{"author name linking to profile", strings.Contains(both, `href="`+remote.URL()+`/@alice"`) && strings.Contains(both, "<strong>Alice</strong>")},
		{"deleted post not shown", !strings.Contains(both, "I will delete this")},
		{"reply not in the feed", !strings.Contains(both, "Beer traps work")},
		{"link to the original", strings.Contains(both, `href="`+cw.id+`" rel="nofollow noopener noreferrer">Original`)},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("feed: %s", c.what)
		}
	}
	// The post page shows the thread, each post linking to its original.
	resp, thread := b.get(group + "/p/" + itoa(cwPost.ID))
	if resp.StatusCode != http.StatusOK || !strings.Contains(thread, "Beer traps work") || !strings.Contains(thread, `href="`+reply.id+`"`) ||
		!strings.Contains(thread, "The slugs ate everything") {
		t.Errorf("post page: %d\n%s", resp.StatusCode, thread)
	}
	if resp, _ := b.get(group + "/p/" + itoa(gonePost.ID)); resp.StatusCode != http.StatusGone {
		t.Errorf("deleted post page: %d, want 410", resp.StatusCode)
	}
	if resp, _ := b.get(group + "/p/999999"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown post page: %d, want 404", resp.StatusCode)
	}
	if resp, _ := b.get(a.base() + "/c/nosuch"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown community page: %d, want 404", resp.StatusCode)
	}
}

// FeedPageForTest is web.FeedPage, spelled here so the test reads alone.
const FeedPageForTest = 20

func TestAdminModerationAndDelivery(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "club", "--title", "Club", "--approval")
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob"}, Software: "mastodon"})
	club := a.base() + "/c/club"
	for _, u := range []string{"alice", "bob"} {
		body, _ := follow(remote, u, club)
		post(t, remote, a.base()+"/inbox", u, body)
	}
	ctx := context.Background()
	c, _ := a.srv.App.Svc.Get(ctx, "club")
	waitUntil(t, "pending", func() bool { n, _ := a.srv.App.Svc.CountMembers(ctx, c, "pending"); return n == 2 })

	b := loggedIn(t, a)
	_, page := b.get(club[:len(a.base())] + "/admin/c/club/moderation")
	if !strings.Contains(page, "@alice@") || !strings.Contains(page, "@bob@") {
		t.Fatalf("moderation page lacks the pending joins:\n%s", page)
	}
	csrf := csrfRE.FindStringSubmatch(page)[1]
	steps := []struct {
		path, actor, csrf string
		want              int
	}{
		{"/approve", remote.ActorIRI("alice"), "", http.StatusForbidden},
		{"/approve", remote.ActorIRI("alice"), csrf, http.StatusSeeOther},
		{"/reject", remote.ActorIRI("bob"), csrf, http.StatusSeeOther},
		{"/approve", remote.ActorIRI("bob"), csrf, http.StatusNotFound}, // no longer pending
		{"/approve", "https://nobody.example/u/x", csrf, http.StatusNotFound},
	}
	for _, s := range steps {
		resp, body := b.postForm(a.base()+"/admin/c/club"+s.path, url.Values{"csrf": {s.csrf}, "actor": {s.actor}})
		if resp.StatusCode != s.want {
			t.Fatalf("%s %s: %d, want %d\n%s", s.path, s.actor, resp.StatusCode, s.want, body)
		}
	}
	waitUntil(t, "Accept and Reject", func() bool { return len(received(remote, "Accept")) == 1 && len(received(remote, "Reject")) == 1 })
	if n := followersCount(t, a, "club"); n != 1 {
		t.Fatalf("members after approve/reject: %d", n)
	}

	// Delivery status: an unavailable host is shown and can be cleared.
	if err := a.srv.App.DB.MarkHostUnavailable(ctx, "dead.example", time.Now().Add(-8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, page = b.get(a.base() + "/admin/delivery")
	if !strings.Contains(page, "dead.example") || !strings.Contains(page, "unavailable") || !strings.Contains(page, "queue-depth") {
		t.Fatalf("delivery page:\n%s", page)
	}
	resp, _ := b.postForm(a.base()+"/admin/delivery/clear", url.Values{"csrf": {csrf}, "host": {"dead.example"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("clear: %d", resp.StatusCode)
	}
	if hosts, _ := a.srv.App.DB.UnavailableHosts(ctx); len(hosts) != 0 {
		t.Fatalf("unavailable after clear: %v", hosts)
	}
	if resp, _ := b.postForm(a.base()+"/admin/delivery/clear", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("clear without host: %d, want 400", resp.StatusCode)
	}
	if resp, _ := b.postForm(a.base()+"/admin/delivery/clear", url.Values{"csrf": {csrf}, "host": {"nosuch.example"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("clear of a host never heard of: %d, want 404", resp.StatusCode)
	}
}

func TestAdminCreateCommand(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	tests := []struct {
		args    []string
		stdin   string
		wantErr bool
	}{
		{[]string{"admin", "create", "root"}, "correct horse battery\n", false},
		{[]string{"admin", "create", "root"}, "correct horse battery\n", true}, // taken
		{[]string{"admin", "create", "other"}, "short\n", true},
		{[]string{"admin", "create", "other"}, "", true},
		{[]string{"admin", "create", "Bad Name"}, "correct horse battery\n", true},
		{[]string{"admin", "create"}, "correct horse battery\n", true},
		{[]string{"admin", "frobnicate", "root"}, "", true},
		{[]string{"admin", "create", "second"}, "another good password", false}, // no newline at the end
	}
	for _, tt := range tests {
		old := stdin
		stdin = strings.NewReader(tt.stdin)
		_, err := a.cli(tt.args...)
		stdin = old
		if (err != nil) != tt.wantErr {
			t.Errorf("%v with %q: err %v, want error %v", tt.args, tt.stdin, err, tt.wantErr)
		}
	}
	if n, _ := a.srv.App.DB.CountAdmins(context.Background()); n != 2 {
		t.Errorf("%d admins, want 2", n)
	}
}

func TestAdminModerationActions(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob"}, Software: "mastodon"})
	group := a.base() + "/c/gardening"
	for _, u := range []string{"alice", "bob"} {
		body, _ := follow(remote, u, group)
		post(t, remote, a.base()+"/inbox", u, body)
	}
	waitUntil(t, "members", func() bool { return followersCount(t, a, "gardening") == 2 })
	n := note{id: remote.URL() + "/notes/spam", content: "<p>Buy cheap seeds</p>", to: []string{asPublic},
		cc: []string{group}, mentions: []string{group}}
	n.publish(t, a, remote, "bob")
	p := postOf(t, a, "gardening", n.id)
	ctx := context.Background()
	c, _ := a.srv.App.Svc.Get(ctx, "gardening")

	b := loggedIn(t, a)
	admin := a.base() + "/admin/c/gardening"
	csrf := b.csrf(admin + "/moderation")
	hostPort := strings.TrimPrefix(remote.URL(), "http://")
	feedHas := func(s string) bool { _, page := newBrowser(t).get(group); return strings.Contains(page, s) }
	steps := []struct {
		name, path string
		form       url.Values
		want       int
		check      func() bool
	}{
		{"remove without CSRF", "/posts/" + itoa(p.ID) + "/remove", url.Values{"reason": {"spam"}}, http.StatusForbidden, nil},
		{"remove", "/posts/" + itoa(p.ID) + "/remove", url.Values{"csrf": {csrf}, "reason": {"spam"}}, http.StatusSeeOther,
			func() bool { return !feedHas("Buy cheap seeds") }},
		{"remove again", "/posts/" + itoa(p.ID) + "/remove", url.Values{"csrf": {csrf}}, http.StatusConflict, nil},
		{"restore", "/posts/" + itoa(p.ID) + "/restore", url.Values{"csrf": {csrf}}, http.StatusSeeOther,
			func() bool { return feedHas("Buy cheap seeds") }},
		{"unknown post", "/posts/999999/remove", url.Values{"csrf": {csrf}}, http.StatusNotFound, nil},
		{"ban", "/ban", url.Values{"csrf": {csrf}, "actor": {"@bob@" + hostPort}, "reason": {"spam"}, "remove_posts": {"1"}}, http.StatusSeeOther,
			func() bool {
				m, _ := a.srv.App.DB.Member(ctx, c.ID, remote.ActorIRI("bob"))
				return m.State == "banned" && !feedHas("Buy cheap seeds")
			}},
		{"ban unknown account", "/ban", url.Values{"csrf": {csrf}, "actor": {"@nobody@" + hostPort}}, http.StatusBadRequest, nil},
		{"unban", "/unban", url.Values{"csrf": {csrf}, "actor": {remote.ActorIRI("bob")}}, http.StatusSeeOther,
			func() bool { _, err := a.srv.App.DB.Member(ctx, c.ID, remote.ActorIRI("bob")); return err != nil }},
		{"add moderator", "/mods/add", url.Values{"csrf": {csrf}, "actor": {"@alice@" + hostPort}, "role": {"moderator"}}, http.StatusSeeOther,
			func() bool { return feedHas(`@alice@` + hostPort + `</a>`) }},
		{"add local owner", "/mods/add", url.Values{"csrf": {csrf}, "actor": {"local:root"}, "role": {"owner"}}, http.StatusSeeOther, nil},
		{"bad role", "/mods/add", url.Values{"csrf": {csrf}, "actor": {"local:root"}, "role": {"king"}}, http.StatusBadRequest, nil},
		{"remove moderator", "/mods/remove", url.Values{"csrf": {csrf}, "actor": {remote.ActorIRI("alice")}}, http.StatusSeeOther,
			func() bool { return !feedHas(`@alice@` + hostPort + `</a>`) }},
		{"remove the last owner", "/mods/remove", url.Values{"csrf": {csrf}, "actor": {"local:root"}}, http.StatusForbidden, nil},
		{"block domain", "/domains/block", url.Values{"csrf": {csrf}, "domain": {"spam.example"}, "reason": {"spam"}}, http.StatusSeeOther, nil},
		{"block nonsense", "/domains/block", url.Values{"csrf": {csrf}, "domain": {"not a domain!"}}, http.StatusBadRequest, nil},
		{"unblock domain", "/domains/unblock", url.Values{"csrf": {csrf}, "domain": {"spam.example"}}, http.StatusSeeOther, nil},
		{"make the log public", "/log/public", url.Values{"csrf": {csrf}, "public": {"true"}}, http.StatusSeeOther,
			func() bool {
				resp, page := newBrowser(t).get(group + "/modlog")
				return resp.StatusCode == 200 && strings.Contains(page, "ban")
			}},
	}
	for _, s := range steps {
		resp, body := b.postForm(admin+s.path, s.form)
		if resp.StatusCode != s.want {
			t.Fatalf("%s: %d, want %d\n%s", s.name, resp.StatusCode, s.want, body)
		}
		if s.check != nil && !s.check() {
			t.Fatalf("%s: not done", s.name)
		}
	}

	// A report shows on the page and can be resolved.
	rep, err := a.srv.App.Mod.Report(ctx, c, community.Report{Reporter: remote.ActorIRI("alice"), ActivityID: remote.URL() + "/flags/1",
		Targets: []string{remote.ActorIRI("bob"), n.id}, Content: "rude seed seller", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, page := b.get(admin + "/moderation")
	for _, want := range []string{"rude seed seller", "/reports/" + itoa(rep.ID) + "/resolve", "Blocked servers", "spam"} {
		if !strings.Contains(page, want) {
			t.Errorf("moderation page lacks %q", want)
		}
	}
	if resp, _ := b.postForm(admin+"/reports/"+itoa(rep.ID)+"/resolve", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resolve: %d", resp.StatusCode)
	}
	if _, page := b.get(admin + "/moderation"); !strings.Contains(page, "resolved by local:root") {
		t.Errorf("report not shown resolved")
	}

	// Instance-wide domain blocks.
	if resp, _ := b.postForm(a.base()+"/admin/domains/block", url.Values{"csrf": {csrf}, "domain": {"bad.example"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("instance block: %d", resp.StatusCode)
	}
	if _, page := b.get(a.base() + "/admin/domains"); !strings.Contains(page, "bad.example") {
		t.Errorf("instance block not listed")
	}
	if resp, _ := b.postForm(a.base()+"/admin/domains/unblock", url.Values{"csrf": {csrf}, "domain": {"bad.example"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("instance unblock: %d", resp.StatusCode)
	}
	if resp, _ := b.postForm(a.base()+"/admin/domains/unblock", url.Values{"csrf": {csrf}, "domain": {"bad.example"}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unblocking twice: %d, want 404", resp.StatusCode)
	}
	// Every action is in the log, as the admin's local account.
	entries, _ := a.srv.App.Mod.Log(ctx, c, 100)
	actions := map[string]bool{}
	for _, e := range entries {
		if e.By != "local:root" {
			t.Errorf("log entry by %q, want local:root", e.By)
		}
		actions[e.Action] = true
	}
	for _, want := range []string{"remove", "restore", "ban", "unban", "addmod", "delmod", "block", "unblock", "resolve"} {
		if !actions[want] {
			t.Errorf("log lacks %q: %v", want, actions)
		}
	}
}
