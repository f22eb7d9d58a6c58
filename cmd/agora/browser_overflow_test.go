package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation/fedtest"
)

// TestBrowserNoOverflow: at phone width (390 px) and at 1280 px, no public
// or console page is wider than the window, and no link, button or field
// lies outside it, with the longest names Agora accepts, long unbroken
// words everywhere text goes, and many posts.
func TestBrowserNoOverflow(t *testing.T) {
	browser := chromium(t)
	a := startAgora(t, t.TempDir(), "", nil)
	ctx := context.Background()

	long := strings.Repeat("supercalifragilistic", 10) // 200 characters, no break
	name := strings.Repeat("n", 64)                    // the longest community name
	a.mustCLI("community", "create", name, "--title", long, "--approval",
		"--summary", "A summary with "+long+" and https://example.org/"+strings.Repeat("path/", 40))
	a.mustCLI("community", "create", "short", "--title", "Short", "--summary", "A small one.")
	c, err := a.srv.App.Svc.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.srv.App.Svc.Edit(ctx, name, func(c *community.Community) {
		c.Rules = "1. " + long + "\n2. Be kind."
	}); err != nil {
		t.Fatal(err)
	}
	stdin = strings.NewReader("correct horse battery\n")
	a.mustCLI("admin", "create", "root")
	for k, v := range map[string]string{"name": long[:100], "description": "Welcome. " + long} {
		if err := a.srv.App.DB.SetSetting(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}

	// Members with long names: one joins, one waits (approval), one is banned.
	longUser := strings.Repeat("u", 60)
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{longUser, "waiting" + strings.Repeat("w", 50), "banned" + strings.Repeat("b", 50)}})
	for _, u := range []string{longUser, "waiting" + strings.Repeat("w", 50)} {
		body, _ := follow(remote, u, a.base()+"/c/"+name)
		post(t, remote, a.base()+"/inbox", u, body)
	}
	waitUntil(t, "join requests", func() bool {
		n, _ := a.srv.App.Svc.CountMembers(ctx, c, community.Pending)
		return n == 2
	})
	a.mustCLI("community", "approve", name, remote.ActorIRI(longUser))
	a.mustCLI("mod", "ban", name, remote.ActorIRI("banned"+strings.Repeat("b", 50)), "--reason", long)
	a.mustCLI("mod", "add", name, "local:root", "--owner")
	a.mustCLI("domain", "block", strings.Repeat("d", 63)+"."+strings.Repeat("e", 63)+".example", "--community", name, "--reason", long)
	a.mustCLI("domain", "block", strings.Repeat("s", 63)+".example", "--reason", long)

	// A post through the inbox with long words and links, then many more.
	group := a.base() + "/c/" + name
	n := note{id: remote.URL() + "/notes/long", to: []string{asPublic}, cc: []string{group}, mentions: []string{group},
		content: "<p>" + long + long + ` <a href="https://example.org/` + strings.Repeat("x", 300) + `">https://example.org/` + strings.Repeat("x", 300) + `</a></p>`}
	n.publish(t, a, remote, longUser)
	first := postOf(t, a, name, n.id)
	now := time.Now().UTC()
	for i := range 60 {
		p := community.Post{CommunityID: c.ID, ObjectID: fmt.Sprintf("%s/notes/bulk-%d-%s", remote.URL(), i, strings.Repeat("z", 80)),
			ActivityID: fmt.Sprintf("%s/notes/bulk-%d/activity", remote.URL(), i), Type: "Note", Author: remote.ActorIRI(longUser),
			Content: fmt.Sprintf("<p>Post %d: %s</p>", i, long), Visibility: community.Public, Published: now, ReceivedAt: now,
			Decision: community.Announce, InReplyTo: map[bool]string{true: n.id}[i%10 == 0]}
		if i%7 == 0 {
			p.Decision, p.Reason = community.Refuse, community.ReasonNotMember
		}
		if err := a.srv.App.DB.AddPost(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
	a.mustCLI("mod", "pin", name, n.id)
	a.mustCLI("mod", "remove-post", name, fmt.Sprint(first.ID+3), "--reason", long)
	a.mustCLI("mod", "log", name, "--public=true")
	if _, err := a.srv.App.Mod.Report(ctx, c, community.Report{Reporter: remote.ActorIRI(longUser), ActivityID: remote.URL() + "/flags/1",
		Targets: []string{n.id, remote.ActorIRI(longUser)}, Content: long, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	failing := strings.Repeat("h", 63) + ".example"
	a.srv.App.DB.HostFailed(ctx, failing, now, "Post \"https://"+failing+"/inbox\": "+strings.Repeat("e", 250))

	public := []string{"/", "/?q=" + long[:40], "/c/" + name, fmt.Sprintf("/c/%s/p/%d", name, first.ID), "/c/" + name + "/join",
		"/c/" + name + "/modlog", "/c/short", "/admin/login", "/admin/setup?token=not-valid"}
	console := []string{"/admin", "/admin/communities/new", "/admin/c/" + name, "/admin/c/" + name + "/moderation",
		"/admin/c/" + name + "/members", "/admin/c/" + name + "/members?pending=1", "/admin/c/" + name + "/delete",
		"/admin/settings", "/admin/delivery", "/admin/domains", "/admin/password"}

	for _, width := range []int64{390, 1280} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			tb := newTab(t, browser)
			viewport := chromedp.EmulateViewport(width, 900)
			if width < 500 {
				viewport = chromedp.EmulateViewport(width, 844, chromedp.EmulateMobile)
			}
			tb.do(viewport)
			check := func(path string) {
				t.Helper()
				tb.do(chromedp.Navigate(a.base()+path), chromedp.WaitReady(chromedp.CSS("main")))
				var got struct {
					ScrollWidth, InnerWidth, ClientWidth int
					Outside                              []string
				}
				// A phone browser widens its layout viewport (innerWidth)
				// to fit a page that is too wide: the page must fit the
				// device's width, which clientWidth keeps.
				tb.eval(`(() => {
					const w = document.documentElement.clientWidth, outside = [];
					for (const e of document.querySelectorAll("header.site a, header.site button, main a, main button, main input, main select, main textarea, main img")) {
						if (e.closest(".visually-hidden") || e.type === "hidden") continue;
						const r = e.getBoundingClientRect();
						if (r.width === 0 && r.height === 0) continue;
						if (r.right > w + 1 || r.left < -1) outside.push(e.tagName + " " + (e.innerText || e.name || e.src || "").slice(0, 40) + " at " + Math.round(r.left) + ".." + Math.round(r.right));
					}
					return {ScrollWidth: document.documentElement.scrollWidth, InnerWidth: innerWidth, ClientWidth: w, Outside: outside.slice(0, 5)};
				})()`, &got)
				if got.ScrollWidth > got.InnerWidth || got.InnerWidth != int(width) || got.ClientWidth != int(width) {
					t.Errorf("%s at %d px: the page is %d px wide (innerWidth %d, clientWidth %d)", path, width, got.ScrollWidth, got.InnerWidth, got.ClientWidth)
				}
				if len(got.Outside) > 0 {
					t.Errorf("%s at %d px: outside the window: %q", path, width, got.Outside)
				}
			}
			for _, p := range public {
				check(p)
			}
			tb.do(chromedp.Navigate(a.base()+"/admin/login"), chromedp.WaitVisible(chromedp.CSS("#password")),
				chromedp.SendKeys(chromedp.CSS("#name"), "root"),
				chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
				chromedp.Submit(chromedp.CSS("#password")),
				chromedp.WaitVisible(chromedp.CSS(".admin-nav")))
			for _, p := range console {
				check(p)
			}
			// The moderation page's actions are reachable: Remove and Pin
			// within the window.
			tb.do(chromedp.Navigate(a.base()+"/admin/c/"+name+"/moderation"), chromedp.WaitVisible(chromedp.CSS("table.list")))
			var buttons int
			tb.eval(`[...document.querySelectorAll("table.list button.pin, table.list button.danger")].filter(b => {
				const r = b.getBoundingClientRect(); return r.left >= 0 && r.right <= document.documentElement.clientWidth }).length`, &buttons)
			if buttons < 40 {
				t.Errorf("at %d px, %d Remove and Pin buttons lie within the window, want 40 or more", width, buttons)
			}
			tb.screenshot(fmt.Sprintf("overflow-moderation-%d", width))
			tb.do(chromedp.Navigate(a.base() + "/c/" + name))
			tb.screenshot(fmt.Sprintf("overflow-community-%d", width))
			tb.clean(fmt.Sprintf("pages at %d px", width))
		})
	}
}
