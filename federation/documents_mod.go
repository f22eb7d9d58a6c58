package federation

import (
	"encoding/json"

	"github.com/agorafed/agora/community"
)

// Moderators renders a community's moderators collection, the Group's
// attributedTo (FEP-1b12): the remote moderators' actor IRIs, owners
// first, then the instance's moderation Person, the actor of the
// community's moderation activities (publish_mod.go). Local admin accounts
// have no actor and are not listed. The list is short, so the collection
// carries its items itself, as Lemmy's does.
func (d *Documents) Moderators(c community.Community, mods []community.Moderator) ([]byte, error) {
	items := []json.RawMessage{}
	for _, m := range mods {
		if m.Remote() {
			items = append(items, mustJSON(m.Actor))
		}
	}
	items = append(items, mustJSON(d.local.ModerationIRI()))
	return RenderCollection(Collection{ID: d.local.CommunityIRI(c.Name) + "/moderators", Type: "OrderedCollection",
		TotalItems: len(items), Items: items})
}

// Featured renders a community's featured (pinned) posts, newest pin
// first, each by the id of the post at its origin. Removed and deleted
// posts are left out.
func (d *Documents) Featured(c community.Community, pinned []community.Post) ([]byte, error) {
	items := []json.RawMessage{}
	for _, p := range pinned {
		if p.Announced() {
			items = append(items, mustJSON(p.ObjectID))
		}
	}
	return RenderCollection(Collection{ID: d.local.CommunityIRI(c.Name) + "/featured", Type: "OrderedCollection",
		TotalItems: len(items), Items: items})
}
