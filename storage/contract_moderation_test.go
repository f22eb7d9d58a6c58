package storage_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/storage"
)

func testModeratorsStore(t *testing.T, db storage.Store) {
	ctx := context.Background()
	cid := addCommunity(t, db, "garden")
	now := time.Now().UTC().Truncate(time.Millisecond)
	alice, bob := "https://m.example/users/alice", "https://l.example/u/bob"
	if _, err := db.Moderator(ctx, cid, alice); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("no moderator yet: %v", err)
	}
	for i, m := range []community.Moderator{
		{CommunityID: cid, Actor: bob, Role: community.RoleModerator, AddedBy: "admin", CreatedAt: now},
		{CommunityID: cid, Actor: alice, Role: community.RoleOwner, AddedBy: "admin", CreatedAt: now.Add(time.Second)},
		{CommunityID: cid, Actor: community.LocalAccount("root"), Role: community.RoleModerator, CreatedAt: now.Add(2 * time.Second)},
	} {
		if err := db.SaveModerator(ctx, m); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
	}
	ms, err := db.Moderators(ctx, cid)
	if err != nil || len(ms) != 3 || ms[0].Actor != alice || ms[1].Actor != bob || ms[2].Remote() {
		t.Fatalf("moderators %+v %v; want owner first, then by date", ms, err)
	}
	// A role change keeps the row.
	db.SaveModerator(ctx, community.Moderator{CommunityID: cid, Actor: bob, Role: community.RoleOwner, CreatedAt: now})
	if m, _ := db.Moderator(ctx, cid, bob); m.Role != community.RoleOwner || m.AddedBy != "admin" {
		t.Fatalf("after promotion: %+v", m)
	}
	if err := db.DeleteModerator(ctx, cid, bob); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteModerator(ctx, cid, bob); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func testDomainBlocksStore(t *testing.T, db storage.Store) {
	ctx := context.Background()
	cid := addCommunity(t, db, "garden")
	now := time.Now().UTC().Truncate(time.Millisecond)
	db.SaveDomainBlock(ctx, community.DomainBlock{Domain: "spam.example", Reason: "spam", By: "admin", CreatedAt: now})
	db.SaveDomainBlock(ctx, community.DomainBlock{CommunityID: cid, Domain: "rude.example", By: "x", CreatedAt: now})
	db.SaveDomainBlock(ctx, community.DomainBlock{CommunityID: cid, Domain: "rude.example", Reason: "again", By: "y", CreatedAt: now})
	inst, _ := db.DomainBlocks(ctx, 0)
	local, _ := db.DomainBlocks(ctx, cid)
	want := community.DomainBlock{CommunityID: cid, Domain: "rude.example", Reason: "again", By: "y", CreatedAt: now}
	if len(inst) != 1 || inst[0].Domain != "spam.example" || len(local) != 1 || !reflect.DeepEqual(local[0], want) {
		t.Fatalf("instance %+v, community %+v", inst, local)
	}
	if err := db.DeleteDomainBlock(ctx, 0, "rude.example"); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("unblock of a community block at instance level: %v", err)
	}
	if err := db.DeleteDomainBlock(ctx, cid, "rude.example"); err != nil {
		t.Fatal(err)
	}
}

func testReportsLogPinsRefusals(t *testing.T, db storage.Store) {
	ctx := context.Background()
	cid := addCommunity(t, db, "garden")
	now := time.Now().UTC().Truncate(time.Millisecond)

	r := community.Report{CommunityID: cid, Reporter: "https://m.example/actor", ActivityID: "https://m.example/flag/1",
		Targets: []string{"https://x.example/users/eve", "https://x.example/notes/1"}, Content: "spam", CreatedAt: now}
	if err := db.AddReport(ctx, &r); err != nil || r.ID == 0 {
		t.Fatalf("add report: %v %d", err, r.ID)
	}
	dup := r
	if err := db.AddReport(ctx, &dup); !errors.Is(err, community.ErrExists) {
		t.Fatalf("same Flag twice: %v", err)
	}
	rs, _ := db.Reports(ctx, cid, true)
	if len(rs) != 1 || !reflect.DeepEqual(rs[0], r) {
		t.Fatalf("reports %+v, want %+v", rs, r)
	}
	if err := db.ResolveReport(ctx, cid, r.ID, "https://m.example/users/mod", now); err != nil {
		t.Fatal(err)
	}
	if err := db.ResolveReport(ctx, cid, r.ID, "again", now); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("resolve twice: %v", err)
	}
	if rs, _ := db.Reports(ctx, cid, true); len(rs) != 0 {
		t.Fatalf("open after resolve: %+v", rs)
	}
	if rs, _ := db.Reports(ctx, cid, false); len(rs) != 1 || rs[0].Open() {
		t.Fatalf("all reports: %+v", rs)
	}

	for i, a := range []string{"ban", "remove"} {
		db.AddLogEntry(ctx, community.LogEntry{CommunityID: cid, By: "m", Action: a, Target: "t", At: now.Add(time.Duration(i) * time.Second)})
	}
	if l, _ := db.ModLog(ctx, cid, 10); len(l) != 2 || l[0].Action != "remove" {
		t.Fatalf("log %+v, want newest first", l)
	}

	p := testPost(cid, "https://m.example/notes/1", now)
	q := testPost(cid, "https://m.example/notes/2", now)
	db.AddPost(ctx, &p)
	db.AddPost(ctx, &q)
	db.Pin(ctx, cid, p.ID, now)
	db.Pin(ctx, cid, q.ID, now.Add(time.Second))
	db.Pin(ctx, cid, p.ID, now.Add(time.Hour)) // again: no change
	pinned, err := db.PinnedPosts(ctx, cid)
	if err != nil || len(pinned) != 2 || pinned[0].ID != q.ID || pinned[1].ObjectID != p.ObjectID {
		t.Fatalf("pinned %+v %v", pinned, err)
	}
	if err := db.Unpin(ctx, cid, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.Unpin(ctx, cid, p.ID); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("unpin twice: %v", err)
	}

	eve := "https://x.example/users/eve"
	for _, tt := range []struct {
		at    time.Time
		first bool
	}{
		{now, true},
		{now.Add(time.Minute), false},
		{now.Add(59 * time.Minute), false},
		{now.Add(61 * time.Minute), true},
	} {
		first, err := db.NoteRefusal(ctx, cid, eve, tt.at, tt.at.Add(-time.Hour))
		if err != nil || first != tt.first {
			t.Errorf("refusal at +%v: first=%v %v, want %v", tt.at.Sub(now), first, err, tt.first)
		}
	}
}
