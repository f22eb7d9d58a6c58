package federation

// Flag: reports.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/agorafed/agora/community"
)

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
// names an account and a few of its posts, and each object costs lookups,
// so that a Flag naming tens of thousands kept the processor busy for a
// minute (BENCHMARKS.md, "Figures behind the code"); the rest are ignored,
// and logged.
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
