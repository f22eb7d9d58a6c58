package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
)

// waitFor polls cond every 10 ms for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// listening starts db's Listen and waits until its cache is live.
func listening(t *testing.T, ctx context.Context, db *DB) {
	t.Helper()
	go db.Listen(ctx, func(string) {})
	waitFor(t, "the listener never listened", func() bool { live, _ := db.cache.begin(); return live })
}

// A node that listens keeps communities and domain blocks in memory and
// reads again what any writer changed: itself at once, another node or
// a plain SQL write once its commit is heard. A node that does not
// listen, or no longer does, reads the database each time.
func TestCacheAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := nodes(t, 3, Options{})
	a, b, quiet := ns[0], ns[1], ns[2]
	bctx, stopB := context.WithCancel(ctx)
	listening(t, bctx, b)

	c := community.Community{Name: "cached", Title: "one", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := a.CreateCommunity(ctx, &c); err != nil {
		t.Fatal(err)
	}
	title := func(db *DB, byID bool) string {
		t.Helper()
		var got community.Community
		var err error
		if byID {
			got, err = db.CommunityByID(ctx, c.ID)
		} else {
			got, err = db.CommunityByName(ctx, c.Name)
		}
		if err != nil {
			t.Fatal(err)
		}
		return got.Title
	}
	if got := title(b, false); got != "one" {
		t.Fatalf("b reads %q, want one", got)
	}
	// b caches what it reads once the writes before are heard (a read
	// that a write's wake-up overtakes stores nothing).
	cached := func() {
		t.Helper()
		waitFor(t, "b does not cache the community it reads while listening", func() bool {
			title(b, false)
			title(b, true)
			_, byName := b.cache.community(c.Name, 0)
			_, byID := b.cache.community("", c.ID)
			return byName && byID
		})
	}
	cached()
	if _, ok := quiet.cache.community(c.Name, 0); title(quiet, false) != "one" || ok {
		t.Fatal("a node that does not listen cached a community")
	}

	tests := []struct {
		name  string
		write func(title string)
		now   bool // b reads it at once (its own write)
	}{
		{"another node", func(s string) {
			c.Title = s
			if err := a.UpdateCommunity(ctx, c); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"plain SQL", func(s string) {
			if _, err := a.pool.Exec(ctx, `UPDATE communities SET title = $1 WHERE id = $2`, s, c.ID); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"this node", func(s string) {
			c.Title = s
			if err := b.UpdateCommunity(ctx, c); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cached()
			want := string(rune('A' + i))
			tc.write(want)
			if tc.now {
				if got, byID := title(b, false), title(b, true); got != want || byID != want {
					t.Fatalf("b reads %q and %q right after its own write, want %q", got, byID, want)
				}
				return
			}
			waitFor(t, "b never read the new title by name", func() bool { return title(b, false) == want })
			waitFor(t, "b never read the new title by id", func() bool { return title(b, true) == want })
			if title(quiet, false) != want {
				t.Fatal("the node that does not listen reads the old title")
			}
		})
	}

	// Domain blocks: the instance's (0) and the community's.
	blocked := func(db *DB, cid int64) []string {
		t.Helper()
		bs, err := db.DomainBlocks(ctx, cid)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range bs {
			out = append(out, x.Domain)
		}
		return out
	}
	blocksCached := func(cid int64) {
		t.Helper()
		waitFor(t, "b does not cache the blocks it reads", func() bool {
			blocked(b, cid)
			_, ok := b.cache.domainBlocks(cid)
			return ok
		})
	}
	for _, cid := range []int64{0, c.ID} {
		if got := blocked(b, cid); len(got) != 0 {
			t.Fatalf("community %d: blocks %v before any", cid, got)
		}
		blocksCached(cid)
		if err := a.SaveDomainBlock(ctx, community.DomainBlock{CommunityID: cid, Domain: "spam.example", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "b never read a's block", func() bool { return len(blocked(b, cid)) == 1 })
		if err := b.DeleteDomainBlock(ctx, cid, "spam.example"); err != nil {
			t.Fatal(err)
		}
		if got := blocked(b, cid); len(got) != 0 {
			t.Fatalf("community %d: b reads %v right after lifting its block", cid, got)
		}
		if got := blocked(a, cid); len(got) != 0 { // a does not listen: it reads the database
			t.Fatalf("community %d: a reads %v after b lifted the block", cid, got)
		}
	}
	// A node reads its own writes at once, before their wake-up comes
	// back to it: here one never comes (a cache made live by hand, no
	// listener).
	quiet.cache.setLive(true)
	own := []struct {
		name  string
		write func() error
		read  func() bool // reads the write
	}{
		{"UpdateCommunity", func() error { c.Title = "own"; return quiet.UpdateCommunity(ctx, c) },
			func() bool { return title(quiet, false) == "own" && title(quiet, true) == "own" }},
		{"MarkCommunityDeleted", func() error { return quiet.MarkCommunityDeleted(ctx, c.ID, time.Now()) },
			func() bool {
				got, err := quiet.CommunityByName(ctx, c.Name)
				return err == nil && got.Deleted()
			}},
		{"CreateCommunity", func() error {
			return quiet.CreateCommunity(ctx, &community.Community{Name: "second", CreatedAt: time.Now(), UpdatedAt: time.Now()})
		}, func() bool { _, err := quiet.CommunityByName(ctx, "second"); return err == nil }},
		{"SaveDomainBlock", func() error {
			return quiet.SaveDomainBlock(ctx, community.DomainBlock{CommunityID: 0, Domain: "own.example", CreatedAt: time.Now()})
		}, func() bool { return len(blocked(quiet, 0)) == 1 }},
		{"DeleteDomainBlock", func() error { return quiet.DeleteDomainBlock(ctx, 0, "own.example") },
			func() bool { return len(blocked(quiet, 0)) == 0 }},
	}
	for _, tc := range own {
		t.Run("own "+tc.name, func(t *testing.T) {
			title(quiet, false)
			title(quiet, true)
			quiet.CommunityByName(ctx, "second")
			blocked(quiet, 0)
			if err := tc.write(); err != nil {
				t.Fatal(err)
			}
			if !tc.read() {
				t.Fatal("the node does not read its own write")
			}
		})
	}
	quiet.cache.setLive(false)

	// A caller changing what it got does not change the cache.
	if err := a.SaveDomainBlock(ctx, community.DomainBlock{CommunityID: 0, Domain: "x.example", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b never read the block", func() bool { return len(blocked(b, 0)) == 1 })
	blocksCached(0)
	bs, _ := b.DomainBlocks(ctx, 0)
	bs[0].Domain = "changed.example"
	if got := blocked(b, 0); got[0] != "x.example" {
		t.Fatalf("the cache holds %v after a caller changed its copy", got)
	}

	// Once b stops listening it caches nothing and reads every write at
	// once.
	stopB()
	waitFor(t, "b's cache stayed live after its listener stopped", func() bool { live, _ := b.cache.begin(); return !live })
	if _, err := a.pool.Exec(ctx, `UPDATE communities SET title = 'after' WHERE id = $1`, c.ID); err != nil {
		t.Fatal(err)
	}
	if got := title(b, false); got != "after" {
		t.Fatalf("b, not listening, reads %q, want after", got)
	}
	if _, ok := b.cache.community(c.Name, 0); ok {
		t.Fatal("b cached a community while not listening")
	}
}

// A read that began before an invalidation does not store what it read:
// it may be what the write replaced.
func TestCacheReadAcrossInvalidation(t *testing.T) {
	var c rowCache
	c.setLive(true)
	tests := []struct {
		name  string
		event func()
		kept  bool
	}{
		{"nothing meanwhile", func() {}, true},
		{"communities written", func() { c.invalidate(tableCommunities) }, false},
		{"domain blocks written", func() { c.invalidate(tableDomainBlocks) }, false},
		{"listener reconnected", func() { c.setLive(false); c.setLive(true) }, false},
		{"listener broke", func() { c.setLive(false) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.setLive(true)
			_, gen := c.begin()
			tc.event()
			c.putCommunity(gen, community.Community{ID: 7, Name: "x"})
			c.putDomainBlocks(gen, 7, []community.DomainBlock{{Domain: "d.example"}})
			_, okC := c.community("x", 0)
			_, okB := c.domainBlocks(7)
			if okC != tc.kept || okB != tc.kept {
				t.Fatalf("community kept %v, blocks kept %v; want %v", okC, okB, tc.kept)
			}
		})
	}
}
