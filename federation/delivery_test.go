package federation_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
	"github.com/agorafed/agora/storage/sqlite"
)

// clock is a settable clock for the delivery schedule.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type deliveryRig struct {
	db    *sqlite.DB
	local *federation.Local
	d     *federation.Deliverer
	clock *clock
}

func newDeliveryRig(t *testing.T, cfg federation.DeliveryConfig) *deliveryRig {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "agora.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// The instance actor is served on loopback so that the fake remotes
	// can fetch its key and verify what they receive.
	var docs *federation.Documents
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := docs.InstanceActor(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/activity+json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	clk := &clock{t: time.Now().UTC()}
	local := federation.NewLocal(base, db, clk.Now)
	docs = federation.NewDocuments(local, db, db, clk.Now())
	client := federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true})
	d := federation.NewDeliverer(federation.DelivererDeps{
		Config: cfg, Queue: db, Hosts: db, Gone: db, Local: local, Client: client,
		UserAgent: "agora-test", Now: clk.Now,
	})
	return &deliveryRig{db: db, local: local, d: d, clock: clk}
}

func (r *deliveryRig) enqueue(t *testing.T, inboxes ...string) {
	t.Helper()
	ctx := context.Background()
	id, err := r.db.NextOutActivityID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	iri := fmt.Sprintf("%s/announce/%d", r.local.InstanceIRI(), id)
	body := []byte(`{"@context":"https://www.w3.org/ns/activitystreams","id":"` + iri +
		`","type":"Announce","actor":"` + r.local.InstanceIRI() + `","object":"https://x.example/1"}`)
	a := federation.OutActivity{ID: id, IRI: iri,
		Type: "Announce", Signer: federation.InstanceKeyOwner, Body: body, CreatedAt: r.clock.Now()}
	if err := r.db.Enqueue(ctx, a, inboxes, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

func (r *deliveryRig) depth(t *testing.T) int {
	n, err := r.db.QueueDepth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDeliveryOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		replies   []fedtest.Reply
		steps     []time.Duration // clock advances between rounds
		wantHits  int
		wantDepth int
	}{
		{"2xx delivers at once", []fedtest.Reply{{Status: 202}}, nil, 1, 0},
		{"503 once, then delivered on the backoff schedule",
			[]fedtest.Reply{{Status: 503}, {Status: 200}}, []time.Duration{10 * time.Second, 30 * time.Second}, 2, 0},
		{"429 with Retry-After is not retried before it",
			[]fedtest.Reply{{Status: 429, Header: http.Header{"Retry-After": {"3600"}}}, {Status: 202}},
			[]time.Duration{30 * time.Minute, 31 * time.Minute}, 2, 0},
		{"408 is retried", []fedtest.Reply{{Status: 408}, {Status: 202}}, []time.Duration{time.Minute}, 2, 0},
		{"404 is permanent", []fedtest.Reply{{Status: 404}}, []time.Duration{time.Hour}, 1, 0},
		{"401 is permanent", []fedtest.Reply{{Status: 401}}, []time.Duration{time.Hour}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote := fedtest.NewServer(t, fedtest.Options{})
			remote.SetReplies("/inbox", tt.replies...)
			r := newDeliveryRig(t, federation.DeliveryConfig{})
			r.enqueue(t, remote.URL()+"/inbox")
			ctx := context.Background()
			r.d.DeliverDue(ctx)
			for _, step := range tt.steps {
				r.clock.Add(step)
				r.d.DeliverDue(ctx)
			}
			if got := remote.Hits("/inbox"); got != tt.wantHits {
				t.Errorf("remote hit %d times, want %d", got, tt.wantHits)
			}
			if got := r.depth(t); got != tt.wantDepth {
				t.Errorf("queue depth %d, want %d", got, tt.wantDepth)
			}
			// The first try is signed at the real time (later ones carry the
			// test clock's Date, hours ahead, which a peer rightly refuses).
			if got := remote.Received(); len(got) == 0 || !got[0].Verified {
				t.Errorf("delivery not verifiable: %+v", got)
			}
		})
	}
}

