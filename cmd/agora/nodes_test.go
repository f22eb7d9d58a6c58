package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage/postgres"
	"github.com/agorafed/agora/storage/postgres/pgtest"
)

// TestTwoNodesBehindProxy (issue 14): two `agora serve` processes on one
// PostgreSQL database, behind one base_url (a round-robin proxy).
// Members join through either node; a member's post is announced exactly
// once to every member's server; and when one node is killed with -9 in
// the middle of a fan-out, the other finishes it: every server gets the
// Announce once, none lost, none doubled.
//
// The kill is made while the node's deliveries to half of the servers
// are held open by those servers (they answer nothing until released):
// the node dies with them in flight and in hand, unacknowledged, so that
// the only way for them to arrive is the other node taking its claims
// when they run out (node_lease). A server counts an Announce only once
// it answers it, as a real server acknowledges it.
func TestTwoNodesBehindProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two servers; skipped with -short")
	}
	dbURL := pgtest.Database(t)
	bin := makeBuild(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	key, err := federation.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{}) // closed: held Announces are answered
	const servers = 10
	var members []*memberServer
	for range servers {
		members = append(members, startMember(t, key, gate))
	}

	proxy := &roundRobin{}
	front := httptest.NewServer(proxy)
	defer front.Close()
	base := front.URL

	// Both nodes start at once on the empty database: the migrations and
	// the instance key are made once.
	var nodes []*agoraNode
	for i := range 2 {
		nodes = append(nodes, startNode(t, ctx, bin, fmt.Sprintf("node-%d", i), base, dbURL))
	}
	for _, n := range nodes {
		n.waitReady(t, ctx)
		proxy.add(n.addr)
	}
	env := func(k string) string {
		return map[string]string{"AGORA_BASE_URL": base, "AGORA_DATABASE": dbURL, "AGORA_DATA_DIR": t.TempDir(),
			"AGORA_ALLOW_PRIVATE_ADDRESSES": "true", "AGORA_LOG_LEVEL": "warn"}[k]
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"community", "create", "garden", "--title", "Garden"}, &out, &errOut, env); err != nil {
		t.Fatalf("community create: %v %s", err, errOut.String())
	}
	group := base + "/c/garden"

	observer, err := postgres.Open(ctx, dbURL, postgres.Options{Node: "observer"})
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close()
	quiet := func(what string) {
		t.Helper()
		waitQuiet(t, what, time.Minute, observer.Busy, nil, func() {
			for _, n := range nodes {
				t.Logf("%s log:\n%s", n.name, n.log.tail())
			}
		})
	}

	// Joins, through the proxy: half land on each node.
	for i, m := range members {
		follow := map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
			"id": m.actor() + "/follows/1", "type": "Follow", "actor": m.actor(), "object": group}
		if st := m.post(t, group+"/inbox", follow); st != http.StatusAccepted {
			t.Fatalf("member %d's Follow: %d", i, st)
		}
	}
	quiet("joins")
	c, err := observer.CommunityByName(ctx, "garden")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := observer.CountMembers(ctx, c.ID, community.Joined); n != servers {
		t.Fatalf("%d members, want %d", n, servers)
	}
	for i, m := range members {
		if n := m.count("Accept", ""); n != 1 {
			t.Fatalf("member %d got %d Accepts", i, n)
		}
	}
	if per := proxy.inboxPosts(); len(per) != 2 || per[nodes[0].addr] == 0 || per[nodes[1].addr] == 0 {
		t.Fatalf("the joins went to %v: want some on each node", per)
	}

	// A member's post: announced once to every member's server.
	note1 := members[0].create(t, base, group, 1)
	quiet("the first post")
	for i, m := range members {
		if n := m.count("Announce", note1); n != 1 {
			t.Fatalf("member %d got the first post's Announce %d times", i, n)
		}
	}

	// The second post, with the second half of the servers holding what
	// they get; one node is killed while the fan-out is under way.
	held := members[servers/2:]
	for _, m := range held {
		m.gated.Store(true)
	}
	note2 := members[1].create(t, base, group, 2)
	var done int
	var holding int32
	var queued map[string]int
	inFlight := func() bool {
		done, holding = 0, 0
		for _, m := range members[:servers/2] {
			done += m.count("Announce", note2)
		}
		queued, _ = observer.QueueByHost(ctx)
		settled := done == servers/2
		for _, m := range members[:servers/2] {
			settled = settled && queued[m.host()] == 0 // delivered and recorded done
		}
		for _, m := range held {
			holding += m.holding.Load()
		}
		return settled && holding == int32(len(held)) // every held server's Announce in flight
	}
	if !pollUntil(time.Minute, inFlight) {
		t.Fatalf("fan-out: %d of %d servers have it, %d held, queue %v", done, servers/2, holding, queued)
	}
	// Kill the node with the most of the held servers' deliveries in hand.
	owners, err := observer.LeasesByNode(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	victim := nodes[0]
	if owners[nodes[1].name] > owners[nodes[0].name] {
		victim = nodes[1]
	}
	t.Logf("deliveries in hand by node: %v; killing %s", owners, victim.name)
	victim.kill(t)
	// Its held requests end with it (the kill closes their connections);
	// then the servers release the other node's. Every lease was a held
	// request in flight (the other servers were settled), so the victim's
	// leases are how many end.
	stillHeld := int32(len(held) - owners[victim.name])
	waitUntil(t, "the killed node's held requests to end", func() bool {
		var holding int32
		for _, m := range held {
			holding += m.holding.Load()
		}
		return holding == stillHeld
	})
	close(gate)
	quiet("the fan-out after the kill")
	for i, m := range members {
		if n := m.count("Announce", note2); n != 1 {
			t.Errorf("member %d got the second post's Announce %d times, want once", i, n)
		}
		if n := m.count("Announce", note1); n != 1 {
			t.Errorf("member %d got the first post's Announce %d times, want once", i, n)
		}
	}
}

