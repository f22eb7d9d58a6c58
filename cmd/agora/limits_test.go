package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

// TestSlowLoris: clients that send their headers or body a byte at a time
// are cut off by the server's timeouts, and meanwhile others are served.
func TestSlowLoris(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", func(c *agora.Config) {
		c.Timeouts = agora.Timeouts{ReadHeader: 300 * time.Millisecond, Read: time.Second, Write: 2 * time.Second, Idle: time.Second}
	})
	attacks := []struct {
		name  string
		start string // sent at once
		drip  string // then one byte every 50 ms
	}{
		{"headers", "POST /inbox HTTP/1.1\r\nHost: " + a.addr + "\r\n", "X-Slow: " + string(make([]byte, 200)) + "\r\n"},
		{"request line", "POST /inb", "ox HTTP/1.1\r\n" + string(make([]byte, 200))},
		{"body", "POST /inbox HTTP/1.1\r\nHost: " + a.addr + "\r\nContent-Type: application/activity+json\r\nContent-Length: 100000\r\n\r\n{", string(make([]byte, 400))},
	}
	const perAttack = 20
	var wg sync.WaitGroup
	errs := make(chan error, len(attacks)*perAttack)
	for _, at := range attacks {
		for i := 0; i < perAttack; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- loris(a.addr, at.start, at.drip)
				_ = at.name
			}()
		}
	}
	// While 60 connections drip, the server answers others.
	time.Sleep(100 * time.Millisecond)
	resp, err := http.Get(a.base() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz during the attack: %v %v", resp, err)
	}
	resp.Body.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// loris sends start, then drip byte by byte, and reports an error unless
// the server closes the connection before drip is all sent (10 s at most).
func loris(addr, start, drip string) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	closed := make(chan struct{})
	go func() {
		// The server answers (408 or 400) and closes, or just closes.
		io.Copy(io.Discard, bufio.NewReader(conn))
		close(closed)
	}()
	if _, err := io.WriteString(conn, start); err != nil {
		return nil // closed already
	}
	for i := 0; i < len(drip); i++ {
		select {
		case <-closed:
			return nil
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := conn.Write([]byte{drip[i]}); err != nil {
			return nil
		}
	}
	select {
	case <-closed:
		return nil
	case <-time.After(2 * time.Second):
		return fmt.Errorf("connection sending %q slowly was still open after %d bytes", start, len(drip))
	}
}

