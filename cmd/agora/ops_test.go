package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/federation/fedtest"
)

// actorKey returns the publicKeyPem of an actor document served by a.
func actorKey(t *testing.T, url string) string {
	t.Helper()
	code, doc := getJSON(t, url)
	if code != 200 {
		t.Fatalf("GET %s: %d", url, code)
	}
	pk, _ := doc["publicKey"].(map[string]any)
	pem, _ := pk["publicKeyPem"].(string)
	if pem == "" {
		t.Fatalf("%s has no key", url)
	}
	return pem
}

// TestBackupAndRestore: a backup taken while the server runs holds the
// communities, members and keys; restored as the README says, it serves the
// same actors with the same keys.
func TestBackupAndRestore(t *testing.T) {
	dir := t.TempDir()
	a := startAgora(t, dir, "", nil)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}})
	body, _ := follow(mastodon, "alice", a.base()+"/c/gardening")
	post(t, mastodon, a.base()+"/inbox", "alice", body)
	waitUntil(t, "a member", func() bool { return followersCount(t, a, "gardening") == 1 })
	groupKey := actorKey(t, a.base()+"/c/gardening")
	instanceKey := actorKey(t, a.base()+"/actor")

	file := filepath.Join(t.TempDir(), "agora-backup.db")
	out := a.mustCLI("backup", file)
	if !strings.Contains(out, file) {
		t.Errorf("backup said %q", out)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600: it holds the private keys", st.Mode().Perm())
	}
	if _, err := a.cli("backup", file); err == nil {
		t.Error("a backup overwrote an existing file")
	}
	if _, err := a.cli("backup"); err == nil {
		t.Error("backup without a file name succeeded")
	}

	// Restore into a new data dir, on the same address (the base URL is
	// part of every id), while the first server is stopped.
	addr := a.addr
	a.stop()
	dir2 := t.TempDir()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, "agora.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	b := startAgora(t, dir2, addr, nil)
	if n := followersCount(t, b, "gardening"); n != 1 {
		t.Fatalf("restored followers = %d, want 1", n)
	}
	if actorKey(t, b.base()+"/c/gardening") != groupKey || actorKey(t, b.base()+"/actor") != instanceKey {
		t.Fatal("restored server has other keys: every peer would refuse it")
	}
}

func TestBackupNeedsADatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nothing-here")
	env := func(k string) string {
		if k == "AGORA_DATA_DIR" {
			return dir
		}
		return ""
	}
	var out, errOut strings.Builder
	err := run(context.Background(), []string{"backup", filepath.Join(t.TempDir(), "b.db")}, &out, &errOut, env)
	if err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("backup of a missing database: %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("backup created the data dir")
	}
}

// TestDataFileModes: the data dir and every file in it (the database holds
// the private keys) are readable by the owner only.
func TestDataFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	a := startAgora(t, dir, "", nil)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("data_dir mode %v, want 0700", st.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		seen[e.Name()] = true
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %v: readable by others", e.Name(), info.Mode().Perm())
		}
	}
	if !seen["agora.db"] || !seen["agora.db-wal"] {
		t.Errorf("data dir holds %v, want agora.db and its WAL", entries)
	}
	// No password exists to hash yet: Agora has no web accounts; the
	// CLI, run by whoever can read data_dir, is the admin interface.
}

// TestHostListAndClear: an unavailable host gets nothing until the admin
// clears it; then its queued delivery goes out at once.
func TestHostListAndClear(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}})
	host := strings.TrimPrefix(mastodon.URL(), "http://")
	ctx := context.Background()
	if err := a.srv.App.DB.MarkHostUnavailable(ctx, host, time.Now().Add(-8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if out := a.mustCLI("host", "list"); !strings.Contains(out, host) || !strings.Contains(out, "unavailable") {
		t.Fatalf("host list:\n%s", out)
	}
	body, _ := follow(mastodon, "alice", a.base()+"/c/gardening")
	post(t, mastodon, a.base()+"/inbox", "alice", body)
	waitUntil(t, "the Accept queued", func() bool {
		n, _ := a.srv.App.DB.QueueDepth(ctx)
		return n == 1
	})
	// A member on another host joins after: once their Accept, queued
	// later, has arrived, the workers have claimed what was due before it.
	other := fedtest.NewServer(t, fedtest.Options{Users: []string{"bob"}})
	body, _ = follow(other, "bob", a.base()+"/c/gardening")
	post(t, other, a.base()+"/inbox", "bob", body)
	other.WaitFor(t, 1, 10*time.Second)
	a.quiet()
	if n := len(mastodon.Received()); n != 0 {
		t.Fatalf("an unavailable host was sent %d deliveries", n)
	}
	out := a.mustCLI("host", "list")
	if !strings.Contains(out, "unavailable") || !strings.Contains(out, "1") {
		t.Fatalf("host list with a queued delivery:\n%s", out)
	}
	if _, err := a.cli("host", "clear", "nosuch.example"); err == nil {
		t.Error("clearing an unknown host succeeded")
	}
	if _, err := a.cli("host", "clear"); err == nil {
		t.Error("host clear without a host succeeded")
	}
	a.mustCLI("host", "clear", host)
	mastodon.WaitFor(t, 1, 10*time.Second)
	if got := received(mastodon, "Accept"); len(got) != 1 || !got[0].Verified {
		t.Fatalf("after clearing: %+v", got)
	}
	waitUntil(t, "nothing listed", func() bool {
		out, _ := a.cli("host", "list")
		return strings.Contains(out, "no host is failing")
	})
	if out := a.mustCLI("host", "list", "--all"); !strings.Contains(out, host) || !strings.Contains(out, "ok") {
		t.Fatalf("host list --all:\n%s", out)
	}
}
