package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/agorafed/agora/federation/fedtest"
)

// The browser tests drive a real headless Chromium (Debian's package
// chromium, /usr/bin/chromium; AGORA_CHROMIUM names another). Without one
// they skip, except under CI=true, where they fail: CI installs it.

// screenshotDir is where the browser tests leave their screenshots for a
// reviewer (README.md names it; git ignores it).
const screenshotDir = "../../test/browser/screenshots"

func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("AGORA_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need Chromium at %s (apt-get install chromium, as .ci/run does): %v", p, err)
		}
		t.Skipf("no Chromium at %s (apt-get install chromium): browser tests skipped", p)
	}
	return p
}

// chromium starts a headless Chromium with a fresh profile that resolves no
// host name: the pages under test are on 127.0.0.1 and nothing else may be
// reached.
func chromium(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// tab is a tab in a browser context of its own (own cookies), watched for
// JavaScript dialogs and console errors.
type tab struct {
	t       *testing.T
	ctx     context.Context
	dialogs atomic.Int32
	marks   atomic.Int32
	mu      sync.Mutex
	errors  []string
	seen    map[string]bool // settle's markers that came back
}

// settleMarker begins what settle logs to the console.
const settleMarker = "agora-test-settled-"

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx, seen: map[string]bool{}}
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			tb.dialogs.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			// Failed image loads are the network's business; anything
			// else (an exception, a CSP violation) is the page's.
			if m.Type == chromedp.ConsoleInfo && strings.HasPrefix(m.Text, settleMarker) {
				tb.mu.Lock()
				tb.seen[m.Text] = true
				tb.mu.Unlock()
				continue
			}
			if (m.Type == chromedp.ConsoleError || m.IsException()) && m.Source != "network" {
				tb.mu.Lock()
				tb.errors = append(tb.errors, m.String())
				tb.mu.Unlock()
			}
		}
	}()
	return tb
}

