package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

// cmdBenchSoak is `agora-bench soak`: loopback actors join, post, edit,
// delete and leave for a while, some of their servers failing; then, once
// everything has settled, what Agora stored and what every server
// received must agree exactly, and the process must hold no more
// goroutines and file descriptors than at the start, give or take a few.
//
// One driver sends the activities one after the other, each once the
// one before has been processed (a 202 says recorded, not processed:
// activities of different actors are processed concurrently, so a Follow
// sent before a post could be applied after it), so the inbox applies
// them in the order sent and the driver's model knows who was a member
// when each post was decided.
func cmdBenchSoak(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("bench soak", flag.ContinueOnError)
	bf := addBenchFlags(fs, env)
	actors := fs.Int("actors", 200, "remote actors")
	hosts := fs.Int("hosts", 40, "remote servers the actors are spread over")
	duration := fs.Duration("duration", time.Minute, "how long the actors act")
	rate := fs.Float64("rate", 20, "activities sent per second")
	failing := fs.Float64("failing", 0.05, "fraction of the members' servers that answer 503 until the settle phase")
	settle := fs.Duration("settle", time.Minute, "how long the settle phase may take at most")
	seed := fs.Uint64("seed", 1, "seed of the actors' choices")
	maxGrowth := fs.Int("max-growth", 16, "goroutines and open files allowed beyond those at the start")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := bf.check(); err != nil {
		return err
	}
	if *hosts < 2 || *actors < *hosts || *rate <= 0 || *failing < 0 || *failing > 0.5 {
		return usageError{Msg: "soak: need --hosts >= 2, --actors >= --hosts, --rate > 0, --failing in [0, 0.5]"}
	}
	ctx, cancel := context.WithTimeout(ctx, *duration+*settle+5*time.Minute)
	defer cancel()
	perHost := (*actors + *hosts - 1) / *hosts
	fmt.Fprintf(stdout, "soak: %d actors on %d hosts, %v at %.0f activities/s, %.0f%% of member hosts failing\n",
		*actors, *hosts, *duration, *rate, *failing*100)

	fleet, err := fedtest.StartFleet(fedtest.FleetOptions{Hosts: *hosts, UsersPerHost: perHost, KeyPool: 4, Seed: *seed})
	if err != nil {
		return err
	}
	defer fleet.Close()
	// The posting rate limit would refuse some posts; the soak checks
	// the rest of the rules.
	soakEnv := func(k string) string {
		if k == "AGORA_POSTING_RATE_POSTS" && env(k) == "" {
			return "0"
		}
		return env(k)
	}
	b, err := startBenchServer(ctx, bf, soakEnv, stderr)
	if err != nil {
		return err
	}
	defer func() { b.stop(*bf.keep, stderr) }()
	c, err := b.App.CreateCommunity(ctx, community.Community{Name: "bench", Title: "Bench"})
	if err != nil {
		return err
	}
	s := newSoak(fleet, b.App.Local.CommunityIRI(c.Name), b.App.Local.SharedInbox(), *actors, perHost, *failing, *seed)
	s.processed = func(ctx context.Context) error {
		return waitFor(ctx, 30*time.Second, func() (bool, error) {
			due, _, err := b.App.DB.Busy(ctx, time.Now())
			return due == 0, err
		})
	}
	g0, f0 := settledCounts(b.App)
	fmt.Fprintf(stdout, "start: %d goroutines, %d open files\n", g0, f0)

	// Act.
	for _, h := range s.failing {
		fleet.SetFailing(h, true)
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / *rate)
	for i := 0; time.Since(start) < *duration; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if err := s.step(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "acted: %d activities in %v (%s)\n", s.sent, time.Since(start).Round(time.Millisecond), s.counts())

	// Settle: the failing hosts come back; Agora finishes its inbox, is
	// restarted (SIGTERM's path), and the retries waiting for their
	// backoff are made due, as if the hours of backoff had passed.
	settleStart := time.Now()
	for _, h := range s.failing {
		fleet.SetFailing(h, false)
	}
	if err := waitFor(ctx, *settle, func() (bool, error) { return inboxDone(ctx, b.App) }); err != nil {
		return fmt.Errorf("bench soak: inbox not processed: %w", err)
	}
	retried, err := restartDue(ctx, b, stderr)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, *settle, func() (bool, error) {
		n, err := b.App.DB.QueueDepth(ctx)
		return n == 0, err
	}); err != nil {
		n, _ := b.App.DB.QueueDepth(ctx)
		return fmt.Errorf("bench soak: %d deliveries still queued after %v: %w", n, *settle, err)
	}
	fmt.Fprintf(stdout, "settled in %v (%d retries brought forward)\n", time.Since(settleStart).Round(time.Millisecond), retried)

	// Check.
	stateErrs, err := s.checkState(ctx, b.App, c)
	if err != nil {
		return err
	}
	rc := s.checkReceived(ctx, b.App, c)
	g1, f1 := settledCounts(b.App)
	fmt.Fprintf(stdout, "end: %d goroutines, %d open files\n", g1, f1)
	var problems []string
	problems = append(problems, stateErrs...)
	problems = append(problems, rc.problems...)
	if g1-g0 > *maxGrowth {
		problems = append(problems, fmt.Sprintf("goroutines grew from %d to %d", g0, g1))
	}
	if f1-f0 > *maxGrowth {
		problems = append(problems, fmt.Sprintf("open files grew from %d to %d", f0, f1))
	}
	fmt.Fprintf(stdout, "state: %d members, %d posts (%d announced, %d withdrawn), %d mismatches with the model\n",
		len(s.members), len(s.posts), s.nAnnounced(), s.nWithdrawn(), len(stateErrs))
	fmt.Fprintf(stdout, "received: %d expected deliveries, %d arrived once, %d missing, %d duplicates, %d unexpected, %d bad signatures, %d refused (503)\n",
		rc.expected, rc.once, rc.missing, rc.dups, rc.unexpected, rc.invalid, fleet.Stats().Refused)
	for i, p := range problems {
		if i == 10 {
			fmt.Fprintf(stdout, "... and %d more\n", len(problems)-10)
			break
		}
		fmt.Fprintln(stdout, "PROBLEM:", p)
	}
	printJSON(stdout, map[string]any{
		"bench": "soak", "actors": *actors, "hosts": *hosts, "failing_hosts": len(s.failing),
		"duration_s": secs(*duration), "activities": s.sent, "joins": s.n["join"], "leaves": s.n["leave"],
		"posts": s.n["post"], "edits": s.n["edit"], "deletes": s.n["delete"],
		"members": len(s.members), "announced": s.nAnnounced(), "withdrawn": s.nWithdrawn(),
		"expected": rc.expected, "once": rc.once, "missing": rc.missing, "dup": rc.dups,
		"unexpected": rc.unexpected, "invalid": rc.invalid, "state_mismatches": len(stateErrs),
		"retried": retried, "settle_s": secs(time.Since(settleStart)),
		"goroutines_start": g0, "goroutines_end": g1, "fds_start": f0, "fds_end": f1,
		"ok": len(problems) == 0,
	})
	if len(problems) > 0 {
		return fmt.Errorf("bench soak: %d problems", len(problems))
	}
	return nil
}

