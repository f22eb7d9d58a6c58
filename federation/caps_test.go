package federation_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
)

// capsCreate is a Lemmy-like Create{Page} to a community, with the given
// fields of the Page set or replaced.
func capsCreate(t *testing.T, page map[string]any) string {
	t.Helper()
	obj := map[string]any{
		"type": "Page", "id": "https://lemmy.example/post/7", "attributedTo": "https://lemmy.example/u/alice",
		"to":   []string{"http://agora.test/c/news", "https://www.w3.org/ns/activitystreams#Public"},
		"name": "A title", "content": "<p>Body</p>", "mediaType": "text/html",
	}
	for k, v := range page {
		obj[k] = v
	}
	b, err := json.Marshal(map[string]any{
		"type": "Create", "id": "https://lemmy.example/activities/create/7", "actor": "https://lemmy.example/u/alice",
		"to": []string{"https://www.w3.org/ns/activitystreams#Public"}, "cc": []string{"http://agora.test/c/news"},
		"object": obj,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func images(n int, url func(i int) string, alt string) []any {
	var out []any
	for i := range n {
		out = append(out, map[string]any{"type": "Image", "mediaType": "image/png", "url": url(i), "name": alt})
	}
	return out
}

func imageURL(i int) string { return fmt.Sprintf("https://lemmy.example/pictrs/%d.png", i) }

// TestPostCaps: titles, content warnings and alt text from remote servers
// are cut to their caps by runes with an ellipsis, and attachments beyond
// the cap are dropped; nothing else of the post changes.
func TestPostCaps(t *testing.T) {
	long := strings.Repeat("a", 10_000)
	kanji := strings.Repeat("日本語", 200) // 600 runes of 3 bytes
	accents := "x" + strings.Repeat("e\u0301", 200)
	tests := []struct {
		name  string
		page  map[string]any
		check func(t *testing.T, p community.Post)
	}{
		{"a 10,000-rune title", map[string]any{"name": long}, func(t *testing.T, p community.Post) {
			eqs(t, "Title", p.Title, long[:federation.MaxPostTitle-1]+"…")
		}},
		{"a multi-byte title is cut between runes", map[string]any{"name": kanji}, func(t *testing.T, p community.Post) {
			if !utf8.ValidString(p.Title) || utf8.RuneCountInString(p.Title) != federation.MaxPostTitle {
				t.Errorf("Title: valid %v, %d runes; want valid, %d", utf8.ValidString(p.Title), utf8.RuneCountInString(p.Title), federation.MaxPostTitle)
			}
			eqs(t, "Title", p.Title, string([]rune(kanji)[:federation.MaxPostTitle-1])+"…")
		}},
		{"a title at the cap is kept whole", map[string]any{"name": long[:federation.MaxPostTitle]}, func(t *testing.T, p community.Post) {
			eqs(t, "Title", p.Title, long[:federation.MaxPostTitle])
		}},
		{"one rune over the cap", map[string]any{"name": long[:federation.MaxPostTitle+1]}, func(t *testing.T, p community.Post) {
			eqs(t, "Title", p.Title, long[:federation.MaxPostTitle-1]+"…")
		}},
		{"no letter loses its accent", map[string]any{"name": accents}, func(t *testing.T, p community.Post) {
			// 254 runes would end with an e whose accent does not fit:
			// the cut goes before it.
			eqs(t, "Title", p.Title, "x"+strings.Repeat("e\u0301", 126)+"…")
		}},
		{"no space before the ellipsis", map[string]any{"name": long[:federation.MaxPostTitle-2] + " x" + long}, func(t *testing.T, p community.Post) {
			eqs(t, "Title", p.Title, long[:federation.MaxPostTitle-2]+"…")
		}},
		{"a 5,000-rune content warning", map[string]any{"summary": strings.Repeat("é", 5000)}, func(t *testing.T, p community.Post) {
			eqs(t, "Summary", p.Summary, strings.Repeat("é", federation.MaxContentWarning-1)+"…")
		}},
		{"the cap counts text, not markup", map[string]any{"name": "<b>" + long[:federation.MaxPostTitle] + "</b> &amp;"}, func(t *testing.T, p community.Post) {
			eqs(t, "Title", p.Title, long[:federation.MaxPostTitle-1]+"…")
		}},
		{"50 attachments", map[string]any{"attachment": images(50, imageURL, "")}, func(t *testing.T, p community.Post) {
			if len(p.Attachments) != federation.MaxAttachments {
				t.Fatalf("%d attachments, want %d", len(p.Attachments), federation.MaxAttachments)
			}
			for i, a := range p.Attachments {
				eqs(t, "Attachment URL", a.URL, imageURL(i)) // the first ones, in order
			}
		}},
		{"attachments dropped for their URL do not count", map[string]any{"attachment": append(
			images(40, func(i int) string { return fmt.Sprintf("javascript:x(%d)", i) }, ""), images(3, imageURL, "")...)},
			func(t *testing.T, p community.Post) {
				if len(p.Attachments) != 3 {
					t.Fatalf("%d attachments, want the 3 https ones", len(p.Attachments))
				}
			}},
		{"a 5,000-rune alt text", map[string]any{"attachment": images(2, imageURL, strings.Repeat("ß", 5000))}, func(t *testing.T, p community.Post) {
			for _, a := range p.Attachments {
				eqs(t, "Alt", a.Alt, strings.Repeat("ß", federation.MaxAltText-1)+"…")
			}
		}},
		{"short fields are untouched", map[string]any{"name": "Hello", "summary": "spoilers",
			"attachment": images(1, imageURL, "a cat")}, func(t *testing.T, p community.Post) {
			eqs(t, "Title", p.Title, "Hello")
			eqs(t, "Summary", p.Summary, "spoilers")
			if len(p.Attachments) != 1 || p.Attachments[0].Alt != "a cat" {
				t.Errorf("Attachments = %+v", p.Attachments)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := capsCreate(t, tt.page)
			act := mustParse(t, doc)
			p := federation.PostFromObject(act, act.Object)
			tt.check(t, p)
			// Nothing else changes: the activity is kept (and relayed) as
			// received, the post is still the same post, for the same
			// community, with its content.
			eqs(t, "Activity", string(p.Activity), doc)
			eqs(t, "ObjectID", p.ObjectID, "https://lemmy.example/post/7")
			eqs(t, "Content", p.Content, "<p>Body</p>")
			eqs(t, "Visibility", string(p.Visibility), string(community.Public))
			if got := federation.AddressedCommunities(agoraTest(t), act); len(got) != 1 || got[0] != "news" {
				t.Errorf("AddressedCommunities = %v", got)
			}
		})
	}
}

// TestActorCaps (issue 15, item 9): a remote actor's name and username are
// cut to their caps, and links too long to be real are dropped; on
// a20fa47 a 900 KB name was kept whole and shown beside every post.
func TestActorCaps(t *testing.T) {
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	tests := []struct {
		name                string
		doc                 map[string]any
		wantName, wantUser  int // runes kept
		wantURL, wantFollow bool
	}{
		{"ordinary", map[string]any{"name": "Alice", "preferredUsername": "alice", "url": "https://example.social/@alice", "followers": "https://example.social/users/alice/followers"}, 5, 5, true, true},
		{"900 KB name", map[string]any{"name": long("é", 450000), "preferredUsername": "alice"}, federation.MaxActorName, 5, false, false},
		{"long username", map[string]any{"name": "A", "preferredUsername": long("a", 5000)}, 1, federation.MaxActorUsername, false, false},
		{"links past the cap", map[string]any{"name": "A", "url": "https://example.social/" + long("x", 5000), "icon": map[string]any{"url": "https://example.social/" + long("i", 5000)},
			"followers": "https://example.social/" + long("f", 5000)}, 1, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := map[string]any{"id": "https://example.social/users/alice", "type": "Person", "inbox": "https://example.social/users/alice/inbox"}
			for k, v := range tt.doc {
				doc[k] = v
			}
			body, _ := json.Marshal(doc)
			a, err := federation.ParseActor(body)
			if err != nil {
				t.Fatal(err)
			}
			if n := utf8.RuneCountInString(a.Name); n != tt.wantName {
				t.Errorf("name: %d runes, want %d", n, tt.wantName)
			}
			if n := utf8.RuneCountInString(a.PreferredUsername); n != tt.wantUser {
				t.Errorf("username: %d runes, want %d", n, tt.wantUser)
			}
			if (a.URL != "") != tt.wantURL || (a.Followers != "") != tt.wantFollow {
				t.Errorf("url %q, followers %q", a.URL, a.Followers)
			}
			if len(a.Icon) > federation.MaxActorURL {
				t.Errorf("icon of %d bytes kept", len(a.Icon))
			}
			if !utf8.ValidString(a.Name) {
				t.Error("name cut inside a rune")
			}
		})
	}
}
