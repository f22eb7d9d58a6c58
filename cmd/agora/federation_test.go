package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/federation/fedtest"
	"github.com/agorafed/agora/storage"
)

// testAgora is Agora wired as `agora serve` wires it, on a loopback port,
// with a temporary data dir.
type testAgora struct {
	t       *testing.T
	cfg     agora.Config
	addr    string
	srv     *agora.Server
	stopped bool
}

func testConfig(t *testing.T, dir, addr string) agora.Config {
	cfg := agora.DefaultConfig()
	cfg.BaseURL = "http://" + addr
	cfg.Listen = addr
	cfg.DataDir = dir
	cfg.AllowPrivateAddresses = true
	cfg.LogLevel = "debug"
	cfg.WrapTransport = noRequestInWrite(t)
	return cfg
}

// noRequestInWrite is a transport check for every test server: an
// outgoing request made by a goroutine that holds a write transaction
// fails the test, and the request (issue 13: nothing waits on the
// network inside a transaction).
func noRequestInWrite(t *testing.T) func(storage.Store, http.RoundTripper) http.RoundTripper {
	return func(store storage.Store, next http.RoundTripper) http.RoundTripper {
		// SQLite's writer tracking; storage/postgres has none to track
		// (its transactions begin and end inside its methods, too).
		db, ok := store.(interface {
			TrackWriters()
			HoldsWrite() bool
		})
		if !ok {
			return next
		}
		db.TrackWriters()
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if db.HoldsWrite() {
				t.Errorf("%s %s made while a write transaction is open", r.Method, r.URL)
				return nil, fmt.Errorf("%s %s: request made while a write transaction is open", r.Method, r.URL)
			}
			return next.RoundTrip(r)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// startAgora starts Agora on addr ("" picks a free port) with data in dir.
func startAgora(t *testing.T, dir, addr string, change func(*agora.Config)) *testAgora {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, dir, ln.Addr().String())
	if change != nil {
		change(&cfg)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := agora.Start(context.Background(), cfg, log, ln)
	if err != nil {
		t.Fatal(err)
	}
	a := &testAgora{t: t, cfg: cfg, addr: ln.Addr().String(), srv: srv}
	t.Cleanup(a.stop)
	return a
}

func (a *testAgora) stop() {
	if !a.stopped {
		a.stopped = true
		a.srv.Stop()
	}
}

// testWriter sends logs to t.Log, so they show only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (a *testAgora) base() string { return a.cfg.BaseURL }

// cli runs an agora command against this instance's data dir.
func (a *testAgora) cli(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	env := func(k string) string {
		switch k {
		case "AGORA_BASE_URL":
			return a.cfg.BaseURL
		case "AGORA_DATA_DIR":
			return a.cfg.DataDir
		case "AGORA_DATABASE":
			return a.cfg.Database
		case "AGORA_ALLOW_PRIVATE_ADDRESSES":
			return "true"
		case "AGORA_LOG_LEVEL":
			return "warn"
		}
		return ""
	}
	err := run(context.Background(), args, &out, &errOut, env)
	if err != nil {
		return out.String(), fmt.Errorf("%v: %w (%s)", args, err, errOut.String())
	}
	return out.String(), nil
}

func (a *testAgora) mustCLI(args ...string) string {
	a.t.Helper()
	out, err := a.cli(args...)
	if err != nil {
		a.t.Fatal(err)
	}
	return out
}

// getJSON fetches an AS2 document unsigned.
func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/activity+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("%s: %v: %s", url, err, body)
		}
	}
	return resp.StatusCode, doc
}

func followersCount(t *testing.T, a *testAgora, name string) int {
	t.Helper()
	code, doc := getJSON(t, a.base()+"/c/"+name+"/followers")
	if code != 200 {
		t.Fatalf("followers of %s: status %d", name, code)
	}
	n, ok := doc["totalItems"].(float64)
	if !ok {
		t.Fatalf("followers without totalItems: %v", doc)
	}
	return int(n)
}

