package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/cmd/internal/seed"
	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
	"github.com/agorafed/agora/storage/sqlite"
)

// crashWorkers is delivery.workers in the crash tests: at most that many
// deliveries are in flight when Agora is killed, which bounds the
// duplicates its restart may send.
const crashWorkers = 64

// TestCrash kills `agora serve` (the real binary, SIGKILL) at the moments
// where a crash could lose or double work, restarts it on the same data
// dir, and checks that every live member host gets the community's
// Announce of the post exactly once (and, for a deleted post, the Undo of
// it), give or take the deliveries in flight at the kill.
//
// Members: one per host of a 2,000-host loopback fleet (1% dead), seeded
// straight into the database as `agora-bench fanout` does, plus a poster
// on a server of its own whose post documents the test can hold.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts 2,000 loopback hosts; skipped with -short")
	}
	const hosts = 2000
	if err := fedtest.NeedFiles(3*hosts + 512); err != nil {
		t.Skip(err)
	}
	fleet, err := fedtest.StartFleet(fedtest.FleetOptions{Hosts: hosts, Dead: 0.01, Latency: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fleet.Close)
	origin := newHoldingOrigin(t)
	n := newCrashNode(t)
	var many []fedtest.FleetHost
	for _, h := range fleet.Hosts() {
		if !h.Dead && !h.Flaky && len(many) < manyMembers {
			many = append(many, h)
		}
	}

	// Setup: community, members, the poster; no server running yet.
	func() {
		ctx := context.Background()
		cfg, err := agora.LoadConfig(n.config, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		a, err := agora.Open(ctx, cfg, agora.NewLogger(cfg, io.Discard), nil, false)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		c, err := a.CreateCommunity(ctx, community.Community{Name: "bench", Title: "Bench"})
		if err != nil {
			t.Fatal(err)
		}
		if err := seed.Members(ctx, a, c, fleet.Hosts(), 1, hosts); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		u, _ := origin.url()
		if err := a.DB.SetHostSoftware(ctx, u, "mastodon", now); err != nil {
			t.Fatal(err)
		}
		if err := a.DB.PutRemoteActor(ctx, federation.RemoteActor{ID: origin.actor(), Type: "Person", PreferredUsername: "alice",
			Inbox: origin.actor() + "/inbox", SharedInbox: origin.srv.URL + "/inbox", Followers: origin.actor() + "/followers", FetchedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := a.DB.SaveMember(ctx, community.Member{CommunityID: c.ID, Actor: origin.actor(), State: community.Joined,
			FollowID: origin.actor() + "/follows/1", CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		// A second community, whose members post to it: manyMembers live
		// hosts, one member each.
		m, err := a.Svc.Create(ctx, community.Community{Name: "many", Title: "Many"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Local.PrivateKey(ctx, federation.CommunityKeyOwner(m.Name)); err != nil {
			t.Fatal(err)
		}
		if err := seed.Members(ctx, a, m, many, 1, len(many)); err != nil {
			t.Fatal(err)
		}
	}()
	group := n.base + "/c/bench"
	n.start()

	t.Run("kill during fan-out", func(t *testing.T) {
		note := fleet.ActorIRI(livePoster(fleet), 0) + "/statuses/crash-fanout"
		if code, err := fleet.SignedPost(context.Background(), n.base+"/inbox", livePoster(fleet), 0, createNote(note, group, true)); err != nil || code != http.StatusAccepted {
			t.Fatalf("POST Create: %d %v", code, err)
		}
		// Kill once 10% of the hosts have been sent the Announce.
		deadline := time.Now().Add(30 * time.Second)
		for fleet.Stats().Requests < hosts/10 {
			if time.Now().After(deadline) {
				t.Fatalf("the fan-out did not reach 10%% of the hosts in 30 s: %+v", fleet.Stats())
			}
			time.Sleep(time.Millisecond)
		}
		n.kill()
		atKill := fleet.Tally("Announce", note)
		t.Logf("killed with %d of %d live hosts served (%d requests)", atKill.Once+atKill.Duplicates, atKill.Live, fleet.Stats().Requests)
		if got := atKill.Once; got > atKill.Live*6/10 {
			t.Fatalf("the kill came too late: %d of %d live hosts had the Announce already", got, atKill.Live)
		}
		n.start()
		r := waitAnnounced(t, n, fleet, origin, note)
		t.Logf("after restart: %s", r)
		if r.dups > crashWorkers {
			t.Errorf("%d duplicate deliveries, more than the %d deliveries that can be in flight at a kill", r.dups, crashWorkers)
		}
		if r.ids != 1 {
			t.Errorf("%d distinct Announce activities for one post, want 1", r.ids)
		}
	})

	t.Run("kill right after the 202", func(t *testing.T) {
		note := fleet.ActorIRI(livePoster(fleet), 0) + "/statuses/crash-202"
		if code, err := fleet.SignedPost(context.Background(), n.base+"/inbox", livePoster(fleet), 0, createNote(note, group, true)); err != nil || code != http.StatusAccepted {
			t.Fatalf("POST Create: %d %v", code, err)
		}
		n.kill()
		t.Logf("at the kill: %s", n.state(note))
		n.start()
		r := waitAnnounced(t, n, fleet, origin, note)
		t.Logf("after restart: %s", r)
		if r.ids != 1 || r.dups > crashWorkers {
			t.Errorf("announced as %d activities with %d duplicates; want 1 and at most %d", r.ids, r.dups, crashWorkers)
		}
	})

	// The post is given by IRI, so Agora fetches it from its origin before
	// deciding: holding that fetch holds Agora between the 202 and the
	// decision, and the kill lands there every time.
	t.Run("kill while deciding", func(t *testing.T) {
		note := origin.actor() + "/statuses/held"
		origin.hold(note, group)
		if code, err := origin.signedPost(n.base+"/inbox", createNote(note, group, false)); err != nil || code != http.StatusAccepted {
			t.Fatalf("POST Create: %d %v", code, err)
		}
		select {
		case <-origin.fetching:
		case <-time.After(20 * time.Second):
			t.Fatal("Agora did not fetch the post from its origin")
		}
		n.kill()
		if s := n.state(note); s.processed || s.posts != 0 {
			t.Fatalf("at the kill: %s; want recorded, not processed, no post", s)
		}
		origin.release()
		n.start()
		r := waitAnnounced(t, n, fleet, origin, note)
		t.Logf("after restart: %s", r)
		if r.ids != 1 || r.dups != 0 {
			t.Errorf("announced as %d activities with %d duplicates; want 1 and 0 (nothing was in flight)", r.ids, r.dups)
		}
	})

	// Between storing the post with its decision and queueing the Announce:
	// the kill comes as soon as the post's row is visible in the database.
	t.Run("kill after the decision is stored", func(t *testing.T) {
		note := fleet.ActorIRI(livePoster(fleet), 0) + "/statuses/crash-decided"
		db := n.openDB()
		defer db.Close()
		// The kill waits for the 202: the processor may store the post
		// before the answer has left, and a kill then would cut it.
		answered := make(chan struct{})
		stored := make(chan struct{})
		go func() {
			defer close(stored)
			<-answered
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				var k int
				if db.QueryRow(`SELECT count(*) FROM posts WHERE object_id = ?`, note).Scan(&k) == nil && k > 0 {
					n.kill()
					return
				}
			}
		}()
		code, err := fleet.SignedPost(context.Background(), n.base+"/inbox", livePoster(fleet), 0, createNote(note, group, true))
		close(answered)
		if err != nil || code != http.StatusAccepted {
			<-stored
			t.Fatalf("POST Create: %d %v", code, err)
		}
		<-stored
		if n.running() {
			t.Fatal("the post was not stored within 20 s")
		}
		s := n.state(note)
		t.Logf("at the kill: %s", s)
		n.start()
		r := waitAnnounced(t, n, fleet, origin, note)
		t.Logf("after restart: %s", r)
		if r.ids != 1 || r.dups > crashWorkers {
			t.Errorf("announced as %d activities with %d duplicates; want 1 and at most %d", r.ids, r.dups, crashWorkers)
		}
	})

	// Between tombstoning a deleted post and queueing the Undo of its
	// Announce: the kill comes as soon as the deletion is visible.
	t.Run("kill after a deletion is stored", func(t *testing.T) {
		poster := livePoster(fleet)
		note := fleet.ActorIRI(poster, 0) + "/statuses/crash-fanout"
		var announce string
		for _, r := range fleet.Received(poster) {
			if r.Type == "Announce" && r.Object == note {
				announce = r.ActivityID
			}
		}
		if announce == "" {
			t.Fatal("the poster's host has no Announce of the first post")
		}
		db := n.openDB()
		defer db.Close()
		// The kill waits for the 202, as above: the processor may store
		// the deletion before the answer has left (CI once got EOF).
		answered := make(chan struct{})
		stored := make(chan struct{})
		go func() {
			defer close(stored)
			<-answered
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				var k int
				if db.QueryRow(`SELECT count(*) FROM posts WHERE object_id = ? AND deleted_at IS NOT NULL`, note).Scan(&k) == nil && k > 0 {
					n.kill()
					return
				}
			}
		}()
		actor := fleet.ActorIRI(poster, 0)
		del, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
			"id": note + "#delete", "type": "Delete", "actor": actor, "to": []string{federation.PublicCollection},
			"object": map[string]string{"id": note, "type": "Tombstone"}})
		code, err := fleet.SignedPost(context.Background(), n.base+"/inbox", poster, 0, del)
		close(answered)
		if err != nil || code != http.StatusAccepted {
			<-stored
			t.Fatalf("POST Delete: %d %v", code, err)
		}
		<-stored
		if n.running() {
			t.Fatal("the deletion was not stored within 20 s")
		}
		var withdrawn int
		func() {
			db := n.openDB()
			defer db.Close()
			db.QueryRow(`SELECT count(*) FROM announces a JOIN posts p ON p.id = a.post_id
				WHERE p.object_id = ? AND a.withdrawn_at IS NOT NULL`, note).Scan(&withdrawn)
		}()
		t.Logf("at the kill: post deleted, %d Announces marked withdrawn", withdrawn)
		n.start()
		r := waitTally(t, n, fleet, origin, "Undo", announce)
		t.Logf("after restart: %s (Undo)", r)
		if r.ids != 1 || r.dups > crashWorkers {
			t.Errorf("withdrawn by %d activities with %d duplicates; want 1 and at most %d", r.ids, r.dups, crashWorkers)
		}
	})

	// Many activities applied concurrently when the kill comes: some
	// applied and marked, some applied and not yet marked (the marks are
	// written together), some half way, some not begun. After the restart
	// each post is announced once to every member, by one activity.
	t.Run("kill during concurrent processing", func(t *testing.T) {
		n.stop()
		notes := make([]string, manyPosts)
		func() {
			ctx := context.Background()
			cfg, err := agora.LoadConfig(n.config, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			a, err := agora.Open(ctx, cfg, agora.NewLogger(cfg, io.Discard), nil, false)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			now := time.Now().UTC()
			for i := range notes {
				h := many[i%len(many)]
				notes[i] = fleet.ActorIRI(h.Index, 0) + fmt.Sprintf("/statuses/many-%d", i)
				if _, err := a.DB.RecordInbox(ctx, federation.InboxItem{ActivityID: notes[i] + "/activity", Type: "Create",
					Actor: fleet.ActorIRI(h.Index, 0), Body: createNote(notes[i], n.base+"/c/many", true), ReceivedAt: now}); err != nil {
					t.Fatal(err)
				}
			}
		}()
		db := n.openDB()
		defer db.Close()
		processed := func() (k int) {
			db.QueryRow(`SELECT count(*) FROM inbox WHERE activity_id LIKE '%/statuses/many-%' AND processed_at IS NOT NULL`).Scan(&k)
			return k
		}
		n.start()
		deadline := time.Now().Add(30 * time.Second)
		for processed() < manyPosts/4 {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d activities processed in 30 s", processed(), manyPosts)
			}
			time.Sleep(time.Millisecond)
		}
		n.kill()
		var posts int
		db.QueryRow(`SELECT count(*) FROM posts WHERE object_id LIKE '%/statuses/many-%'`).Scan(&posts)
		atKill := processed()
		t.Logf("killed with %d of %d activities marked processed, %d posts stored", atKill, manyPosts, posts)
		if atKill == manyPosts {
			t.Fatal("the kill came too late: every activity was processed")
		}
		n.start()
		total := announceReport{}
		for _, note := range notes {
			r := waitTallyOn(t, n, fleet, many, "Announce", note)
			if r.ids != 1 || r.missing > 0 {
				t.Errorf("%s: %s; want one activity at every member", note, r)
			}
			var k int
			db.QueryRow(`SELECT count(*) FROM posts WHERE object_id = ?`, note).Scan(&k)
			if k != 1 {
				t.Errorf("%s stored %d times", note, k)
			}
			total.dups += r.dups
		}
		t.Logf("after restart: %d posts announced to %d members each, %d duplicate receptions in all", manyPosts, len(many), total.dups)
		if total.dups > crashWorkers {
			t.Errorf("%d duplicate deliveries, more than the %d deliveries that can be in flight at a kill", total.dups, crashWorkers)
		}
	})

	// Nothing is left queued but for the dead hosts.
	n.stop()
	db := n.openDB()
	defer db.Close()
	rows, err := db.Query(`SELECT host, count(*) FROM deliveries GROUP BY host`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	dead := map[string]bool{}
	for _, h := range fleet.Hosts() {
		dead[h.Host] = h.Dead
	}
	for rows.Next() {
		var host string
		var k int
		rows.Scan(&host, &k)
		if !dead[host] {
			t.Errorf("%d deliveries to live host %s still queued", k, host)
		}
	}
}

// livePoster is the first fleet host that answers.
func livePoster(f *fedtest.Fleet) int {
	for _, h := range f.Hosts() {
		if !h.Dead && !h.Flaky {
			return h.Index
		}
	}
	return 0
}

// createNote is a public Create{Note} by the note's author (the note IRI
// up to /statuses/), mentioning group; embedded, or by IRI alone.
func createNote(note, group string, embed bool) []byte {
	actor := note[:strings.Index(note, "/statuses/")]
	var obj any = note
	if embed {
		obj = noteDoc(note, actor, group)
	}
	body, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       note + "/activity", "type": "Create", "actor": actor,
		"to": []string{federation.PublicCollection}, "cc": []string{actor + "/followers", group},
		"object": obj,
	})
	return body
}

func noteDoc(note, actor, group string) map[string]any {
	return map[string]any{
		"id": note, "type": "Note", "attributedTo": actor, "content": "<p>Crash-safe, I hope</p>",
		"to": []string{federation.PublicCollection}, "cc": []string{actor + "/followers", group},
		"tag":       []map[string]string{{"type": "Mention", "href": group, "name": "@bench"}},
		"published": time.Now().UTC().Format(time.RFC3339),
	}
}

// announceReport is how one post's Announce fared across the members.
type announceReport struct {
	live, missing int
	ids           int // distinct Announce activities (want 1)
	dups          int // receptions beyond the first at a host
	invalid       int
}

func (r announceReport) String() string {
	return fmt.Sprintf("%d live hosts, %d missing, %d activity ids, %d duplicate receptions, %d bad signatures",
		r.live, r.missing, r.ids, r.dups, r.invalid)
}

func announceOf(fleet *fedtest.Fleet, origin *holdingOrigin, note string) announceReport {
	return tallyOf(fleet, origin, "Announce", note)
}

// tallyOf is how the activities of type typ about object fared across
// the members.
func tallyOf(fleet *fedtest.Fleet, origin *holdingOrigin, typ, object string) announceReport {
	var r announceReport
	ids := map[string]bool{}
	count := func(rs []fedtest.Received) {
		got := 0
		for _, x := range rs {
			if x.Type != typ || x.Object != object {
				continue
			}
			if x.VerifyErr != "" {
				r.invalid++
				continue
			}
			if x.Counted() {
				got++
				ids[x.ActivityID] = true
			}
		}
		if got == 0 {
			r.missing++
		} else {
			r.dups += got - 1
		}
	}
	for _, h := range fleet.Hosts() {
		if h.Dead {
			continue
		}
		r.live++
		count(fleet.Received(h.Index))
	}
	r.live++
	count(origin.received())
	r.ids = len(ids)
	return r
}

// waitAnnounced waits until every live member host has the post's
// Announce, then a little longer for duplicates to show.
func waitAnnounced(t *testing.T, n *crashNode, fleet *fedtest.Fleet, origin *holdingOrigin, note string) announceReport {
	t.Helper()
	return waitTally(t, n, fleet, origin, "Announce", note)
}

// waitTally waits until every live member host has an activity of type
// typ about object, then a little longer for duplicates to show.
func waitTally(t *testing.T, n *crashNode, fleet *fedtest.Fleet, origin *holdingOrigin, typ, object string) announceReport {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		r := tallyOf(fleet, origin, typ, object)
		if r.invalid > 0 {
			t.Fatalf("bad signatures: %s", r)
		}
		if r.missing == 0 {
			n.quiet(t, fleet) // duplicates, if any, have come
			return tallyOf(fleet, origin, typ, object)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart, still missing: %s", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The "kill during concurrent processing" case: posts, and members of
// the community they are posted to (5,000 deliveries).
const manyPosts, manyMembers = 100, 50

// waitTallyOn is waitTally over the given member hosts alone.
func waitTallyOn(t *testing.T, n *crashNode, fleet *fedtest.Fleet, hosts []fedtest.FleetHost, typ, object string) announceReport {
	t.Helper()
	tally := func() announceReport {
		var r announceReport
		ids := map[string]bool{}
		for _, h := range hosts {
			r.live++
			got := 0
			for _, x := range fleet.Received(h.Index) {
				if x.Type != typ || x.Object != object {
					continue
				}
				if x.VerifyErr != "" {
					r.invalid++
				} else if x.Counted() {
					got++
					ids[x.ActivityID] = true
				}
			}
			if got == 0 {
				r.missing++
			} else {
				r.dups += got - 1
			}
		}
		r.ids = len(ids)
		return r
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		r := tally()
		if r.invalid > 0 {
			t.Fatalf("bad signatures: %s", r)
		}
		if r.missing == 0 {
			n.quiet(t, fleet) // duplicates, if any, have come
			return tally()
		}
		if time.Now().After(deadline) {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// crashNode is `agora serve` run as a child process on a data dir that
// outlives it.
type crashNode struct {
	t      *testing.T
	bin    string
	dir    string
	config string
	base   string
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *os.File
}

func newCrashNode(t *testing.T) *crashNode {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "agora")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	n := &crashNode{t: t, bin: bin, dir: filepath.Join(dir, "data"), config: filepath.Join(dir, "agora.toml"), base: "http://" + addr}
	conf := fmt.Sprintf(`base_url = %q
listen = %q
data_dir = %q
allow_private_addresses = true
log_level = "warn"

# Dead hosts hold a worker each until the request times out: kept short,
# so that what is left of the earlier posts for them after each restart
# does not take the workers from the live hosts for long.
[delivery]
workers = %d
shutdown_timeout = "1s"
request_timeout = "2s"
`, n.base, addr, n.dir, crashWorkers)
	if err := os.WriteFile(n.config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	n.logs, err = os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n.running() {
			n.cmd.Process.Kill()
			<-n.exited
		}
		n.logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(n.logs.Name())
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("agora serve log (end):\n%s", b)
		}
	})
	return n
}

// start starts the server and waits until it answers.
func (n *crashNode) start() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, "serve", "--config", n.config)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	exited := make(chan struct{})
	n.exited = exited
	cmd := n.cmd
	go func() { cmd.Wait(); close(exited) }()
	waitHTTP(n.t, n.base+"/healthz")
}

func (n *crashNode) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// kill is kill -9: no shutdown, no last write.
func (n *crashNode) kill() {
	if n.running() {
		n.cmd.Process.Signal(syscall.SIGKILL)
		<-n.exited
	}
}

// stop is SIGTERM, as an operator stops it.
func (n *crashNode) stop() {
	n.t.Helper()
	if !n.running() {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		n.t.Error("agora serve did not stop within 20 s of SIGTERM")
		n.kill()
	}
}

// quiet waits until the server has nothing in hand (sqlite.DB.Busy, read
// beside it as the CLI reads) but for dead hosts, which hold a delivery
// for a request timeout at every retry: whatever it was going to send to
// the others, it has.
func (n *crashNode) quiet(t *testing.T, fleet *fedtest.Fleet) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(n.dir, "agora.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dead := map[string]bool{}
	for _, h := range fleet.Hosts() {
		dead[h.Host] = h.Dead
	}
	waitQuiet(t, "agora serve", 30*time.Second, db.Busy, func(host string) bool { return dead[host] }, nil)
}

// openDB opens the data dir's database for reading, beside the server.
func (n *crashNode) openDB() *sql.DB {
	n.t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(n.dir, "agora.db")+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		n.t.Fatal(err)
	}
	return db
}

// dbState is where a Create stood when the server died.
type dbState struct {
	recorded, processed bool
	posts, announces    int
}

func (s dbState) String() string {
	return fmt.Sprintf("recorded %v, processed %v, posts %d, Announces queued %d", s.recorded, s.processed, s.posts, s.announces)
}

func (n *crashNode) state(note string) dbState {
	n.t.Helper()
	db := n.openDB()
	defer db.Close()
	var s dbState
	var processed sql.NullInt64
	err := db.QueryRow(`SELECT processed_at FROM inbox WHERE activity_id = ?`, note+"/activity").Scan(&processed)
	s.recorded, s.processed = err == nil, processed.Valid
	db.QueryRow(`SELECT count(*) FROM posts WHERE object_id = ?`, note).Scan(&s.posts)
	db.QueryRow(`SELECT count(*) FROM announces a JOIN posts p ON p.id = a.post_id WHERE p.object_id = ?`, note).Scan(&s.announces)
	return s
}

// holdingOrigin is the poster's own server: actor alice with her key, an
// inbox that records what it gets (without checking signatures: the
// fleet checks those of everyone else), and her posts, the first GET of
// which it can hold until released (or until the client goes away).
type holdingOrigin struct {
	srv      *httptest.Server
	key      *rsa.PrivateKey
	fetching chan struct{}

	mu       sync.Mutex
	held     string
	released chan struct{}
	notes    map[string]string // note -> community it mentions
	inbox    []fedtest.Received
}

func newHoldingOrigin(t *testing.T) *holdingOrigin {
	t.Helper()
	k, err := federation.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	o := &holdingOrigin{key: k, fetching: make(chan struct{}, 1), released: make(chan struct{}), notes: map[string]string{}}
	o.srv = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *holdingOrigin) actor() string { return o.srv.URL + "/users/alice" }

func (o *holdingOrigin) url() (host string, err error) {
	return strings.TrimPrefix(o.srv.URL, "http://"), nil
}

// hold serves note, posted to group, and makes its first GET wait for
// release.
func (o *holdingOrigin) hold(note, group string) {
	o.mu.Lock()
	o.held, o.notes[note] = note, group
	o.mu.Unlock()
}

func (o *holdingOrigin) release() {
	o.mu.Lock()
	o.held = ""
	close(o.released)
	o.mu.Unlock()
}

func (o *holdingOrigin) received() []fedtest.Received {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]fedtest.Received(nil), o.inbox...)
}