// soak is the driver and its model of what should have happened.
type soak struct {
	fleet   *fedtest.Fleet
	group   string
	inbox   string
	rng     *rand.Rand
	actors  []soakActor
	failing []int // hosts that fail until the settle phase

	members map[int]bool // actor -> member now
	posts   []*soakPost
	follows map[string]int // follow id -> host, each expecting one Accept
	sent    int
	n       map[string]int
	// processed waits until the inbox has processed what it recorded and
	// is due (a failed activity waiting for its retry is not waited for).
	processed func(context.Context) error
}

type soakActor struct {
	host, user int
	iri        string
	lurker     bool // never joins; its host must receive nothing
}

type soakPost struct {
	id       string
	author   int
	member   bool // the author was a member when it was decided
	content  string
	deleted  bool
	annHosts map[int]bool // member hosts when announced
	delHosts map[int]bool // member hosts when deleted
}

func newSoak(f *fedtest.Fleet, group, inbox string, actors, perHost int, failing float64, seed uint64) *soak {
	s := &soak{fleet: f, group: group, inbox: inbox, rng: rand.New(rand.NewPCG(seed, seed+1)),
		members: map[int]bool{}, follows: map[string]int{}, n: map[string]int{}}
	hosts := f.Hosts()
	for a := range actors {
		h, u := a%len(hosts), a/len(hosts)
		// Every tenth host's actors never join.
		s.actors = append(s.actors, soakActor{host: h, user: u, iri: f.ActorIRI(h, u), lurker: h%10 == 9})
	}
	var joiners []int
	for _, h := range hosts {
		if h.Index%10 != 9 {
			joiners = append(joiners, h.Index)
		}
	}
	s.rng.Shuffle(len(joiners), func(i, j int) { joiners[i], joiners[j] = joiners[j], joiners[i] })
	s.failing = joiners[:int(failing*float64(len(joiners))+0.5)]
	return s
}

