package federation

// Create{post}: deciding, storing and announcing a member's post.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agorafed/agora/community"
)

// postTypes are the object types a community relays (docs/protocol.md, "What Agora accepts").
var postTypes = []string{"Note", "Article", "Page", "Question", "Video", "Event"}

func isPostType(t string) bool { return slices.Contains(postTypes, t) }

// create handles Create{post}: for each local community the post is
// addressed to, decide, store and maybe announce it.
func (in *Inbox) create(ctx context.Context, act *Object) (string, error) {
	obj := act.Object
	if obj == nil || (obj.Type != "" && !isPostType(obj.Type)) {
		return "ignored: create of " + typeOf(obj), nil
	}
	names := AddressedCommunities(in.local, act)
	if len(names) == 0 {
		return "ignored: addressed to no local community", nil
	}
	// The actor's followers collection tells followers-only posts; read
	// once, for both the direct-message test and the visibility.
	followers := in.followersOf(ctx, act.Actor)
	// A direct message to a community may be a moderator's command.
	if handled, result, err := in.directMessage(ctx, act, obj, names, followers); err != nil || handled {
		return result, err
	}
	obj, authentic, err := in.authenticate(ctx, act, obj)
	if err != nil {
		return "", err
	}
	if obj.Type != "" && !isPostType(obj.Type) {
		return "ignored: create of " + obj.Type, nil
	}
	post := PostFromObject(act, obj)
	if obj.InReplyTo != "" {
		// A reply joins its parent's thread when we have the parent.
		if parents, err := in.posts.ByObject(ctx, obj.InReplyTo); err == nil && len(parents) > 0 && parents[0].ThreadRoot != "" {
			post.ThreadRoot = parents[0].ThreadRoot
		}
	}
	if post.Author != act.Actor {
		followers = in.followersOf(ctx, post.Author)
	}
	vis := visibility(act, obj, followers)
	post.Visibility = vis
	var results []string
	for _, name := range names {
		c, err := in.svc.Get(ctx, name)
		if errors.Is(err, community.ErrNotFound) {
			continue
		}
		if err != nil && !errors.Is(err, community.ErrGone) {
			return "", err
		}
		p, err := in.posts.Receive(ctx, c, post, postFacts(obj, vis, names, name, authentic))
		if err != nil {
			return "", err
		}
		results = append(results, fmt.Sprintf("%s: %s (%s)", c.Name, p.Decision, p.Reason))
	}
	return "post " + strings.Join(results, "; "), nil
}

// postFacts is what the activity tells of a post for community name's
// decision: addressed is every local community the activity names; the
// store adds what it knows of the author (community.Posts).
func postFacts(obj *Object, vis community.Visibility, addressed []string, name string, authentic bool) community.PostFacts {
	return community.PostFacts{
		Addressed:      slices.Contains(addressed, name),
		Visibility:     vis,
		Authentic:      authentic,
		IsReply:        obj.InReplyTo != "",
		LocalMentioned: len(addressed),
	}
}

// authenticate checks that a post comes from its author (docs/protocol.md, "What Agora accepts"):
// delivered by the actor it is attributed to, from that actor's host. A
// post that reached us any other way (forwarded, given only by id,
// attributed to someone else) is fetched from its origin by id, and only
// the fetched copy is trusted. It returns the object to use.
func (in *Inbox) authenticate(ctx context.Context, act, obj *Object) (*Object, bool, error) {
	if obj.Type != "" && obj.AttributedTo == act.Actor && SameHost(obj.ID, act.Actor) {
		return obj, true, nil
	}
	if obj.ID == "" || IsAllowedURL(obj.ID) != nil {
		return obj, false, nil
	}
	body, err := in.fetch.Get(ctx, obj.ID)
	if err != nil {
		var se *StatusError
		transient := errors.As(err, &se) && (se.Code >= 500 || se.Code == http.StatusTooManyRequests || se.Code == http.StatusRequestTimeout)
		if !transient && (se != nil || errors.Is(err, ErrWrongOrigin) || errors.Is(err, ErrForbiddenAddress) || errors.Is(err, ErrContentType)) {
			// The origin denies it: a forgery, or gone. Keep what was claimed,
			// refused as not authentic.
			in.log.Info("post not authentic", "object", obj.ID, "actor", act.Actor, "err", err)
			return obj, false, nil
		}
		// The origin did not answer, or answered that it cannot now: an
		// error, so the activity is tried again later.
		return nil, false, fmt.Errorf("fetch %s from its origin: %w", obj.ID, err)
	}
	fetched, err := Parse(body)
	if err != nil {
		return obj, false, nil
	}
	if fetched.ID != obj.ID || fetched.AttributedTo == "" || !SameHost(fetched.AttributedTo, fetched.ID) {
		in.log.Info("post not authentic", "object", obj.ID, "actor", act.Actor, "fetched_id", fetched.ID,
			"fetched_author", fetched.AttributedTo)
		return obj, false, nil
	}
	return fetched, true, nil
}

// followersOf returns an actor's followers collection, "" when we do not
// have the actor.
func (in *Inbox) followersOf(ctx context.Context, actor string) string {
	if f, ok := in.followers.get(actor, in.now()); ok {
		return f
	}
	if a, err := in.cache.RemoteActor(ctx, actor); err == nil {
		in.followers.put(actor, a.Followers, in.now())
		return a.Followers
	}
	return ""
}

// followersCache keeps actors' followers collections in memory for the
// processor, which reads one per post (a query each otherwise). An actor
// practically never changes it; an entry lives followersTTL, and the
// processor drops it when the actor is refreshed or deleted. Bounded: full,
// it starts again empty.
type followersCache struct {
	mu sync.Mutex
	m  map[string]followersEntry
}

type followersEntry struct {
	followers string
	at        time.Time
}

const (
	followersTTL  = 10 * time.Minute
	followersSize = 10000
)

func (c *followersCache) get(actor string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[actor]
	if !ok || now.Sub(e.at) > followersTTL || now.Before(e.at) {
		return "", false
	}
	return e.followers, true
}

func (c *followersCache) put(actor, followers string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= followersSize {
		c.m = map[string]followersEntry{}
	}
	c.m[actor] = followersEntry{followers, now}
}

func (c *followersCache) drop(actor string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, actor)
}

// visibility reads who a post is for (PostVisibility), knowing the author's
// followers collection ("" when we do not have their actor).
func visibility(act, obj *Object, followers string) community.Visibility {
	return PostVisibility(act, obj, followers)
}

func typeOf(o *Object) string {
	if o == nil {
		return "nothing"
	}
	if o.Type == "" {
		return "a reference"
	}
	return o.Type
}