// agoraNode is an `agora serve` process.
type agoraNode struct {
	name, addr string
	cmd        *exec.Cmd
	log        *tailBuffer
	killed     bool
}

func startNode(t *testing.T, ctx context.Context, bin, name, base, dbURL string) *agoraNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	n := &agoraNode{name: name, addr: addr, log: &tailBuffer{}}
	n.cmd = exec.CommandContext(ctx, bin, "serve")
	n.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AGORA_BASE_URL=" + base, "AGORA_LISTEN=" + addr, "AGORA_DATABASE=" + dbURL, "AGORA_NODE=" + name,
		"AGORA_DATA_DIR=" + t.TempDir(), "AGORA_ALLOW_PRIVATE_ADDRESSES=true", "AGORA_LOG_LEVEL=info",
		// Short leases, so that a killed node's work is taken soon; a
		// worker for each server, so that no delivery waits in a node's
		// hand behind the held ones.
		"AGORA_NODE_LEASE=10s", "AGORA_DELIVERY_REQUEST_TIMEOUT=5s",
		"AGORA_DELIVERY_WORKERS=16", "AGORA_DELIVERY_PER_HOST=1"}
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n.killed {
			return
		}
		n.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- n.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			n.cmd.Process.Kill()
			t.Errorf("%s did not stop within 20s of SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, n.log.tail())
		}
	})
	return n
}

// waitReady waits until the node answers its instance actor.
func (n *agoraNode) waitReady(t *testing.T, ctx context.Context) {
	t.Helper()
	url := "http://" + n.addr + "/actor"
	if !pollUntil(30*time.Second, func() bool { return ctx.Err() != nil || answersOK(url) }) || ctx.Err() != nil {
		t.Fatalf("%s not ready after 30s (%v)\n%s", n.name, ctx.Err(), n.log.tail())
	}
}

// kill ends the node with SIGKILL, as a lost machine would.
func (n *agoraNode) kill(t *testing.T) {
	t.Helper()
	n.killed = true
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	n.cmd.Wait()
}

// tailBuffer keeps a process's output, for the failure message.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

func (b *tailBuffer) tail() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := string(b.b)
	if len(s) > 6000 {
		s = s[len(s)-6000:]
	}
	return s
}

// roundRobin is the reverse proxy in front of the nodes: each request goes
// to the next node, and to the other when that one does not answer. It
// keeps the Host header (the signatures cover it).
type roundRobin struct {
	mu       sync.Mutex
	backends []string
	next     int
	posts    map[string]int // inbox POSTs answered, by node
}

func (p *roundRobin) add(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backends = append(p.backends, addr)
}

func (p *roundRobin) inboxPosts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, v := range p.posts {
		out[k] = v
	}
	return out
}