func (s *soak) counts() string {
	return fmt.Sprintf("%d joins, %d leaves, %d posts, %d edits, %d deletes",
		s.n["join"], s.n["leave"], s.n["post"], s.n["edit"], s.n["delete"])
}

// memberHosts are the hosts with a member now.
func (s *soak) memberHosts() map[int]bool {
	out := map[int]bool{}
	for a, ok := range s.members {
		if ok {
			out[s.actors[a].host] = true
		}
	}
	return out
}

// step sends one activity, chosen at random among those that make sense.
func (s *soak) step(ctx context.Context) error {
	var live []*soakPost
	for _, p := range s.posts {
		if !p.deleted {
			live = append(live, p)
		}
	}
	var outside, inside []int
	for a, act := range s.actors {
		switch {
		case s.members[a]:
			inside = append(inside, a)
		case !act.lurker:
			outside = append(outside, a)
		}
	}
	r := s.rng.IntN(100)
	switch {
	case r < 15 && len(outside) > 0 || len(inside) == 0:
		return s.join(ctx, outside[s.rng.IntN(len(outside))])
	case r < 23:
		return s.leave(ctx, inside[s.rng.IntN(len(inside))])
	case r < 63 || len(live) == 0:
		a := inside[s.rng.IntN(len(inside))]
		if s.rng.IntN(10) == 0 { // someone who is not a member
			a = s.rng.IntN(len(s.actors))
		}
		return s.post(ctx, a)
	case r < 85:
		return s.edit(ctx, live[s.rng.IntN(len(live))])
	default:
		return s.delete(ctx, live[s.rng.IntN(len(live))])
	}
}

func (s *soak) send(ctx context.Context, a int, kind string, doc map[string]any) error {
	doc["@context"] = "https://www.w3.org/ns/activitystreams"
	body, _ := json.Marshal(doc)
	act := s.actors[a]
	code, err := s.fleet.SignedPost(ctx, s.inbox, act.host, act.user, body)
	if err != nil {
		return fmt.Errorf("bench soak: %s: %w", kind, err)
	}
	if code != http.StatusAccepted {
		return fmt.Errorf("bench soak: %s by %s: status %d", kind, act.iri, code)
	}
	if s.processed != nil {
		if err := s.processed(ctx); err != nil {
			return fmt.Errorf("bench soak: %s by %s not processed: %w", kind, act.iri, err)
		}
	}
	s.sent++
	s.n[kind]++
	return nil
}

func (s *soak) followID(a int) string {
	return fmt.Sprintf("%s/follows/%d", s.actors[a].iri, s.n["join"])
}

func (s *soak) join(ctx context.Context, a int) error {
	id := s.followID(a)
	if err := s.send(ctx, a, "join", map[string]any{"id": id, "type": "Follow", "actor": s.actors[a].iri, "object": s.group}); err != nil {
		return err
	}
	s.members[a] = true
	s.follows[id] = s.actors[a].host
	return nil
}

func (s *soak) leave(ctx context.Context, a int) error {
	iri := s.actors[a].iri
	if err := s.send(ctx, a, "leave", map[string]any{"id": fmt.Sprintf("%s/undo/%d", iri, s.sent), "type": "Undo", "actor": iri,
		"object": map[string]any{"type": "Follow", "actor": iri, "object": s.group}}); err != nil {
		return err
	}
	delete(s.members, a)
	return nil
}

func (s *soak) note(p *soakPost) map[string]any {
	iri := s.actors[p.author].iri
	return map[string]any{
		"id": p.id, "type": "Note", "attributedTo": iri, "content": p.content,
		"to": []string{federation.PublicCollection}, "cc": []string{iri + "/followers", s.group},
		"tag": []map[string]string{{"type": "Mention", "href": s.group, "name": "@bench"}},
	}
}

