package federation

// Resolver: finding actors by handle, for commands and the CLI.

import (
	"context"
	"fmt"
	"strings"

	"github.com/agorafed/agora/community"
)

// Resolver finds actors by handle for moderation commands and the CLI:
// @user@host by WebFinger (docs/protocol.md, "Fetching"), an actor URL as it is.
type Resolver struct {
	fetch     *Fetcher
	allowHTTP bool
}

// NewResolver returns a Resolver; allowHTTP (allow_private_addresses) lets
// WebFinger fall back to http, for test setups.
func NewResolver(fetch *Fetcher, allowHTTP bool) *Resolver {
	return &Resolver{fetch: fetch, allowHTTP: allowHTTP}
}

var _ community.ActorResolver = (*Resolver)(nil)

// ResolveActor returns the actor IRI of @user@host or of an actor URL.
func (r *Resolver) ResolveActor(ctx context.Context, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://") {
		if err := IsAllowedURL(ref); err != nil {
			return "", fmt.Errorf("%w actor %q: %v", community.ErrInvalid, ref, err)
		}
		return ref, nil
	}
	if _, _, err := SplitHandle(ref); err != nil {
		return "", fmt.Errorf("%w: %v", community.ErrInvalid, err)
	}
	jrd, err := r.fetch.WebFinger(ctx, ref, r.allowHTTP)
	if err != nil {
		return "", fmt.Errorf("%s: %w", ref, err)
	}
	iri := jrd.ActorIRI()
	if iri == "" || IsAllowedURL(iri) != nil {
		return "", fmt.Errorf("%s: %w: no ActivityPub actor in its WebFinger answer", ref, community.ErrNotFound)
	}
	return iri, nil
}