func (p *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	backends, first := append([]string(nil), p.backends...), p.next
	p.next++
	p.mu.Unlock()
	for try := range backends {
		addr := backends[(first+try)%len(backends)]
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
		out.Header = r.Header.Clone()
		out.Host = r.Host
		out.Header.Set("X-Forwarded-For", strings.Split(r.RemoteAddr, ":")[0])
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			continue // that node is down: the next one
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/inbox") {
			p.mu.Lock()
			if p.posts == nil {
				p.posts = map[string]int{}
			}
			p.posts[addr]++
			p.mu.Unlock()
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no node answers", http.StatusBadGateway)
}

// memberServer is a member's server, with one user (m), a shared inbox
// that records what it answers, and NodeInfo saying mastodon. While
// gated, it holds each Announce until the gate opens, and counts it only
// if its sender is still there to get the answer.
type memberServer struct {
	srv     *httptest.Server
	key     *rsa.PrivateKey
	gate    chan struct{}
	gated   atomic.Bool
	holding atomic.Int32

	mu  sync.Mutex
	got []memberReceived
}

type memberReceived struct{ typ, object string }

func startMember(t *testing.T, key *rsa.PrivateKey, gate chan struct{}) *memberServer {
	m := &memberServer{key: key, gate: gate}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *memberServer) actor() string { return m.srv.URL + "/users/m" }
func (m *memberServer) host() string  { return strings.TrimPrefix(m.srv.URL, "http://") }

func (m *memberServer) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/activity+json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/users/m":
		pemText, _ := federation.EncodePublicKey(&m.key.PublicKey)
		json.NewEncoder(w).Encode(map[string]any{
			"@context": []string{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"},
			"id":       m.actor(), "type": "Person", "preferredUsername": "m",
			"inbox": m.actor() + "/inbox", "outbox": m.actor() + "/outbox", "followers": m.actor() + "/followers",
			"endpoints": map[string]string{"sharedInbox": m.srv.URL + "/inbox"},
			"publicKey": map[string]string{"id": m.actor() + "#main-key", "owner": m.actor(), "publicKeyPem": pemText},
		})
	case r.Method == http.MethodGet && r.URL.Path == "/.well-known/nodeinfo":
		json.NewEncoder(w).Encode(map[string]any{"links": []map[string]string{{
			"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": m.srv.URL + "/nodeinfo/2.0"}}})
	case r.Method == http.MethodGet && r.URL.Path == "/nodeinfo/2.0":
		json.NewEncoder(w).Encode(map[string]any{"version": "2.0",
			"software": map[string]string{"name": "mastodon", "version": "4.3.0"}, "protocols": []string{"activitypub"}})
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/inbox"):
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var act struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		json.Unmarshal(body, &act)
		var object string
		if json.Unmarshal(act.Object, &object) != nil {
			var o struct {
				ID string `json:"id"`
			}
			json.Unmarshal(act.Object, &o)
			object = o.ID
		}
		if act.Type == "Announce" && m.gated.Load() {
			m.holding.Add(1)
			select {
			case <-m.gate:
				m.holding.Add(-1)
			case <-r.Context().Done(): // the sender died: nothing was acknowledged
				m.holding.Add(-1)
				return
			}
			if r.Context().Err() != nil {
				return
			}
		}
		m.mu.Lock()
		m.got = append(m.got, memberReceived{act.Type, object})
		m.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// count counts the activities of a type (about an object, unless "")
// the server answered.
func (m *memberServer) count(typ, object string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, g := range m.got {
		if g.typ == typ && (object == "" || g.object == object) {
			n++
		}
	}
	return n
}

// post signs and POSTs an activity as the member's user.
func (m *memberServer) post(t *testing.T, url string, activity any) int {
	t.Helper()
	body, _ := json.Marshal(activity)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/activity+json")
	if err := federation.SignRequest(req, federation.SigningKey{KeyID: m.actor() + "#main-key", Private: m.key}, body, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// create posts a Note to the community through the shared inbox and
// returns its id.
func (m *memberServer) create(t *testing.T, base, group string, n int) string {
	t.Helper()
	note := fmt.Sprintf("%s/statuses/%d", m.actor(), n)
	to := []string{federation.PublicCollection}
	cc := []string{m.actor() + "/followers", group}
	st := m.post(t, base+"/inbox", map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       note + "/activity", "type": "Create", "actor": m.actor(), "to": to, "cc": cc,
		"object": map[string]any{"id": note, "type": "Note", "attributedTo": m.actor(),
			"content": fmt.Sprintf("<p>Post %d</p>", n), "to": to, "cc": cc,
			"tag":       []map[string]string{{"type": "Mention", "href": group, "name": "@garden"}},
			"published": time.Now().UTC().Format(time.RFC3339)},
	})
	if st != http.StatusAccepted {
		t.Fatalf("the Create of post %d: %d", n, st)
	}
	return note
}
