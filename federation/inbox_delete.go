package federation

// Delete{post}: an author takes a post back.

import (
	"context"
	"fmt"
)

// deletePost handles Delete{post or Tombstone} by its author.
func (in *Inbox) deletePost(ctx context.Context, act *Object) (string, error) {
	id := act.Object.ID
	ps, err := in.posts.ByObject(ctx, id)
	if err != nil {
		return "", err
	}
	n := 0
	for _, p := range ps {
		// A community never takes someone else's word for a deletion.
		if p.Author != act.Actor {
			continue
		}
		c, err := in.members.CommunityByID(ctx, p.CommunityID)
		if err != nil {
			return "", err
		}
		if err := in.posts.Delete(ctx, c, p, act.Raw); err != nil {
			return "", err
		}
		n++
	}
	if n == 0 {
		return "ignored: delete of an unknown post", nil
	}
	return fmt.Sprintf("deleted in %d communities", n), nil
}
