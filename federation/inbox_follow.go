package federation

// Follow, Undo{Follow} and Delete{actor}: joining and leaving.

import (
	"context"
	"errors"
	"fmt"

	"github.com/agorafed/agora/community"
)

func (in *Inbox) community(ctx context.Context, iri string) (community.Community, error) {
	name := in.local.CommunityName(iri)
	if name == "" {
		return community.Community{}, fmt.Errorf("%s: %w", iri, community.ErrNotFound)
	}
	return in.svc.Get(ctx, name)
}

func (in *Inbox) follow(ctx context.Context, act *Object) (string, error) {
	if act.Object == nil {
		return "ignored: follow of nothing", nil
	}
	c, err := in.community(ctx, act.Object.ID)
	if errors.Is(err, community.ErrNotFound) {
		return "ignored: follow of " + act.Object.ID, nil
	}
	if err != nil && !errors.Is(err, community.ErrGone) {
		return "", err
	}
	// The Accept goes to the follower's inbox: know it before deciding.
	if _, err := in.actors.Get(ctx, act.Actor, false); err != nil {
		return "", err
	}
	// Learn the member's software now, so that announcing later never
	// waits on NodeInfo.
	if in.dialects != nil {
		if err := in.dialects.Refresh(ctx, act.Actor); err != nil {
			in.log.Debug("nodeinfo", "actor", act.Actor, "err", err)
		}
	}
	d, err := in.svc.Follow(ctx, c, act.Actor, act.ID)
	if err != nil {
		return "", err
	}
	return "follow " + string(d), nil
}

func (in *Inbox) unfollow(ctx context.Context, act *Object) (string, error) {
	f := act.Object
	if f.Actor != "" && f.Actor != act.Actor {
		return "ignored: undo of someone else's follow", nil
	}
	if f.Object != nil && f.Object.ID != "" {
		c, err := in.community(ctx, f.Object.ID)
		if errors.Is(err, community.ErrNotFound) || errors.Is(err, community.ErrGone) {
			return "ignored: undo follow of " + f.Object.ID, nil
		}
		if err != nil {
			return "", err
		}
		return "left " + c.Name, in.svc.Leave(ctx, c, act.Actor)
	}
	// Undo naming the Follow only by its id: find the membership it made.
	ms, err := in.members.MembershipsOf(ctx, act.Actor)
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		if m.FollowID == f.ID {
			c, err := in.members.CommunityByID(ctx, m.CommunityID)
			if err != nil {
				return "", err
			}
			return "left " + c.Name, in.svc.Leave(ctx, c, act.Actor)
		}
	}
	return "ignored: undo of unknown follow", nil
}

// actorDeleted handles an account deletion: it leaves every community (a
// ban stays) and is forgotten.
func (in *Inbox) actorDeleted(ctx context.Context, actor string) (string, error) {
	ms, err := in.members.MembershipsOf(ctx, actor)
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		c, err := in.members.CommunityByID(ctx, m.CommunityID)
		if err != nil {
			return "", err
		}
		if err := in.svc.Leave(ctx, c, actor); err != nil {
			return "", err
		}
	}
	posts, err := in.posts.AuthorGone(ctx, actor)
	if err != nil {
		return "", err
	}
	in.followers.drop(actor)
	if err := in.cache.DeleteRemoteActor(ctx, actor); err != nil {
		return "", err
	}
	return fmt.Sprintf("actor deleted, left %d communities, %d posts removed", len(ms), posts), nil
}