func (s *soak) post(ctx context.Context, a int) error {
	iri := s.actors[a].iri
	p := &soakPost{id: fmt.Sprintf("%s/statuses/%d", iri, s.sent), author: a, member: s.members[a]}
	p.content = fmt.Sprintf("<p>post %d</p>", s.sent)
	n := s.note(p)
	n["published"] = time.Now().UTC().Format(time.RFC3339)
	if err := s.send(ctx, a, "post", map[string]any{"id": p.id + "/activity", "type": "Create", "actor": iri,
		"to": n["to"], "cc": n["cc"], "object": n}); err != nil {
		return err
	}
	if p.member {
		p.annHosts = s.memberHosts()
	}
	s.posts = append(s.posts, p)
	return nil
}

func (s *soak) edit(ctx context.Context, p *soakPost) error {
	iri := s.actors[p.author].iri
	p.content = fmt.Sprintf("<p>post edited at %d</p>", s.sent)
	n := s.note(p)
	n["updated"] = time.Now().UTC().Format(time.RFC3339Nano)
	return s.send(ctx, p.author, "edit", map[string]any{"id": fmt.Sprintf("%s#updates/%d", p.id, s.sent), "type": "Update",
		"actor": iri, "to": n["to"], "cc": n["cc"], "object": n})
}

func (s *soak) delete(ctx context.Context, p *soakPost) error {
	iri := s.actors[p.author].iri
	if err := s.send(ctx, p.author, "delete", map[string]any{"id": p.id + "#delete", "type": "Delete", "actor": iri,
		"to": []string{federation.PublicCollection}, "object": map[string]any{"id": p.id, "type": "Tombstone"}}); err != nil {
		return err
	}
	p.deleted = true
	if p.member {
		p.delHosts = s.memberHosts()
	}
	return nil
}

func (s *soak) nAnnounced() (n int) {
	for _, p := range s.posts {
		if p.member {
			n++
		}
	}
	return n
}

func (s *soak) nWithdrawn() (n int) {
	for _, p := range s.posts {
		if p.member && p.deleted {
			n++
		}
	}
	return n
}

// checkState compares what Agora stored with the model: members, posts
// with their decisions, content and deletion, and their Announces.
func (s *soak) checkState(ctx context.Context, a *agora.App, c community.Community) ([]string, error) {
	var errs []string
	stored := map[string]bool{}
	after := ""
	for {
		ms, err := a.Svc.Members(ctx, c, community.Joined, after, 500)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			stored[m.Actor] = true
		}
		if len(ms) < 500 {
			break
		}
		after = ms[len(ms)-1].Actor
	}
	for i, act := range s.actors {
		if s.members[i] != stored[act.iri] {
			errs = append(errs, fmt.Sprintf("member %s: model %v, stored %v", act.iri, s.members[i], stored[act.iri]))
		}
	}
	for _, p := range s.posts {
		sp, err := a.DB.PostByObject(ctx, c.ID, p.id)
		if err != nil {
			errs = append(errs, fmt.Sprintf("post %s: %v", p.id, err))
			continue
		}
		if want := map[bool]community.Decision{true: community.Announce, false: community.Refuse}[p.member]; sp.Decision != want {
			errs = append(errs, fmt.Sprintf("post %s: decision %s (%s), want %s", p.id, sp.Decision, sp.Reason, want))
		}
		if p.deleted != !sp.DeletedAt.IsZero() {
			errs = append(errs, fmt.Sprintf("post %s: deleted %v, want %v", p.id, !sp.DeletedAt.IsZero(), p.deleted))
		}
		if !p.deleted && !strings.Contains(sp.Content, strings.TrimSuffix(strings.TrimPrefix(p.content, "<p>"), "</p>")) {
			errs = append(errs, fmt.Sprintf("post %s: content %q, want %q", p.id, sp.Content, p.content))
		}
		refs, err := a.DB.Announces(ctx, sp.ID)
		if err != nil {
			return nil, err
		}
		var live, withdrawn int
		for _, r := range refs {
			if r.Dialect != federation.Microblog {
				continue
			}
			if r.WithdrawnAt.IsZero() {
				live++
			} else {
				withdrawn++
			}
		}
		want := [2]int{}
		if p.member && !p.deleted {
			want[0] = 1
		} else if p.member {
			want[1] = 1
		}
		if [2]int{live, withdrawn} != want {
			errs = append(errs, fmt.Sprintf("post %s: %d live and %d withdrawn Announces, want %d and %d", p.id, live, withdrawn, want[0], want[1]))
		}
	}
	return errs, nil
}

// soakReceived is what the check of the fleet's receptions found.
type soakReceived struct {
	expected, once, missing, dups, unexpected, invalid int
	problems                                           []string
}

