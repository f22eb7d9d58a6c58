package storage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/storage"
)

// TestAuthorFactsEqualsOneByOne: the one-query facts are what the four
// separate questions (member, role, domain blocks of the instance and the
// community, recent announced posts) answer, for every actor in both
// communities, and what the table says for the garden. Of the blocks the
// query returns candidates, which community judges with DomainMatches:
// every block that covers the author must be among them.
func testAuthorFactsEqualsOneByOne(t *testing.T, db storage.Store) {
	ctx := context.Background()
	garden := community.Community{ID: addCommunity(t, db, "garden"), Name: "garden"}
	other := community.Community{ID: addCommunity(t, db, "allotment"), Name: "allotment"}
	now := time.Now().UTC().Truncate(time.Millisecond)
	since := now.Add(-time.Hour)

	ann, pat, ben := "https://m.example/users/ann", "https://m.example/users/pat", "https://m.example/users/ben"
	olga, mo := "https://m.example/users/olga", "https://mod.example/u/mo"
	for _, m := range []community.Member{
		{CommunityID: garden.ID, Actor: ann, State: community.Joined},
		{CommunityID: garden.ID, Actor: pat, State: community.Pending},
		{CommunityID: garden.ID, Actor: ben, State: community.Banned},
		{CommunityID: garden.ID, Actor: olga, State: community.Joined},
		{CommunityID: other.ID, Actor: ben, State: community.Joined},
		{CommunityID: garden.ID, Actor: "https://rude.example/u/x", State: community.Joined},
	} {
		m.CreatedAt, m.UpdatedAt = now, now
		if err := db.SaveMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []community.Moderator{
		{CommunityID: garden.ID, Actor: mo, Role: community.RoleModerator},
		{CommunityID: garden.ID, Actor: olga, Role: community.RoleOwner},
		{CommunityID: other.ID, Actor: ann, Role: community.RoleModerator},
	} {
		m.CreatedAt = now
		if err := db.SaveModerator(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// Blocks as BlockDomain stores them, and a few as they might have been
	// written by hand (upper case, a %, LIKE's wildcards), which the
	// matching must judge as DomainMatches does all the same.
	for _, b := range []community.DomainBlock{
		{CommunityID: 0, Domain: "spam.example"},
		{CommunityID: garden.ID, Domain: "rude.example"},
		{CommunityID: other.ID, Domain: "elsewhere.example"},
		{CommunityID: garden.ID, Domain: "127.0.0.1:4000"},
		{CommunityID: garden.ID, Domain: "10.0.0.1"},
		{CommunityID: garden.ID, Domain: "[::1]"},
		{CommunityID: garden.ID, Domain: "a_c.example"},
		{CommunityID: 0, Domain: "%.test"},
		{CommunityID: garden.ID, Domain: "Shout.EXAMPLE"},
		{CommunityID: garden.ID, Domain: "BÜCHER.example"},
	} {
		b.CreatedAt = now
		if err := db.SaveDomainBlock(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	posts := []struct {
		c       int64
		author  string
		ago     time.Duration
		refused bool
	}{
		{garden.ID, ann, time.Minute, false},
		{garden.ID, ann, 30 * time.Minute, false},
		{garden.ID, ann, 2 * time.Hour, false}, // before the window
		{garden.ID, ann, time.Minute, true},    // refused
		{other.ID, ann, time.Minute, false},
		{garden.ID, olga, time.Minute, false},
	}
	for i, tt := range posts {
		p := testPost(tt.c, fmt.Sprintf("https://m.example/notes/f%d", i), now.Add(-tt.ago))
		p.Author = tt.author
		if tt.refused {
			p.Decision, p.Reason = community.Refuse, community.ReasonNotMember
		}
		if err := db.AddPost(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name    string
		author  string
		want    community.AuthorFacts // in the garden, Blocks aside
		blocked bool                  // in the garden
	}{
		{"member with posts", ann, community.AuthorFacts{State: community.Joined, RecentPosts: 2}, false},
		{"pending", pat, community.AuthorFacts{State: community.Pending}, false},
		{"banned", ben, community.AuthorFacts{State: community.Banned}, false},
		{"owner and member", olga, community.AuthorFacts{State: community.Joined, Role: community.RoleOwner, RecentPosts: 1}, false},
		{"moderator, not a member", mo, community.AuthorFacts{Role: community.RoleModerator}, false},
		{"stranger", "https://far.example/u/x", community.AuthorFacts{}, false},
		{"instance block, exact", "https://spam.example/u/x", community.AuthorFacts{}, true},
		{"instance block, subdomain", "https://a.b.spam.example/u/x", community.AuthorFacts{}, true},
		{"instance block, with a port", "https://spam.example:8443/u/x", community.AuthorFacts{}, true},
		{"not a subdomain", "https://notspam.example/u/x", community.AuthorFacts{}, false},
		{"block is a prefix only", "https://spam.example.org/u/x", community.AuthorFacts{}, false},
		{"community block, member", "https://rude.example/u/x", community.AuthorFacts{State: community.Joined}, true},
		{"other community's block", "https://elsewhere.example/u/x", community.AuthorFacts{}, false},
		{"block of a port", "http://127.0.0.1:4000/u/x", community.AuthorFacts{}, true},
		{"block of another port", "http://127.0.0.1:4001/u/x", community.AuthorFacts{}, false},
		{"host block covers ports", "http://10.0.0.1:8080/u/x", community.AuthorFacts{}, true},
		{"ipv6 block", "http://[::1]:80/u/x", community.AuthorFacts{}, true},
		{"underscore is no wildcard", "https://abc.example/u/x", community.AuthorFacts{}, false},
		{"percent is no wildcard", "https://x.test/u/x", community.AuthorFacts{}, false},
		{"block stored in upper case", "https://shout.example/u/x", community.AuthorFacts{}, true},
		{"block stored in non-ASCII upper case", "https://www.bücher.example/u/x", community.AuthorFacts{}, true},
		{"no host", "local:root", community.AuthorFacts{}, false},
	}
	mod := community.NewModeration(community.ModerationDeps{Store: db, Mods: db})
	type facts struct {
		f       community.AuthorFacts
		blocked bool
	}
	oneByOne := func(c community.Community, author string) facts {
		t.Helper()
		var f community.AuthorFacts
		m, err := db.Member(ctx, c.ID, author)
		if err != nil && !errors.Is(err, community.ErrNotFound) {
			t.Fatal(err)
		}
		f.State = m.State
		if f.Role, err = mod.RoleOf(ctx, c, author); err != nil {
			t.Fatal(err)
		}
		blocked, err := mod.DomainBlocked(ctx, c, author)
		if err != nil {
			t.Fatal(err)
		}
		if f.RecentPosts, err = db.CountAnnouncedSince(ctx, c.ID, author, since); err != nil {
			t.Fatal(err)
		}
		return facts{f, blocked}
	}
	// covering lists the blocks of the instance and of c that cover the
	// author's host.
	covering := func(c community.Community, author string) []string {
		t.Helper()
		var out []string
		for _, cid := range []int64{0, c.ID} {
			bs, err := db.DomainBlocks(ctx, cid)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bs {
				if community.DomainMatches(b.Domain, community.HostOf(author)) {
					out = append(out, b.Domain)
				}
			}
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []community.Community{garden, other} {
				got, err := db.AuthorFacts(ctx, c.ID, tt.author, since)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range covering(c, tt.author) {
					if !slices.Contains(got.Blocks, d) {
						t.Errorf("%s: block %q covers %s but is no candidate: %q", c.Name, d, tt.author, got.Blocks)
					}
				}
				blocked := slices.ContainsFunc(got.Blocks, func(d string) bool {
					return community.DomainMatches(d, community.HostOf(tt.author))
				})
				if want := oneByOne(c, tt.author); !sameFacts(got, want.f) || blocked != want.blocked {
					t.Errorf("%s: one query %+v blocked %v, one by one %+v blocked %v",
						c.Name, got, blocked, want.f, want.blocked)
				}
				if c == garden && (!sameFacts(got, tt.want) || blocked != tt.blocked) {
					t.Errorf("%s: %+v blocked %v, want %+v blocked %v", c.Name, got, blocked, tt.want, tt.blocked)
				}
			}
		})
	}
}

// sameFacts compares what AuthorFacts says besides the block candidates.
func sameFacts(a, b community.AuthorFacts) bool {
	return a.State == b.State && a.Role == b.Role && a.RecentPosts == b.RecentPosts
}