// TestInboxRateLimits: the running server answers 429 with Retry-After
// past the per-address limit, counted before verification, and past the
// per-actor limit, counted for the verified actor only: requests forged in
// an actor's name are 401 and spend none of its allowance. Refused
// requests leave no inbox row, and nothing else behind.
func TestInboxRateLimits(t *testing.T) {
	const hour = time.Hour
	type step struct {
		sender string // "alice", "bob"; "forged": alice's keyId, another key; "unsigned"
		n      int
		addr   string // the client address (the loopback proxy's X-Forwarded-For); "": a new one per request
		want   int
	}
	tests := []struct {
		name  string
		inbox agora.InboxConfig
		steps []step
	}{
		{"honest actor over its limit, from many addresses", agora.InboxConfig{RatePerActor: 3, RateWindow: agora.Duration{Duration: hour}},
			[]step{{"alice", 3, "", 202}, {"alice", 2, "", 429}, {"bob", 1, "", 202}}},
		{"forged requests spend nothing of the actor's allowance", agora.InboxConfig{RatePerActor: 3, RateWindow: agora.Duration{Duration: hour}},
			[]step{{"forged", 20, "", 401}, {"alice", 3, "", 202}, {"alice", 1, "", 429}}},
		{"per address, before verification, signed or not", agora.InboxConfig{RatePerIP: 8, RatePerActor: 100, RateWindow: agora.Duration{Duration: hour}},
			[]step{{"bob", 3, "203.0.113.50", 202}, {"unsigned", 5, "203.0.113.50", 401},
				{"bob", 1, "203.0.113.50", 429}, {"forged", 1, "203.0.113.50", 429}, {"bob", 1, "203.0.113.51", 202}}},
		{"rate_per_actor = 0 disables", agora.InboxConfig{RatePerIP: 100, RateWindow: agora.Duration{Duration: hour}},
			[]step{{"alice", 10, "", 202}}},
	}
	forger, err := federation.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	var addrs atomic.Int64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			a := startAgora(t, dir, "", func(c *agora.Config) {
				c.Inbox = tt.inbox
				c.Inbox.MaxConcurrent = 64
			})
			a.mustCLI("community", "create", "gardening", "--title", "Gardening")
			remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob"}})
			group := a.base() + "/c/gardening"
			send := func(sender, addr string) (*http.Response, string) {
				user := sender
				if sender == "forged" || sender == "unsigned" {
					user = "alice"
				}
				body, id := follow(remote, user, group)
				r := newPost(a.base()+"/inbox", body, "application/activity+json")
				if addr == "" {
					n := addrs.Add(1)
					addr = fmt.Sprintf("198.51.%d.%d", n/250, n%250+1)
				}
				r.Header.Set("X-Forwarded-For", addr)
				switch sender {
				case "forged":
					federation.SignRequest(r, federation.SigningKey{KeyID: remote.KeyID("alice"), Private: forger}, body, time.Now())
				case "unsigned":
				default:
					federation.SignRequest(r, remote.SigningKey(user), body, time.Now())
				}
				resp, err := http.DefaultClient.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp, id
			}
			for i, st := range tt.steps {
				// The first forged request fetches alice's key: a row, but
				// not one the forged request itself leaves.
				checkDB := st.want != 202 && st.sender != "forged"
				var before map[string]string
				if checkDB {
					quiesce(t, a)
					before = dbDigest(t, dir)
				}
				var codes, refused []string
				for range st.n {
					resp, id := send(st.sender, st.addr)
					codes = append(codes, strconv.Itoa(resp.StatusCode))
					if resp.StatusCode == 429 {
						if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s <= 0 {
							t.Errorf("step %d: 429 with Retry-After %q", i, resp.Header.Get("Retry-After"))
						}
					}
					if resp.StatusCode != 202 {
						refused = append(refused, id)
					}
				}
				want := strings.TrimSpace(strings.Repeat(strconv.Itoa(st.want)+" ", st.n))
				if got := strings.Join(codes, " "); got != want {
					t.Fatalf("step %d (%d from %s): statuses %s, want %s", i, st.n, st.sender, got, want)
				}
				for _, id := range refused {
					if n := inboxRows(t, dir, id); n != 0 {
						t.Errorf("step %d: refused %s left %d inbox rows", i, id, n)
					}
				}
				if checkDB {
					quiesce(t, a)
					if d := diffDigest(before, dbDigest(t, dir)); len(d) > 0 {
						t.Errorf("step %d: refused requests changed the database: %v", i, d)
					}
				}
			}
			// Other endpoints are not limited.
			if code, _ := getJSON(t, group); code != 200 {
				t.Fatalf("actor GET: %d", code)
			}
		})
	}
}

