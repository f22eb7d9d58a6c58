package community

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		text string
		want Command
		err  error
	}{
		{"help", Command{Name: "help"}, nil},
		{"@gardening HELP", Command{Name: "help"}, nil},
		{"@gardening@agora.example @other ban @carol@m.example spam and scams",
			Command{Name: "ban", Target: "@carol@m.example", Reason: "spam and scams"}, nil},
		{"ban @carol --remove-posts spam", Command{Name: "ban", Target: "@carol", Reason: "spam", RemovePosts: true}, nil},
		{"ban -r https://m.example/users/carol", Command{Name: "ban", Target: "https://m.example/users/carol", RemovePosts: true}, nil},
		{"Ban: @carol", Command{Name: "ban", Target: "@carol"}, nil},
		{"unban @carol", Command{Name: "unban", Target: "@carol"}, nil},
		{"remove https://m.example/notes/1 off topic", Command{Name: "remove", Target: "https://m.example/notes/1", Reason: "off topic"}, nil},
		{"restore https://m.example/notes/1", Command{Name: "restore", Target: "https://m.example/notes/1"}, nil},
		{"approve @dave@l.example", Command{Name: "approve", Target: "@dave@l.example"}, nil},
		{"reject @dave@l.example", Command{Name: "reject", Target: "@dave@l.example"}, nil},
		{"pending", Command{Name: "pending"}, nil},
		{"pin https://m.example/notes/1", Command{Name: "pin", Target: "https://m.example/notes/1"}, nil},
		{"unpin https://m.example/notes/1", Command{Name: "unpin", Target: "https://m.example/notes/1"}, nil},
		{"block spam.example bots", Command{Name: "block", Target: "spam.example", Reason: "bots"}, nil},
		{"unblock spam.example", Command{Name: "unblock", Target: "spam.example"}, nil},
		{"mods", Command{Name: "mods"}, nil},
		{"addmod @dave@l.example", Command{Name: "addmod", Target: "@dave@l.example"}, nil},
		{"delmod @dave@l.example", Command{Name: "delmod", Target: "@dave@l.example"}, nil},
		{"reports", Command{Name: "reports"}, nil},
		{"resolve #12", Command{Name: "resolve", Target: "#12"}, nil},
		{"", Command{Name: "help"}, ErrUnknownCommand},
		{"@gardening", Command{Name: "help"}, ErrUnknownCommand},
		{"hello there", Command{Name: "help"}, ErrUnknownCommand},
		{"ban", Command{Name: "ban"}, ErrMissingTarget},
		{"ban --remove-posts", Command{Name: "ban", RemovePosts: true}, ErrMissingTarget},
		{"ban carol", Command{Name: "ban", Target: "carol"}, ErrMissingTarget},
		{"remove notaurl", Command{Name: "remove", Target: "notaurl"}, ErrMissingTarget},
		{"block not/a/domain", Command{Name: "block", Target: "not/a/domain"}, ErrMissingTarget},
		{"resolve twelve", Command{Name: "resolve", Target: "twelve"}, ErrMissingTarget},
		{"resolve -1", Command{Name: "resolve", Target: "-1"}, ErrMissingTarget},
	}
	for _, tt := range tests {
		got, err := ParseCommand(tt.text)
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("ParseCommand(%q) error = %v, want %v", tt.text, err, tt.err)
		}
		if got != tt.want {
			t.Errorf("ParseCommand(%q) = %+v, want %+v", tt.text, got, tt.want)
		}
	}
	long, _ := ParseCommand("ban @x " + strings.Repeat("é", 2*MaxReason))
	if len(long.Reason) > MaxReason+len("…") || !strings.HasSuffix(long.Reason, "…") {
		t.Errorf("long reason kept %d bytes", len(long.Reason))
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"help", "@g ban @carol@m.example -r spam", "remove https://x/1 why", "resolve #3",
		"block *.Spam.Example/", "\x00ban @\u202e", strings.Repeat("@a ", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cmd, err := ParseCommand(text)
		if err != nil {
			return
		}
		spec, ok := commands[cmd.Name]
		if !ok {
			t.Fatalf("unknown command %q parsed", cmd.Name)
		}
		if (spec.arg == "") != (cmd.Target == "") {
			t.Fatalf("%q: target %q for a command taking %q", text, cmd.Target, spec.arg)
		}
		if len(cmd.Reason) > MaxReason+len("…") {
			t.Fatalf("reason of %d bytes", len(cmd.Reason))
		}
	})
}

