package federation

// Update{post} and Update{actor}.

import (
	"context"
	"fmt"
	"strings"
)

// update handles Update{post} by its author, and Update{actor}.
func (in *Inbox) update(ctx context.Context, act *Object) (string, error) {
	obj := act.Object
	if obj == nil {
		return "ignored: update of nothing", nil
	}
	if obj.ID == act.Actor {
		in.followers.drop(act.Actor)
		if _, err := in.actors.Get(ctx, act.Actor, true); err != nil {
			return "", err
		}
		return "actor refreshed", nil
	}
	if !isPostType(obj.Type) {
		return "ignored: update of " + typeOf(obj), nil
	}
	// Only the author edits, and only with the edited object in hand.
	if obj.AttributedTo != act.Actor || !SameHost(obj.ID, act.Actor) {
		return "ignored: update by someone other than the author", nil
	}
	existing, err := in.posts.ByObject(ctx, obj.ID)
	if err != nil {
		return "", err
	}
	edited := PostFromObject(act, obj)
	edited.Visibility = visibility(act, obj, in.followersOf(ctx, act.Actor))
	addressed := AddressedCommunities(in.local, act)
	var results []string
	seen := map[int64]bool{}
	for _, p := range existing {
		if p.Author != act.Actor {
			continue
		}
		seen[p.CommunityID] = true
		c, err := in.members.CommunityByID(ctx, p.CommunityID)
		if err != nil {
			return "", err
		}
		np, err := in.posts.Edit(ctx, c, p, edited, postFacts(obj, edited.Visibility, addressed, c.Name, true), act.Raw)
		if err != nil {
			return "", err
		}
		results = append(results, fmt.Sprintf("%s: %s (%s)", c.Name, np.Decision, np.Reason))
	}
	// An edit that adds a community is a new post there.
	for _, name := range addressed {
		c, err := in.svc.Get(ctx, name)
		if err != nil || seen[c.ID] {
			continue
		}
		p, err := in.posts.Receive(ctx, c, edited, postFacts(obj, edited.Visibility, addressed, name, true))
		if err != nil {
			return "", err
		}
		results = append(results, fmt.Sprintf("%s: %s (%s)", c.Name, p.Decision, p.Reason))
	}
	if len(results) == 0 {
		return "ignored: update of an unknown post", nil
	}
	return "edit " + strings.Join(results, "; "), nil
}
