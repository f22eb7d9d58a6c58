package fedtest

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agorafed/agora/federation"
)

// FleetOptions configures a Fleet.
type FleetOptions struct {
	// Hosts is the number of virtual servers, each on its own 127.0.0.1
	// port, hence a distinct host to Agora (default 1).
	Hosts int
	// UsersPerHost is the number of actors each host serves, u0, u1, ...
	// (default 1). They share the host's shared inbox.
	UsersPerHost int
	// Latency is how long every inbox waits before answering.
	Latency time.Duration
	// Dead is the fraction of hosts whose inboxes never answer: the
	// request is read and held until the client gives up or the fleet
	// closes. Flaky is the fraction (among the others) whose inbox answers
	// its first request 503, and every later one normally.
	Dead, Flaky float64
	// Software is the NodeInfo software.name of every host (default
	// "mastodon", so Agora sends one Announce per host).
	Software string
	// KeyPool, when above 0, gives the actors that many RSA keys in turn,
	// made at start (one key takes about 100 ms to make); 0 gives every
	// actor its own key, made when first needed.
	KeyPool int
	// Seed chooses which hosts are dead and flaky (default 1).
	Seed uint64
}

// FleetHost is one virtual server of a Fleet.
type FleetHost struct {
	Index int
	URL   string // "http://127.0.0.1:port"
	Host  string // "127.0.0.1:port"
	Dead  bool
	Flaky bool
}

// SharedInbox is the host's shared inbox URL.
func (h FleetHost) SharedInbox() string { return h.URL + "/inbox" }

// Received is one inbox request a fleet host got.
type Received struct {
	Host       int
	ActivityID string
	Type       string
	Object     string // the object's IRI, or the embedded object's id
	At         time.Time
	Verified   bool
	VerifyErr  string
	Status     int // what the host answered; 0 for a dead host (never)
	Body       []byte
}

// Counted tells whether the reception counts as a delivery: verified
// and answered 2xx, so the sender is done with it.
func (r Received) Counted() bool { return r.Verified && r.Status >= 200 && r.Status < 300 }

// FleetStats counts what the whole fleet received.
type FleetStats struct {
	Requests   int // inbox POSTs, every host
	Verified   int // of which the signature verified
	Invalid    int // of which it did not
	Refused    int // answered 503 by flaky hosts
	Held       int // held by dead hosts
	KeyFetches int // public keys fetched (once per keyId for the whole fleet)
}

// FleetTally is how one activity fared across the fleet.
type FleetTally struct {
	Hosts      int // hosts in the fleet
	Live       int // hosts that are not dead
	Once       int // live hosts that got exactly one matching activity, once
	Duplicates int // counted receptions beyond the first at a host
	Missing    int // live hosts that got none
	// MissingSteady counts the missing hosts that are not flaky: those a
	// first attempt should have reached.
	MissingSteady int
	Invalid       int // matching receptions whose signature did not verify
	// First and Last are the earliest and latest first arrival at a live
	// host; LastSteady the latest at a live host that is not flaky.
	First, Last, LastSteady time.Time
	MissingHosts            []string // up to 10 of them
}

// Fleet is a set of virtual member servers on loopback: each has its own
// listener, actors with keys, NodeInfo, a shared inbox that checks the
// signature of everything it receives (with the sender's key fetched once
// for the whole fleet) and records it. Its methods are safe for concurrent
// use.
type Fleet struct {
	opts    FleetOptions
	hosts   []*fleetHost
	client  *http.Client
	closing chan struct{}
	once    sync.Once
	fetches atomic.Int64

	keyMu   sync.Mutex
	keys    map[int]*rsa.PrivateKey // actor number -> key
	pool    []*rsa.PrivateKey
	pubMu   sync.Mutex
	pubKeys map[string]*pubEntry // keyId -> fetched public key
}

type pubEntry struct {
	done chan struct{}
	key  *rsa.PublicKey
	err  error
}