func (o *holdingOrigin) signedPost(url string, body []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/activity+json")
	if err := federation.SignRequest(req, federation.SigningKey{KeyID: o.actor() + "#main-key", Private: o.key}, body, time.Now()); err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (o *holdingOrigin) serve(w http.ResponseWriter, r *http.Request) {
	iri := o.srv.URL + r.URL.Path
	switch {
	case r.Method == http.MethodGet && iri == o.actor():
		pemText, _ := federation.EncodePublicKey(&o.key.PublicKey)
		w.Header().Set("Content-Type", "application/activity+json")
		json.NewEncoder(w).Encode(map[string]any{
			"@context": []string{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"},
			"id":       iri, "type": "Person", "preferredUsername": "alice",
			"inbox": iri + "/inbox", "followers": iri + "/followers",
			"endpoints": map[string]string{"sharedInbox": o.srv.URL + "/inbox"},
			"publicKey": map[string]string{"id": iri + "#main-key", "owner": iri, "publicKeyPem": pemText},
		})
	case r.Method == http.MethodGet && strings.HasPrefix(iri, o.actor()+"/statuses/"):
		o.mu.Lock()
		group, held, release := o.notes[iri], o.held == iri, o.released
		o.mu.Unlock()
		if group == "" {
			http.NotFound(w, r)
			return
		}
		if held {
			select {
			case o.fetching <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/activity+json")
		doc := noteDoc(iri, o.actor(), group)
		doc["@context"] = "https://www.w3.org/ns/activitystreams"
		json.NewEncoder(w).Encode(doc)
	case r.Method == http.MethodPost && (r.URL.Path == "/inbox" || r.URL.Path == "/users/alice/inbox"):
		body, _ := io.ReadAll(r.Body)
		var head struct {
			ID, Type string
			Object   json.RawMessage
		}
		json.Unmarshal(body, &head)
		var obj string
		if json.Unmarshal(head.Object, &obj) != nil {
			var o struct{ ID string }
			json.Unmarshal(head.Object, &o)
			obj = o.ID
		}
		o.mu.Lock()
		o.inbox = append(o.inbox, fedtest.Received{ActivityID: head.ID, Type: head.Type, Object: obj, At: time.Now(),
			Verified: true, Status: http.StatusAccepted, Body: body})
		o.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}