// do runs actions with a time limit.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression (through DevTools, not the page's
// own scripts) into v.
func (tb *tab) eval(expr string, v any) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(`+expr+`)`))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", expr, err)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		tb.t.Fatalf("evaluate %s: %v (%s)", expr, err, s)
	}
}

func (tb *tab) text(sel string) string {
	var s string
	tb.eval(`(document.querySelector(`+jsString(sel)+`)||{}).innerText||""`, &s)
	return s
}

func (tb *tab) location() string {
	var s string
	tb.eval(`location.href`, &s)
	return s
}

func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name+".png"), buf, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// settle waits until the page has loaded and painted twice, then logs a
// marker to the console and waits for it to come back: the console's
// messages come in order, so what the page logged before is in tb.errors
// by then.
func (tb *tab) settle(what string) {
	tb.t.Helper()
	marker := fmt.Sprintf("%s%d", settleMarker, tb.marks.Add(1))
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise(done => {
		const mark = () => requestAnimationFrame(() => requestAnimationFrame(() => { console.info(`+jsString(marker)+`); done(true) }));
		if (document.readyState === "complete") mark(); else addEventListener("load", mark);
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		// A dialog blocks the page's scripts, the marker's too.
		tb.t.Fatalf("%s: the page did not settle (%d JavaScript dialogs opened): %v", what, tb.dialogs.Load(), err)
	}
	back := pollUntil(15*time.Second, func() bool {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		return tb.seen[marker]
	})
	if !back {
		tb.t.Fatalf("%s: the console marker did not come back", what)
	}
}

// waitText waits until the page's text contains want, and returns it.
func (tb *tab) waitText(want string) string {
	tb.t.Helper()
	var body string
	pollUntil(15*time.Second, func() bool {
		tb.eval(`document.body ? document.body.innerText : ""`, &body)
		return strings.Contains(body, want)
	})
	return body
}

// clean fails the test if the page opened a dialog or logged an error.
func (tb *tab) clean(what string) {
	tb.t.Helper()
	tb.settle(what)
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if n := tb.dialogs.Load(); n > 0 {
		tb.t.Errorf("%s: %d JavaScript dialogs opened", what, n)
	}
	if len(tb.errors) > 0 {
		tb.t.Errorf("%s: console errors: %q", what, tb.errors)
	}
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// waitLocation waits until the tab's URL starts with prefix.
func (tb *tab) waitLocation(prefix string) string {
	tb.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		loc := tb.location()
		if strings.HasPrefix(loc, prefix) {
			return loc
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("location %s, want %s...", loc, prefix)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBrowser(t *testing.T) {
	browser := chromium(t)
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening", "--summary", "Seeds, soil and sun.")
	a.mustCLI("community", "create", "cooking", "--title", "Cooking", "--summary", "Recipes and kitchen stories.")
	a.mustCLI("community", "create", "birds", "--title", "Birdwatching", "--summary", "Notes from the field.")
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob"}, Software: "mastodon"})
	lemmy := fedtest.NewServer(t, fedtest.Options{Users: []string{"dave"}, Software: "lemmy"})
	avatar := testPNG(t, 48, 48)
	mastodon.PutDocument("/avatars/alice.png", avatar)
	mastodon.PutDocument("/avatars/bob.png", avatar)
	lemmy.PutDocument("/avatars/dave.png", avatar)
	group := a.base() + "/c/gardening"
	for _, m := range []struct {
		s          *fedtest.Server
		user, name string
	}{{mastodon, "alice", "gardening"}, {mastodon, "bob", "gardening"}, {lemmy, "dave", "gardening"}, {mastodon, "alice", "cooking"}} {
		body, _ := follow(m.s, m.user, a.base()+"/c/"+m.name)
		post(t, m.s, a.base()+"/inbox", m.user, body)
	}
	waitUntil(t, "members", func() bool { return followersCount(t, a, "gardening") == 3 && followersCount(t, a, "cooking") == 1 })
	posts := []struct {
		s             *fedtest.Server
		user, content string
	}{
		{mastodon, "alice", "<p>The tomatoes are ripe at last.</p>"},
		{mastodon, "bob", "<p>My first seedlings, two weeks old.</p>"},
		{lemmy, "dave", `<p>Evil <script>alert("script")</script><img src="x" onerror="alert('onerror')">` +
			`<a href="javascript:alert('href')">click me</a> and <a href="JaVaScRiPt:alert('case')">me</a></p>`},
	}
	var evilID string
	for i, p := range posts {
		n := note{id: fmt.Sprintf("%s/notes/%d", p.s.URL(), i), content: p.content, to: []string{asPublic},
			cc: []string{p.s.ActorIRI(p.user) + "/followers", group}, mentions: []string{group}}
		n.publish(t, a, p.s, p.user)
		evilID = n.id
	}
	evil := postOf(t, a, "gardening", evilID)
	waitUntil(t, "posts announced", func() bool {
		n, _ := a.srv.App.DB.CountPosts(context.Background(), evil.CommunityID, true)
		return n == 3
	})

	var avatarFile, coverFile = filepath.Join(t.TempDir(), "avatar.png"), filepath.Join(t.TempDir(), "cover.jpg")
	os.WriteFile(avatarFile, testPNG(t, 256, 256), 0o644)
	os.WriteFile(coverFile, testJPEG(t, 1200, 300), 0o644)

	t.Run("admin sets up, logs in, creates a community with images", func(t *testing.T) {
		admin := newTab(t, browser)
		admin.do(chromedp.Navigate(setupLink(t, a)),
			chromedp.SendKeys(chromedp.CSS("#name"), "root"),
			chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
			chromedp.SendKeys(chromedp.CSS("#confirm"), "correct horse battery"),
			chromedp.Submit(chromedp.CSS("#confirm")),
			chromedp.WaitVisible(chromedp.CSS(".admin-nav")))
		// Log out and in with the password.
		admin.do(chromedp.Click(chromedp.CSS("header.site button.link")), chromedp.WaitVisible(chromedp.CSS(".directory")),
			chromedp.Navigate(a.base()+"/admin/login"),
			chromedp.SendKeys(chromedp.CSS("#name"), "root"),
			chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
			chromedp.Submit(chromedp.CSS("#password")),
			chromedp.WaitVisible(chromedp.CSS(".admin-nav")))
		admin.do(chromedp.Navigate(a.base()+"/admin/communities/new"),
			chromedp.SendKeys(chromedp.CSS("#name"), "photos"),
			chromedp.SendKeys(chromedp.CSS("#title"), "Photography"),
			chromedp.SetValue(chromedp.CSS("#summary"), "Light and **lenses**."),
			chromedp.SetValue(chromedp.CSS("#rules"), "1. Credit the photographer\n2. No watermarks"),
			chromedp.SetUploadFiles(chromedp.CSS("#avatar"), []string{avatarFile}),
			chromedp.SetUploadFiles(chromedp.CSS("#cover"), []string{coverFile}),
			chromedp.Submit(chromedp.CSS("#title")),
			chromedp.WaitVisible(chromedp.CSS(".notice")))
		if n := admin.text(".notice"); !strings.Contains(n, "@photos@") {
			t.Fatalf("after create: notice %q", n)
		}
		// The gardening community gets its images and a Markdown description.
		admin.do(chromedp.Navigate(a.base()+"/admin/c/gardening"),
			chromedp.SetValue(chromedp.CSS("#summary"), "Seeds, soil and **sun**.\n\n- vegetables\n- flowers"),
			chromedp.SetValue(chromedp.CSS("#rules"), "Be kind to beginners."),
			chromedp.SetUploadFiles(chromedp.CSS("#avatar"), []string{avatarFile}),
			chromedp.SetUploadFiles(chromedp.CSS("#cover"), []string{coverFile}),
			chromedp.Submit(chromedp.CSS("#title")),
			chromedp.WaitVisible(chromedp.CSS(".notice")))
		admin.do(chromedp.Navigate(a.base()+"/admin/settings"),
			chromedp.SetValue(chromedp.CSS("#name"), "Agora Commons"),
			chromedp.SetValue(chromedp.CSS("#description"), "Communities for *everyone* on the fediverse."),
			chromedp.Submit(chromedp.CSS("#name")),
			chromedp.WaitVisible(chromedp.CSS(".notice")))
		admin.do(chromedp.Navigate(a.base()+"/admin"), chromedp.WaitVisible(chromedp.CSS("table.list")))
		admin.screenshot("admin-console")
		admin.do(chromedp.Navigate(a.base()+"/admin/c/gardening/moderation"), chromedp.WaitVisible(chromedp.CSS("table.list")))
		admin.screenshot("admin-moderation")
		admin.clean("admin console")

		// A second browser context, logged out, sees the new community.
		visitor := newTab(t, browser)
		visitor.do(chromedp.Navigate(a.base()+"/c/photos"), chromedp.WaitVisible(chromedp.CSS("h1")))
		var got struct {
			Title         string
			Cover, Avatar int
			Description   string
		}
		visitor.eval(`{Title: document.querySelector("h1").innerText,
			Cover: document.querySelector("img.cover").naturalWidth,
			Avatar: document.querySelector("img.avatar.large").naturalWidth,
			Description: document.querySelector(".description").innerHTML}`, &got)
		if got.Title != "Photography" || got.Cover != 1200 || got.Avatar != 256 || !strings.Contains(got.Description, "<strong>lenses</strong>") {
			t.Fatalf("visitor sees %+v", got)
		}
		visitor.clean("community page of photos")

		// A form posted without its CSRF token is refused.
		admin.do(chromedp.Navigate(a.base()+"/admin/settings"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('form.stack input[name=csrf]').remove()`),
			chromedp.SetValue(chromedp.CSS("#name"), "Hacked"),
			chromedp.Submit(chromedp.CSS("#name")))
		if body := admin.waitText("CSRF"); !strings.Contains(body, "CSRF") {
			t.Fatalf("settings posted without CSRF token: page says %q", body)
		}
		visitor.do(chromedp.Navigate(a.base() + "/"))
		if h := visitor.text("h1"); h != "Agora Commons" {
			t.Fatalf("instance name %q after a post without token", h)
		}
	})

	t.Run("directory lists, sorts and searches communities", func(t *testing.T) {
		v := newTab(t, browser)
		var names []string
		v.do(chromedp.Navigate(a.base()+"/?sort=activity"), chromedp.WaitVisible(chromedp.CSS(".directory")))
		v.eval(`[...document.querySelectorAll(".directory h3")].map(e => e.innerText)`, &names)
		if len(names) != 4 || names[0] != "Gardening" || !contains(names, "Cooking") || !contains(names, "Birdwatching") || !contains(names, "Photography") {
			t.Fatalf("directory by activity: %q", names)
		}
		if stats := v.text(".directory li:first-child .stats"); !strings.Contains(stats, "3 members") || !strings.Contains(stats, "3 posts this week") {
			t.Errorf("gardening stats %q", stats)
		}
		v.do(chromedp.Navigate(a.base()+"/?sort=members"), chromedp.WaitVisible(chromedp.CSS(".directory")))
		v.screenshot("directory")
		v.do(chromedp.SetValue(chromedp.CSS("#q"), "recipes"), chromedp.Submit(chromedp.CSS("#q")))
		v.waitLocation(a.base() + "/?q=recipes")
		v.do(chromedp.WaitVisible(chromedp.CSS(".directory")))
		v.eval(`[...document.querySelectorAll(".directory h3")].map(e => e.innerText)`, &names)
		if len(names) != 1 || names[0] != "Cooking" {
			t.Fatalf("search for recipes: %q", names)
		}
		v.clean("directory")
	})

	t.Run("community page shows cover, name, description, members, Join and posts", func(t *testing.T) {
		v := newTab(t, browser)
		v.do(chromedp.Navigate(group), chromedp.WaitVisible(chromedp.CSS(".feed")))
		var got struct {
			Cover         int
			Title, Handle string
			Description   string
			Members       string
			Join          string
			Authors       []string
			Contents      []string
		}
		v.eval(`{Cover: document.querySelector("img.cover").naturalWidth,
			Title: document.querySelector("h1").innerText,
			Handle: document.querySelector("#handle").value,
			Description: document.querySelector(".description").innerText,
			Members: document.querySelector(".stats").innerText,
			Join: document.querySelector("a.join").innerText,
			Authors: [...document.querySelectorAll(".feed .author strong")].map(e => e.innerText),
			Contents: [...document.querySelectorAll(".feed .content")].map(e => e.innerText)}`, &got)
		u, _ := url.Parse(a.base())
		if got.Cover != 1200 || got.Title != "Gardening" || got.Handle != "@gardening@"+u.Host ||
			!strings.Contains(got.Description, "vegetables") || !strings.HasPrefix(got.Members, "3 members") || got.Join != "Join" {
			t.Fatalf("community page shows %+v", got)
		}
		if len(got.Authors) != 3 || got.Authors[0] != "Dave" || !contains(got.Authors, "Alice") || !contains(got.Authors, "Bob") {
			t.Fatalf("feed authors %q, want Dave (newest), Alice and Bob", got.Authors)
		}
		if !strings.Contains(strings.Join(got.Contents, "|"), "tomatoes are ripe") {
			t.Errorf("feed contents %q", got.Contents)
		}
		v.screenshot("community-desktop")
		v.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(group), chromedp.WaitVisible(chromedp.CSS(".feed")))
		var overflow int
		v.eval(`document.documentElement.scrollWidth - document.documentElement.clientWidth`, &overflow)
		if overflow > 0 {
			t.Errorf("community page is %dpx wider than a phone", overflow)
		}
		v.screenshot("community-phone")
		v.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
			})
			return err
		}), chromedp.Navigate(group), chromedp.WaitVisible(chromedp.CSS(".feed")))
		var bg string
		v.eval(`getComputedStyle(document.body).backgroundColor`, &bg)
		if bg != "rgb(21, 23, 26)" {
			t.Errorf("dark mode background %q", bg)
		}
		v.screenshot("community-phone-dark")
		v.clean("community page")
	})

	t.Run("hostile post content does not run", func(t *testing.T) {
		v := newTab(t, browser)
		for _, u := range []string{group, fmt.Sprintf("%s/p/%d", group, evil.ID)} {
			v.do(chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(".post")))
			var found struct{ Scripts, Handlers, JSLinks, Text int }
			v.eval(`{Scripts: document.querySelectorAll("main script").length,
				Handlers: document.querySelectorAll("[onerror],[onload],[onclick]").length,
				JSLinks: [...document.querySelectorAll("a[href]")].filter(a => a.href.trim().toLowerCase().startsWith("javascript:")).length,
				Text: [...document.querySelectorAll(".content")].filter(e => e.innerText.includes("click me")).length}`, &found)
			if found.Scripts+found.Handlers+found.JSLinks > 0 || found.Text == 0 {
				t.Fatalf("%s: %+v", u, found)
			}
			// Clicking the defanged link runs nothing either.
			v.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll(".content a")].forEach(a => a.click())`))
			v.clean(u)
		}
	})

	t.Run("Join redirects to the visitor's server", func(t *testing.T) {
		remote := fakeSubscribeServer(t, "/authorize_interaction?uri={uri}")
		v := newTab(t, browser)
		handle := "@me@" + strings.TrimPrefix(remote.URL, "http://")
		v.do(chromedp.Navigate(group), chromedp.Click(chromedp.CSS("a.join")), chromedp.WaitVisible(chromedp.CSS("#you")),
			chromedp.SendKeys(chromedp.CSS("#you"), handle), chromedp.Submit(chromedp.CSS("#you")))
		loc := v.waitLocation(remote.URL + "/authorize_interaction")
		if want := remote.URL + "/authorize_interaction?uri=" + url.QueryEscape(group); loc != want {
			t.Fatalf("Join went to %s, want %s", loc, want)
		}
		// Next time the form remembers the server.
		v.do(chromedp.Navigate(group+"/join"), chromedp.WaitVisible(chromedp.CSS("#you")))
		var remembered string
		v.eval(`document.querySelector("#you").value`, &remembered)
		if remembered != handle {
			t.Errorf("join form remembers %q, want %q", remembered, handle)
		}
	})

	t.Run("admin pins a post and changes the password", func(t *testing.T) {
		const oldPW, newPW = "correct horse battery", "a longer and newer secret"
		login := func(tb *tab, pw string) {
			tb.do(chromedp.Navigate(a.base()+"/admin/login"), chromedp.WaitVisible(chromedp.CSS("#password")),
				chromedp.SendKeys(chromedp.CSS("#name"), "root"),
				chromedp.SendKeys(chromedp.CSS("#password"), pw),
				chromedp.Submit(chromedp.CSS("#password")),
				// The answer: the console, or the form again with an error.
				chromedp.WaitVisible(chromedp.CSS(".admin-nav, p.error")))
		}
		admin := newTab(t, browser)
		login(admin, oldPW)
		if admin.location() != a.base()+"/admin" {
			t.Fatalf("login with the password from setup: at %s", admin.location())
		}
		// Pin alice's post from the moderation page.
		tomatoes := mastodon.URL() + "/notes/0"
		admin.do(chromedp.Navigate(a.base()+"/admin/c/gardening/moderation"), chromedp.WaitVisible(chromedp.CSS("table.list")),
			chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("table.list tr")].find(tr => tr.innerText.includes("tomatoes are ripe")).querySelector("button.pin").click()`))
		admin.waitLocation(a.base() + "/admin/c/gardening/moderation?notice=Pinned")
		admin.do(chromedp.WaitVisible(chromedp.CSS(".notice")))
		var row struct{ Badge, Unpin bool }
		admin.eval(`(tr => ({Badge: !!tr.querySelector(".badge"), Unpin: !!tr.querySelector("button.unpin")}))(
			[...document.querySelectorAll("table.list tr")].find(tr => tr.innerText.includes("tomatoes are ripe")))`, &row)
		if !row.Badge || !row.Unpin || !strings.Contains(admin.text(".pinned-posts"), "tomatoes are ripe") {
			t.Fatalf("moderation page after Pin: row %+v, pinned section %q", row, admin.text(".pinned-posts"))
		}
		admin.screenshot("admin-moderation-pinned")
		admin.clean("moderation page")

		// A visitor sees it pinned on the community page; the featured
		// collection has it, and the threadiverse member's server got Add.
		visitor := newTab(t, browser)
		visitor.do(chromedp.Navigate(group), chromedp.WaitVisible(chromedp.CSS(".pinned-feed")))
		if got := visitor.text(".pinned-feed .content"); !strings.Contains(got, "tomatoes are ripe") {
			t.Fatalf("pinned on the community page: %q", got)
		}
		visitor.screenshot("community-pinned")
		visitor.clean("community page with a pinned post")
		if got := collectionItems(t, group+"/featured"); len(got) != 1 || got[0] != tomatoes {
			t.Fatalf("featured %v, want [%s]", got, tomatoes)
		}
		waitUntil(t, "Add to featured at the Lemmy-like server", func() bool { return modCount(t, a, lemmy, group, "Add", "", group+"/featured") == 1 })

		// Change the password, log out, log in with the new one.
		admin.do(chromedp.Navigate(a.base()+"/admin"), chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/password"]`)),
			chromedp.Click(chromedp.CSS(`main a[href="/admin/password"]`)), chromedp.WaitVisible(chromedp.CSS("#current")),
			chromedp.SendKeys(chromedp.CSS("#current"), oldPW),
			chromedp.SendKeys(chromedp.CSS("#password"), newPW),
			chromedp.SendKeys(chromedp.CSS("#confirm"), newPW),
			chromedp.Submit(chromedp.CSS("#confirm")))
		admin.waitLocation(a.base() + "/admin/password?notice=")
		admin.do(chromedp.WaitVisible(chromedp.CSS(".notice")))
		if n := admin.text(".notice"); !strings.Contains(n, "password was changed") {
			t.Fatalf("after the change: notice %q", n)
		}
		admin.screenshot("admin-password-changed")
		admin.do(chromedp.Click(chromedp.CSS("header.site button.link")), chromedp.WaitVisible(chromedp.CSS(".directory")))
		login(admin, oldPW)
		if e := admin.text(".error"); !strings.Contains(e, "Wrong name or password") {
			t.Fatalf("old password after the change: error %q at %s", e, admin.location())
		}
		login(admin, newPW)
		if loc := admin.location(); loc != a.base()+"/admin" || admin.text(".admin-nav") == "" {
			t.Fatalf("new password: at %s", loc)
		}
		admin.clean("password change")
	})
}