func TestDomains(t *testing.T) {
	norm := []struct {
		in, want string
		ok       bool
	}{
		{"Spam.Example", "spam.example", true},
		{"https://spam.example/", "spam.example", true},
		{"*.spam.example", "spam.example", true},
		{"@spam.example", "spam.example", true},
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{"[::1]:80", "[::1]:80", true},
		{"", "", false},
		{"spam.example/path", "", false},
		{"user@spam.example", "", false},
		{"two words", "", false},
		{"semi;colon", "", false},
	}
	for _, tt := range norm {
		got, err := NormalizeDomain(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("NormalizeDomain(%q) error %v is not ErrInvalid", tt.in, err)
		}
	}
	match := []struct {
		domain, host string
		want         bool
	}{
		{"spam.example", "spam.example", true},
		{"spam.example", "a.b.spam.example", true},
		{"spam.example", "spam.example:8443", true},
		{"spam.example", "notspam.example", false},
		{"spam.example", "spam.example.org", false},
		{"127.0.0.1:4000", "127.0.0.1:4000", true},
		{"127.0.0.1:4000", "127.0.0.1:4001", false},
		{"127.0.0.1", "127.0.0.1:4001", true},
		{"[::1]", "[::1]:80", true},
		{"", "spam.example", false},
	}
	for _, tt := range match {
		if got := DomainMatches(tt.domain, tt.host); got != tt.want {
			t.Errorf("DomainMatches(%q, %q) = %v, want %v", tt.domain, tt.host, got, tt.want)
		}
	}
}

// memMods is an in-memory ModerationStore.
type memMods struct {
	mods     map[string]Moderator
	blocks   []DomainBlock
	log      []LogEntry
	refusals map[string]time.Time
}

func newMemMods() *memMods {
	return &memMods{mods: map[string]Moderator{}, refusals: map[string]time.Time{}}
}

func (s *memMods) SaveModerator(_ context.Context, m Moderator) error {
	s.mods[m.Actor] = m
	return nil
}
func (s *memMods) DeleteModerator(_ context.Context, _ int64, a string) error {
	delete(s.mods, a)
	return nil
}
func (s *memMods) Moderator(_ context.Context, _ int64, a string) (Moderator, error) {
	if m, ok := s.mods[a]; ok {
		return m, nil
	}
	return Moderator{}, ErrNotFound
}
func (s *memMods) Moderators(context.Context, int64) ([]Moderator, error) {
	var out []Moderator
	for _, m := range s.mods {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Actor < out[j].Actor })
	return out, nil
}
func (s *memMods) SaveDomainBlock(_ context.Context, b DomainBlock) error {
	s.blocks = append(s.blocks, b)
	return nil
}
func (s *memMods) DeleteDomainBlock(context.Context, int64, string) error { return nil }
func (s *memMods) DomainBlocks(_ context.Context, cid int64) ([]DomainBlock, error) {
	var out []DomainBlock
	for _, b := range s.blocks {
		if b.CommunityID == cid {
			out = append(out, b)
		}
	}
	return out, nil
}
func (s *memMods) AddReport(context.Context, *Report) error                             { return nil }
func (s *memMods) Reports(context.Context, int64, bool) ([]Report, error)               { return nil, nil }
func (s *memMods) ResolveReport(context.Context, int64, int64, string, time.Time) error { return nil }
func (s *memMods) AddLogEntry(_ context.Context, e LogEntry) error {
	s.log = append(s.log, e)
	return nil
}
func (s *memMods) ModLog(context.Context, int64, int) ([]LogEntry, error) { return s.log, nil }
func (s *memMods) Pin(context.Context, int64, int64, time.Time) error     { return nil }
func (s *memMods) Unpin(context.Context, int64, int64) error              { return nil }
func (s *memMods) PinnedPosts(context.Context, int64) ([]Post, error)     { return nil, nil }
func (s *memMods) SetModLogPublic(context.Context, int64, bool) error     { return nil }
func (s *memMods) ModLogPublic(context.Context, int64) (bool, error)      { return false, nil }
func (s *memMods) NoteRefusal(_ context.Context, _ int64, a string, at, since time.Time) (bool, error) {
	if last, ok := s.refusals[a]; ok && !last.Before(since) {
		return false, nil
	}
	s.refusals[a] = at
	return true, nil
}

// modRecorder records what Moderation federates.
type modRecorder struct{ sent []string }

func (r *modRecorder) BlockActor(_ context.Context, _ Community, a, _ string, _ bool) error {
	r.sent = append(r.sent, "Block "+a)
	return nil
}
func (r *modRecorder) UnblockActor(_ context.Context, _ Community, a string) error {
	r.sent = append(r.sent, "Undo Block "+a)
	return nil
}
func (r *modRecorder) ModeratorAdded(_ context.Context, _ Community, a string) error {
	r.sent = append(r.sent, "Add "+a)
	return nil
}
func (r *modRecorder) ModeratorRemoved(_ context.Context, _ Community, a string) error {
	r.sent = append(r.sent, "Remove "+a)
	return nil
}
func (r *modRecorder) PostPinned(context.Context, Community, Post) error   { return nil }
func (r *modRecorder) PostUnpinned(context.Context, Community, Post) error { return nil }
func (r *modRecorder) DirectMessage(_ context.Context, _ Community, to, text string) error {
	r.sent = append(r.sent, "DM "+to+": "+text)
	return nil
}

