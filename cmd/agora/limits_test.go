package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

// TestSlowLoris: clients that send their headers or body a byte at a time
// are cut off by the server's timeouts, and meanwhile others are served.
func TestSlowLoris(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", func(c *Config) {
		c.timeouts = serverTimeouts{ReadHeader: 300 * time.Millisecond, Read: time.Second, Write: 2 * time.Second, Idle: time.Second}
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
// past the per-actor and per-address limits, before any verification, and
// the limited requests leave nothing behind.
func TestInboxRateLimits(t *testing.T) {
	dir := t.TempDir()
	a := startAgora(t, dir, "", func(c *Config) {
		c.Inbox = InboxConfig{MaxConcurrent: 64, RatePerIP: 8, RatePerActor: 3, RateWindow: Duration{time.Hour}}
	})
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob"}})
	group := a.base() + "/c/gardening"
	send := func(user string, xff string) *http.Response {
		body, _ := follow(remote, user, group)
		r := newPost(a.base()+"/inbox", body, "application/activity+json")
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		federation.SignRequest(r, remote.SigningKey(user), body, time.Now())
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	var codes []int
	for i := 0; i < 4; i++ {
		codes = append(codes, send("alice", fmt.Sprintf("198.51.100.%d", i+1)).StatusCode)
	}
	if fmt.Sprint(codes) != "[202 202 202 429]" {
		t.Fatalf("alice's Follows from four addresses: %v, want the 4th refused per actor", codes)
	}
	resp := send("alice", "198.51.100.9")
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != 429 || err != nil || s <= 0 {
		t.Fatalf("429 without Retry-After: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Per address: bob's requests from one client address, 8 allowed (the
	// loopback proxy's X-Forwarded-For names the client).
	codes = codes[:0]
	for i := 0; i < 3; i++ {
		codes = append(codes, send("bob", "203.0.113.50").StatusCode)
	}
	if fmt.Sprint(codes) != "[202 202 202]" {
		t.Fatalf("bob: %v", codes)
	}
	quiesce(t, a)
	before := dbDigest(t, dir)
	// Unsigned requests from one address count against it (and are 401).
	for i := 0; i < 5; i++ {
		r := newPost(a.base()+"/inbox", []byte(`{}`), "application/activity+json")
		r.Header.Set("X-Forwarded-For", "203.0.113.50")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("unsigned request %d: status %d, want 401", i, resp.StatusCode)
		}
	}
	if code := send("bob", "203.0.113.50").StatusCode; code != 429 {
		t.Fatalf("9th request from one address: status %d, want 429", code)
	}
	quiesce(t, a)
	if d := diffDigest(before, dbDigest(t, dir)); len(d) > 0 {
		t.Fatalf("limited requests changed the database: %v", d)
	}
	// Other endpoints are not limited.
	if code, _ := getJSON(t, group); code != 200 {
		t.Fatalf("actor GET: %d", code)
	}
}

// TestInboxBusy: beyond inbox.max_concurrent requests in progress, the
// next is answered 503 with Retry-After at once.
func TestInboxBusy(t *testing.T) {
	dir := t.TempDir()
	// The key server is slow, so that verifying holds each request.
	slowKeys := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob", "carol"}})
	a := startAgora(t, dir, "", func(c *Config) {
		c.Inbox = InboxConfig{MaxConcurrent: 2, RateWindow: Duration{time.Minute}}
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
	var wg sync.WaitGroup
	for _, user := range []string{"alice", "bob"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := http.DefaultClient.Do(mk(user)); err == nil {
				resp.Body.Close()
			}
		}()
	}
	waitUntil(t, "two requests waiting on the key", func() bool { return hold.waiting() == 2 })
	before := dbDigest(t, dir)
	resp, err := http.DefaultClient.Do(mk("carol"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third request: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if d := diffDigest(before, dbDigest(t, dir)); len(d) > 0 {
		t.Fatalf("the refused request changed the database: %v", d)
	}
	close(release)
	wg.Wait()
}

// holdingListener is a proxy in front of a fedtest server that holds every
// GET until release is closed, counting those it holds.
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
		h.mu.Lock()
		h.n++
		h.mu.Unlock()
		select {
		case <-h.release:
		case <-r.Context().Done():
			return
		}
		// The actor document, with ids on this origin.
		user := strings.TrimPrefix(r.URL.Path, "/users/")
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
		want    InboxConfig
		wantErr string
	}{
		{nil, InboxConfig{MaxConcurrent: 256, RatePerIP: 1200, RatePerActor: 120, RateWindow: Duration{time.Minute}}, ""},
		{map[string]string{"AGORA_INBOX_MAX_CONCURRENT": "0", "AGORA_INBOX_RATE_PER_IP": "0", "AGORA_INBOX_RATE_PER_ACTOR": "5", "AGORA_INBOX_RATE_WINDOW": "1h"},
			InboxConfig{RatePerActor: 5, RateWindow: Duration{time.Hour}}, ""},
		{map[string]string{"AGORA_INBOX_MAX_CONCURRENT": "-1"}, InboxConfig{}, "inbox.max_concurrent"},
		{map[string]string{"AGORA_INBOX_RATE_PER_IP": "-3"}, InboxConfig{}, "inbox.rate_per_ip"},
		{map[string]string{"AGORA_INBOX_RATE_PER_ACTOR": "x"}, InboxConfig{}, "AGORA_INBOX_RATE_PER_ACTOR"},
		{map[string]string{"AGORA_INBOX_RATE_WINDOW": "0s"}, InboxConfig{}, "inbox.rate_window"},
	}
	for _, tt := range tests {
		cfg, err := loadConfig("", func(k string) string { return tt.env[k] })
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