var activitySeq atomic.Int64

func follow(remote *fedtest.Server, user, object string) ([]byte, string) {
	id := fmt.Sprintf("%s/follows/%d", remote.ActorIRI(user), activitySeq.Add(1))
	body, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       id,
		"type":     "Follow",
		"actor":    remote.ActorIRI(user),
		"object":   object,
	})
	return body, id
}

func undo(remote *fedtest.Server, user string, inner []byte) []byte {
	var obj map[string]any
	json.Unmarshal(inner, &obj)
	delete(obj, "@context")
	body, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       fmt.Sprintf("%s/undo/%d", remote.ActorIRI(user), activitySeq.Add(1)),
		"type":     "Undo",
		"actor":    remote.ActorIRI(user),
		"object":   obj,
	})
	return body
}

func post(t *testing.T, remote *fedtest.Server, url, user string, body []byte) {
	t.Helper()
	code, err := remote.SignedPost(context.Background(), url, user, body)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusAccepted {
		t.Fatalf("POST %s: status %d, want 202", url, code)
	}
}

// waitUntil polls cond until it holds or the test times out.
// quiet waits until Agora has nothing in hand (sqlite.DB.Busy): every
// activity it recorded processed or waiting for its retry, and no
// delivery due or in flight (those waiting for a retry, or for an
// unavailable host, aside). A test asserts that something did not happen
// only once it is quiet: whatever was going to happen has.
func (a *testAgora) quiet() {
	a.t.Helper()
	waitQuiet(a.t, "Agora", 10*time.Second, a.srv.App.DB.Busy, nil, nil)
}

