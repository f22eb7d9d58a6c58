// Package seed seeds Agora with members on a fedtest.Fleet, for the
// benchmarks (cmd/agora-bench) and the crash tests of cmd/agora: what
// handling their Follows would have stored, without the Follows.
package seed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

// Members records the fleet's actors as members of c, as handling
// their Follows would have left them: actor cached, member, host software
// known (from NodeInfo at follow time).
func Members(ctx context.Context, a *agora.App, c community.Community, fleet []fedtest.FleetHost, perHost, followers int) error {
	now := time.Now().UTC()
	for _, h := range fleet {
		if err := a.DB.SetHostSoftware(ctx, h.Host, "mastodon", now); err != nil {
			return err
		}
	}
	for n := range followers {
		h, u := fleet[n%len(fleet)], n/len(fleet)
		if u >= perHost {
			return errors.New("more followers than the fleet has actors")
		}
		iri := fmt.Sprintf("%s/users/u%d", h.URL, u)
		if err := a.DB.PutRemoteActor(ctx, federation.RemoteActor{ID: iri, Type: "Person",
			PreferredUsername: fmt.Sprintf("u%d", u), Inbox: iri + "/inbox", SharedInbox: h.SharedInbox(),
			Followers: iri + "/followers", FetchedAt: now}); err != nil {
			return err
		}
		if err := a.DB.SaveMember(ctx, community.Member{CommunityID: c.ID, Actor: iri, State: community.Joined,
			FollowID: iri + "/follows/1", CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
	}
	return nil
}