// inboxRows counts the inbox rows of an activity id.
func inboxRows(t *testing.T, dataDir, id string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "agora.db")+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM inbox WHERE activity_id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInboxBusy: beyond inbox.max_concurrent requests in progress, the
// next is answered 503 with Retry-After at once. Requests waiting for a
// key give their slot back, up to max_concurrent of them (web/limits.go,
// inboxSlot); the next ones wait holding theirs: with 2 slots, 2 waiting
// without a slot and 2 with one, the fifth request finds none.
func TestInboxBusy(t *testing.T) {
	dir := t.TempDir()
	// The key server is slow, so that verifying holds each request.
	slowKeys := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob", "carol", "dave", "erin"}})
	a := startAgora(t, dir, "", func(c *agora.Config) {
		c.Inbox = agora.InboxConfig{MaxConcurrent: 2, RateWindow: agora.Duration{Duration: time.Minute}}
	})
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	release := make(chan struct{})
	hold := &holdingListener{release: release}
	keySrv := hold.serve(t, slowKeys)
	// Each user's key is fetched once (concurrent fetches of one key are
	// shared): a request per user holds a slot.
	mk := func(user string) *http.Request {
		key := slowKeys.SigningKey(user)
		key.KeyID = keySrv + "/users/" + user + "#main-key"
		body := []byte(fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":"%s/users/%s/f/%d","type":"Follow","actor":"%s/users/%s","object":"%s/c/gardening"}`,
			keySrv, user, activitySeq.Add(1), keySrv, user, a.base()))
		r := newPost(a.base()+"/inbox", body, "application/activity+json")
		federation.SignRequest(r, key, body, time.Now())
		return r
	}
	// One after the other, each once waiting on its key: sent at once,
	// a third request could find both slots taken by the first two
	// before they reach their key fetch, and be refused (503).
	var wg sync.WaitGroup
	for i, user := range []string{"alice", "bob", "carol", "dave"} {
		wg.Go(func() {
			if resp, err := http.DefaultClient.Do(mk(user)); err == nil {
				resp.Body.Close()
			}
		})
		waitUntil(t, fmt.Sprintf("request %d waiting on its key", i+1), func() bool { return hold.waiting() == i+1 })
	}
	before := dbDigest(t, dir)
	resp, err := http.DefaultClient.Do(mk("erin"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fifth request: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if d := diffDigest(before, dbDigest(t, dir)); len(d) > 0 {
		t.Fatalf("the refused request changed the database: %v", d)
	}
	close(release)
	wg.Wait()
}

// holdingListener is a proxy in front of a fedtest server that holds every
// GET of an actor until release is closed, counting those it holds.
type holdingListener struct {
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (h *holdingListener) waiting() int { h.mu.Lock(); defer h.mu.Unlock(); return h.n }

func (h *holdingListener) serve(t *testing.T, backend *fedtest.Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := strings.CutPrefix(r.URL.Path, "/users/")
		switch {
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusAccepted) // an Accept to the user's inbox
			return
		case !ok || strings.Contains(user, "/"):
			http.NotFound(w, r) // NodeInfo and the like: not held, not counted
			return
		}
		h.mu.Lock()
		h.n++
		h.mu.Unlock()
		select {
		case <-h.release:
		case <-r.Context().Done():
			return
		}
		// The actor document, with ids on this origin.
		code, body, err := backend.SignedGet(context.Background(), backend.ActorIRI(user), user)
		if err != nil || code != 200 {
			http.Error(w, "backend", 502)
			return
		}
		w.Header().Set("Content-Type", "application/activity+json")
		w.Write([]byte(strings.ReplaceAll(string(body), backend.URL(), origin)))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return origin
}

func TestInboxConfig(t *testing.T) {
	tests := []struct {
		env     map[string]string
		want    agora.InboxConfig
		wantErr string
	}{
		{nil, agora.InboxConfig{MaxConcurrent: 256, RatePerIP: 1200, RatePerActor: 120, RateWindow: agora.Duration{Duration: time.Minute}}, ""},
		{map[string]string{"AGORA_INBOX_MAX_CONCURRENT": "0", "AGORA_INBOX_RATE_PER_IP": "0", "AGORA_INBOX_RATE_PER_ACTOR": "5", "AGORA_INBOX_RATE_WINDOW": "1h"},
			agora.InboxConfig{RatePerActor: 5, RateWindow: agora.Duration{Duration: time.Hour}}, ""},
		{map[string]string{"AGORA_INBOX_MAX_CONCURRENT": "-1"}, agora.InboxConfig{}, "inbox.max_concurrent"},
		{map[string]string{"AGORA_INBOX_RATE_PER_IP": "-3"}, agora.InboxConfig{}, "inbox.rate_per_ip"},
		{map[string]string{"AGORA_INBOX_RATE_PER_ACTOR": "x"}, agora.InboxConfig{}, "AGORA_INBOX_RATE_PER_ACTOR"},
		{map[string]string{"AGORA_INBOX_RATE_WINDOW": "0s"}, agora.InboxConfig{}, "inbox.rate_window"},
	}
	for _, tt := range tests {
		cfg, err := agora.LoadConfig("", func(k string) string { return tt.env[k] })
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: err = %v, want one naming %s", tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil || cfg.Inbox != tt.want {
			t.Errorf("%v: %+v, %v; want %+v", tt.env, cfg.Inbox, err, tt.want)
		}
	}
}