// waitQuiet waits until busy says nothing is in hand: no activity due
// and unprocessed, no delivery due or claimed (but to the hosts skip
// names). Tests wait for it before they assert that something did not
// happen. onTimeout, when set, logs more before the failure.
func waitQuiet(t *testing.T, what string, within time.Duration, busy func(context.Context, time.Time) (int, map[string]int, error),
	skip func(host string) bool, onTimeout func()) {
	t.Helper()
	var inbox int
	var dl map[string]int
	var err error
	quiet := func() bool {
		inbox, dl, err = busy(context.Background(), time.Now())
		if skip != nil {
			maps.DeleteFunc(dl, func(host string, _ int) bool { return skip(host) })
		}
		return err == nil && inbox == 0 && len(dl) == 0
	}
	if !pollUntil(within, quiet) {
		if onTimeout != nil {
			onTimeout()
		}
		t.Fatalf("%s not quiet after %v: %d activities, deliveries %v in hand (%v)", what, within, inbox, dl, err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !pollUntil(10*time.Second, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// pollUntil asks cond every 20 ms until it holds (true) or within has
// passed (false). The sleep is a polling interval, never a wait for
// something not to happen.
func pollUntil(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// accepted returns the requests of a type that reached the fake server.
func received(remote *fedtest.Server, typ string) []fedtest.Request {
	var out []fedtest.Request
	for _, r := range remote.Received() {
		var doc struct {
			Type string `json:"type"`
		}
		json.Unmarshal(r.Body, &doc)
		if doc.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

func TestFollowAcceptUndo(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening", "--summary", "Seeds & soil")
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob"}, Software: "mastodon"})
	group := a.base() + "/c/gardening"

	body, followID := follow(mastodon, "alice", group)
	post(t, mastodon, a.base()+"/inbox", "alice", body)

	reqs := mastodon.WaitFor(t, 1, 10*time.Second)
	acc := reqs[0]
	if !acc.Verified {
		t.Fatalf("Accept signature did not verify at the remote: %v", acc.VerifyErr)
	}
	if acc.Path != "/users/alice/inbox" {
		t.Errorf("Accept went to %s, want alice's inbox", acc.Path)
	}
	if acc.KeyID != group+"#main-key" {
		t.Errorf("Accept keyId %q, want the community's key", acc.KeyID)
	}
	var doc struct {
		ID     string `json:"id"`
		Type   string `json:"type"`
		Actor  string `json:"actor"`
		Object struct {
			ID     string `json:"id"`
			Type   string `json:"type"`
			Actor  string `json:"actor"`
			Object string `json:"object"`
		} `json:"object"`
	}
	if err := json.Unmarshal(acc.Body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Type != "Accept" || doc.Actor != group || doc.ID == "" || doc.ID == followID ||
		doc.Object.ID != followID || doc.Object.Type != "Follow" || doc.Object.Actor != mastodon.ActorIRI("alice") || doc.Object.Object != group {
		t.Fatalf("Accept = %s", acc.Body)
	}
	if n := followersCount(t, a, "gardening"); n != 1 {
		t.Fatalf("followers = %d, want 1", n)
	}

	// The same Follow delivered twice (a retry) is processed once; a new
	// Follow from a member is accepted again.
	post(t, mastodon, a.base()+"/inbox", "alice", body)
	body2, _ := follow(mastodon, "alice", group)
	post(t, mastodon, a.base()+"/c/gardening/inbox", "alice", body2)
	mastodon.WaitFor(t, 2, 10*time.Second)
	a.quiet()
	if got := len(received(mastodon, "Accept")); got != 2 {
		t.Fatalf("Accepts = %d, want 2 (one per distinct Follow)", got)
	}

	bobFollow, _ := follow(mastodon, "bob", group)
	post(t, mastodon, a.base()+"/inbox", "bob", bobFollow)
	waitUntil(t, "two followers", func() bool { return followersCount(t, a, "gardening") == 2 })

	// The followers collection counts both.
	code, page := getJSON(t, group+"/followers")
	if code != 200 || page["totalItems"] != float64(2) {
		t.Fatalf("followers: %d %v", code, page)
	}

	post(t, mastodon, a.base()+"/inbox", "alice", undo(mastodon, "alice", body))
	waitUntil(t, "alice left", func() bool { return followersCount(t, a, "gardening") == 1 })

	// The member's actor was fetched and cached.
	ra, err := a.srv.App.DB.RemoteActor(context.Background(), mastodon.ActorIRI("bob"))
	if err != nil || ra.Inbox != mastodon.URL()+"/users/bob/inbox" || ra.SharedInbox != mastodon.URL()+"/inbox" {
		t.Fatalf("cached actor %+v, %v", ra, err)
	}
}

func TestApprovalCommunity(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "club", "--title", "Club", "--approval")
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob"}})
	group := a.base() + "/c/club"

	code, actor := getJSON(t, group)
	if code != 200 || actor["manuallyApprovesFollowers"] != true {
		t.Fatalf("actor of approval community: %d %v", code, actor["manuallyApprovesFollowers"])
	}
	for _, user := range []string{"alice", "bob"} {
		body, _ := follow(mastodon, user, group)
		post(t, mastodon, a.base()+"/inbox", user, body)
	}
	waitUntil(t, "two pending", func() bool {
		out, _ := a.cli("community", "members", "club", "--pending")
		return strings.Count(out, mastodon.URL()) == 2
	})
	a.quiet()
	if n := len(mastodon.Received()); n != 0 {
		t.Fatalf("pending follower was answered (%d requests)", n)
	}
	if n := followersCount(t, a, "club"); n != 0 {
		t.Fatalf("followers = %d while pending", n)
	}
	if _, err := a.cli("community", "approve", "club", "@carol@"+strings.TrimPrefix(mastodon.URL(), "http://")); err == nil {
		t.Fatal("approving an unknown actor succeeded")
	}
	a.mustCLI("community", "approve", "club", "@alice@"+strings.TrimPrefix(mastodon.URL(), "http://"))
	a.mustCLI("community", "reject", "club", mastodon.ActorIRI("bob"))
	reqs := mastodon.WaitFor(t, 2, 10*time.Second)
	got := map[string]string{}
	for _, r := range reqs {
		var doc struct {
			Type   string `json:"type"`
			Object struct {
				Actor string `json:"actor"`
			} `json:"object"`
		}
		json.Unmarshal(r.Body, &doc)
		got[doc.Object.Actor] = doc.Type
		if !r.Verified {
			t.Errorf("%s not verified: %v", doc.Type, r.VerifyErr)
		}
	}
	if got[mastodon.ActorIRI("alice")] != "Accept" || got[mastodon.ActorIRI("bob")] != "Reject" {
		t.Fatalf("answers = %v", got)
	}
	if n := followersCount(t, a, "club"); n != 1 {
		t.Fatalf("followers = %d after approve, want 1", n)
	}
}

// A delivery in flight when the server stops stays queued and is delivered
// after the restart; so is one queued by the CLI while no server runs.
func TestDeliveryQueueSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	// The first Accept hangs at the remote until the server is stopped.
	mastodon.SetReplies("/users/alice/inbox", fedtest.Reply{Delay: 30 * time.Second}, fedtest.Reply{})
	a := startAgora(t, dir, "", func(c *agora.Config) {
		c.Delivery.ShutdownTimeout = agora.Duration{Duration: 200 * time.Millisecond}
	})
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	body, _ := follow(mastodon, "alice", a.base()+"/c/gardening")
	post(t, mastodon, a.base()+"/inbox", "alice", body)
	waitUntil(t, "the Accept in flight", func() bool { return mastodon.Hits("/users/alice/inbox") == 1 })
	addr := a.addr
	a.stop()

	ctx := context.Background()
	// Queued while no server runs: Update{Group} to the member's server.
	a.mustCLI("community", "edit", "gardening", "--title", "Gardening and more")
	db, err := agora.Open(ctx, a.cfg, slog.New(slog.DiscardHandler), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	depth, _ := db.DB.QueueDepth(ctx)
	db.Close()
	if depth != 2 {
		t.Fatalf("queue depth after stop = %d, want 2 (the Accept in flight and the Update)", depth)
	}

	startAgora(t, dir, addr, nil)
	// The remote saw the first Accept hang, then the redelivery, and the
	// Update queued while no server ran.
	waitUntil(t, "Accept and Update delivered", func() bool {
		return len(received(mastodon, "Accept")) >= 2 && len(received(mastodon, "Update")) >= 1
	})
	// The first request's check may race the stop (the fake fetches
	// Agora's key while it shuts down); what came after the restart must
	// verify.
	for _, r := range mastodon.Received()[1:] {
		if !r.Verified {
			t.Errorf("not verified: %v", r.VerifyErr)
		}
	}
	if a2, err := agora.Open(ctx, a.cfg, slog.New(slog.DiscardHandler), nil, false); err == nil {
		defer a2.Close()
		waitUntil(t, "empty queue", func() bool { n, _ := a2.DB.QueueDepth(ctx); return n == 0 })
	}
}

// joiner is a remote user who joins a community in a test.
type joiner struct {
	s    *fedtest.Server
	user string
}

// gardening starts Agora (change may adjust its config) with community
// "gardening", has each joiner follow it, waits until all are members,
// and returns Agora and the community's IRI.
func gardening(t *testing.T, change func(*agora.Config), joins ...joiner) (*testAgora, string) {
	t.Helper()
	a := startAgora(t, t.TempDir(), "", change)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	group := a.base() + "/c/gardening"
	for _, j := range joins {
		body, _ := follow(j.s, j.user, group)
		post(t, j.s, a.base()+"/inbox", j.user, body)
	}
	waitUntil(t, "members", func() bool { return followersCount(t, a, "gardening") == len(joins) })
	return a, group
}