// checkReceived compares, host by host, the activities that arrived
// (verified, answered 2xx) with those the model expects: an Accept per
// Follow, an Announce per post decided while the host had a member, an
// Undo of that Announce per such post deleted while it had one; nothing
// else, and each exactly once.
func (s *soak) checkReceived(ctx context.Context, a *agora.App, c community.Community) soakReceived {
	var rc soakReceived
	problem := func(f string, args ...any) {
		rc.problems = append(rc.problems, fmt.Sprintf(f, args...))
	}
	want := make([]map[string]int, len(s.fleet.Hosts())) // host -> "type object" -> expected count
	for i := range want {
		want[i] = map[string]int{}
	}
	for id, h := range s.follows {
		want[h]["Accept "+id]++
	}
	for _, p := range s.posts {
		for h := range p.annHosts {
			want[h]["Announce "+p.id]++
		}
		if len(p.delHosts) == 0 {
			continue
		}
		sp, err := a.DB.PostByObject(ctx, c.ID, p.id)
		if err != nil {
			continue // reported by checkState
		}
		refs, _ := a.DB.Announces(ctx, sp.ID)
		for _, r := range refs {
			if r.Dialect == federation.Microblog {
				for h := range p.delHosts {
					want[h]["Undo "+r.Activity.IRI]++
				}
			}
		}
	}
	for h := range want {
		got := map[string]int{}
		for _, r := range s.fleet.Received(h) {
			if r.VerifyErr != "" {
				rc.invalid++
				problem("host %d: bad signature on %s %s: %s", h, r.Type, r.ActivityID, r.VerifyErr)
				continue
			}
			if r.Counted() {
				got[r.Type+" "+r.Object]++
			}
		}
		if s.actors[h].lurker && len(got) > 0 {
			problem("host %d never had a member and received %d kinds of activity", h, len(got))
		}
		for k, n := range want[h] {
			rc.expected += n
			switch g := got[k]; {
			case g == 0:
				rc.missing++
				problem("host %d: missing %s", h, k)
			case g > n:
				rc.once++
				rc.dups += g - n
				problem("host %d: %s %d times", h, k, g)
			default:
				rc.once++
			}
		}
		for k, g := range got {
			if want[h][k] == 0 {
				rc.unexpected += g
				problem("host %d: unexpected %s", h, k)
			}
		}
	}
	return rc
}

// inboxDone tells whether the inbox has processed all it recorded.
func inboxDone(ctx context.Context, a *agora.App) (bool, error) {
	n, err := a.DB.UnprocessedCount(ctx)
	return n == 0, err
}

// restartDue stops Agora as SIGTERM does, makes every queued delivery due
// now (the retries of the failing hosts wait minutes to hours), and
// starts it again on the same data dir and address. It returns how many
// deliveries it brought forward.
func restartDue(ctx context.Context, b *benchServer, stderr io.Writer) (int, error) {
	cfg := b.App.Cfg
	b.Stop()
	a, err := agora.Open(ctx, cfg, agora.NewLogger(cfg, stderr), nil, false)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	ds, err := a.DB.ClaimDue(ctx, now.Add(365*24*time.Hour), 1<<30, 1<<30, 0)
	for _, d := range ds {
		if err == nil {
			err = a.DB.RetryDelivery(ctx, d.ID, d.Attempts, now, d.LastError)
		}
	}
	a.Close()
	if err != nil {
		return 0, fmt.Errorf("bench soak: bring retries forward: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return 0, err
	}
	srv, err := agora.Start(ctx, cfg, agora.NewLogger(cfg, stderr), ln)
	if err != nil {
		ln.Close()
		return 0, err
	}
	b.Server = srv
	return len(ds), nil
}

// waitFor polls cond every 50 ms for at most d.
func waitFor(ctx context.Context, d time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// settledCounts counts goroutines and open files once idle keep-alive
// connections are closed (a pool of idle connections is not a leak),
// taking the least of a few readings a moment apart, as connections and
// their goroutines take a moment to go.
func settledCounts(a *agora.App) (goroutines, files int) {
	goroutines, files = 1<<30, 1<<30
	for range 10 {
		a.Client.CloseIdleConnections()
		goroutines = min(goroutines, runtime.NumGoroutine())
		if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
			files = min(files, len(fds))
		} else {
			files = 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	return goroutines, files
}
