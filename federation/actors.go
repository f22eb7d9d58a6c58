package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agorafed/agora/community"
)

// ActorTTL is how long a cached remote actor is used before it is fetched
// again.
const ActorTTL = 24 * time.Hour

// Actors resolves remote actors, from the cache or by a signed fetch.
type Actors struct {
	store ActorStore
	fetch *Fetcher
	now   func() time.Time
}

// NewActors returns an Actors.
func NewActors(store ActorStore, fetch *Fetcher, now func() time.Time) *Actors {
	if now == nil {
		now = time.Now
	}
	return &Actors{store: store, fetch: fetch, now: now}
}

// Get returns the actor, fetching it when it is not cached, older than
// ActorTTL, or refresh is set. A stale copy is returned when a refetch
// fails, since an actor's inbox rarely moves.
func (a *Actors) Get(ctx context.Context, iri string, refresh bool) (RemoteActor, error) {
	cached, err := a.store.RemoteActor(ctx, iri)
	switch {
	case err == nil && !refresh && a.now().Sub(cached.FetchedAt) < ActorTTL:
		return cached, nil
	case err != nil && !errors.Is(err, community.ErrNotFound):
		return RemoteActor{}, fmt.Errorf("actor %s: %w", iri, err)
	}
	fetched, ferr := a.Fetch(ctx, iri)
	if ferr != nil {
		if err == nil {
			return cached, nil
		}
		return RemoteActor{}, ferr
	}
	if err := a.store.PutRemoteActor(ctx, fetched); err != nil {
		return RemoteActor{}, fmt.Errorf("actor %s: %w", iri, err)
	}
	return fetched, nil
}

// Fetch gets an actor document from its origin and reads it.
func (a *Actors) Fetch(ctx context.Context, iri string) (RemoteActor, error) {
	body, err := a.fetch.Get(ctx, iri)
	if err != nil {
		return RemoteActor{}, fmt.Errorf("fetch actor %s: %w", iri, err)
	}
	act, err := ParseActor(body)
	if err != nil {
		return RemoteActor{}, fmt.Errorf("fetch actor %s: %w", iri, err)
	}
	if act.ID != iri {
		return RemoteActor{}, fmt.Errorf("fetch actor %s: document id is %q", iri, act.ID)
	}
	act.FetchedAt = a.now().UTC()
	return act, nil
}

// ParseActor reads the parts of a remote actor document that Agora keeps.
// Actor documents vary more than activities (icon as object or array, url as
// string or Link), so this reads them leniently.
func ParseActor(body []byte) (RemoteActor, error) {
	var doc struct {
		ID                string          `json:"id"`
		Type              any             `json:"type"`
		PreferredUsername string          `json:"preferredUsername"`
		Name              string          `json:"name"`
		URL               json.RawMessage `json:"url"`
		Icon              json.RawMessage `json:"icon"`
		Inbox             string          `json:"inbox"`
		Followers         string          `json:"followers"`
		Endpoints         struct {
			SharedInbox string `json:"sharedInbox"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return RemoteActor{}, fmt.Errorf("%w: actor: %v", ErrMalformed, err)
	}
	if doc.ID == "" || doc.Inbox == "" {
		return RemoteActor{}, fmt.Errorf("%w: actor has no id or inbox", ErrMalformed)
	}
	if err := IsAllowedURL(doc.Inbox); err != nil {
		return RemoteActor{}, fmt.Errorf("%w: actor inbox: %v", ErrMalformed, err)
	}
	shared := doc.Endpoints.SharedInbox
	if shared != "" && IsAllowedURL(shared) != nil {
		shared = ""
	}
	typ, _ := doc.Type.(string)
	if list, ok := doc.Type.([]any); ok && len(list) > 0 {
		typ, _ = list[0].(string)
	}
	return RemoteActor{
		ID:                doc.ID,
		Type:              typ,
		PreferredUsername: capRunes(doc.PreferredUsername, MaxActorUsername),
		Name:              capRunes(doc.Name, MaxActorName),
		URL:               capURL(firstHref(doc.URL)),
		Icon:              capURL(firstHref(doc.Icon)),
		Inbox:             doc.Inbox,
		SharedInbox:       shared,
		Followers:         capURL(doc.Followers),
	}, nil
}

// Caps on what a remote actor document may make Agora keep and show next
// to every post of the actor (a 900 KB name once made a community page
// 10 MB). Mastodon allows its own users 30 characters of display name and
// username (Account::DISPLAY_NAME_LENGTH_LIMIT, USERNAME_LENGTH_LIMIT in
// app/models/account.rb) and takes up to 2048 from other servers
// (DISPLAY_NAME_LENGTH_HARD_LIMIT); a page listing posts needs far less,
// so Agora keeps 200 and 100, with an ellipsis.
const (
	MaxActorName     = 200
	MaxActorUsername = 100
	MaxActorURL      = 2048 // longer links are dropped, not cut
)

// capURL returns u, or "" when it is longer than MaxActorURL: a cut link
// would lead nowhere.
func capURL(u string) string {
	if len(u) > MaxActorURL {
		return ""
	}
	return u
}

// firstHref reads a URL given as a string, an object with url or href, or
// an array of those.
func firstHref(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		for _, item := range list {
			if h := firstHref(item); h != "" {
				return h
			}
		}
		return ""
	}
	var obj struct {
		URL  json.RawMessage `json:"url"`
		Href string          `json:"href"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		if obj.Href != "" {
			return obj.Href
		}
		return firstHref(obj.URL)
	}
	return ""
}