// A host down for two days gets its delivery when it comes back, on the
// backoff schedule; one down for seven days is marked unavailable, gets
// nothing new, and is cleared when it is heard from.
func TestDeliveryDownHosts(t *testing.T) {
	ctx := context.Background()
	remote := fedtest.NewServer(t, fedtest.Options{})
	remote.SetReplies("/inbox", fedtest.Reply{Status: 503})
	r := newDeliveryRig(t, federation.DeliveryConfig{})
	r.enqueue(t, remote.URL()+"/inbox")
	start := r.clock.Now()
	// Down for two days: retried on the schedule, never dropped.
	for r.clock.Now().Sub(start) < 48*time.Hour {
		r.d.DeliverDue(ctx)
		r.clock.Add(10 * time.Minute)
	}
	tries := remote.Hits("/inbox")
	// Sidekiq's n^4+15+jitter: the 16th try comes after about 35.5 h, the
	// 17th after about 49.6 h.
	if tries != 16 {
		t.Fatalf("tries in two days = %d, want 16", tries)
	}
	if r.depth(t) != 1 {
		t.Fatalf("delivery dropped while the host was down")
	}
	remote.SetReplies("/inbox", fedtest.Reply{Status: 202})
	for i := 0; i < 48 && r.depth(t) > 0; i++ {
		r.clock.Add(time.Hour)
		r.d.DeliverDue(ctx)
	}
	if r.depth(t) != 0 {
		t.Fatalf("delivery not made after the host came back")
	}

	// Seven days of failures: unavailable.
	down := fedtest.NewServer(t, fedtest.Options{})
	down.SetReplies("/inbox", fedtest.Reply{Status: 500})
	host := mustHost(down.URL())
	r2 := newDeliveryRig(t, federation.DeliveryConfig{MaxAttempts: 1000})
	for day := 0; day <= 8; day++ {
		r2.enqueue(t, down.URL()+"/inbox")
		for h := 0; h < 24; h += 6 {
			r2.d.DeliverDue(ctx)
			r2.clock.Add(6 * time.Hour)
		}
	}
	hosts, _ := r2.db.UnavailableHosts(ctx)
	if len(hosts) != 1 || hosts[0] != host {
		t.Fatalf("unavailable hosts %v, want [%s]", hosts, host)
	}
	before := down.Hits("/inbox")
	r2.enqueue(t, down.URL()+"/inbox")
	r2.clock.Add(30 * 24 * time.Hour)
	r2.d.DeliverDue(ctx)
	if down.Hits("/inbox") != before {
		t.Fatalf("unavailable host was sent deliveries")
	}
	down.SetReplies("/inbox", fedtest.Reply{Status: 202})
	r2.d.HostAlive(host)
	r2.d.DeliverDue(ctx)
	if down.Hits("/inbox") == before || r2.depth(t) != 0 {
		t.Fatalf("host cleared but queue not delivered: hits %d->%d depth %d", before, down.Hits("/inbox"), r2.depth(t))
	}
}

// A dead host never delays the others.
func TestDeliveryDeadHostDoesNotBlockOthers(t *testing.T) {
	ctx := context.Background()
	dead := fedtest.NewServer(t, fedtest.Options{})
	dead.SetReplies("/inbox", fedtest.Reply{Delay: 5 * time.Second})
	var live []*fedtest.Server
	r := newDeliveryRig(t, federation.DeliveryConfig{PerHost: 2, Workers: 8, RequestTimeout: 3 * time.Second, ShutdownTimeout: 100 * time.Millisecond})
	for i := 0; i < 10; i++ {
		r.enqueue(t, dead.URL()+"/inbox")
	}
	for i := 0; i < 20; i++ {
		s := fedtest.NewServer(t, fedtest.Options{})
		live = append(live, s)
		r.enqueue(t, s.URL()+"/inbox")
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(2 * time.Second)
	for _, s := range live {
		for s.Hits("/inbox") == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("live hosts waited behind the dead one")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if n := dead.Hits("/inbox"); n > 2 {
		t.Fatalf("dead host had %d deliveries in flight, per-host cap is 2", n)
	}
}

// A 410 from a member's own inbox removes the member.
func TestDeliveryGoneRemovesMember(t *testing.T) {
	ctx := context.Background()
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}})
	remote.SetReplies("/users/alice/inbox", fedtest.Reply{Status: 410})
	r := newDeliveryRig(t, federation.DeliveryConfig{})
	c := community.Community{Name: "garden", Title: "G", CreatedAt: r.clock.Now(), UpdatedAt: r.clock.Now()}
	r.db.CreateCommunity(ctx, &c)
	alice := remote.ActorIRI("alice")
	r.db.SaveMember(ctx, community.Member{CommunityID: c.ID, Actor: alice, State: community.Joined, CreatedAt: r.clock.Now(), UpdatedAt: r.clock.Now()})
	r.db.PutRemoteActor(ctx, federation.RemoteActor{ID: alice, Inbox: alice + "/inbox", FetchedAt: r.clock.Now()})
	r.enqueue(t, alice+"/inbox")
	r.d.DeliverDue(ctx)
	if n, _ := r.db.CountMembers(ctx, c.ID, community.Joined); n != 0 {
		t.Fatalf("member with a gone inbox kept")
	}
	if r.depth(t) != 0 {
		t.Fatalf("410 delivery not dropped")
	}
}

