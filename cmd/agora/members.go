package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/community"
)

// resolveMember finds the actor IRI a CLI argument names among a
// community's members: an actor URL as is, or @user@host matched against
// the cached actor documents (no network needed: members were fetched when
// they followed).
func resolveMember(ctx context.Context, a *agora.App, c community.Community, arg string, state community.MemberState) (string, error) {
	if strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://") {
		return arg, nil
	}
	user, host, ok := strings.Cut(strings.TrimPrefix(arg, "@"), "@")
	if !ok || user == "" || host == "" {
		return "", fmt.Errorf("%w actor %q: use an actor URL or @user@host", community.ErrInvalid, arg)
	}
	after := ""
	for {
		ms, err := a.Svc.Members(ctx, c, state, after, 500)
		if err != nil {
			return "", err
		}
		for _, m := range ms {
			ra, err := a.DB.RemoteActor(ctx, m.Actor)
			if err != nil {
				continue
			}
			u, err := url.Parse(m.Actor)
			if err == nil && strings.EqualFold(ra.PreferredUsername, user) && strings.EqualFold(u.Host, host) {
				return m.Actor, nil
			}
		}
		if len(ms) < 500 {
			return "", fmt.Errorf("%s in %s: %w", arg, c.Name, community.ErrNotFound)
		}
		after = ms[len(ms)-1].Actor
	}
}
