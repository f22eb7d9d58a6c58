package federation_test

import (
	"os"
	"slices"
	"testing"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
)

// TestNodeBBPayloads reads NodeBB's topic and reply Creates (reconstructed
// from NodeBB v4.11.3's source, testdata/nodebb/README.md): addressed to
// the community by to and audience, with the topic as context.
func TestNodeBBPayloads(t *testing.T) {
	local := agoraTest(t)
	tests := []struct {
		file, typ, author, title, content, inReplyTo string
	}{
		{"create_topic.json", "Article", "https://nodebb.example/uid/1", "Which tomatoes for a balcony?", "Cherry or bush varieties?", ""},
		{"create_reply.json", "Note", "https://nodebb.example/uid/2", "", "they stay under a metre", "https://nodebb.example/post/2"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/nodebb/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			act := mustParse(t, string(raw))
			obj := act.Object
			if got := federation.AddressedCommunities(local, act); !slices.Equal(got, []string{"garden"}) {
				t.Errorf("AddressedCommunities = %q, want [garden]", got)
			}
			eqs(t, "Context", obj.Context, "https://nodebb.example/topic/2")
			if !slices.Equal(obj.Audience, []string{"http://agora.test/c/garden"}) {
				t.Errorf("Audience = %q", obj.Audience)
			}
			p := federation.PostFromObject(act, obj)
			eqs(t, "Type", p.Type, tt.typ)
			eqs(t, "Author", p.Author, tt.author)
			eqs(t, "Title", p.Title, tt.title)
			contains(t, "Content", p.Content, tt.content)
			eqs(t, "InReplyTo", p.InReplyTo, tt.inReplyTo)
			eqs(t, "Visibility", string(p.Visibility), string(community.Public))
			eqs(t, "ActivityID", p.ActivityID, act.ID)
		})
	}
}
