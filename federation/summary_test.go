package federation_test

import (
	"encoding/json"
	"testing"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
)

// withObject returns a fixture's JSON with fields of its object (or of the
// document itself, when it has no object) replaced: a real payload with
// only what the case is about changed.
func withObject(t *testing.T, raw []byte, set map[string]any) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	target := doc
	if obj, ok := doc["object"].(map[string]any); ok {
		target = obj
	}
	for k, v := range set {
		if v == nil {
			delete(target, k)
		} else {
			target[k] = v
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSummaryRule: the summary of an Article or a Page is an excerpt,
// shown as such; a content warning is the summary of a Note (or any other
// type), or sensitive without one.
func TestSummaryRule(t *testing.T) {
	// WordPress's ActivityPub plugin: an Article whose summary is the
	// post's excerpt (Automattic/wordpress-activitypub,
	// includes/transformer/class-post.php, get_summary), shaped as it
	// sends one (trimmed).
	wordpress := `{"@context":["https://www.w3.org/ns/activitystreams"],"type":"Create",
		"id":"https://blog.example/?c=42","actor":"https://blog.example/author/ann/",
		"to":["https://www.w3.org/ns/activitystreams#Public","http://agora.test/c/gardening"],"cc":["https://blog.example/author/ann/followers"],
		"object":{"id":"https://blog.example/2024/05/tomatoes/","type":"Article","attributedTo":"https://blog.example/author/ann/",
		"name":"Tomatoes in May","summary":"<p>Why I plant late, and what it costs [&hellip;]</p>",
		"content":"<p>Every year I wait until the soil is warm.</p>","url":"https://blog.example/2024/05/tomatoes/",
		"to":["https://www.w3.org/ns/activitystreams#Public","http://agora.test/c/gardening"],"cc":["https://blog.example/author/ann/followers"],
		"sensitive":false,"published":"2024-05-02T08:00:00Z"}}`
	mastodon := readPostFixture(t, "mastodon/activities/create_note.json")
	tests := []struct {
		name        string
		doc         string
		warning     string
		excerpt     string
		sensitive   bool
		hasExcerpt  bool
		wantSummary string
	}{
		{name: "WordPress Article: excerpt", doc: wordpress,
			excerpt: "Why I plant late, and what it costs […]", hasExcerpt: true},
		{name: "WordPress Article, sensitive: excerpt, generic warning",
			doc:     withObject(t, []byte(wordpress), map[string]any{"sensitive": true}),
			excerpt: "Why I plant late, and what it costs […]", sensitive: true, hasExcerpt: true},
		// lotide puts the title in summary too (a real Page).
		{name: "lotide Page: summary is not a warning", doc: string(readPostFixture(t, "lotide/activities/create_page.json")),
			excerpt: "test post from b", hasExcerpt: true},
		{name: "Friendica Page, empty summary", doc: string(readPostFixture(t, "friendica/objects/page_1.json")), hasExcerpt: true},
		{name: "Lemmy Page with a summary", doc: withObject(t, readPostFixture(t, "lemmy/activities/create_or_update/create_page.json"),
			map[string]any{"summary": "A short abstract"}), excerpt: "A short abstract", hasExcerpt: true},
		{name: "Mastodon Note without warning", doc: string(mastodon)},
		{name: "Mastodon Note with a content warning",
			doc:     withObject(t, mastodon, map[string]any{"summary": "Spoilers &amp; plot", "sensitive": true}),
			warning: "Spoilers & plot", sensitive: true},
		{name: "Note marked sensitive, no summary", doc: withObject(t, mastodon, map[string]any{"sensitive": true}), sensitive: true},
		{name: "Pleroma Note, empty summary", doc: string(readPostFixture(t, "pleroma/objects/note.json"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act := mustParse(t, tt.doc)
			obj := act
			if act.IsActivity() {
				obj = act.Object
			}
			p := federation.PostFromObject(act, obj)
			eqs(t, "ContentWarning", p.ContentWarning(), tt.warning)
			eqs(t, "Excerpt", p.Excerpt(), tt.excerpt)
			if p.Sensitive != tt.sensitive {
				t.Errorf("Sensitive = %v, want %v", p.Sensitive, tt.sensitive)
			}
			if p.HasExcerpt() != tt.hasExcerpt {
				t.Errorf("HasExcerpt = %v, want %v", p.HasExcerpt(), tt.hasExcerpt)
			}
		})
	}
}

// TestAudienceVisibility: a post addressed to the community through
// audience, whose Create is public, is public; without audience the
// object's own addressing decides.
func TestAudienceVisibility(t *testing.T) {
	const group = "http://agora.test/c/forum"
	create := func(actTo, actCc, objTo, objCc []string, audience bool) string {
		obj := map[string]any{"id": "https://forum.example/p/1", "type": "Page", "attributedTo": "https://forum.example/u/ann",
			"name": "Hello", "content": "<p>hi</p>"}
		act := map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": "https://forum.example/p/1/create",
			"type": "Create", "actor": "https://forum.example/u/ann", "object": obj}
		for k, v := range map[string][]string{"to": objTo, "cc": objCc} {
			if v != nil {
				obj[k] = v
			}
		}
		for k, v := range map[string][]string{"to": actTo, "cc": actCc} {
			if v != nil {
				act[k] = v
			}
		}
		if audience {
			obj["audience"], act["audience"] = group, group
		}
		b, _ := json.Marshal(act)
		return string(b)
	}
	pub := []string{federation.PublicCollection}
	grp := []string{group}
	followers := []string{"https://forum.example/u/ann/followers"}
	tests := []struct {
		name string
		doc  string
		want community.Visibility
	}{
		{"object to the group by audience, Create public", create(pub, grp, grp, nil, true), community.Public},
		{"object to the group by audience, Create unlisted", create(grp, pub, grp, nil, true), community.Unlisted},
		{"object to the group, no audience, Create public", create(pub, grp, grp, nil, false), community.Direct},
		{"audience, followers-only Create", create(followers, grp, followers, grp, true), community.Followers},
		{"audience, object public itself", create(grp, nil, pub, grp, true), community.Public},
		{"object without addressing takes the Create's", create(pub, grp, nil, nil, false), community.Public},
		{"Lemmy Page (real)", string(readPostFixture(t, "lemmy/activities/create_or_update/create_page.json")), community.Public},
		{"Lemmy Page, Public only on the Create", withObject(t, readPostFixture(t, "lemmy/activities/create_or_update/create_page.json"),
			map[string]any{"to": []string{"http://enterprise.lemmy.ml/c/main"}}), community.Public},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act := mustParse(t, tt.doc)
			if got := federation.PostFromObject(act, act.Object).Visibility; got != tt.want {
				t.Errorf("PostFromObject: Visibility = %s, want %s", got, tt.want)
			}
			if got := federation.PostVisibility(act, act.Object, ""); got != tt.want {
				t.Errorf("PostVisibility = %s, want %s", got, tt.want)
			}
		})
	}
}
