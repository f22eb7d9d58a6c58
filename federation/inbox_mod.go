package federation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	nethtml "golang.org/x/net/html"

	"github.com/agorafed/agora/community"
)

// Resolver finds actors by handle for moderation commands and the CLI:
// @user@host by WebFinger (PROTOCOL.md section 7), an actor URL as it is.
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

// instanceBlocked tells whether an actor's server is blocked on the whole
// instance: its activities are answered 202 and dropped (PROTOCOL.md
// section 3 asks no more of a refusal than that).
func (in *Inbox) instanceBlocked(ctx context.Context, actor string) (bool, error) {
	if in.mod == nil {
		return false, nil
	}
	return in.mod.InstanceBlocked(ctx, actor)
}

// directMessage handles a direct message to local communities (a
// Create{Note} with no public or followers addressing). From a
// community's moderator it is a command, executed and answered, and
// handled is true. From anyone else it is refused politely (once an hour)
// and handled is false: it goes on to be kept as a post, refused as
// not-public, like any direct post. followers is the actor's followers
// collection ("" when unknown).
func (in *Inbox) directMessage(ctx context.Context, act, obj *Object, names []string, followers string) (handled bool, result string, err error) {
	if in.mod == nil || obj.Type != "Note" {
		return false, "", nil
	}
	// Only the author gives commands, in their own words: no fetching a
	// forwarded message.
	if obj.AttributedTo != act.Actor || !SameHost(obj.ID, act.Actor) {
		return false, "", nil
	}
	if v := Visibility(obj, followers); v != community.Direct {
		return false, "", nil
	}
	text := commandText(obj.Content)
	mentions := map[string]string{}
	for _, m := range obj.Mentions {
		name := strings.ToLower(strings.TrimSpace(m.Name))
		if name == "" || m.Href == "" || in.local.IsLocal(m.Href) {
			continue
		}
		mentions[name] = m.Href
		// Mastodon shows (and so writes in content) only @user for a
		// mention whose tag names @user@host.
		if user, _, ok := strings.Cut(strings.TrimPrefix(name, "@"), "@"); ok {
			if _, taken := mentions["@"+user]; !taken {
				mentions["@"+user] = m.Href
			}
		}
	}
	var results []string
	for _, name := range names {
		c, err := in.svc.Get(ctx, name)
		if err != nil {
			continue
		}
		res, err := in.mod.HandleMessage(ctx, c, act.Actor, text, mentions)
		if err != nil {
			return false, "", fmt.Errorf("message to %s: %w", name, err)
		}
		handled = handled || res.Command
		results = append(results, name+": "+res.Summary)
	}
	return handled, "direct message " + strings.Join(results, "; "), nil
}

// flag handles a report (Flag): Mastodon's names the reported account
// then its posts and is addressed to the account's server; Lemmy's and
// Mbin's name the post (and its author) and are addressed to the
// community. Each local community concerned (named, or having one of the
// posts or accounts) stores a report, and its remote moderators are told.
func (in *Inbox) flag(ctx context.Context, act *Object) (string, error) {
	if in.mod == nil {
		return "ignored: no moderation", nil
	}
	targets := flagTargets(act)
	if len(act.Objects) > maxFlagObjects {
		in.log.Info("flag: objects past the cap ignored", "activity", act.ID, "objects", len(act.Objects), "cap", maxFlagObjects)
	}
	cids, err := in.flaggedCommunities(ctx, act, targets)
	if err != nil {
		return "", err
	}
	if len(cids) == 0 {
		return "ignored: flag of nothing here", nil
	}
	content := PlainText(act.Content)
	if content == "" {
		content = PlainText(act.Summary)
	}
	var names []string
	for _, cid := range cids {
		c, err := in.members.CommunityByID(ctx, cid)
		if err != nil {
			return "", err
		}
		if c.Deleted() {
			continue
		}
		var mine []string
		for _, t := range targets {
			if t != in.local.CommunityIRI(c.Name) {
				mine = append(mine, t)
			}
		}
		r, err := in.mod.Report(ctx, c, community.Report{Reporter: act.Actor, ActivityID: act.ID, Targets: mine,
			Content: content})
		if err != nil {
			return "", err
		}
		names = append(names, fmt.Sprintf("%s #%d", c.Name, r.ID))
	}
	return "report " + strings.Join(names, ", "), nil
}

// maxFlagObjects caps the objects of a Flag that are looked at: a report
// names an account and a few of its posts, and each object costs lookups
// (a Flag naming 30,000 kept the processor busy for 64 s); the rest are
// ignored, and logged.
const maxFlagObjects = 100

// flagTargets lists the distinct objects a Flag names, up to the cap.
func flagTargets(act *Object) []string {
	var targets []string
	for _, o := range act.Objects[:min(len(act.Objects), maxFlagObjects)] {
		if o != nil && o.ID != "" && !slices.Contains(targets, o.ID) {
			targets = append(targets, o.ID)
		}
	}
	return targets
}

// flaggedCommunities finds the communities a Flag concerns: those it is
// addressed to or names, those that have a named post, and those a named
// account is a member of.
func (in *Inbox) flaggedCommunities(ctx context.Context, act *Object, targets []string) ([]int64, error) {
	var cids []int64
	add := func(id int64) {
		if !slices.Contains(cids, id) {
			cids = append(cids, id)
		}
	}
	for _, iri := range slices.Concat(act.To, act.Cc, act.Audience, targets) {
		name := in.local.CommunityName(iri)
		if name == "" {
			continue
		}
		c, err := in.svc.Get(ctx, name)
		if errors.Is(err, community.ErrNotFound) || errors.Is(err, community.ErrGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		add(c.ID)
	}
	for _, t := range targets {
		if in.local.IsLocal(t) {
			continue
		}
		ps, err := in.posts.ByObject(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			add(p.CommunityID)
		}
		ms, err := in.members.MembershipsOf(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			add(m.CommunityID)
		}
	}
	return cids, nil
}

// flagConcernsUs tells whether a Flag names a post or an account a local
// community has: Mastodon addresses its report to the reported account's
// server, not to the community.
func (in *Inbox) flagConcernsUs(ctx context.Context, act *Object) bool {
	if act.Type != "Flag" {
		return false
	}
	for _, id := range flagTargets(act) {
		if ps, err := in.posts.ByObject(ctx, id); err == nil && len(ps) > 0 {
			return true
		}
		if ms, err := in.members.MembershipsOf(ctx, id); err == nil && len(ms) > 0 {
			return true
		}
	}
	return false
}

// commandText reads the text of a direct message as its author typed it:
// inline tags (Mastodon wraps a mention's name in spans: @<span>carol</span>)
// join their text without a space, block tags and <br> separate words.
func commandText(content string) string {
	var b strings.Builder
	z := nethtml.NewTokenizer(strings.NewReader(content))
	for {
		switch z.Next() {
		case nethtml.ErrorToken:
			return strings.Join(strings.Fields(b.String()), " ")
		case nethtml.TextToken:
			b.Write(z.Text())
		case nethtml.StartTagToken, nethtml.EndTagToken, nethtml.SelfClosingTagToken:
			switch name, _ := z.TagName(); string(name) {
			case "p", "br", "div", "li", "blockquote", "pre":
				b.WriteByte(' ')
			}
		}
	}
}
