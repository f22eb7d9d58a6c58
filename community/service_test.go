package community

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"gardening", true},
		{"a", true},
		{"rust_lang_2", true},
		{"0123456789012345678901234567890123456789012345678901234567890123", true},
		{"01234567890123456789012345678901234567890123456789012345678901234", false}, // 65
		{"", false},
		{"Gardening", false},
		{"garden-ing", false},
		{"garden ing", false},
		{"../etc", false},
		{"café", false},
		{"a\u202eb", false},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateName(%q) error %v is not ErrInvalid", tt.name, err)
		}
	}
}

func TestDecideFollow(t *testing.T) {
	open := Community{Name: "open"}
	approval := Community{Name: "closed", RequiresApproval: true}
	deleted := Community{Name: "gone", DeletedAt: time.Now()}
	member := &Member{State: Joined}
	pending := &Member{State: Pending}
	banned := &Member{State: Banned}
	tests := []struct {
		name     string
		c        Community
		existing *Member
		blocked  bool
		want     FollowDecision
	}{
		{"new follower of open community", open, nil, false, AcceptFollow},
		{"repeated follow is accepted again", open, member, false, AcceptFollow},
		{"banned actor", open, banned, false, RejectFollow},
		{"new follower needs approval", approval, nil, false, PendFollow},
		{"pending follows again", approval, pending, false, PendFollow},
		{"member of approval community follows again", approval, member, false, AcceptFollow},
		{"banned in approval community", approval, banned, false, RejectFollow},
		{"deleted community", deleted, nil, false, RejectFollow},
		{"blocked domain", open, nil, true, RejectFollow},
		{"member from a domain blocked since", open, member, true, RejectFollow},
		{"blocked domain in approval community", approval, nil, true, RejectFollow},
	}
	for _, tt := range tests {
		if got := DecideFollow(tt.c, tt.existing, tt.blocked); got != tt.want {
			t.Errorf("%s: DecideFollow = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// memStore is an in-memory Store for the service's tests.
type memStore struct {
	cs      map[string]*Community
	members map[int64]map[string]Member
	nextID  int64
}

func newMemStore() *memStore {
	return &memStore{cs: map[string]*Community{}, members: map[int64]map[string]Member{}}
}

func (s *memStore) CreateCommunity(_ context.Context, c *Community) error {
	if _, ok := s.cs[c.Name]; ok {
		return ErrExists
	}
	s.nextID++
	c.ID = s.nextID
	cp := *c
	s.cs[c.Name] = &cp
	return nil
}
func (s *memStore) CommunityByName(_ context.Context, name string) (Community, error) {
	if c, ok := s.cs[name]; ok {
		return *c, nil
	}
	return Community{}, ErrNotFound
}
func (s *memStore) Communities(context.Context) ([]Community, error) {
	var out []Community
	for _, c := range s.cs {
		if !c.Deleted() {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
func (s *memStore) UpdateCommunity(_ context.Context, c Community) error {
	cp := c
	s.cs[c.Name] = &cp
	return nil
}
func (s *memStore) MarkCommunityDeleted(_ context.Context, id int64, at time.Time) error {
	for _, c := range s.cs {
		if c.ID == id {
			c.DeletedAt = at
			return nil
		}
	}
	return ErrNotFound
}
func (s *memStore) Member(_ context.Context, cid int64, actor string) (Member, error) {
	if m, ok := s.members[cid][actor]; ok {
		return m, nil
	}
	return Member{}, ErrNotFound
}
func (s *memStore) SaveMember(_ context.Context, m Member) error {
	if s.members[m.CommunityID] == nil {
		s.members[m.CommunityID] = map[string]Member{}
	}
	s.members[m.CommunityID][m.Actor] = m
	return nil
}
func (s *memStore) DeleteMember(_ context.Context, cid int64, actor string) error {
	delete(s.members[cid], actor)
	return nil
}
func (s *memStore) Members(_ context.Context, cid int64, state MemberState, after string, limit int) ([]Member, error) {
	var out []Member
	for _, m := range s.members[cid] {
		if m.State == state && m.Actor > after {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Actor < out[j].Actor })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
func (s *memStore) CountMembers(ctx context.Context, cid int64, state MemberState) (int, error) {
	ms, _ := s.Members(ctx, cid, state, "", 1<<30)
	return len(ms), nil
}

// recorder is a Publisher that records what it was asked to send.
type recorder struct{ sent []string }

func (r *recorder) AcceptFollow(_ context.Context, c Community, m Member) error {
	r.sent = append(r.sent, "Accept "+m.Actor)
	return nil
}
func (r *recorder) RejectFollow(_ context.Context, c Community, m Member) error {
	r.sent = append(r.sent, "Reject "+m.Actor)
	return nil
}
func (r *recorder) CommunityUpdated(_ context.Context, c Community) error {
	r.sent = append(r.sent, "Update "+c.Name)
	return nil
}
func (r *recorder) CommunityDeleted(_ context.Context, c Community) error {
	r.sent = append(r.sent, "Delete "+c.Name)
	return nil
}

func TestServiceLifecycle(t *testing.T) {
	ctx := context.Background()
	store, pub := newMemStore(), &recorder{}
	svc := NewService(store, newMemMods(), pub, nil)

	if _, err := svc.Create(ctx, Community{Name: "Bad Name", Title: "x"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("create with bad name: %v, want ErrInvalid", err)
	}
	if _, err := svc.Create(ctx, Community{Name: "garden", Title: " "}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("create with blank title: %v, want ErrInvalid", err)
	}
	c, err := svc.Create(ctx, Community{Name: "garden", Title: "Gardening", RequiresApproval: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, Community{Name: "garden", Title: "Again"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate create: %v, want ErrExists", err)
	}

	alice := "https://mastodon.example/users/alice"
	d, err := svc.Follow(ctx, c, alice, "https://mastodon.example/follows/1")
	if err != nil || d != PendFollow {
		t.Fatalf("follow = %s, %v; want pending", d, err)
	}
	if n, _ := svc.CountMembers(ctx, c, Joined); n != 0 {
		t.Fatalf("pending follower counted as member: %d", n)
	}
	if err := svc.Approve(ctx, "garden", "https://mastodon.example/users/nobody"); !errors.Is(err, ErrNotProposed) {
		t.Fatalf("approve unknown: %v, want ErrNotProposed", err)
	}
	if err := svc.Approve(ctx, "garden", alice); err != nil {
		t.Fatal(err)
	}
	if n, _ := svc.CountMembers(ctx, c, Joined); n != 1 {
		t.Fatalf("members after approve = %d, want 1", n)
	}
	// A repeated Follow from a member is accepted again.
	if d, _ := svc.Follow(ctx, c, alice, "https://mastodon.example/follows/2"); d != AcceptFollow {
		t.Fatalf("repeated follow = %s, want accept", d)
	}
	if err := svc.Leave(ctx, c, alice); err != nil {
		t.Fatal(err)
	}
	if n, _ := svc.CountMembers(ctx, c, Joined); n != 0 {
		t.Fatalf("members after leave = %d, want 0", n)
	}
	bob := "https://lemmy.example/u/bob"
	svc.Follow(ctx, c, bob, "https://lemmy.example/activities/follow/1")
	if err := svc.Reject(ctx, "garden", bob); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Member(ctx, c.ID, bob); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rejected follower still stored: %v", err)
	}
	if _, err := svc.Edit(ctx, "garden", func(c *Community) { c.Title = "Gardens"; c.Name = "hijack" }); err != nil {
		t.Fatal(err)
	}
	got, _ := svc.Get(ctx, "garden")
	if got.Title != "Gardens" || got.Name != "garden" {
		t.Fatalf("after edit: %+v", got)
	}
	if err := svc.Delete(ctx, "garden"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, "garden"); !errors.Is(err, ErrGone) {
		t.Fatalf("get deleted: %v, want ErrGone", err)
	}
	if _, err := svc.Create(ctx, Community{Name: "garden", Title: "Take over"}); !errors.Is(err, ErrExists) {
		t.Fatalf("re-create deleted name: %v, want ErrExists", err)
	}
	want := []string{"Accept " + alice, "Accept " + alice, "Reject " + bob, "Update garden", "Delete garden"}
	if len(pub.sent) != len(want) {
		t.Fatalf("sent %v, want %v", pub.sent, want)
	}
	for i := range want {
		if pub.sent[i] != want[i] {
			t.Fatalf("sent %v, want %v", pub.sent, want)
		}
	}
}

func TestBannedStaysBanned(t *testing.T) {
	ctx := context.Background()
	store, pub := newMemStore(), &recorder{}
	svc := NewService(store, newMemMods(), pub, nil)
	c, _ := svc.Create(ctx, Community{Name: "garden", Title: "Gardening"})
	eve := "https://spam.example/users/eve"
	store.SaveMember(ctx, Member{CommunityID: c.ID, Actor: eve, State: Banned})
	if d, _ := svc.Follow(ctx, c, eve, "f1"); d != RejectFollow {
		t.Fatalf("banned follow = %s, want reject", d)
	}
	if err := svc.Leave(ctx, c, eve); err != nil {
		t.Fatal(err)
	}
	m, err := store.Member(ctx, c.ID, eve)
	if err != nil || m.State != Banned {
		t.Fatalf("ban lifted by Undo: %+v %v", m, err)
	}
}

// TestServiceNeedsBlocks: a Service wired without domain blocks is refused
// at construction, not left to accept Follows from blocked domains.
func TestServiceNeedsBlocks(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewService with nil blocks did not panic")
		}
	}()
	NewService(newMemStore(), nil, &recorder{}, nil)
}
