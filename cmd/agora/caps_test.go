package main

import (
	"encoding/json"
	"html"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

// TestLongTitleOnCommunityPage: a member's post with a 100 KB title is
// announced as any other, and the community page shows its title cut to
// federation.MaxPostTitle characters.
func TestLongTitleOnCommunityPage(t *testing.T) {
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	a, group := gardening(t, nil, joiner{remote, "alice"})

	title := strings.Repeat("Slugs ate my lettuce ", 100_000/21+1)
	n := note{to: []string{asPublic}, cc: []string{remote.ActorIRI("alice") + "/followers", group}, mentions: []string{group}}
	n.id, n.content = remote.URL()+"/notes/long-title", "<p>Help</p>"
	publishWith(t, a, remote, "alice", n, map[string]any{"type": "Page", "name": title})
	p := postOf(t, a, "gardening", n.id)
	if p.Decision != community.Announce {
		t.Fatalf("post decided %s (%s), want announce", p.Decision, p.Reason)
	}
	// Announced as before: the Announce names the original, which peers
	// fetch whole.
	waitUntil(t, "the Announce", func() bool { return len(received(remote, "Announce")) == 1 })
	var ann struct {
		Object string `json:"object"`
	}
	if err := json.Unmarshal(received(remote, "Announce")[0].Body, &ann); err != nil || ann.Object != n.id {
		t.Fatalf("Announce object %q (%v), want %s", ann.Object, err, n.id)
	}

	_, page := newBrowser(t).get(group)
	m := regexp.MustCompile(`<h3 class="post-title">([^<]*)</h3>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no post title on the community page")
	}
	shown := html.UnescapeString(m[1])
	want := strings.TrimSpace(string([]rune(title)[:federation.MaxPostTitle-1])) + "…"
	if shown != want || utf8.RuneCountInString(shown) > federation.MaxPostTitle {
		t.Errorf("title shown (%d runes) %q, want %q", utf8.RuneCountInString(shown), shown, want)
	}
	if len(page) > 50_000 {
		t.Errorf("community page is %d bytes", len(page))
	}
}
