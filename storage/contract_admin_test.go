package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/storage"
)

func testAdminsSessionsAndSetupTokens(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)

	if err := db.AddSetupToken(ctx, "tok", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.AddSetupToken(ctx, "old", now.Add(-2*time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]bool{"tok": true, "old": false, "none": false} {
		if ok, err := db.SetupTokenValid(ctx, tok, now); err != nil || ok != want {
			t.Errorf("SetupTokenValid(%s) = %v, %v; want %v", tok, ok, err, want)
		}
	}
	if _, err := db.CreateFirstAdmin(ctx, "old", "root", "h", now); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("expired token: %v", err)
	}
	id, err := db.CreateFirstAdmin(ctx, "tok", "root", "hash1", now)
	if err != nil || id == 0 {
		t.Fatalf("first admin: %d %v", id, err)
	}
	if _, err := db.CreateFirstAdmin(ctx, "tok", "second", "h", now); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("token used twice: %v", err)
	}
	if _, err := db.CreateAdmin(ctx, "root", "h", now); !errors.Is(err, community.ErrExists) {
		t.Fatalf("duplicate admin: %v", err)
	}
	if n, _ := db.CountAdmins(ctx); n != 1 {
		t.Fatalf("%d admins", n)
	}
	if gotID, hash, err := db.AdminByName(ctx, "root"); err != nil || gotID != id || hash != "hash1" {
		t.Fatalf("AdminByName: %d %q %v", gotID, hash, err)
	}
	if _, _, err := db.AdminByName(ctx, "nobody"); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("unknown admin: %v", err)
	}

	if err := db.AddSession(ctx, "s1", id, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, name, err := db.SessionAdmin(ctx, "s1", now); err != nil || name != "root" {
		t.Fatalf("session: %q %v", name, err)
	}
	if _, _, err := db.SessionAdmin(ctx, "s1", now.Add(2*time.Hour)); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("expired session: %v", err)
	}
	if err := db.ChangePassword(ctx, id, "hash2", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.SessionAdmin(ctx, "s1", now); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("session survived a password change: %v", err)
	}
	db.AddSession(ctx, "s2", id, now, now.Add(time.Hour))
	if err := db.DeleteSession(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.SessionAdmin(ctx, "s2", now); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("session after logout: %v", err)
	}
}

func testMediaSettingsAndPageCounts(t *testing.T, db storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for range 2 { // storing the same id again is a no-op
		if err := db.PutMedia(ctx, "abc.png", "image/png", []byte("PNG"), now); err != nil {
			t.Fatal(err)
		}
	}
	if ct, body, err := db.Media(ctx, "abc.png"); err != nil || ct != "image/png" || string(body) != "PNG" {
		t.Fatalf("media: %q %q %v", ct, body, err)
	}
	if _, _, err := db.Media(ctx, "none.png"); !errors.Is(err, community.ErrNotFound) {
		t.Fatalf("unknown media: %v", err)
	}
	db.SetSetting(ctx, "name", "One")
	db.SetSetting(ctx, "name", "Two")
	if s, err := db.Settings(ctx); err != nil || s["name"] != "Two" {
		t.Fatalf("settings: %v %v", s, err)
	}

	c := community.Community{Name: "garden", Title: "G", Rules: "be kind", Avatar: "a.png", Cover: "c.jpg", CreatedAt: now, UpdatedAt: now}
	if err := db.CreateCommunity(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.CommunityByName(ctx, "garden"); got.Rules != "be kind" || got.Avatar != "a.png" || got.Cover != "c.jpg" {
		t.Fatalf("community fields: %+v", got)
	}
	c.Cover = "d.jpg"
	if err := db.UpdateCommunity(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.CommunityByName(ctx, "garden"); got.Cover != "d.jpg" {
		t.Fatalf("cover after update: %q", got.Cover)
	}
	db.SaveMember(ctx, community.Member{CommunityID: c.ID, Actor: "https://a/u/1", State: community.Joined, CreatedAt: now, UpdatedAt: now})
	db.SaveMember(ctx, community.Member{CommunityID: c.ID, Actor: "https://a/u/2", State: community.Pending, CreatedAt: now, UpdatedAt: now})
	add := func(obj, replyTo string, d community.Decision, received time.Time) {
		p := community.Post{CommunityID: c.ID, ObjectID: obj, Type: "Note", Author: "https://a/u/1", InReplyTo: replyTo,
			ThreadRoot: "https://a/n/root", Visibility: community.Public, ReceivedAt: received, Decision: d, Reason: community.ReasonAccepted}
		if replyTo == "" {
			p.ThreadRoot = obj
		}
		if err := db.AddPost(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
	add("https://a/n/root", "", community.Announce, now)
	add("https://a/n/old", "", community.Announce, now.Add(-8*24*time.Hour))
	add("https://a/n/r1", "https://a/n/root", community.Refuse, now)
	add("https://a/n/r2", "https://a/n/root", community.Refuse, now)
	if m, err := db.MemberCounts(ctx); err != nil || m[c.ID] != 1 {
		t.Fatalf("member counts %v %v", m, err)
	}
	if m, err := db.AnnouncedCountsSince(ctx, now.Add(-7*24*time.Hour)); err != nil || m[c.ID] != 1 {
		t.Fatalf("posts this week %v %v", m, err)
	}
	if m, err := db.ReplyCounts(ctx, c.ID, []string{"https://a/n/root", "https://a/n/old"}); err != nil || m["https://a/n/root"] != 2 || m["https://a/n/old"] != 0 {
		t.Fatalf("reply counts %v %v", m, err)
	}
	if ps, err := db.ThreadPosts(ctx, c.ID, "https://a/n/root", 10); err != nil || len(ps) != 3 {
		t.Fatalf("thread: %d posts, %v", len(ps), err)
	}
	db.HostFailed(ctx, "slow.example", now, "status 503")
	db.MarkHostUnavailable(ctx, "dead.example", now)
	if f, err := db.FailingHosts(ctx); err != nil || len(f) != 2 || !f["slow.example"].Equal(now) {
		t.Fatalf("failing hosts %v %v", f, err)
	}
}
