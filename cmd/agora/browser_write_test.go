package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agorafed/agora/federation/fedtest"
	"github.com/agorafed/agora/web"
)

// TestBrowserWriteAndLanguages drives a real Chromium through issue 16:
// Write a post from the community page to a visitor's own server (a fake
// Mastodon's /share, a fake GoToSocial's text and steps, a fake Lemmy's
// new-post page), Reply from a post page to the remote-interaction page,
// the footer's language switch, and screenshots of the home page, a
// community page, a post page, the console and a 404 in English and
// French at 390 px and 1280 px (test/browser/screenshots/).
func TestBrowserWriteAndLanguages(t *testing.T) {
	browser := chromium(t)
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening", "--summary", "Seeds, soil and **sun**.")
	a.mustCLI("community", "create", "cooking", "--title", "Cooking", "--summary", "Recipes and kitchen stories.")
	ctx := context.Background()
	hash, err := web.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.srv.App.DB.CreateAdmin(ctx, "root", hash, time.Now()); err != nil {
		t.Fatal(err)
	}
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob"}, Software: "mastodon"})
	group := a.base() + "/c/gardening"
	for _, u := range []string{"alice", "bob"} {
		body, _ := follow(mastodon, u, group)
		post(t, mastodon, a.base()+"/inbox", u, body)
	}
	waitUntil(t, "members", func() bool { return followersCount(t, a, "gardening") == 2 })
	var last note
	for i, text := range []string{"<p>The tomatoes are ripe at last.</p>", "<p>My first seedlings, two weeks old.</p>"} {
		last = note{id: fmt.Sprintf("%s/notes/w%d", mastodon.URL(), i), content: text, to: []string{asPublic},
			cc: []string{mastodon.ActorIRI("alice") + "/followers", group}, mentions: []string{group}}
		last.publish(t, a, mastodon, "alice")
	}
	seedlings := postOf(t, a, "gardening", last.id)
	postPage := fmt.Sprintf("%s/p/%d", group, seedlings.ID)
	host := strings.TrimPrefix(a.base(), "http://")
	mention := "@gardening@" + host + " "

	// writeFrom fills the Write form of the community page with handle.
	writeFrom := func(tb *tab, handle string) {
		tb.do(chromedp.Navigate(group), chromedp.Click(chromedp.CSS("a.write")), chromedp.WaitVisible(chromedp.CSS("#you")),
			chromedp.SendKeys(chromedp.CSS("#you"), handle),
			chromedp.Submit(chromedp.CSS("#you")))
	}

	t.Run("Write a post arrives at Mastodon's composer with the mention", func(t *testing.T) {
		home := fedtest.NewHome(t, fedtest.HomeOptions{Software: "mastodon", Interaction: "/authorize_interaction?uri={uri}"})
		v := newTab(t, browser)
		writeFrom(v, "@me@"+home.Host())
		v.waitLocation(home.URL() + "/share?")
		if got := v.text("#q-text"); got != strings.TrimSpace(mention) {
			t.Fatalf("Mastodon's composer got text %q, want %q", got, mention)
		}
		v.clean("write to Mastodon")
	})

	t.Run("a GoToSocial visitor gets the text and the steps", func(t *testing.T) {
		home := fedtest.NewHome(t, fedtest.HomeOptions{Software: "gotosocial"})
		v := newTab(t, browser)
		writeFrom(v, "@me@"+home.Host())
		v.do(chromedp.WaitVisible(chromedp.CSS(".manual")))
		var got struct {
			Steps []string
			Text  string
		}
		v.eval(`{Steps: [...document.querySelectorAll(".manual .steps li")].map(e => e.innerText),
			Text: document.querySelector("#post-text").value}`, &got)
		if got.Text != mention || len(got.Steps) != 5 || !strings.Contains(got.Steps[0], "GoToSocial has no page for writing") ||
			!strings.Contains(got.Steps[3], "Public") {
			t.Fatalf("GoToSocial visitor sees %+v", got)
		}
		if len(home.Visits()) != 0 {
			t.Errorf("the GoToSocial visitor was sent to %v", home.Visits())
		}
		v.screenshot("write-gotosocial")
		v.clean("write from GoToSocial")
	})

	t.Run("a Lemmy visitor arrives at its new-post page for the community", func(t *testing.T) {
		home := fedtest.NewHome(t, fedtest.HomeOptions{Software: "lemmy", LemmyCommunities: map[string]int64{"gardening@" + host: 7}})
		v := newTab(t, browser)
		writeFrom(v, "@me@"+home.Host())
		if loc := v.waitLocation(home.URL() + "/create_post"); loc != home.URL()+"/create_post?communityId=7" {
			t.Fatalf("Lemmy visitor at %s", loc)
		}
		v.clean("write from Lemmy")
	})

	t.Run("Reply from a post page reaches the remote-interaction page", func(t *testing.T) {
		home := fedtest.NewHome(t, fedtest.HomeOptions{Software: "mastodon", Interaction: "/authorize_interaction?uri={uri}"})
		v := newTab(t, browser)
		v.do(chromedp.Navigate(postPage), chromedp.WaitVisible(chromedp.CSS(".post.main .actions")),
			chromedp.Click(chromedp.CSS(`.post.main .actions a[href$="/reply"]`)), chromedp.WaitVisible(chromedp.CSS("#you")),
			chromedp.SendKeys(chromedp.CSS("#you"), "@me@"+home.Host()), chromedp.Submit(chromedp.CSS("#you")))
		v.waitLocation(home.URL() + "/authorize_interaction?")
		if got := v.text("#q-uri"); got != last.id {
			t.Fatalf("remote interaction with %q, want the post's id %q", got, last.id)
		}
		v.clean("reply")
	})

	t.Run("the footer switches the language and remembers it", func(t *testing.T) {
		v := newTab(t, browser)
		v.do(chromedp.Navigate(group), chromedp.WaitVisible(chromedp.CSS("footer .langs")),
			chromedp.Click(chromedp.CSS(`footer .langs a[hreflang="fr"]`)), chromedp.WaitVisible(chromedp.CSS("html[lang=fr] .howto")))
		if loc := v.location(); loc != group {
			t.Errorf("after the switch: at %s, want back at %s", loc, group)
		}
		if got := v.text(".howto h2"); got != "Comment publier" {
			t.Errorf("French community page: %q", got)
		}
		v.do(chromedp.Navigate(a.base()+"/"), chromedp.WaitVisible(chromedp.CSS("html[lang=fr] .directory")))
		if got := v.text("#dir-h"); got != "Communautés" {
			t.Errorf("the choice is not remembered: %q", got)
		}
		v.clean("language switch")
	})

	t.Run("screenshots in English and French, phone and desktop", func(t *testing.T) {
		pages := []struct{ name, path, ready string }{
			{"home", "/", ".directory"},
			{"community", "/c/gardening", ".feed"},
			{"post", strings.TrimPrefix(postPage, a.base()), ".post.main"},
			{"console", "/admin", ".admin-nav"},
			{"404", "/c/gardening/p/999999", ".error-page"},
		}
		for _, lang := range []string{"en", "fr"} {
			v := newTab(t, browser)
			v.do(chromedp.Navigate(a.base()+"/lang/"+lang+"?back=/admin/login"), chromedp.WaitVisible(chromedp.CSS("#password")),
				chromedp.SendKeys(chromedp.CSS("#name"), "root"), chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
				chromedp.Submit(chromedp.CSS("#password")), chromedp.WaitVisible(chromedp.CSS(".admin-nav")))
			for _, width := range []int64{390, 1280} {
				if width == 390 {
					v.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
				} else {
					v.do(chromedp.EmulateViewport(1280, 900))
				}
				for _, p := range pages {
					v.do(chromedp.Navigate(a.base()+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
					var got struct {
						Lang     string
						Overflow int
					}
					v.eval(`{Lang: document.documentElement.lang,
						Overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth}`, &got)
					if got.Lang != lang {
						t.Errorf("%s in %s: lang=%q", p.name, lang, got.Lang)
					}
					if got.Overflow > 0 {
						t.Errorf("%s in %s at %d px: %d px wider than the screen", p.name, lang, width, got.Overflow)
					}
					v.screenshot(fmt.Sprintf("i18n-%s-%s-%d", p.name, lang, width))
				}
			}
			v.clean("screenshots in " + lang)
		}
	})
}
