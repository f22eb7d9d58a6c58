package federation

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
)

func TestCommandText(t *testing.T) {
	tests := []struct{ html, want string }{
		// Mastodon: mentions wrap the name in spans.
		{`<p><span class="h-card"><a href="https://a.example/c/g" class="u-url mention">@<span>g</span></a></span> ban <span class="h-card"><a href="https://m.example/users/carol" class="u-url mention">@<span>carol</span></a></span> spam</p>`,
			"@g ban @carol spam"},
		{`<p>@g</p><p>remove https://x.example/1</p>`, "@g remove https://x.example/1"},
		{`help<br>me`, "help me"},
		{`pin &lt;https://x.example/1&gt; &amp; more`, "pin <https://x.example/1> & more"},
		{`<script>ban @x</script>`, "ban @x"}, // text, never run; a moderator's own words
		{"", ""},
	}
	for _, tt := range tests {
		if got := commandText(tt.html); got != tt.want {
			t.Errorf("commandText(%q) = %q, want %q", tt.html, got, tt.want)
		}
	}
}

func FuzzCommandText(f *testing.F) {
	for _, s := range []string{`<p>@<span>g</span> ban</p>`, `<br/><p>x`, `&#0;&lt;<<>`, "<a href='\x00'>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := commandText(s)
		if strings.Contains(out, "  ") || out != strings.TrimSpace(out) {
			t.Fatalf("commandText(%q) = %q: spaces not collapsed", s, out)
		}
		community.ParseCommand(out)
	})
}

func TestModerationCollections(t *testing.T) {
	base, _ := url.Parse("http://agora.test")
	d := NewDocuments(NewLocal(base, nil, nil), nil, nil, time.Now())
	c := community.Community{ID: 1, Name: "garden"}
	body, err := d.Moderators(c, []community.Moderator{
		{Actor: "https://m.example/users/alice", Role: community.RoleOwner},
		{Actor: community.LocalAccount("root"), Role: community.RoleModerator},
		{Actor: "https://l.example/u/dave", Role: community.RoleModerator},
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ID    string   `json:"id"`
		Type  string   `json:"type"`
		Total int      `json:"totalItems"`
		Items []string `json:"orderedItems"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != "http://agora.test/c/garden/moderators" || doc.Type != "OrderedCollection" || doc.Total != 3 ||
		strings.Join(doc.Items, " ") != "https://m.example/users/alice https://l.example/u/dave http://agora.test/moderation" {
		t.Fatalf("moderators %s", body)
	}
	body, err = d.Featured(c, []community.Post{
		{ObjectID: "https://m.example/notes/1", Decision: community.Announce},
		{ObjectID: "https://m.example/notes/2", Decision: community.Refuse, Reason: community.ReasonRemoved},
		{ObjectID: "https://m.example/notes/3", Decision: community.Announce, DeletedAt: time.Now()},
	})
	if err != nil {
		t.Fatal(err)
	}
	doc.Items = nil
	json.Unmarshal(body, &doc)
	if doc.ID != "http://agora.test/c/garden/featured" || doc.Total != 1 || len(doc.Items) != 1 || doc.Items[0] != "https://m.example/notes/1" {
		t.Fatalf("featured %s", body)
	}
	empty, _ := d.Featured(c, nil)
	if !strings.Contains(string(empty), `"orderedItems":[]`) {
		t.Fatalf("empty featured %s", empty)
	}
}