type fleetHost struct {
	FleetHost
	fleet *Fleet
	srv   *http.Server

	failing atomic.Bool // SetFailing

	mu       sync.Mutex
	requests int
	received []Received
}

// SetFailing makes host i's inboxes answer every request 503 (on) or
// answer normally again (off).
func (f *Fleet) SetFailing(i int, on bool) { f.hosts[i].failing.Store(on) }

// StartFleet starts a fleet on 127.0.0.1; Close stops it. A fleet of
// thousands of hosts needs as many file descriptors twice over (listener
// and connection); Go raises the soft limit to the hard one at start.
func StartFleet(opts FleetOptions) (*Fleet, error) {
	if opts.Hosts <= 0 {
		opts.Hosts = 1
	}
	if opts.UsersPerHost <= 0 {
		opts.UsersPerHost = 1
	}
	if opts.Software == "" {
		opts.Software = "mastodon"
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Dead < 0 || opts.Flaky < 0 || opts.Dead+opts.Flaky > 1 {
		return nil, fmt.Errorf("fleet: dead %v and flaky %v must be fractions with a sum of at most 1", opts.Dead, opts.Flaky)
	}
	f := &Fleet{
		opts:    opts,
		closing: make(chan struct{}),
		keys:    map[int]*rsa.PrivateKey{},
		pubKeys: map[string]*pubEntry{},
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		}},
	}
	for range opts.KeyPool {
		k, err := federation.GenerateKey()
		if err != nil {
			return nil, err
		}
		f.pool = append(f.pool, k)
	}
	// Which hosts are dead and flaky: a seeded shuffle, the same every run.
	order := rand.New(rand.NewPCG(opts.Seed, opts.Seed)).Perm(opts.Hosts)
	dead := int(opts.Dead*float64(opts.Hosts) + 0.5)
	flaky := int(opts.Flaky*float64(opts.Hosts) + 0.5)
	kind := make([]int, opts.Hosts) // 0 live, 1 dead, 2 flaky
	for i, h := range order {
		switch {
		case i < dead:
			kind[h] = 1
		case i < dead+flaky:
			kind[h] = 2
		}
	}
	for i := range opts.Hosts {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("fleet: host %d of %d: %w", i, opts.Hosts, err)
		}
		addr := ln.Addr().String()
		h := &fleetHost{FleetHost: FleetHost{Index: i, URL: "http://" + addr, Host: addr, Dead: kind[i] == 1, Flaky: kind[i] == 2}, fleet: f}
		h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		f.hosts = append(f.hosts, h)
		go h.srv.Serve(ln)
	}
	return f, nil
}

// Close stops every host, ending held requests.
func (f *Fleet) Close() {
	f.once.Do(func() {
		close(f.closing)
		var wg sync.WaitGroup
		for _, h := range f.hosts {
			wg.Add(1)
			go func() { defer wg.Done(); h.srv.Close() }()
		}
		wg.Wait()
		f.client.CloseIdleConnections()
	})
}

// Hosts lists the fleet's hosts, in order.
func (f *Fleet) Hosts() []FleetHost {
	out := make([]FleetHost, len(f.hosts))
	for i, h := range f.hosts {
		out[i] = h.FleetHost
	}
	return out
}

// ActorIRI is the IRI of user u on host i.
func (f *Fleet) ActorIRI(i, u int) string { return f.hosts[i].URL + "/users/u" + strconv.Itoa(u) }

// KeyID is the keyId of user u on host i.
func (f *Fleet) KeyID(i, u int) string { return f.ActorIRI(i, u) + "#main-key" }

// SigningKey is the key of user u on host i, to sign as that user.
func (f *Fleet) SigningKey(i, u int) (federation.SigningKey, error) {
	k, err := f.key(i*f.opts.UsersPerHost + u)
	if err != nil {
		return federation.SigningKey{}, err
	}
	return federation.SigningKey{KeyID: f.KeyID(i, u), Private: k}, nil
}