func TestModerationRules(t *testing.T) {
	ctx := context.Background()
	store, pub, mods, rec := newMemStore(), &recorder{}, newMemMods(), &modRecorder{}
	svc := NewService(store, mods, pub, nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewModeration(ModerationDeps{Service: svc, Store: store, Mods: mods, Publisher: pub, ModPublisher: rec,
		Now: func() time.Time { return now }})
	c, _ := svc.Create(ctx, Community{Name: "garden", Title: "Gardening"})
	owner, mod, eve := "https://m.example/users/owner", "https://l.example/u/mod", "https://spam.example/users/eve"

	if err := m.AddModerator(ctx, c, Admin, owner, RoleOwner); err != nil {
		t.Fatal(err)
	}
	if err := m.AddModerator(ctx, c, Admin, "bob", RoleModerator); !errors.Is(err, ErrInvalid) {
		t.Fatalf("moderator that is neither actor nor local account: %v", err)
	}
	if err := m.AddModerator(ctx, c, Admin, LocalAccount("root"), RoleModerator); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveModerator(ctx, c, Admin, owner); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("removing the last owner: %v", err)
	}
	if err := m.Ban(ctx, c, Admin, owner, "", false); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("banning an owner: %v", err)
	}

	// A non-moderator is refused once per RefusalInterval, and nothing runs.
	for i := 0; i < 3; i++ {
		res, err := m.HandleMessage(ctx, c, eve, "addmod @eve@spam.example", nil)
		if err != nil || res.Command {
			t.Fatalf("non-moderator's command: %+v %v", res, err)
		}
	}
	now = now.Add(RefusalInterval + time.Second)
	m.HandleMessage(ctx, c, eve, "ban @owner", nil)
	var refusals int
	for _, s := range rec.sent {
		if strings.HasPrefix(s, "DM "+eve) {
			refusals++
		}
	}
	if refusals != 2 {
		t.Fatalf("refusals %d, want 2 (one per hour): %v", refusals, rec.sent)
	}
	if _, err := mods.Moderator(ctx, c.ID, eve); err == nil {
		t.Fatalf("a non-moderator made themselves moderator")
	}

	// A moderator may not appoint; an owner may. Targets given as mentions
	// need no look-up.
	m.AddModerator(ctx, c, Admin, mod, RoleModerator)
	mentions := map[string]string{"@eve": eve}
	if res, err := m.HandleMessage(ctx, c, mod, "addmod @eve", mentions); err != nil || !res.Command {
		t.Fatalf("moderator's addmod: %+v %v", res, err)
	}
	if _, err := mods.Moderator(ctx, c.ID, eve); err == nil {
		t.Fatalf("a moderator appointed another")
	}
	if last := rec.sent[len(rec.sent)-1]; !strings.Contains(last, "only owners") {
		t.Fatalf("answer to a moderator's addmod: %q", last)
	}
	// A target that cannot be resolved is answered, not an error.
	if _, err := m.HandleMessage(ctx, c, owner, "ban @nobody@nowhere.example", nil); err != nil {
		t.Fatal(err)
	}
	if last := rec.sent[len(rec.sent)-1]; !strings.Contains(last, "could not ban") {
		t.Fatalf("answer to an unresolvable ban: %q", last)
	}

	// A ban: member removed with Reject, Block sent, later Follow rejected.
	svc.Follow(ctx, c, eve, "https://spam.example/follows/1")
	if _, err := m.HandleMessage(ctx, c, owner, "ban @eve spam", mentions); err != nil {
		t.Fatal(err)
	}
	if mem, _ := store.Member(ctx, c.ID, eve); mem.State != Banned {
		t.Fatalf("eve not banned: %+v", mem)
	}
	if d, _ := svc.Follow(ctx, c, eve, "https://spam.example/follows/2"); d != RejectFollow {
		t.Fatalf("banned follow: %s", d)
	}
	// A domain block rejects the whole server, members included.
	other := "https://spam.example/users/zed"
	svc.Follow(ctx, c, other, "https://spam.example/follows/3")
	if n, err := m.BlockDomain(ctx, &c, owner, "SPAM.example", "bots"); err != nil || n != 1 {
		t.Fatalf("block: %d %v", n, err)
	}
	if _, err := store.Member(ctx, c.ID, other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("member of a blocked domain kept")
	}
	if d, _ := svc.Follow(ctx, c, other, "https://spam.example/follows/4"); d != RejectFollow {
		t.Fatalf("follow from a blocked domain: %s", d)
	}
	if blocked, _ := m.InstanceBlocked(ctx, other); blocked {
		t.Fatalf("a community's block counted instance-wide")
	}
	actions := []string{}
	for _, e := range mods.log {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); got != "addmod addmod addmod ban block" {
		t.Fatalf("log %q", got)
	}
	// eve's Follow was accepted, then her ban sent Reject{Follow}.
	if got := strings.Join(pub.sent, ","); !strings.HasPrefix(got, "Accept "+eve+",Reject "+eve+",") {
		t.Fatalf("sent %v", pub.sent)
	}
}
