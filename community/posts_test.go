package community

import (
	"context"
	"testing"
	"time"
)

// memPosts is an in-memory PostStore whose AuthorFacts answers what a
// test sets, block candidates included, as storage/sqlite's does.
type memPosts struct {
	posts []Post
	facts map[string]AuthorFacts // by author
	since time.Time              // the last AuthorFacts was asked from
}

func (s *memPosts) AddPost(_ context.Context, p *Post) error {
	for _, o := range s.posts {
		if o.CommunityID == p.CommunityID && o.ObjectID == p.ObjectID {
			return ErrExists
		}
	}
	p.ID = int64(len(s.posts) + 1)
	s.posts = append(s.posts, *p)
	return nil
}
func (s *memPosts) PostByObject(_ context.Context, cid int64, obj string) (Post, error) {
	for _, p := range s.posts {
		if p.CommunityID == cid && p.ObjectID == obj {
			return p, nil
		}
	}
	return Post{}, ErrNotFound
}
func (s *memPosts) PostsByObject(context.Context, string) ([]Post, error) { return nil, nil }
func (s *memPosts) PostByID(context.Context, int64) (Post, error)         { return Post{}, ErrNotFound }
func (s *memPosts) UpdatePost(context.Context, Post) error                { return nil }
func (s *memPosts) CountPosts(context.Context, int64, bool) (int, error)  { return len(s.posts), nil }
func (s *memPosts) PostsByAuthor(context.Context, string) ([]Post, error) { return nil, nil }
func (s *memPosts) CountAnnouncedSince(context.Context, int64, string, time.Time) (int, error) {
	panic("Posts counts through AuthorFacts")
}
func (s *memPosts) Posts(context.Context, int64, int64, int, bool) ([]Post, error) { return nil, nil }
func (s *memPosts) SetReaction(context.Context, int64, string, string, bool) (int, int, bool, error) {
	return 0, 0, false, nil
}
func (s *memPosts) AuthorFacts(_ context.Context, _ int64, author string, since time.Time) (AuthorFacts, error) {
	s.since = since
	return s.facts[author], nil
}

type postRecorder struct{ announced []string }

func (r *postRecorder) AnnouncePost(_ context.Context, _ Community, p Post) error {
	r.announced = append(r.announced, p.ObjectID)
	return nil
}
func (r *postRecorder) WithdrawPost(context.Context, Community, Post, Reason, []byte) error {
	return nil
}
func (r *postRecorder) RelayActivity(context.Context, Community, Post, []byte) error { return nil }

// TestPostsDecideWithStoreFacts: Posts.Receive completes the inbox's facts
// with the store's AuthorFacts, and judges the store's block candidates
// itself with DomainMatches (a store may hand over more than match).
func TestPostsDecideWithStoreFacts(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	members := Community{ID: 1, Name: "garden"}
	modsOnly := Community{ID: 2, Name: "news", PostingPolicy: PostModerators}
	inbox := PostFacts{Addressed: true, Visibility: Public, Authentic: true, LocalMentioned: 1}
	lim := Limits{RatePosts: 2, RateWindow: time.Hour}
	tests := []struct {
		name   string
		c      Community
		author string
		facts  AuthorFacts
		limits Limits
		want   Reason
	}{
		{"member", members, "https://m.example/u/ann", AuthorFacts{State: Joined}, lim, ReasonAccepted},
		{"stranger", members, "https://m.example/u/x", AuthorFacts{}, lim, ReasonNotMember},
		{"banned", members, "https://m.example/u/ben", AuthorFacts{State: Banned}, lim, ReasonBanned},
		{"blocked domain", members, "https://spam.example/u/eve",
			AuthorFacts{State: Joined, Blocks: []string{"spam.example"}}, lim, ReasonDomainBlocked},
		{"blocked parent domain", members, "https://a.spam.example:8443/u/eve",
			AuthorFacts{State: Joined, Blocks: []string{"other.example", "spam.example"}}, lim, ReasonDomainBlocked},
		{"candidate that does not cover the host", members, "https://notspam.example/u/ann",
			AuthorFacts{State: Joined, Blocks: []string{"spam.example", "notspam.example:4000"}}, lim, ReasonAccepted},
		{"moderator, not a member", modsOnly, "https://l.example/u/mo", AuthorFacts{Role: RoleModerator}, lim, ReasonAccepted},
		{"member, not a moderator", modsOnly, "https://m.example/u/ann", AuthorFacts{State: Joined}, lim, ReasonNotModerator},
		{"at the rate limit", members, "https://m.example/u/ann", AuthorFacts{State: Joined, RecentPosts: 2}, lim, ReasonRateLimited},
		{"no rate limit", members, "https://m.example/u/ann", AuthorFacts{State: Joined, RecentPosts: 200}, Limits{}, ReasonAccepted},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &memPosts{facts: map[string]AuthorFacts{tt.author: tt.facts}}
			pub := &postRecorder{}
			posts := NewPosts(store, pub, tt.limits, func() time.Time { return now })
			p := Post{ObjectID: "https://x.example/notes/" + string(rune('a'+i)), Author: tt.author}
			got, err := posts.Receive(ctx, tt.c, p, inbox)
			if err != nil {
				t.Fatal(err)
			}
			if got.Reason != tt.want {
				t.Errorf("reason %s, want %s", got.Reason, tt.want)
			}
			if announced := len(pub.announced) == 1; announced != (tt.want == ReasonAccepted) {
				t.Errorf("announced %v with reason %s", pub.announced, got.Reason)
			}
			if want := now.Add(-tt.limits.RateWindow); !store.since.Equal(want) {
				t.Errorf("facts asked since %v, want %v", store.since, want)
			}
		})
	}
}
