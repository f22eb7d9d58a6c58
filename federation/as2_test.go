package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fixturesDir is ../shared/fixtures/fediverse from the repository root.
// The payloads stay in that shared folder (see its NOTICE.md).
const fixturesDir = "../../shared/fixtures/fediverse"

func requireFixtures(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(fixturesDir); err != nil {
		t.Skipf("fediverse fixtures not found (../shared/fixtures/fediverse from the repository root): %v", err)
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	requireFixtures(t)
	b, err := os.ReadFile(filepath.Join(fixturesDir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureFiles lists every JSON file under the fixtures folder, with paths
// relative to it.
func fixtureFiles(t testing.TB) []string {
	t.Helper()
	requireFixtures(t)
	var names []string
	err := filepath.WalkDir(fixturesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		rel, err := filepath.Rel(fixturesDir, path)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// goldenUpdate reports -update. Other test files of this package may want
// the same flag; whichever registers it first serves them all, rather than
// two registrations panicking.
func goldenUpdate() bool {
	f := flag.Lookup("update")
	if f == nil {
		return false
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	v, _ := g.Get().(bool)
	return v
}

func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata/")
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if goldenUpdate() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\ngot:  %s\nwant: %s", path, got, want)
	}
}

func eq(t *testing.T, field string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", field, got, want)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mustObject fails unless o is set, so that a check can go on reading it.
func mustObject(t *testing.T, what string, o *Object) *Object {
	t.Helper()
	if o == nil {
		t.Fatalf("%s is nil", what)
	}
	return o
}

// checkRaw verifies that an embedded object's Raw is the bytes it had in
// the document, unchanged.
func checkRaw(t *testing.T, doc []byte, o *Object) {
	t.Helper()
	if len(o.Raw) == 0 || !bytes.Contains(doc, o.Raw) || !json.Valid(o.Raw) {
		t.Errorf("Raw of %s is not its JSON as it appeared in the document: %q", o.ID, o.Raw)
	}
}

func TestParseEveryFixture(t *testing.T) {
	paths := map[readPath][]string{}
	for _, name := range fixtureFiles(t) {
		raw := readFixture(t, name)
		o, path, err := parse(raw)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if o.Type == "" {
			t.Errorf("%s: no type", name)
		}
		if !bytes.Equal(o.Raw, raw) {
			t.Errorf("%s: Raw is not the input", name)
		}
		paths[path] = append(paths[path], name)
	}
	for _, path := range []readPath{viaGoFed, viaRetyped, viaJSON} {
		t.Logf("%d files read via %s", len(paths[path]), path)
		if path != viaGoFed {
			for _, name := range paths[path] {
				t.Logf("  %s", name)
			}
		}
	}
	// Only types go-fed lacks should leave its path; the numbers are in
	// the comment on parser.toType.
	if len(paths[viaJSON]) > 0 {
		t.Errorf("fixtures read from the JSON alone: %v", paths[viaJSON])
	}
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, doc []byte, o *Object)
	}{
		{"mastodon/activities/create_note.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Type", o.Type, "Create")
			eq(t, "Actor", o.Actor, "https://mastodon.madrid/users/felix")
			eq(t, "To", o.To, []string{"https://mastodon.madrid/users/felix/followers"})
			eq(t, "Cc", o.Cc, []string{PublicCollection, "https://mamot.fr/users/retiolus"})
			eq(t, "Published", o.Published, mustTime(t, "2021-11-05T11:46:50Z"))
			n := mustObject(t, "Object", o.Object)
			eq(t, "Object.ID", n.ID, "https://mastodon.madrid/users/felix/statuses/107224289116410645")
			eq(t, "Object.Type", n.Type, "Note")
			eq(t, "Object.AttributedTo", n.AttributedTo, "https://mastodon.madrid/users/felix")
			eq(t, "Object.To", n.To, []string{"https://mastodon.madrid/users/felix/followers"})
			eq(t, "Object.Cc", n.Cc, []string{PublicCollection, "https://mamot.fr/users/retiolus"})
			eq(t, "Object.InReplyTo", n.InReplyTo, "https://mamot.fr/users/retiolus/statuses/107224244380204526")
			eq(t, "Object.URL", n.URL, "https://mastodon.madrid/@felix/107224289116410645")
			eq(t, "Object.Mentions", n.Mentions, []Mention{{Href: "https://mamot.fr/users/retiolus", Name: "@retiolus@mamot.fr"}})
			eq(t, "Object.Summary", n.Summary, "")
			eq(t, "Object.Sensitive", n.Sensitive, false)
			// content wins over the contentMap, whose text differs here.
			if !strings.HasPrefix(n.Content, `<p><span class="h-card"><a href="https://mamot.fr/@retiolus"`) ||
				!strings.Contains(n.Content, "i have never been disappointed by a thinkpad") {
				t.Errorf("Object.Content = %q", n.Content)
			}
			checkRaw(t, doc, n)
		}},
		{"mastodon/activities/follow.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Type", o.Type, "Follow")
			eq(t, "ID", o.ID, "https://masto.asonix.dog/1ea87517-63c5-4118-8831-460ee641b2cf")
			eq(t, "Actor", o.Actor, "https://masto.asonix.dog/users/asonix")
			eq(t, "Object", o.Object, &Object{ID: "https://ds9.lemmy.ml/c/testcom"})
		}},
		{"mastodon/activities/undo_follow.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Type", o.Type, "Undo")
			eq(t, "Actor", o.Actor, "https://masto.asonix.dog/users/asonix")
			f := mustObject(t, "Object", o.Object)
			eq(t, "Object.Type", f.Type, "Follow")
			eq(t, "Object.ID", f.ID, "https://masto.asonix.dog/1ea87517-63c5-4118-8831-460ee641b2cf")
			eq(t, "Object.Actor", f.Actor, "https://masto.asonix.dog/users/asonix")
			eq(t, "Object.Object", f.Object, &Object{ID: "https://ds9.lemmy.ml/c/testcom"})
			checkRaw(t, doc, f)
		}},
		{"mastodon/activities/undo_like_page.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Type", o.Type, "Undo")
			l := mustObject(t, "Object", o.Object)
			eq(t, "Object.Type", l.Type, "Like")
			eq(t, "Object.Object", l.Object, &Object{ID: "https://ds9.lemmy.ml/post/147"})
		}},
		{"mastodon/activities/flag.json", func(t *testing.T, doc []byte, o *Object) {
			// The reported account comes first, then its posts.
			eq(t, "Type", o.Type, "Flag")
			eq(t, "To", o.To, []string{"https://example.com/users/1"})
			eq(t, "Objects", o.Objects, []*Object{
				{ID: "https://example.com/users/1"},
				{ID: "https://example.com/posts/380590"},
				{ID: "https://example.com/posts/380591"},
			})
			eq(t, "Content", o.Content, "Please take a look at this user and their posts")
		}},
		{"mastodon/objects/note_2.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Attachments", o.Attachments, []Attachment{{
				URL:       "https://cdn.masto.host/floss/media_attachments/files/113/306/826/682/985/891/original/c8d906a2f2ab2334.jpg",
				MediaType: "image/jpeg",
				Name:      "The KDE dragons Katie and Konqi stand on either side of a pot filling up with gold coins. Donate!",
			}})
			eq(t, "Mentions", o.Mentions, []Mention{{Href: "https://lemmy.kde.social/c/kde", Name: "@kde@lemmy.kde.social"}})
		}},
		{"lemmy/activities/create_or_update/create_page.json", func(t *testing.T, doc []byte, o *Object) {
			// Lemmy's samples have no @context.
			eq(t, "Type", o.Type, "Create")
			eq(t, "Actor", o.Actor, "http://ds9.lemmy.ml/u/lemmy_alpha")
			eq(t, "To", o.To, []string{PublicCollection})
			eq(t, "Cc", o.Cc, []string{"http://enterprise.lemmy.ml/c/main"})
			eq(t, "Audience", o.Audience, []string{"https://enterprise.lemmy.ml/c/main"})
			p := mustObject(t, "Object", o.Object)
			eq(t, "Object.Type", p.Type, "Page")
			eq(t, "Object.ID", p.ID, "http://ds9.lemmy.ml/post/1")
			eq(t, "Object.AttributedTo", p.AttributedTo, "http://ds9.lemmy.ml/u/lemmy_alpha")
			eq(t, "Object.To", p.To, []string{"http://enterprise.lemmy.ml/c/main", PublicCollection})
			eq(t, "Object.Audience", p.Audience, []string{"https://enterprise.lemmy.ml/c/main"})
			eq(t, "Object.Name", p.Name, "test post")
			eq(t, "Object.Content", p.Content, "<p>test body</p>\n")
			eq(t, "Object.MediaType", p.MediaType, "text/html")
			eq(t, "Object.Attachments", p.Attachments, []Attachment{{URL: "https://lemmy.ml/pictrs/image/xl8W7FZfk9.jpg"}})
			eq(t, "Object.Published", p.Published, mustTime(t, "2021-10-29T15:10:51.557399Z"))
			checkRaw(t, doc, p)
		}},
		{"lemmy/activities/create_or_update/create_comment.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Audience", o.Audience, []string{"https://enterprise.lemmy.ml/c/main"})
			// Lemmy tags the activity, not the Note.
			eq(t, "Mentions", o.Mentions, []Mention{{Href: "http://ds9.lemmy.ml/u/lemmy_alpha", Name: "@lemmy_alpha@ds9.lemmy.ml"}})
			n := mustObject(t, "Object", o.Object)
			eq(t, "Object.Type", n.Type, "Note")
			eq(t, "Object.InReplyTo", n.InReplyTo, "http://ds9.lemmy.ml/post/1")
			eq(t, "Object.Audience", n.Audience, []string{"https://enterprise.lemmy.ml/c/main"})
			eq(t, "Object.Cc", n.Cc, []string{"http://enterprise.lemmy.ml/c/main", "http://ds9.lemmy.ml/u/lemmy_alpha"})
			eq(t, "Object.Content", n.Content, "hello")
		}},
		{"lemmy/activities/community/announce_create_page.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Type", o.Type, "Announce")
			eq(t, "Actor", o.Actor, "http://enterprise.lemmy.ml/c/main")
			eq(t, "Cc", o.Cc, []string{"http://enterprise.lemmy.ml/c/main/followers"})
			c := mustObject(t, "Object", o.Object)
			eq(t, "Object.Type", c.Type, "Create")
			eq(t, "Object.ID", c.ID, "http://enterprise.lemmy.ml/activities/create/2807c9ec-3ad8-4859-a9e0-28b59b6e499f")
			eq(t, "Object.Actor", c.Actor, "http://enterprise.lemmy.ml/u/lemmy_beta")
			checkRaw(t, doc, c)
			p := mustObject(t, "Object.Object", c.Object)
			eq(t, "Object.Object.Type", p.Type, "Page")
			eq(t, "Object.Object.ID", p.ID, "http://enterprise.lemmy.ml/post/7")
			eq(t, "Object.Object.Name", p.Name, "post 4")
			eq(t, "Object.Object.Audience", p.Audience, []string{"http://enterprise.lemmy.ml/u/main"})
			checkRaw(t, doc, p)
			// The embedded Create is what a community re-announces (FEP-1b12):
			// its Raw must stand on its own.
			again, err := Parse(c.Raw)
			if err != nil {
				t.Fatalf("Parse(Object.Raw): %v", err)
			}
			eq(t, "Parse(Object.Raw).Object.ID", again.Object.ID, p.ID)
		}},
		{"lemmy/objects/page_image_and_link.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Attachments", o.Attachments, []Attachment{
				{URL: "https://enterprise.lemmy.ml/pictrs/image/eOtYb9iEiB.png", MediaType: "image/png"},
				{URL: "https://example.com/some-article", MediaType: "text/html"},
			})
		}},
		{"lemmy/activities/community/lock_page.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Type", o.Type, "Lock") // unknown to go-fed
			eq(t, "Actor", o.Actor, "http://lemmy-alpha:8541/u/lemmy_alpha")
			eq(t, "Object.ID", mustObject(t, "Object", o.Object).ID, "http://lemmy-alpha:8541/post/2")
		}},
		{"friendica/activities/create_note.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Type", o.Type, "Create")
			eq(t, "Actor", o.Actor, "https://soc.schuerz.at/profile/jakob")
			eq(t, "To", o.To, []string{"https://lemmy.schuerz.at/u/jakob", PublicCollection, "https://lemmy.schuerz.at/c/test"})
			eq(t, "Cc", o.Cc, []string{"https://soc.schuerz.at/followers/jakob"})
			n := mustObject(t, "Object", o.Object)
			eq(t, "Object.Type", n.Type, "Note")
			eq(t, "Object.InReplyTo", n.InReplyTo, "https://lemmy.schuerz.at/post/25360")
			eq(t, "Object.URL", n.URL, "https://soc.schuerz.at/display/4edd2508-4361-edb8-c4d8-b45181083984")
			eq(t, "Object.Mentions", n.Mentions, []Mention{{Href: "https://lemmy.schuerz.at/u/jakob", Name: "@jakob@lemmy.schuerz.at"}})
			eq(t, "Object.Content", n.Content, `<span class="h-card"><a href="https://lemmy.schuerz.at/u/jakob" class="u-url mention">@<span>jakob</span></a></span> test`)
		}},
		{"friendica/objects/note_2.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Hashtags", o.Hashtags, []string{"Friendica", "Lemmy"})
		}},
		{"pleroma/objects/chat_message.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Type", o.Type, "ChatMessage")
			eq(t, "ID", o.ID, "https://queer.hacktivis.me/objects/2")
			eq(t, "AttributedTo", o.AttributedTo, "https://queer.hacktivis.me/users/lanodan")
			eq(t, "To", o.To, []string{"https://enterprise.lemmy.ml/u/picard"})
			eq(t, "Content", o.Content, "Hi!")
			eq(t, "Published", o.Published, mustTime(t, "2020-02-12T14:08:20Z"))
			if _, path, _ := parse(doc); path != viaRetyped {
				t.Errorf("read via %s, want %s", path, viaRetyped)
			}
		}},
		{"pleroma/activities/create_note.json", func(t *testing.T, doc []byte, o *Object) {
			// Pleroma puts an actor on its Note; a Note is still no activity.
			n := mustObject(t, "Object", o.Object)
			eq(t, "Object.IsActivity()", n.IsActivity(), false)
			eq(t, "Object.Mentions", n.Mentions, []Mention{{Href: "https://enterprise.lemmy.ml/u/picard", Name: "@lanodan@ds9.lemmy.ml"}})
		}},
		{"peertube/objects/video.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Type", o.Type, "Video")
			// attributedTo lists the account and the channel: the Person is the author.
			eq(t, "AttributedTo", o.AttributedTo, "https://tilvids.com/accounts/thelinuxexperiment")
			// url lists the page, then streams and trackers.
			eq(t, "URL", o.URL, "https://tilvids.com/videos/watch/e7946124-7b72-4ad7-9d22-844a84bb2de1")
			eq(t, "To", o.To, []string{PublicCollection})
			eq(t, "Cc", o.Cc, []string{"https://tilvids.com/accounts/thelinuxexperiment/followers"})
			eq(t, "Name", o.Name, "Mesa, Wayland & X.org in trouble, Debian leaves X, Facebook blocks Linux: Linux & Open Source News")
			eq(t, "MediaType", o.MediaType, "text/markdown")
			eq(t, "Published", o.Published, mustTime(t, "2025-02-01T11:59:45.094Z"))
			eq(t, "Updated", o.Updated, mustTime(t, "2025-02-04T09:00:50.396Z"))
		}},
		{"lotide/activities/create_note_reply.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "To", o.To, []string{"https://c.tide.tk/users/1"}) // a single string
			eq(t, "Cc", o.Cc, []string{PublicCollection, "https://c.tide.tk/communities/1"})
			n := mustObject(t, "Object", o.Object)
			eq(t, "Object.ID", n.ID, "https://c.tide.tk/comments/52")
			eq(t, "Object.InReplyTo", n.InReplyTo, "https://c.tide.tk/posts/51")
			eq(t, "Object.To", n.To, []string{"https://c.tide.tk/users/1"})
			eq(t, "Object.Content", n.Content, "<p>test comment</p>\n")
			eq(t, "Object.Published", n.Published, mustTime(t, "2021-09-16T01:20:27.558063+00:00"))
		}},
		{"mbin/activities/flag.json", func(t *testing.T, doc []byte, o *Object) {
			eq(t, "Type", o.Type, "Flag")
			eq(t, "Actor", o.Actor, "https://mbin-test1/u/BentiGorlich")
			eq(t, "Object", o.Object, &Object{ID: "https://lemmy-test/post/4"})
			eq(t, "Objects", o.Objects, []*Object{{ID: "https://lemmy-test/post/4"}, {ID: "https://lemmy-test/u/BentiGorlich"}})
			eq(t, "Audience", o.Audience, []string{"https://lemmy-test/c/test_mag"})
			eq(t, "To", o.To, []string{"https://lemmy-test/c/test_mag"})
			eq(t, "Summary", o.Summary, "dikjhgasdpas dsaü")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			doc := readFixture(t, tt.file)
			o, err := Parse(doc)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, doc, o)
		})
	}
}