func (f *Fleet) key(n int) (*rsa.PrivateKey, error) {
	if len(f.pool) > 0 {
		return f.pool[n%len(f.pool)], nil
	}
	f.keyMu.Lock()
	defer f.keyMu.Unlock()
	if k, ok := f.keys[n]; ok {
		return k, nil
	}
	k, err := federation.GenerateKey()
	if err != nil {
		return nil, err
	}
	f.keys[n] = k
	return k, nil
}

// SignedPost POSTs body to url signed as user u of host i and returns the
// status.
func (f *Fleet) SignedPost(ctx context.Context, url string, i, u int, body []byte) (int, error) {
	key, err := f.SigningKey(i, u)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/activity+json")
	if err := federation.SignRequest(req, key, body, time.Now()); err != nil {
		return 0, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// Received returns what host i's inboxes received, oldest first.
func (f *Fleet) Received(i int) []Received {
	h := f.hosts[i]
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.received)
}

// Stats counts what the fleet received so far.
func (f *Fleet) Stats() FleetStats {
	s := FleetStats{KeyFetches: int(f.fetches.Load())}
	for _, h := range f.hosts {
		h.mu.Lock()
		for _, r := range h.received {
			s.Requests++
			switch {
			case h.Dead && r.Status == 0:
				s.Held++
			case r.Status == http.StatusServiceUnavailable:
				s.Refused++
			case r.Verified:
				s.Verified++
			default:
				s.Invalid++
			}
		}
		h.mu.Unlock()
	}
	return s
}

// Tally counts, host by host, the activities of type typ about object
// (an empty one matches any) that arrived verified and were answered 2xx.
// A host that got two such activities, or one twice, counts one duplicate.
func (f *Fleet) Tally(typ, object string) FleetTally {
	t := FleetTally{Hosts: len(f.hosts)}
	for _, h := range f.hosts {
		if h.Dead {
			continue
		}
		t.Live++
		var n int
		var first time.Time
		h.mu.Lock()
		for _, r := range h.received {
			if r.Type != typ || (object != "" && r.Object != object) {
				continue
			}
			if r.VerifyErr != "" {
				t.Invalid++
				continue
			}
			if !r.Counted() {
				continue
			}
			n++
			if first.IsZero() {
				first = r.At
			}
		}
		h.mu.Unlock()
		switch {
		case n == 0:
			t.Missing++
			if !h.Flaky {
				t.MissingSteady++
			}
			if len(t.MissingHosts) < 10 {
				t.MissingHosts = append(t.MissingHosts, h.Host)
			}
			continue
		case n == 1:
			t.Once++
		default:
			t.Duplicates += n - 1
		}
		if t.First.IsZero() || first.Before(t.First) {
			t.First = first
		}
		if first.After(t.Last) {
			t.Last = first
		}
		if !h.Flaky && first.After(t.LastSteady) {
			t.LastSteady = first
		}
	}
	return t
}

// ServeHTTP serves one host: actors, NodeInfo, the inboxes, and /sink,
// which reads a POST and answers 202 at once with no checks (for
// measuring the cost of sending alone).
func (h *fleetHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/sink":
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && (p == "/inbox" || strings.HasPrefix(p, "/users/") && strings.HasSuffix(p, "/inbox")):
		h.serveInbox(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/users/"):
		h.serveActor(w, r, strings.TrimPrefix(p, "/users/"))
	case r.Method == http.MethodGet && p == "/.well-known/nodeinfo":
		writeJSON(w, "application/json", map[string]any{"links": []map[string]string{{
			"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": h.URL + "/nodeinfo/2.0"}}})
	case r.Method == http.MethodGet && p == "/nodeinfo/2.0":
		writeJSON(w, "application/json", map[string]any{
			"version": "2.0", "software": map[string]string{"name": h.fleet.opts.Software, "version": "1.0.0"},
			"protocols": []string{"activitypub"}, "openRegistrations": false,
			"services": map[string]any{"inbound": []string{}, "outbound": []string{}},
			"usage":    map[string]any{"users": map[string]int{"total": h.fleet.opts.UsersPerHost}}, "metadata": map[string]any{},
		})
	default:
		http.NotFound(w, r)
	}
}

func (h *fleetHost) serveActor(w http.ResponseWriter, r *http.Request, name string) {
	n, err := strconv.Atoi(strings.TrimPrefix(name, "u"))
	if !strings.HasPrefix(name, "u") || err != nil || n < 0 || n >= h.fleet.opts.UsersPerHost {
		http.NotFound(w, r)
		return
	}
	k, err := h.fleet.key(h.Index*h.fleet.opts.UsersPerHost + n)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	actor := h.fleet.ActorIRI(h.Index, n)
	pemText, err := federation.EncodePublicKey(&k.PublicKey)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, "application/activity+json", map[string]any{
		"@context":          contexts,
		"id":                actor,
		"type":              "Person",
		"preferredUsername": name,
		"inbox":             actor + "/inbox",
		"outbox":            actor + "/outbox",
		"followers":         actor + "/followers",
		"endpoints":         map[string]any{"sharedInbox": h.SharedInbox()},
		"publicKey":         map[string]any{"id": actor + "#main-key", "owner": actor, "publicKeyPem": pemText},
	})
}