func TestBackoffSchedule(t *testing.T) {
	var total time.Duration
	for n := 0; n < 16; n++ {
		b := federation.Backoff(n)
		lo := time.Duration(n*n*n*n+15) * time.Second
		hi := lo + time.Duration(9*(n+1))*time.Second
		if b < lo || b > hi {
			t.Fatalf("Backoff(%d) = %v, want %v..%v", n, b, lo, hi)
		}
		total += b
	}
	if total < 40*time.Hour || total > 72*time.Hour {
		t.Fatalf("16 retries span %v, want about 2 days", total)
	}
}

func mustHost(raw string) string {
	u, _ := url.Parse(raw)
	return u.Host
}

// Dead hosts with a backlog cannot hold every worker: once a host has
// failed, it gets one delivery in flight at a time.
func TestDeliveryDeadBacklogsDoNotStarveOthers(t *testing.T) {
	ctx := context.Background()
	r := newDeliveryRig(t, federation.DeliveryConfig{PerHost: 4, Workers: 8, RequestTimeout: time.Second,
		ShutdownTimeout: 100 * time.Millisecond})
	for i := 0; i < 2; i++ {
		dead := fedtest.NewServer(t, fedtest.Options{})
		dead.SetReplies("/inbox", fedtest.Reply{Delay: 10 * time.Second})
		for j := 0; j < 20; j++ {
			r.enqueue(t, dead.URL()+"/inbox")
		}
	}
	var live []*fedtest.Server
	for i := 0; i < 20; i++ {
		s := fedtest.NewServer(t, fedtest.Options{})
		live = append(live, s)
		r.enqueue(t, s.URL()+"/inbox")
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// Without the cap, 40 dead deliveries take 5 rounds of 1 s timeouts
	// before a live host is served.
	deadline := time.Now().Add(3 * time.Second)
	for _, s := range live {
		for s.Hits("/inbox") == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("live hosts starved behind dead hosts' backlogs")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// countingHosts counts the writes of successes the Deliverer makes.
type countingHosts struct {
	*sqlite.DB
	mu        sync.Mutex
	succeeded []string
}

func (c *countingHosts) HostSucceeded(ctx context.Context, host string) error {
	c.mu.Lock()
	c.succeeded = append(c.succeeded, host)
	c.mu.Unlock()
	return c.DB.HostSucceeded(ctx, host)
}

// A success writes only what it clears: a host with a failure on record
// from before the start is cleared by its first success; hosts with none
// cost no write (a fan-out to 2,000 new hosts made 2,000 writes).
func TestDeliverySuccessWritesOnlyToClear(t *testing.T) {
	ctx := context.Background()
	r := newDeliveryRig(t, federation.DeliveryConfig{Workers: 4, PerHost: 1})
	var peers []*fedtest.Server
	for range 3 {
		peers = append(peers, fedtest.NewServer(t, fedtest.Options{}))
	}
	hostOf := func(p *fedtest.Server) string { u, _ := url.Parse(p.URL()); return u.Host }
	// The first peer failed before this start.
	if _, err := r.db.HostFailed(ctx, hostOf(peers[0]), r.clock.Now().Add(-time.Hour), "status 503"); err != nil {
		t.Fatal(err)
	}
	hosts := &countingHosts{DB: r.db}
	d := federation.NewDeliverer(federation.DelivererDeps{
		Config: federation.DeliveryConfig{Workers: 4, PerHost: 1}, Queue: r.db, Hosts: hosts, Gone: r.db,
		Local: r.local, Client: federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true}),
		UserAgent: "agora-test", Now: r.clock.Now,
	})
	for _, p := range peers {
		r.enqueue(t, p.URL()+"/inbox")
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for r.depth(t) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := r.depth(t); n != 0 {
		t.Fatalf("queue depth %d, want 0", n)
	}
	failing, err := r.db.FailingHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(failing) != 0 {
		t.Errorf("failing hosts after successes: %v", failing)
	}
	hosts.mu.Lock()
	defer hosts.mu.Unlock()
	if len(hosts.succeeded) != 1 || hosts.succeeded[0] != hostOf(peers[0]) {
		t.Errorf("successes written for %v, want only %s", hosts.succeeded, hostOf(peers[0]))
	}
}

// countingQueue counts the Deliverer's claims.
type countingQueue struct {
	*sqlite.DB
	claims atomic.Int32
}

func (c *countingQueue) ClaimDue(ctx context.Context, now time.Time, limit, perHost int, lease time.Duration, skip ...string) ([]federation.Delivery, error) {
	c.claims.Add(1)
	return c.DB.ClaimDue(ctx, now, limit, perHost, lease, skip...)
}

// Once a claim has taken everything due, the workers do not claim again
// for every delivery that finishes (at the end of a fan-out that was an
// empty claim per host); they claim again when woken, and at once when a
// claim may have left something due (a host cut at its limit). Poll is an
// hour: anything that waited for it would not be delivered in the test.
func TestDeliveryClaimsWhatIsDueOnce(t *testing.T) {
	tests := []struct {
		name       string
		hosts      int // one delivery each
		backlog    int // deliveries to one more host
		maxClaims  int32
		thenNotify int // deliveries queued once all are done, then Notify
	}{
		{"one delivery to each of 30 hosts", 30, 0, 2, 0},
		// Cut at its limit (2 x PerHost a claim), the host's backlog is
		// claimed again as its deliveries finish, not at the next Poll:
		// at most a claim per delivery.
		{"a host's backlog beyond its claim limit", 0, 13, 13, 0},
		{"queued after everything was claimed, then notified", 10, 0, 4, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := federation.DeliveryConfig{Workers: 64, PerHost: 2, Poll: time.Hour, ShutdownTimeout: 100 * time.Millisecond}
			r := newDeliveryRig(t, cfg)
			q := &countingQueue{DB: r.db}
			d := federation.NewDeliverer(federation.DelivererDeps{
				Config: cfg, Queue: q, Hosts: r.db, Gone: r.db, Local: r.local,
				Client: federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true}), UserAgent: "agora-test", Now: r.clock.Now,
			})
			var peers []*fedtest.Server
			for range tt.hosts {
				p := fedtest.NewServer(t, fedtest.Options{})
				peers = append(peers, p)
				r.enqueue(t, p.URL()+"/inbox")
			}
			big := fedtest.NewServer(t, fedtest.Options{})
			for i := range tt.backlog {
				r.enqueue(t, fmt.Sprintf("%s/users/u%d/inbox", big.URL(), i))
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- d.Run(runCtx) }()
			defer func() { cancel(); <-done }()
			waitEmpty := func() {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for r.depth(t) > 0 {
					if time.Now().After(deadline) {
						t.Fatalf("%d deliveries left after 10 s (Poll is an hour)", r.depth(t))
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			waitEmpty()
			if tt.thenNotify > 0 {
				for range tt.thenNotify {
					r.enqueue(t, peers[0].URL()+"/inbox")
				}
				d.Notify()
				waitEmpty()
			}
			var hits int
			for _, p := range peers {
				hits += p.Hits("/inbox")
			}
			for i := range tt.backlog {
				hits += big.Hits(fmt.Sprintf("/users/u%d/inbox", i))
			}
			if want := tt.hosts + tt.backlog + tt.thenNotify; hits != want {
				t.Errorf("%d deliveries arrived, want %d", hits, want)
			}
			t.Logf("%d claims", q.claims.Load())
			if n := q.claims.Load(); n > tt.maxClaims {
				t.Errorf("%d claims, want at most %d", n, tt.maxClaims)
			}
		})
	}
}
