package federation

// Direct messages to a community: moderators' commands.

import (
	"context"
	"fmt"
	"strings"

	nethtml "golang.org/x/net/html"

	"github.com/agorafed/agora/community"
)

// directMessage handles a direct message to local communities (a
// Create{Note} with no public or followers addressing). From a
// community's moderator it is a command, executed and answered, and
// handled is true. From anyone else it is refused politely (once an hour)
// and handled is false: it goes on to be kept as a post, refused as
// not-public, like any direct post. followers is the actor's followers
// collection ("" when unknown).
func (in *Inbox) directMessage(ctx context.Context, act, obj *Object, names []string, followers string) (handled bool, result string, err error) {
	if in.mod == nil || obj.Type != "Note" {
		return false, "", nil
	}
	// Only the author gives commands, in their own words: no fetching a
	// forwarded message.
	if obj.AttributedTo != act.Actor || !SameHost(obj.ID, act.Actor) {
		return false, "", nil
	}
	if v := Visibility(obj, followers); v != community.Direct {
		return false, "", nil
	}
	text := commandText(obj.Content)
	mentions := map[string]string{}
	for _, m := range obj.Mentions {
		name := strings.ToLower(strings.TrimSpace(m.Name))
		if name == "" || m.Href == "" || in.local.IsLocal(m.Href) {
			continue
		}
		mentions[name] = m.Href
		// Mastodon shows (and so writes in content) only @user for a
		// mention whose tag names @user@host.
		if user, _, ok := strings.Cut(strings.TrimPrefix(name, "@"), "@"); ok {
			if _, taken := mentions["@"+user]; !taken {
				mentions["@"+user] = m.Href
			}
		}
	}
	var results []string
	for _, name := range names {
		c, err := in.svc.Get(ctx, name)
		if err != nil {
			continue
		}
		res, err := in.mod.HandleMessage(ctx, c, act.Actor, text, mentions)
		if err != nil {
			return false, "", fmt.Errorf("message to %s: %w", name, err)
		}
		handled = handled || res.Command
		results = append(results, name+": "+res.Summary)
	}
	return handled, "direct message " + strings.Join(results, "; "), nil
}

// commandText reads the text of a direct message as its author typed it:
// inline tags (Mastodon wraps a mention's name in spans: @<span>carol</span>)
// join their text without a space, block tags and <br> separate words.
func commandText(content string) string {
	var b strings.Builder
	z := nethtml.NewTokenizer(strings.NewReader(content))
	for {
		switch z.Next() {
		case nethtml.ErrorToken:
			return strings.Join(strings.Fields(b.String()), " ")
		case nethtml.TextToken:
			b.Write(z.Text())
		case nethtml.StartTagToken, nethtml.EndTagToken, nethtml.SelfClosingTagToken:
			switch name, _ := z.TagName(); string(name) {
			case "p", "br", "div", "li", "blockquote", "pre":
				b.WriteByte(' ')
			}
		}
	}
}
