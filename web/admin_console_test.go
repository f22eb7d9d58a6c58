package web_test

// Handler tests of the admin console's pin/unpin, posts paging and
// password change: the real router over a real SQLite store in a temp dir,
// with the community services wired as cmd/agora wires them and a
// publisher that records what would be federated.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage/sqlite"
	"github.com/agorafed/agora/web"
)

// recorder is the Publisher, PostPublisher and ModPublisher of the tests:
// it notes what would be sent.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
	return nil
}

func (r *recorder) sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) AcceptFollow(_ context.Context, _ community.Community, m community.Member) error {
	return r.add("accept " + m.Actor)
}
func (r *recorder) RejectFollow(_ context.Context, _ community.Community, m community.Member) error {
	return r.add("reject " + m.Actor)
}
func (r *recorder) CommunityUpdated(context.Context, community.Community) error {
	return r.add("update")
}
func (r *recorder) CommunityDeleted(context.Context, community.Community) error {
	return r.add("delete")
}
func (r *recorder) AnnouncePost(_ context.Context, _ community.Community, p community.Post) error {
	return r.add("announce " + p.ObjectID)
}
func (r *recorder) WithdrawPost(_ context.Context, _ community.Community, p community.Post, _ community.Reason, _ []byte) error {
	return r.add("withdraw " + p.ObjectID)
}
func (r *recorder) RelayActivity(_ context.Context, _ community.Community, p community.Post, _ []byte) error {
	return r.add("relay " + p.ObjectID)
}
func (r *recorder) BlockActor(_ context.Context, _ community.Community, actor, _ string, _ bool) error {
	return r.add("block " + actor)
}
func (r *recorder) UnblockActor(_ context.Context, _ community.Community, actor string) error {
	return r.add("unblock " + actor)
}
func (r *recorder) ModeratorAdded(_ context.Context, _ community.Community, actor string) error {
	return r.add("addmod " + actor)
}
func (r *recorder) ModeratorRemoved(_ context.Context, _ community.Community, actor string) error {
	return r.add("delmod " + actor)
}
func (r *recorder) PostPinned(_ context.Context, _ community.Community, p community.Post) error {
	return r.add("Add featured " + p.ObjectID)
}
func (r *recorder) PostUnpinned(_ context.Context, _ community.Community, p community.Post) error {
	return r.add("Remove featured " + p.ObjectID)
}
func (r *recorder) DirectMessage(_ context.Context, _ community.Community, to, _ string) error {
	return r.add("dm " + to)
}

type console struct {
	t    *testing.T
	url  string
	db   *sqlite.DB
	pub  *recorder
	svc  *community.Service
	mod  *community.Moderation
	seen int // posts made so far, for unique object ids
}

const password = "correct horse battery"