func (h *fleetHost) serveInbox(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec := Received{Host: h.Index, At: time.Now(), Body: body}
	var head struct {
		ID     string          `json:"id"`
		Type   string          `json:"type"`
		Object json.RawMessage `json:"object"`
	}
	if json.Unmarshal(body, &head) == nil {
		rec.ActivityID, rec.Type = head.ID, head.Type
		var o struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(head.Object, &rec.Object) != nil && json.Unmarshal(head.Object, &o) == nil {
			rec.Object = o.ID
		}
	}
	h.mu.Lock()
	first := h.requests == 0
	h.requests++
	h.mu.Unlock()

	f := h.fleet
	switch {
	case h.Dead:
		h.record(rec)
		select {
		case <-r.Context().Done():
		case <-f.closing:
		}
		return
	case h.Flaky && first, h.failing.Load():
		rec.Status = http.StatusServiceUnavailable
	default:
		_, verr := verifyRequest(r, body, f.publicKey)
		rec.Verified = verr == nil
		rec.Status = http.StatusAccepted
		if verr != nil {
			rec.VerifyErr = verr.Error()
			rec.Status = http.StatusUnauthorized
		}
	}
	h.record(rec)
	if f.opts.Latency > 0 {
		t := time.NewTimer(f.opts.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-f.closing:
			return
		}
	}
	w.WriteHeader(rec.Status)
}

func (h *fleetHost) record(r Received) {
	h.mu.Lock()
	h.received = append(h.received, r)
	h.mu.Unlock()
}

// publicKey returns the key named by keyID, fetched once for the whole
// fleet; a failed fetch is tried again by the next request.
func (f *Fleet) publicKey(ctx context.Context, keyID string) (*rsa.PublicKey, error) {
	f.pubMu.Lock()
	e, ok := f.pubKeys[keyID]
	if !ok {
		e = &pubEntry{done: make(chan struct{})}
		f.pubKeys[keyID] = e
		f.pubMu.Unlock()
		f.fetches.Add(1)
		e.key, e.err = fetchKey(context.WithoutCancel(ctx), f.client, keyID)
		if e.err != nil {
			f.pubMu.Lock()
			delete(f.pubKeys, keyID)
			f.pubMu.Unlock()
		}
		close(e.done)
	} else {
		f.pubMu.Unlock()
	}
	select {
	case <-e.done:
		return e.key, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
