package web_test

// Handler tests of the public pages (issue 16): how posts' summaries show,
// languages, error pages, feeds and previews, and the Write/Reply forms.

import (
	"context"
	"fmt"
	"net/http"
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