// newConsole starts Agora's router on 127.0.0.1 with an admin "root"
// (password above).
func newConsole(t *testing.T, opts ...func(*web.Deps)) *console {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "agora.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ts := httptest.NewUnstartedServer(nil)
	base, _ := url.Parse("http://" + ts.Listener.Addr().String())
	pub := &recorder{}
	svc := community.NewService(db, db, pub, nil)
	posts := community.NewPosts(db, pub, community.Limits{}, nil)
	mod := community.NewModeration(community.ModerationDeps{
		Service: svc, Store: db, Posts: db, Mods: db, Publisher: pub, PostPublisher: pub, ModPublisher: pub,
	})
	deps := web.Deps{
		Local: federation.NewLocal(base, db, nil), Communities: svc, Posts: posts, Moderation: mod,
		Admin: db, Pages: db, Actors: db, Delivery: db,
	}
	for _, o := range opts {
		o(&deps)
	}
	ts.Config.Handler = web.New(deps)
	ts.Start()
	t.Cleanup(ts.Close)
	hash, err := web.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateAdmin(ctx, "root", hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	return &console{t: t, url: ts.URL, db: db, pub: pub, svc: svc, mod: mod}
}

func (c *console) community(name string) community.Community {
	c.t.Helper()
	got, err := c.svc.Create(context.Background(), community.Community{Name: name, Title: strings.ToUpper(name[:1]) + name[1:],
		PostingPolicy: community.PostMembers})
	if err != nil {
		c.t.Fatal(err)
	}
	return got
}

// addPost stores a post as the inbox would have, announced or refused.
func (c *console) addPost(cm community.Community, text string, d community.Decision, reason community.Reason) community.Post {
	c.t.Helper()
	c.seen++
	now := time.Now().UTC()
	p := community.Post{
		CommunityID: cm.ID, ObjectID: fmt.Sprintf("https://social.example/notes/%d", c.seen),
		ActivityID: fmt.Sprintf("https://social.example/notes/%d/activity", c.seen), Type: "Note",
		Author: "https://social.example/users/alice", Content: "<p>" + text + "</p>", Visibility: community.Public,
		Published: now, ReceivedAt: now, Decision: d, Reason: reason,
	}
	if err := c.db.AddPost(context.Background(), &p); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// client is a browser: it keeps cookies and does not follow redirects.
type client struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (c *console) browser() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: c.t, base: c.url, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *client) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	req.Header.Set("Accept", "text/html")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (b *client) get(path string) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

// post sends a form; csrf "" sends none, "!" a wrong one, "ok" the
// browser's own token.
func (b *client) post(path, csrf string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	form = cloneValues(form)
	switch csrf {
	case "ok":
		form.Set("csrf", b.csrf())
	case "!":
		form.Set("csrf", strings.Repeat("A", 43))
	}
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// csrf returns the token the forms of the browser's pages carry: the
// console's when logged in, the login form's otherwise.
func (b *client) csrf() string {
	b.t.Helper()
	page := "/admin/login"
	if b.loggedIn() {
		page = "/admin"
	}
	resp, body := b.get(page)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("%s: %d, no CSRF field", page, resp.StatusCode)
	}
	return m[1]
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs in and reports the status (303 on success).
func (b *client) login(name, pw string) int {
	b.t.Helper()
	resp, _ := b.post("/admin/login", "ok", url.Values{"name": {name}, "password": {pw}})
	return resp.StatusCode
}

func (b *client) loggedIn() bool {
	b.t.Helper()
	resp, _ := b.get("/admin")
	return resp.StatusCode == http.StatusOK
}

func (c *console) admin() *client {
	c.t.Helper()
	b := c.browser()
	if code := b.login("root", password); code != http.StatusSeeOther {
		c.t.Fatalf("login: %d", code)
	}
	return b
}

func TestConsolePinAndUnpin(t *testing.T) {
	c := newConsole(t)
	club, other := c.community("club"), c.community("other")
	p := c.addPost(club, "Welcome to the club", community.Announce, "")
	refused := c.addPost(club, "Not a member", community.Refuse, community.ReasonNotMember)
	elsewhere := c.addPost(other, "In another community", community.Announce, "")
	b := c.admin()
	anon := c.browser()
	id := func(p community.Post) string { return fmt.Sprint(p.ID) }
	pinned := func() []int64 {
		ps, err := c.mod.Pinned(context.Background(), club)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		return ids
	}

	// Refusals: each with its status, nothing pinned, nothing sent.
	for _, tt := range []struct {
		name, path, csrf string
		b                *client
		want             int
	}{
		{"no session", "/admin/c/club/posts/" + id(p) + "/pin", "ok", anon, http.StatusUnauthorized},
		{"no CSRF token", "/admin/c/club/posts/" + id(p) + "/pin", "", b, http.StatusForbidden},
		{"wrong CSRF token", "/admin/c/club/posts/" + id(p) + "/pin", "!", b, http.StatusForbidden},
		{"unknown post", "/admin/c/club/posts/999999/pin", "ok", b, http.StatusNotFound},
		{"post of another community", "/admin/c/club/posts/" + id(elsewhere) + "/pin", "ok", b, http.StatusNotFound},
		{"unknown community", "/admin/c/nosuch/posts/" + id(p) + "/pin", "ok", b, http.StatusNotFound},
		{"not a post number", "/admin/c/club/posts/abc/pin", "ok", b, http.StatusNotFound},
		{"refused post", "/admin/c/club/posts/" + id(refused) + "/pin", "ok", b, http.StatusForbidden},
		{"unpin what is not pinned", "/admin/c/club/posts/" + id(p) + "/unpin", "ok", b, http.StatusNotFound},
		{"unpin without CSRF token", "/admin/c/club/posts/" + id(p) + "/unpin", "", b, http.StatusForbidden},
		{"GET does not pin", "", "", b, http.StatusMethodNotAllowed},
	} {
		var resp *http.Response
		if tt.path == "" {
			resp, _ = tt.b.get("/admin/c/club/posts/" + id(p) + "/pin")
		} else {
			resp, _ = tt.b.post(tt.path, tt.csrf, nil)
		}
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
		if got := pinned(); len(got) != 0 {
			t.Fatalf("%s: pinned %v", tt.name, got)
		}
	}
	if sent := c.pub.sent(); len(sent) != 0 {
		t.Fatalf("refused requests sent %q", sent)
	}
	if resp, _ := anon.get("/admin/c/club/moderation"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Errorf("moderation page without session: %d %s, want 303 to /admin/login", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The page offers Pin for the announced post only.
	_, page := b.get("/admin/c/club/moderation")
	if !strings.Contains(page, `action="/admin/c/club/posts/`+id(p)+`/pin"`) || strings.Contains(page, "/posts/"+id(refused)+"/pin") {
		t.Fatalf("moderation page: Pin buttons wrong:\n%s", page)
	}
	if !strings.Contains(page, "No post is pinned") {
		t.Errorf("moderation page does not say nothing is pinned")
	}

	resp, _ := b.post("/admin/c/club/posts/"+id(p)+"/pin", "ok", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/c/club/moderation?notice=Pinned") {
		t.Fatalf("pin: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := pinned(); !slices.Equal(got, []int64{p.ID}) {
		t.Fatalf("pinned after Pin: %v", got)
	}
	if sent := c.pub.sent(); !slices.Equal(sent, []string{"Add featured " + p.ObjectID}) {
		t.Fatalf("pin sent %q", sent)
	}
	if resp, _ := b.post("/admin/c/club/posts/"+id(p)+"/pin", "ok", nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("pin twice: %d, want 409", resp.StatusCode)
	}
	_, page = b.get(resp.Header.Get("Location"))
	for _, want := range []string{
		`<p class="notice" role="status">Pinned ` + p.ObjectID,
		`<tr class="pinned">`,
		`<span class="badge">Pinned</span>`,
		`action="/admin/c/club/posts/` + id(p) + `/unpin"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("moderation page after Pin lacks %q", want)
		}
	}
	if strings.Contains(page, `action="/admin/c/club/posts/`+id(p)+`/pin"`) {
		t.Errorf("moderation page offers Pin for a pinned post")
	}
	// The public page shows it first, as pinned.
	_, public := anon.get("/c/club")
	if i, j := strings.Index(public, `id="pinned-h"`), strings.Index(public, "Welcome to the club"); i < 0 || j < i {
		t.Errorf("community page does not show the post pinned:\n%s", public)
	}

	resp, _ = b.post("/admin/c/club/posts/"+id(p)+"/unpin", "ok", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "notice=Unpinned") {
		t.Fatalf("unpin: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := pinned(); len(got) != 0 {
		t.Fatalf("pinned after Unpin: %v", got)
	}
	if sent := c.pub.sent(); len(sent) != 2 || sent[1] != "Remove featured "+p.ObjectID {
		t.Fatalf("unpin sent %q", sent)
	}
	_, public = anon.get("/c/club")
	if strings.Contains(public, `id="pinned-h"`) {
		t.Errorf("community page still shows a pinned section")
	}
	// Both are in the moderation log, by the admin's local account.
	log, err := c.mod.Log(context.Background(), club, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range log {
		got = append(got, e.By+" "+e.Action+" "+e.Target)
	}
	slices.Sort(got)
	if want := []string{"local:root pin " + p.ObjectID, "local:root unpin " + p.ObjectID}; !slices.Equal(got, want) {
		t.Errorf("moderation log %q, want %q", got, want)
	}
}

var postNumberRE = regexp.MustCompile(`Post number (\d+)<`)

func TestConsolePostsPaged(t *testing.T) {
	c := newConsole(t)
	club, fifty := c.community("club"), c.community("fifty")
	var ids []int64
	for i := 1; i <= 2*web.ModerationPage+1; i++ {
		ids = append(ids, c.addPost(club, fmt.Sprintf("Post number %d", i), community.Announce, "").ID)
	}
	for i := 1; i <= web.ModerationPage; i++ {
		c.addPost(fifty, fmt.Sprintf("Post number %d", i), community.Announce, "")
	}
	b := c.admin()
	nextRE := regexp.MustCompile(`href="(/admin/c/club/moderation\?before=(\d+)#posts-h)" rel="next"`)
	numbers := func(page string) []string {
		var out []string
		for _, m := range postNumberRE.FindAllStringSubmatch(page, -1) {
			out = append(out, m[1])
		}
		return out
	}
	path := "/admin/c/club/moderation"
	var pages [][]string
	for range 4 {
		resp, page := b.get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		pages = append(pages, numbers(page))
		m := nextRE.FindStringSubmatch(page)
		if m == nil {
			break
		}
		path = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	want := [][]string{{"101", "52"}, {"51", "2"}, {"1", "1"}}
	if len(pages) != len(want) {
		t.Fatalf("%d pages, want 3: %v", len(pages), pages)
	}
	for i, p := range pages {
		n := web.ModerationPage
		if i == 2 {
			n = 1
		}
		if len(p) != n || p[0] != want[i][0] || p[len(p)-1] != want[i][1] {
			t.Errorf("page %d: %d posts %v, want %d from %s to %s", i+1, len(p), p, n, want[i][0], want[i][1])
		}
	}
	// Exactly one page of posts: no Next.
	_, page := b.get("/admin/c/fifty/moderation")
	if n := len(numbers(page)); n != web.ModerationPage || strings.Contains(page, `rel="next"`) {
		t.Errorf("community of %d posts: %d shown, next link %v", web.ModerationPage, n, strings.Contains(page, `rel="next"`))
	}
	for _, bad := range []string{"abc", "-1", "0"} {
		if resp, _ := b.get("/admin/c/club/moderation?before=" + bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("before=%s: %d, want 400", bad, resp.StatusCode)
		}
	}
	if resp, page := b.get(fmt.Sprintf("/admin/c/club/moderation?before=%d", ids[0])); resp.StatusCode != http.StatusOK || !strings.Contains(page, "No older posts") {
		t.Errorf("past the oldest: %d", resp.StatusCode)
	}
}

func TestConsoleChangePassword(t *testing.T) {
	c := newConsole(t)
	hash, _ := web.HashPassword("another admin's password")
	if _, err := c.db.CreateAdmin(context.Background(), "other", hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	a, b := c.admin(), c.admin() // root in two browsers
	o := c.browser()
	if o.login("other", "another admin's password") != http.StatusSeeOther {
		t.Fatal("other admin cannot log in")
	}
	anon := c.browser()
	const fresh = "a new and longer secret"

	if _, home := a.get("/admin"); !strings.Contains(home, `href="/admin/password"`) {
		t.Errorf("console home does not link to the password page")
	}
	if resp, form := a.get("/admin/password"); resp.StatusCode != http.StatusOK || !strings.Contains(form, `name="current"`) ||
		!strings.Contains(form, `minlength="10"`) {
		t.Fatalf("password form: %d\n%s", resp.StatusCode, form)
	}
	if resp, _ := anon.get("/admin/password"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Errorf("password form without session: %d %s, want 303 to /admin/login", resp.StatusCode, resp.Header.Get("Location"))
	}

	ok := url.Values{"current": {password}, "password": {fresh}, "confirm": {fresh}}
	for _, tt := range []struct {
		name, csrf string
		b          *client
		form       url.Values
		want       int
		says       string
	}{
		{"no session", "ok", anon, ok, http.StatusUnauthorized, ""},
		{"no CSRF token", "", a, ok, http.StatusForbidden, "CSRF"},
		{"wrong CSRF token", "!", a, ok, http.StatusForbidden, "CSRF"},
		{"wrong current password", "ok", a, with(ok, "current", "correct horse batter"), http.StatusForbidden, "current password is wrong"},
		{"no current password", "ok", a, with(ok, "current", ""), http.StatusForbidden, "current password is wrong"},
		{"another admin's password", "ok", a, with(ok, "current", "another admin's password"), http.StatusForbidden, "current password is wrong"},
		{"new passwords differ", "ok", a, with(ok, "confirm", fresh+"!"), http.StatusBadRequest, "differ"},
		{"too short", "ok", a, with(with(ok, "password", "short pw"), "confirm", "short pw"), http.StatusBadRequest, "at least 10 characters"},
		{"too long", "ok", a, with(with(ok, "password", strings.Repeat("x", 73)), "confirm", strings.Repeat("x", 73)), http.StatusBadRequest, "at most 72"},
		{"same as the current", "ok", a, with(with(ok, "password", password), "confirm", password), http.StatusBadRequest, "is the current one"},
	} {
		resp, body := tt.b.post("/admin/password", tt.csrf, tt.form)
		if resp.StatusCode != tt.want || !strings.Contains(body, tt.says) {
			t.Errorf("%s: %d, want %d saying %q:\n%s", tt.name, resp.StatusCode, tt.want, tt.says, body)
		}
		if !b.loggedIn() || !a.loggedIn() {
			t.Fatalf("%s: a session was ended", tt.name)
		}
	}
	// Nothing changed: the old password still works, the new one does not.
	if code := c.browser().login("root", password); code != http.StatusSeeOther {
		t.Fatalf("old password after refusals: %d", code)
	}
	if code := c.browser().login("root", fresh); code != http.StatusUnauthorized {
		t.Fatalf("new password after refusals: %d", code)
	}

	resp, _ := a.post("/admin/password", "ok", ok)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/password?notice=") {
		t.Fatalf("change: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, page := a.get(resp.Header.Get("Location")); !strings.Contains(page, "Your password was changed.") {
		t.Errorf("no confirmation:\n%s", page)
	}
	if !a.loggedIn() {
		t.Error("the browser that changed the password was logged out")
	}
	if b.loggedIn() {
		t.Error("root's other browser is still logged in")
	}
	if !o.loggedIn() {
		t.Error("another admin was logged out")
	}
	if code := c.browser().login("root", password); code != http.StatusUnauthorized {
		t.Errorf("old password after change: %d, want 401", code)
	}
	if code := c.browser().login("root", fresh); code != http.StatusSeeOther {
		t.Errorf("new password after change: %d, want 303", code)
	}
}

func with(v url.Values, k, val string) url.Values {
	out := cloneValues(v)
	out.Set(k, val)
	return out
}