// TestParseLenient covers the shapes docs/protocol.md, "What Agora accepts" lists, written
// inline so that they run without the fixtures.
func TestParseLenient(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, o *Object)
	}{
		{"single to, as:Public and Public", `{"type":"Note","id":"https://a.example/1","to":"as:Public","cc":["Public","https://a.example/f","https://a.example/f"]}`,
			func(t *testing.T, o *Object) {
				eq(t, "To", o.To, []string{PublicCollection})
				eq(t, "Cc", o.Cc, []string{PublicCollection, "https://a.example/f"})
			}},
		{"tag as a single object", `{"type":"Note","id":"https://a.example/1","tag":{"type":"Mention","href":"https://b.example/c/garden","name":"@garden@b.example"}}`,
			func(t *testing.T, o *Object) {
				eq(t, "Mentions", o.Mentions, []Mention{{Href: "https://b.example/c/garden", Name: "@garden@b.example"}})
			}},
		{"hashtag as a single object", `{"type":"Note","id":"https://a.example/1","tag":{"type":"Hashtag","href":"https://a.example/tags/go","name":"#go"}}`,
			func(t *testing.T, o *Object) { eq(t, "Hashtags", o.Hashtags, []string{"go"}) }},
		{"attributedTo as an object", `{"type":"Note","id":"https://a.example/1","attributedTo":{"type":"Person","id":"https://a.example/u/al"}}`,
			func(t *testing.T, o *Object) { eq(t, "AttributedTo", o.AttributedTo, "https://a.example/u/al") }},
		{"attributedTo as objects, Group first", `{"type":"Page","id":"https://a.example/1","attributedTo":[{"type":"Group","id":"https://a.example/c/x"},{"type":"Person","id":"https://a.example/u/al"}]}`,
			func(t *testing.T, o *Object) { eq(t, "AttributedTo", o.AttributedTo, "https://a.example/u/al") }},
		{"attributedTo as IRIs", `{"type":"Note","id":"https://a.example/1","attributedTo":["https://a.example/u/al","https://a.example/u/bo"]}`,
			func(t *testing.T, o *Object) { eq(t, "AttributedTo", o.AttributedTo, "https://a.example/u/al") }},
		{"url as a Link", `{"type":"Note","id":"https://a.example/1","url":{"type":"Link","href":"https://a.example/@al/1","mediaType":"text/html"}}`,
			func(t *testing.T, o *Object) { eq(t, "URL", o.URL, "https://a.example/@al/1") }},
		{"url as Links, page second", `{"type":"Video","id":"https://a.example/1","url":[{"type":"Link","href":"https://a.example/1.mp4","mediaType":"video/mp4"},{"type":"Link","href":"https://a.example/w/1","mediaType":"text/html"}]}`,
			func(t *testing.T, o *Object) { eq(t, "URL", o.URL, "https://a.example/w/1") }},
		{"content only as contentMap", `{"type":"Note","id":"https://a.example/1","contentMap":{"fr":"<p>bonjour</p>"},"nameMap":{"und":"titre"}}`,
			func(t *testing.T, o *Object) {
				eq(t, "Content", o.Content, "<p>bonjour</p>")
				eq(t, "Name", o.Name, "titre")
			}},
		{"null summary beside summaryMap", `{"type":"Note","id":"https://a.example/1","summary":null,"summaryMap":{"en":"spoilers"},"sensitive":true}`,
			func(t *testing.T, o *Object) {
				eq(t, "Summary", o.Summary, "spoilers")
				eq(t, "Sensitive", o.Sensitive, true)
			}},
		{"inReplyTo as an object", `{"type":"Note","id":"https://a.example/2","inReplyTo":{"type":"Note","id":"https://a.example/1"}}`,
			func(t *testing.T, o *Object) { eq(t, "InReplyTo", o.InReplyTo, "https://a.example/1") }},
		{"attachment Document with url Link", `{"type":"Note","id":"https://a.example/1","attachment":{"type":"Document","name":"alt","url":{"type":"Link","href":"https://a.example/m.png","mediaType":"image/png"}}}`,
			func(t *testing.T, o *Object) {
				eq(t, "Attachments", o.Attachments, []Attachment{{URL: "https://a.example/m.png", Name: "alt"}})
			}},
		{"unknown embedded type", `{"type":"Announce","id":"https://a.example/a/1","actor":"https://a.example/c/x","object":{"type":"ChatMessage","id":"https://a.example/m/1","content":"hi","attributedTo":"https://a.example/u/al"}}`,
			func(t *testing.T, o *Object) {
				m := mustObject(t, "Object", o.Object)
				eq(t, "Object.Type", m.Type, "ChatMessage")
				eq(t, "Object.Content", m.Content, "hi")
				eq(t, "Object.AttributedTo", m.AttributedTo, "https://a.example/u/al")
			}},
		{"embedded object without type", `{"type":"Delete","id":"https://a.example/d/1","actor":"https://a.example/u/al","object":{"id":"https://a.example/1"}}`,
			func(t *testing.T, o *Object) {
				eq(t, "Object.ID", mustObject(t, "Object", o.Object).ID, "https://a.example/1")
			}},
		{"Undo of a Like", `{"type":"Undo","id":"https://a.example/u/1","actor":"https://a.example/u/al","object":{"type":"Like","id":"https://a.example/l/1","actor":"https://a.example/u/al","object":"https://b.example/p/1"}}`,
			func(t *testing.T, o *Object) {
				l := mustObject(t, "Object", o.Object)
				eq(t, "Object.Type", l.Type, "Like")
				eq(t, "Object.Object.ID", mustObject(t, "Object.Object", l.Object).ID, "https://b.example/p/1")
			}},
		{"Announce of a Create of a Note", `{"type":"Announce","id":"https://c.example/a/1","actor":"https://c.example/c/x","object":{"type":"Create","id":"https://a.example/c/1","actor":"https://a.example/u/al","object":{"type":"Note","id":"https://a.example/n/1","content":"x"}}}`,
			func(t *testing.T, o *Object) {
				c := mustObject(t, "Object", o.Object)
				eq(t, "Object.Raw", string(c.Raw), `{"type":"Create","id":"https://a.example/c/1","actor":"https://a.example/u/al","object":{"type":"Note","id":"https://a.example/n/1","content":"x"}}`)
				n := mustObject(t, "Object.Object", c.Object)
				eq(t, "Object.Object.Raw", string(n.Raw), `{"type":"Note","id":"https://a.example/n/1","content":"x"}`)
			}},
		{"IRIs kept as sent", `{"type":"Create","id":"https://bücher.example/a/1","actor":"https://bücher.example/u/ädam","to":["https://bücher.example/u/ädam/followers"],"object":"https://bücher.example/n/café"}`,
			func(t *testing.T, o *Object) {
				// net/url would re-escape these; dedup and id checks need them as sent.
				eq(t, "ID", o.ID, "https://bücher.example/a/1")
				eq(t, "Actor", o.Actor, "https://bücher.example/u/ädam")
				eq(t, "To", o.To, []string{"https://bücher.example/u/ädam/followers"})
				eq(t, "Object.ID", mustObject(t, "Object", o.Object).ID, "https://bücher.example/n/café")
			}},
		{"type with the as: prefix", `{"type":"as:Note","id":"https://a.example/1","content":"x"}`,
			func(t *testing.T, o *Object) {
				eq(t, "Type", o.Type, "Note")
				eq(t, "Content", o.Content, "x")
			}},
		{"several types", `{"type":["Foo","Note"],"id":"https://a.example/1"}`,
			func(t *testing.T, o *Object) { eq(t, "Type", o.Type, "Note") }},
		{"published without a zone", `{"type":"Note","id":"https://a.example/1","published":"2021-11-05T11:46:50"}`,
			func(t *testing.T, o *Object) { eq(t, "Published", o.Published, mustTime(t, "2021-11-05T11:46:50Z")) }},
		{"context with an as prefix", `{"@context":["https://www.w3.org/ns/activitystreams",{"as":"https://www.w3.org/ns/activitystreams#"}],"type":"Follow","id":"https://a.example/f/1","actor":"https://a.example/u/al","object":"https://b.example/c/x"}`,
			func(t *testing.T, o *Object) {
				eq(t, "Actor", o.Actor, "https://a.example/u/al")
				eq(t, "Object.ID", mustObject(t, "Object", o.Object).ID, "https://b.example/c/x")
			}},
		{"nesting within the limit", `{"type":"Note","id":"https://a.example/1","x":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`,
			func(t *testing.T, o *Object) { eq(t, "ID", o.ID, "https://a.example/1") }},
		{"activities nested past maxEmbedded", nested(maxEmbedded + 2),
			func(t *testing.T, o *Object) {
				// Read down to maxEmbedded; the next level is a reference.
				depth, last := 0, o
				for ; last.Object != nil; last = last.Object {
					depth++
				}
				eq(t, "depth", depth, maxEmbedded+1)
				eq(t, "deepest.Type", last.Type, "Announce")
				eq(t, "deepest.Raw", last.Raw, []byte(nil))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Parse([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}

// nested returns n Announces, each embedding the next, around a Note.
func nested(n int) string {
	doc := `{"type":"Note","id":"https://a.example/n"}`
	for i := range n {
		doc = `{"type":"Announce","id":"https://a.example/a/` + string(rune('a'+i)) + `","actor":"https://a.example/c/x","object":` + doc + `}`
	}
	return doc
}

// malformedInputs are refused with ErrMalformed; the fuzz target starts
// from them too.
var malformedInputs = []struct{ name, doc string }{
	{"empty", ""},
	{"not JSON", "hello"},
	{"JSON array", `[{"type":"Note"}]`},
	{"JSON string", `"Note"`},
	{"null", "null"},
	{"no type", `{"id":"https://a.example/1","content":"x"}`},
	{"empty type", `{"type":"","id":"https://a.example/1"}`},
	{"type only a prefix", `{"type":"as:","id":"https://a.example/1"}`},
	{"type not a string", `{"type":5,"id":"https://a.example/1"}`},
	{"truncated", `{"type":"Note","id":"https://a.exa`},
	{"trailing garbage", `{"type":"Note"} {}`},
	{"10000 nested arrays", strings.Repeat("[", 10000) + strings.Repeat("]", 10000)},
	{"10000 nested objects inside", `{"type":"Note","x":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000) + "}"},
	{"10000 unclosed", `{"type":"Note","x":` + strings.Repeat("[", 10000)},
}

func TestParseMalformed(t *testing.T) {
	for _, tt := range malformedInputs {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Parse([]byte(tt.doc))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %v, %v; want an error wrapping ErrMalformed", o, err)
			}
			if o != nil {
				t.Errorf("Parse returned an object with its error")
			}
		})
	}
}

const testPEM = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtest\n-----END PUBLIC KEY-----\n"

func testGroup() Actor {
	return Actor{
		ID:                        "http://agora.test/c/gardening",
		Type:                      "Group",
		PreferredUsername:         "gardening",
		Name:                      "Gardening",
		Summary:                   `<p>Seeds & soil, <a href="http://agora.test/c/gardening">here</a></p>`,
		URL:                       "http://agora.test/c/gardening",
		Icon:                      "http://agora.test/media/gardening-icon.png",
		Image:                     "http://agora.test/media/gardening-cover.jpg",
		Inbox:                     "http://agora.test/c/gardening/inbox",
		Outbox:                    "http://agora.test/c/gardening/outbox",
		Followers:                 "http://agora.test/c/gardening/followers",
		Featured:                  "http://agora.test/c/gardening/featured",
		Moderators:                "http://agora.test/c/gardening/moderators",
		SharedInbox:               "http://agora.test/inbox",
		PublicKeyID:               "http://agora.test/c/gardening#main-key",
		PublicKeyPEM:              testPEM,
		ManuallyApprovesFollowers: true,
		Discoverable:              true,
		PostingRestrictedToMods:   false,
		Published:                 time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

// wantContext is Agora's @context as docs/protocol.md, "Who is who" and the design
// brief spell it, written out independently of the renderer.
const wantContext = `["https://www.w3.org/ns/activitystreams","https://w3id.org/security/v1",{
	"manuallyApprovesFollowers":"as:manuallyApprovesFollowers",
	"sensitive":"as:sensitive",
	"toot":"http://joinmastodon.org/ns#",
	"discoverable":"toot:discoverable",
	"featured":{"@id":"toot:featured","@type":"@id"},
	"lemmy":"https://join-lemmy.org/ns#",
	"postingRestrictedToMods":"lemmy:postingRestrictedToMods"}]`

// checkContext verifies that doc's @context is exactly Agora's and that
// no other @context appears anywhere in it except inside the embedded
// object allowed, which is sent as it was received.
func checkContext(t *testing.T, doc []byte, allowed json.RawMessage) {
	t.Helper()
	if len(allowed) > 0 {
		doc = bytes.Replace(doc, allowed, []byte("null"), 1)
	}
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("output is not a JSON object: %v", err)
	}
	var want any
	if err := json.Unmarshal([]byte(wantContext), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m["@context"], want) {
		t.Errorf("@context = %v, want %v", m["@context"], want)
	}
	delete(m, "@context")
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if c, ok := v["@context"]; ok {
				t.Errorf("nested @context %v", c)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(m)
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, b)
	}
	return m
}

func TestRenderGroupActor(t *testing.T) {
	a := testGroup()
	b, err := RenderActor(a)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "group_actor.golden.json", b)
	checkContext(t, b, nil)

	m := decode(t, b)
	for field, want := range map[string]any{
		"id":                        a.ID,
		"type":                      "Group",
		"preferredUsername":         "gardening",
		"name":                      "Gardening",
		"summary":                   a.Summary,
		"url":                       a.URL,
		"icon":                      map[string]any{"type": "Image", "url": a.Icon},
		"image":                     map[string]any{"type": "Image", "url": a.Image},
		"inbox":                     a.Inbox,
		"outbox":                    a.Outbox,
		"followers":                 a.Followers,
		"featured":                  a.Featured,
		"attributedTo":              a.Moderators,
		"endpoints":                 map[string]any{"sharedInbox": a.SharedInbox},
		"publicKey":                 map[string]any{"id": a.PublicKeyID, "owner": a.ID, "publicKeyPem": testPEM},
		"manuallyApprovesFollowers": true,
		"discoverable":              true,
		"postingRestrictedToMods":   false,
		"published":                 "2025-03-01T12:00:00Z",
	} {
		eq(t, field, m[field], want)
	}

	o, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(RenderActor): %v", err)
	}
	eq(t, "Parse.Type", o.Type, "Group")
	eq(t, "Parse.ID", o.ID, a.ID)
	eq(t, "Parse.Name", o.Name, a.Name)
	eq(t, "Parse.Summary", o.Summary, a.Summary)
	eq(t, "Parse.URL", o.URL, a.URL)
	eq(t, "Parse.AttributedTo", o.AttributedTo, a.Moderators)
	eq(t, "Parse.Published", o.Published, a.Published)
}

func TestRenderApplicationActor(t *testing.T) {
	b, err := RenderActor(Actor{
		ID:                "http://agora.test/actor",
		Type:              "Application",
		PreferredUsername: "agora.test",
		Inbox:             "http://agora.test/actor/inbox",
		SharedInbox:       "http://agora.test/inbox",
		PublicKeyID:       "http://agora.test/actor#main-key",
		PublicKeyPEM:      testPEM,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkContext(t, b, nil)
	m := decode(t, b)
	eq(t, "type", m["type"], "Application")
	for _, field := range []string{"postingRestrictedToMods", "icon", "image", "outbox", "attributedTo", "published", "name", "summary"} {
		if v, ok := m[field]; ok {
			t.Errorf("%s = %v, want it left out", field, v)
		}
	}
}

func TestRenderActorErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Actor)
	}{
		{"Service", func(a *Actor) { a.Type = "Service" }},
		{"no id", func(a *Actor) { a.ID = "" }},
		{"relative id", func(a *Actor) { a.ID = "/c/gardening" }},
		{"no inbox", func(a *Actor) { a.Inbox = "" }},
		{"bad followers", func(a *Actor) { a.Followers = "http://agora.test/%zz" }},
		{"no key id", func(a *Actor) { a.PublicKeyID = "" }},
		{"no key", func(a *Actor) { a.PublicKeyPEM = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testGroup()
			tt.change(&a)
			if b, err := RenderActor(a); err == nil {
				t.Errorf("RenderActor = %s, want an error", b)
			}
		})
	}
}

// testFollow is a Follow as a peer might format it: indented, with a
// non-ASCII name and HTML that encoding/json would escape.
const testFollow = `{
  "@context": "https://www.w3.org/ns/activitystreams",
  "id": "https://mastodon.example/3f0c",
  "type": "Follow",
  "actor": "https://mastodon.example/users/ren\u00e9e",
  "object": "http://agora.test/c/gardening",
  "summary": "<b>hi</b> & <i>é</i>"
}`

func TestRenderAcceptKeepsFollowBytes(t *testing.T) {
	follows := map[string][]byte{"inline": []byte(testFollow)}
	if _, err := os.Stat(fixturesDir); err == nil {
		follows["mastodon fixture"] = bytes.TrimSpace(readFixture(t, "mastodon/activities/follow.json"))
	}
	for name, follow := range follows {
		t.Run(name, func(t *testing.T) {
			b, err := RenderActivity(Activity{
				ID:        "http://agora.test/c/gardening/accept/1",
				Type:      "Accept",
				Actor:     "http://agora.test/c/gardening",
				ObjectRaw: follow,
				To:        []string{"https://mastodon.example/users/renee"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if name == "inline" {
				checkGolden(t, "accept_follow.golden.json", b)
			}
			if !bytes.Contains(b, follow) {
				t.Errorf("the Follow is not embedded byte for byte:\n%s", b)
			}
			checkContext(t, b, follow)
			o, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse(RenderActivity): %v", err)
			}
			eq(t, "Type", o.Type, "Accept")
			f := mustObject(t, "Object", o.Object)
			eq(t, "Object.Type", f.Type, "Follow")
			eq(t, "Object.Raw", string(f.Raw), string(follow))
		})
	}
}

func TestRenderActivity(t *testing.T) {
	const (
		community = "http://agora.test/c/gardening"
		post      = "https://mastodon.example/users/al/statuses/1"
		author    = "https://mastodon.example/users/al"
	)
	published := time.Date(2025, 3, 2, 8, 30, 0, 0, time.UTC)
	announce := []byte(`{"type":"Announce","id":"http://agora.test/c/gardening/announce/7","actor":"http://agora.test/c/gardening","object":"https://mastodon.example/users/al/statuses/1"}`)
	tests := []struct {
		a          Activity
		wantObject string // the object's id after a round trip
	}{
		{Activity{Type: "Accept", ObjectRaw: []byte(testFollow)}, "https://mastodon.example/3f0c"},
		{Activity{Type: "Reject", ObjectRaw: []byte(testFollow)}, "https://mastodon.example/3f0c"},
		{Activity{Type: "Announce", ObjectIRI: post, To: []string{PublicCollection}, Cc: []string{community + "/followers", author}, Audience: []string{community}, Published: published}, post},
		{Activity{Type: "Undo", ObjectRaw: announce, To: []string{PublicCollection}}, "http://agora.test/c/gardening/announce/7"},
		{Activity{Type: "Delete", ObjectIRI: "http://agora.test/c/gardening/post/3", Summary: "spam"}, "http://agora.test/c/gardening/post/3"},
		{Activity{Type: "Update", ObjectIRI: community}, community},
		{Activity{Type: "Add", ObjectIRI: post, Target: community + "/featured"}, post},
		{Activity{Type: "Remove", ObjectIRI: post, Target: community + "/featured"}, post},
		{Activity{Type: "Block", ObjectIRI: author, Target: community, Summary: "spam"}, author},
		// Remote IRIs are written as given, not re-escaped by net/url.
		{Activity{Type: "Announce", ObjectIRI: "https://bücher.example/n/café", Cc: []string{"https://bücher.example/u/ädam"}}, "https://bücher.example/n/café"},
	}
	for i, tt := range tests {
		a := tt.a
		a.ID = community + "/activity/" + string(rune('a'+i))
		a.Actor = community
		t.Run(a.Type, func(t *testing.T) {
			b, err := RenderActivity(a)
			if err != nil {
				t.Fatal(err)
			}
			checkContext(t, b, a.ObjectRaw)
			if len(a.ObjectRaw) > 0 && !bytes.Contains(b, a.ObjectRaw) {
				t.Errorf("embedded object changed:\n%s", b)
			}
			o, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse(RenderActivity): %v\n%s", err, b)
			}
			eq(t, "ID", o.ID, a.ID)
			eq(t, "Type", o.Type, a.Type)
			eq(t, "Actor", o.Actor, community)
			eq(t, "Object.ID", mustObject(t, "Object", o.Object).ID, tt.wantObject)
			eq(t, "Target", o.Target, a.Target)
			eq(t, "To", o.To, a.To)
			eq(t, "Cc", o.Cc, a.Cc)
			eq(t, "Audience", o.Audience, a.Audience)
			eq(t, "Summary", o.Summary, a.Summary)
			eq(t, "Published", o.Published, a.Published)
			// Addressing stays a list even with one entry.
			if len(a.To) == 1 {
				if _, ok := decode(t, b)["to"].([]any); !ok {
					t.Errorf("to is not a list: %s", b)
				}
			}
		})
	}
}

func TestRenderActivityErrors(t *testing.T) {
	ok := Activity{ID: "http://agora.test/c/x/a/1", Type: "Announce", Actor: "http://agora.test/c/x", ObjectIRI: "https://a.example/n/1"}
	tests := []struct {
		name   string
		change func(*Activity)
	}{
		{"Like is not Agora's to send", func(a *Activity) { a.Type = "Like" }},
		{"Follow is not Agora's to send", func(a *Activity) { a.Type = "Follow" }},
		{"no id", func(a *Activity) { a.ID = "" }},
		{"no actor", func(a *Activity) { a.Actor = "" }},
		{"no object", func(a *Activity) { a.ObjectIRI = "" }},
		{"object not JSON", func(a *Activity) { a.ObjectRaw = []byte(`{"type":`) }},
		{"relative to", func(a *Activity) { a.To = []string{"followers"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ok
			tt.change(&a)
			if b, err := RenderActivity(a); err == nil {
				t.Errorf("RenderActivity = %s, want an error", b)
			}
		})
	}
	if _, err := RenderActivity(ok); err != nil {
		t.Errorf("the unchanged activity fails: %v", err)
	}
}

func TestRenderCollection(t *testing.T) {
	const outbox = "http://agora.test/c/gardening/outbox"
	embedded := json.RawMessage(`{"type":"Announce","id":"http://agora.test/c/gardening/announce/2","summary":"<b>kept</b>"}`)
	tests := []struct {
		name      string
		c         Collection
		wantItems []json.RawMessage // nil: no orderedItems at all
	}{
		{"empty page", Collection{ID: outbox + "?page=1", Type: "OrderedCollectionPage", PartOf: outbox}, []json.RawMessage{}},
		{"empty collection without items", Collection{ID: outbox, Type: "OrderedCollection", First: outbox + "?page=1"}, nil},
		{"empty collection with items", Collection{ID: outbox, Type: "OrderedCollection", Items: []json.RawMessage{}}, []json.RawMessage{}},
		{"page of IRIs and an object", Collection{
			ID: outbox + "?page=2", Type: "OrderedCollectionPage", TotalItems: 12, PartOf: outbox,
			Next: outbox + "?page=3", Prev: outbox + "?page=1",
			Items: []json.RawMessage{[]byte(`"http://agora.test/c/gardening/announce/1"`), embedded},
		}, []json.RawMessage{[]byte(`"http://agora.test/c/gardening/announce/1"`), embedded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := RenderCollection(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			checkContext(t, b, nil)
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			eq(t, "type", string(m["type"]), `"`+tt.c.Type+`"`)
			eq(t, "totalItems", string(m["totalItems"]), itoa(tt.c.TotalItems))
			for field, want := range map[string]string{"first": tt.c.First, "next": tt.c.Next, "prev": tt.c.Prev, "partOf": tt.c.PartOf} {
				got, present := m[field]
				if want == "" {
					if present {
						t.Errorf("%s = %s, want it left out", field, got)
					}
					continue
				}
				eq(t, field, string(got), `"`+want+`"`)
			}
			items, present := m["orderedItems"]
			switch {
			case tt.wantItems == nil && present:
				t.Errorf("orderedItems = %s, want it left out", items)
			case tt.wantItems != nil:
				want := "[" + string(bytes.Join(rawBytes(tt.wantItems), []byte(","))) + "]"
				eq(t, "orderedItems", string(items), want)
			}
			if o, err := Parse(b); err != nil || o.ID != tt.c.ID {
				t.Errorf("Parse(RenderCollection) = %v, %v", o, err)
			}
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func rawBytes(items []json.RawMessage) [][]byte {
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out
}

func TestRenderCollectionErrors(t *testing.T) {
	tests := []struct {
		name string
		c    Collection
	}{
		{"Collection", Collection{ID: "http://agora.test/o", Type: "Collection"}},
		{"no id", Collection{Type: "OrderedCollection"}},
		{"next on a collection", Collection{ID: "http://agora.test/o", Type: "OrderedCollection", Next: "http://agora.test/o?page=2"}},
		{"item not JSON", Collection{ID: "http://agora.test/o", Type: "OrderedCollection", Items: []json.RawMessage{[]byte(`{`)}}},
		{"negative total", Collection{ID: "http://agora.test/o", Type: "OrderedCollection", TotalItems: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := RenderCollection(tt.c); err == nil {
				t.Errorf("RenderCollection = %s, want an error", b)
			}
		})
	}
}

func TestRenderTombstone(t *testing.T) {
	deleted := time.Date(2025, 3, 3, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	b, err := RenderTombstone("http://agora.test/c/gardening/post/3", "Page", deleted)
	if err != nil {
		t.Fatal(err)
	}
	checkContext(t, b, nil)
	m := decode(t, b)
	eq(t, "type", m["type"], "Tombstone")
	eq(t, "id", m["id"], "http://agora.test/c/gardening/post/3")
	eq(t, "formerType", m["formerType"], "Page")
	eq(t, "deleted", m["deleted"], "2025-03-03T08:00:00Z")
	o, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Parse.Type", o.Type, "Tombstone")

	if _, err := RenderTombstone("", "Page", deleted); err == nil {
		t.Error("RenderTombstone without an id succeeded")
	}
	b, err = RenderTombstone("http://agora.test/p/4", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"formerType", "deleted"} {
		if _, ok := decode(t, b)[field]; ok {
			t.Errorf("%s present although not given: %s", field, b)
		}
	}
}

// TestShapeOfFixtures: every real payload passes CheckShape, and the
// bounds refuse what they are for.
func TestShapeOfFixtures(t *testing.T) {
	const dir = "../../shared/fixtures/fediverse"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("fediverse fixtures not found (%s): %v", dir, err)
	}
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckShape(b); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		n++
		return nil
	})
	if n == 0 {
		t.Fatal("no fixtures read")
	}
	strs := func(n int) string { return `"` + strings.Repeat(`x","`, n-1) + `x"` }
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"500 recipients", `{"type":"Create","to":[` + strs(500) + `]}`, true},
		{"501 recipients", `{"type":"Create","to":[` + strs(501) + `]}`, false},
		{"501 numbers", `{"type":"Create","to":[` + strings.Repeat("1,", 500) + `1]}`, false},
		{"501 literals", `{"type":"Create","to":[` + strings.Repeat("null,", 500) + `true]}`, false},
		{"501 objects", `{"type":"Create","tag":[` + strings.Repeat("{},", 500) + `{}]}`, false},
		{"many small arrays", `{"type":"Create","a":[` + strings.Repeat(`[`+strs(10)+`],`, 400) + `[]]}`, false},
		{"commas in strings", `{"type":"Create","content":"` + strings.Repeat(`a,\",[`, 5000) + `"}`, true},
		{"deep", strings.Repeat("[", 65) + strings.Repeat("]", 65), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckShape([]byte(tt.body))
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrMalformed)) {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
