package federation

// Like, Dislike and their Undo.

import (
	"context"
	"fmt"
	"strings"
)

// react handles Like and Dislike, and their Undo, of a community's post.
func (in *Inbox) react(ctx context.Context, act *Object, kind string, target *Object, add bool) (string, error) {
	if target == nil || target.ID == "" {
		return "ignored: " + strings.ToLower(kind) + " of nothing", nil
	}
	ps, err := in.posts.ByObject(ctx, target.ID)
	if err != nil {
		return "", err
	}
	for _, p := range ps {
		c, err := in.members.CommunityByID(ctx, p.CommunityID)
		if err != nil {
			return "", err
		}
		if err := in.posts.React(ctx, c, p, act.Actor, kind, add, act.Raw); err != nil {
			return "", err
		}
	}
	if len(ps) == 0 {
		return "ignored: " + strings.ToLower(kind) + " of an unknown post", nil
	}
	verb := strings.ToLower(kind)
	if !add {
		verb = "undo " + verb
	}
	return fmt.Sprintf("%s counted in %d communities", verb, len(ps)), nil
}