// TestTrustedProxiesConfig: trusted_proxies takes CIDRs and addresses
// (an address is its full-length prefix), "none" trusts none, and
// anything else is refused naming the key.
func TestTrustedProxiesConfig(t *testing.T) {
	tests := []struct {
		env     string
		want    []string
		wantErr bool
	}{
		{"", []string{"127.0.0.0/8", "::1/128"}, false},
		{"10.0.0.2, 192.168.1.0/24", []string{"10.0.0.2/32", "192.168.1.0/24"}, false},
		{"fd00::1,10.1.2.3/8", []string{"fd00::1/128", "10.0.0.0/8"}, false},
		{"none", []string{}, false},
		{"10.0.0.0/33", nil, true},
		{"proxy.example", nil, true},
	}
	for _, tt := range tests {
		cfg, err := agora.LoadConfig("", func(k string) string {
			if k == "AGORA_TRUSTED_PROXIES" {
				return tt.env
			}
			return ""
		})
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "trusted_proxies") {
				t.Errorf("%q: err = %v, want one naming trusted_proxies", tt.env, err)
			}
			continue
		}
		if err != nil || !slices.Equal(cfg.TrustedProxies, tt.want) {
			t.Errorf("%q: %q, %v; want %q", tt.env, cfg.TrustedProxies, err, tt.want)
		}
	}
}

// TestKeyFetchesHoldNoSlot (issue 15, item 3): requests whose keyIds
// point at a server that never answers wait for their keys without
// holding inbox slots, so they cannot fill the inbox: with every slot's
// worth of them waiting, a valid Follow is answered 202 and accepted.
// Before, they held all the slots and the Follow got 503.
func TestKeyFetchesHoldNoSlot(t *testing.T) {
	const slots = 8
	var asked atomic.Int32
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.NotFound(w, r)
	}))
	defer hang.Close()
	a := startAgora(t, t.TempDir(), "", func(c *agora.Config) { c.Inbox.MaxConcurrent = slots })
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	group := a.base() + "/c/gardening"
	forger, err := federation.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	codes := make(chan int, slots)
	for i := range slots {
		go func() {
			actor := fmt.Sprintf("%s/users/u%d", hang.URL, i)
			body, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
				"id": actor + "/follows/1", "type": "Follow", "actor": actor, "object": group})
			r := newPost(a.base()+"/inbox", body, "application/activity+json")
			federation.SignRequest(r, federation.SigningKey{KeyID: actor + "#main-key", Private: forger}, body, time.Now())
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	waitUntil(t, "every forged request's key being fetched", func() bool { return asked.Load() >= slots })

	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	body, _ := follow(mastodon, "alice", group)
	code, err := mastodon.SignedPost(context.Background(), a.base()+"/inbox", "alice", body)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("a valid Follow while %d forged requests wait for keys: %d %v, want 202", slots, code, err)
	}
	waitUntil(t, "alice a member", func() bool { return followersCount(t, a, "gardening") == 1 })

	close(release) // the key server answers 404 now
	for range slots {
		if c := <-codes; c == http.StatusAccepted {
			t.Errorf("a forged request was answered %d", c)
		}
	}
}

// TestMetricsConfig: [metrics] from the environment; a token too short
// to be a secret is refused naming the key.
func TestMetricsConfig(t *testing.T) {
	tests := []struct {
		env     map[string]string
		want    agora.MetricsConfig
		wantErr string
	}{
		{nil, agora.MetricsConfig{}, ""},
		{map[string]string{"AGORA_METRICS_LISTEN": "127.0.0.1:9464", "AGORA_METRICS_TOKEN": "0123456789abcdef"},
			agora.MetricsConfig{Listen: "127.0.0.1:9464", Token: "0123456789abcdef"}, ""},
		{map[string]string{"AGORA_METRICS_TOKEN": "secret"}, agora.MetricsConfig{}, "metrics.token"},
	}
	for _, tt := range tests {
		cfg, err := agora.LoadConfig("", func(k string) string { return tt.env[k] })
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: err = %v, want one naming %s", tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil || cfg.Metrics != tt.want {
			t.Errorf("%v: %+v, %v; want %+v", tt.env, cfg.Metrics, err, tt.want)
		}
	}
}
