package community

import (
	"testing"
	"time"
)

func TestDecideAnnounce(t *testing.T) {
	lim := DefaultLimits()
	members := Community{Name: "m"}
	open := Community{Name: "o", PostingPolicy: PostOpen}
	mods := Community{Name: "x", PostingPolicy: PostModerators}
	replies := Community{Name: "r", AnnounceReplies: true}
	gone := Community{Name: "g", DeletedAt: time.Now()}
	ok := PostFacts{Addressed: true, Visibility: Public, Author: Joined, Authentic: true, LocalMentioned: 1}
	with := func(change func(*PostFacts)) PostFacts { f := ok; change(&f); return f }
	tests := []struct {
		name string
		c    Community
		f    PostFacts
		want Reason
	}{
		{"member's public post", members, ok, ReasonAccepted},
		{"unlisted is announced", members, with(func(f *PostFacts) { f.Visibility = Unlisted }), ReasonAccepted},
		{"followers-only", members, with(func(f *PostFacts) { f.Visibility = Followers }), ReasonNotPublic},
		{"direct", members, with(func(f *PostFacts) { f.Visibility = Direct }), ReasonNotPublic},
		{"not addressed", members, with(func(f *PostFacts) { f.Addressed = false }), ReasonNotAddressed},
		{"non-member", members, with(func(f *PostFacts) { f.Author = "" }), ReasonNotMember},
		{"pending member", members, with(func(f *PostFacts) { f.Author = Pending }), ReasonNotMember},
		{"non-member, open community", open, with(func(f *PostFacts) { f.Author = "" }), ReasonAccepted},
		{"banned, open community", open, with(func(f *PostFacts) { f.Author = Banned }), ReasonBanned},
		{"banned member", members, with(func(f *PostFacts) { f.Author = Banned }), ReasonBanned},
		{"blocked domain", open, with(func(f *PostFacts) { f.DomainBlocked = true }), ReasonDomainBlocked},
		{"member, moderators only", mods, ok, ReasonNotModerator},
		{"moderator, moderators only", mods, with(func(f *PostFacts) { f.AuthorIsMod = true }), ReasonAccepted},
		{"moderator who is not a follower", members, with(func(f *PostFacts) { f.Author = ""; f.AuthorIsMod = true }), ReasonAccepted},
		{"forged", members, with(func(f *PostFacts) { f.Authentic = false }), ReasonNotAuthentic},
		{"reply, replies off", members, with(func(f *PostFacts) { f.IsReply = true }), ReasonReply},
		{"reply, replies on", replies, with(func(f *PostFacts) { f.IsReply = true }), ReasonAccepted},
		{"three communities", members, with(func(f *PostFacts) { f.LocalMentioned = 3 }), ReasonAccepted},
		{"four communities", members, with(func(f *PostFacts) { f.LocalMentioned = 4 }), ReasonTooManyGroups},
		{"rate limited", members, with(func(f *PostFacts) { f.RecentPosts = 10 }), ReasonRateLimited},
		{"under the rate", members, with(func(f *PostFacts) { f.RecentPosts = 9 }), ReasonAccepted},
		{"community deleted", gone, ok, ReasonCommunityGone},
		// The first rule that refuses is the reason: a forged DM is not authentic.
		{"forged and direct", members, with(func(f *PostFacts) { f.Authentic = false; f.Visibility = Direct }), ReasonNotAuthentic},
		{"private reply of a non-member", members, with(func(f *PostFacts) { f.Visibility = Followers; f.Author = ""; f.IsReply = true }), ReasonNotPublic},
	}
	for _, tt := range tests {
		d, r := DecideAnnounce(tt.c, lim, tt.f)
		if r != tt.want {
			t.Errorf("%s: reason %s, want %s", tt.name, r, tt.want)
		}
		if (d == Announce) != (tt.want == ReasonAccepted) {
			t.Errorf("%s: decision %s with reason %s", tt.name, d, r)
		}
	}
	// Zero limits disable the anti-spam rules.
	if _, r := DecideAnnounce(members, Limits{}, with(func(f *PostFacts) { f.LocalMentioned = 40; f.RecentPosts = 1000 })); r != ReasonAccepted {
		t.Errorf("no limits: %s", r)
	}
}
