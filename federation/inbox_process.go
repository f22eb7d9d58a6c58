package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Processing recorded activities (docs/architecture.md, "Inbox
// processing").
//
// A dispatcher reads the recorded activities in arrival order (the inbox
// row's id) and gives each to a scheduler; a pool of workers applies them.
// The scheduler keeps, for each ordering key, the queue of the activities
// that have it, in the order they were dispatched. An activity runs once
// it heads the queue of every key it has, and leaves them when it is done.
// The keys (orderKeys) are its actor, and the post it is about: one
// actor's activities apply one after the other in arrival order (a Follow
// before its Undo, a Create before its Update or Delete), and so do
// several actors' activities about one post (a Create and the Likes and
// replies of others, a forwarded Create and its author's Delete); the rest
// run at the same time. Not ordered, so as on any server: whether a member
// who joins as a post is announced is among its recipients. It
// cannot deadlock: every queue is in dispatch order, so the earliest
// activity not yet done heads all of its queues.
//
// No transaction is held while an activity waits on the network: the
// store's methods each commit before they return, and handlers fetch what
// they need (actors, origin objects, NodeInfo) before they write. An
// activity whose origin does not answer holds only its own keys, and its
// worker, for at most a fetch's deadline; the Fetcher remembers a failing
// host, so the next activities naming it fail at once and are retried on
// their schedule, never holding anyone else up.

// DefaultInboxWorkers is the size of the processing pool when none is
// configured: 8 per core (GOMAXPROCS). An activity mostly waits, on the
// database's one writer or on a peer; 8 per core keeps the cores busy
// while some of them wait, without a crowd on the writer.
func DefaultInboxWorkers() int { return 8 * runtime.GOMAXPROCS(0) }

// maxDispatched bounds the activities dispatched and not done, per worker:
// what a backlog keeps in memory beyond what the workers hold.
const maxDispatched = 16

// dispatchPage is how many recorded activities one read of the queue takes.
const dispatchPage = 100

// task is one recorded activity in the scheduler.
type task struct {
	it       InboxItem
	act      *Object // nil when the body does not parse (parseErr)
	parseErr error
	keys     []string
	blocked  int // keys whose queue it does not head yet
}

// scheduler orders tasks by their keys (see the top of this file). It is
// safe for concurrent use.
type scheduler struct {
	mu       sync.Mutex
	cond     *sync.Cond // a task became ready, one finished, or it closed
	queues   map[string][]*task
	ready    []*task
	inFlight map[int64]bool // tasks dispatched and not done, by item id
	max      int
	closed   bool
}

func newScheduler(max int) *scheduler {
	s := &scheduler{queues: map[string][]*task{}, inFlight: map[int64]bool{}, max: max}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// has tells whether the item is dispatched and not done.
func (s *scheduler) has(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight[id]
}

// add dispatches t, waiting while max tasks are in flight. It returns
// false once the scheduler is closed.
func (s *scheduler) add(t *task) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.inFlight) >= s.max && !s.closed {
		s.cond.Wait()
	}
	if s.closed {
		return false
	}
	s.inFlight[t.it.ID] = true
	for _, k := range t.keys {
		q := s.queues[k]
		if len(q) > 0 {
			t.blocked++
		}
		s.queues[k] = append(q, t)
	}
	if t.blocked == 0 {
		s.ready = append(s.ready, t)
		s.cond.Broadcast()
	}
	return true
}

// next waits for a task that may run; nil once the scheduler is closed.
func (s *scheduler) next() *task {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.ready) == 0 && !s.closed {
		s.cond.Wait()
	}
	if s.closed {
		return nil
	}
	t := s.ready[0]
	s.ready[0] = nil
	s.ready = s.ready[1:]
	return t
}

// done takes t out of its queues; the tasks that now head all of theirs
// may run.
func (s *scheduler) done(t *task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inFlight, t.it.ID)
	for _, k := range t.keys {
		q := s.queues[k][1:] // t heads it
		if len(q) == 0 {
			delete(s.queues, k)
			continue
		}
		s.queues[k] = q
		n := q[0]
		n.blocked--
		if n.blocked == 0 {
			s.ready = append(s.ready, n)
		}
	}
	s.cond.Broadcast()
}

// waitIdle waits until no task is in flight, or the scheduler is closed.
func (s *scheduler) waitIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.inFlight) > 0 && !s.closed {
		s.cond.Wait()
	}
}

// close wakes every waiter; workers stop taking tasks.
func (s *scheduler) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.cond.Broadcast()
}

// orderKeys are the keys that order an activity (see the top of this
// file): its actor; the post it creates, edits or deletes, and the post a
// new reply answers (a reply joins its parent's thread only once the
// parent is there); the post a Like or Dislike, or its Undo, is about.
func orderKeys(actor string, k keyFacts) []string {
	keys := []string{"actor " + actor}
	add := func(id string) {
		if id != "" && id != actor && !slices.Contains(keys, "object "+id) {
			keys = append(keys, "object "+id)
		}
	}
	switch k.typ {
	case "Create", "Update", "Delete":
		add(k.object)
		if k.typ == "Create" {
			add(k.inReplyTo)
		}
	case "Like", "Dislike":
		add(k.object)
	case "Undo":
		if k.innerType == "Like" || k.innerType == "Dislike" {
			add(k.innerObject)
		}
	}
	return keys
}

// OrderKeys are the keys that order a recorded activity (see the top of
// this file), read from its body as the dispatcher reads them. A store
// that several nodes share (storage/postgres) keeps them with the
// activity, so that no two nodes apply activities with a key in common
// at once, as one node's scheduler would not.
func OrderKeys(actor string, body []byte) []string {
	k, _ := scanFacts(body)
	return orderKeys(actor, k)
}

// keyFacts are what orderKeys reads of an activity.
type keyFacts struct {
	typ, object, inReplyTo, innerType, innerObject string
}

// factsOf reads the key facts of a parsed activity.
func factsOf(act *Object) keyFacts {
	k := keyFacts{typ: act.Type, object: idOf(act.Object)}
	if o := act.Object; o != nil {
		k.inReplyTo, k.innerType, k.innerObject = o.InReplyTo, o.Type, idOf(o.Object)
	}
	return k
}

// scanFacts reads the key facts from a recorded body without parsing it
// whole: the dispatcher is one goroutine, and go-fed's parse, which the
// worker makes, costs several times more. ok is false when the body does
// not decode (the worker's parse then says why).
func scanFacts(body []byte) (k keyFacts, ok bool) {
	var doc struct {
		Type   string          `json:"type"`
		Object json.RawMessage `json:"object"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return k, false
	}
	k.typ = doc.Type
	k.object, k.inReplyTo, k.innerType, k.innerObject = scanObject(doc.Object)
	return k, true
}

// scanObject reads an object given as its id or embedded.
func scanObject(raw json.RawMessage) (id, inReplyTo, typ, object string) {
	if len(raw) == 0 {
		return
	}
	switch raw[0] {
	case '"':
		json.Unmarshal(raw, &id)
		return
	case '[': // as the parse does: the first
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
			return scanObject(list[0])
		}
		return
	}
	var o struct {
		ID        string          `json:"id"`
		Type      json.RawMessage `json:"type"`
		InReplyTo json.RawMessage `json:"inReplyTo"`
		Object    json.RawMessage `json:"object"`
	}
	if json.Unmarshal(raw, &o) != nil {
		return
	}
	if len(o.Type) > 0 && o.Type[0] == '"' {
		json.Unmarshal(o.Type, &typ)
	}
	if len(o.InReplyTo) > 0 {
		inReplyTo, _, _, _ = scanObject(o.InReplyTo)
	}
	object, _, _, _ = scanObject(o.Object)
	return o.ID, inReplyTo, typ, object
}

// newTask makes the task of a recorded item: the parse Receive handed
// over, when there is one, and its keys. Without one, the keys are read
// from the body and the worker parses it.
func (in *Inbox) newTask(it InboxItem) *task {
	t := &task{it: it}
	if act, ok := in.takeParsed(it.ActivityID, it.Body); ok {
		in.metrics.Parses.WithLabelValues(parseHandedOver).Inc()
		act.Raw = it.Body // the body it was parsed from, recorded
		t.act = act
		t.keys = orderKeys(it.Actor, factsOf(act))
		return t
	}
	k, _ := scanFacts(it.Body)
	t.keys = orderKeys(it.Actor, k)
	return t
}

// parse parses the task's body if Receive did not hand its parse over.
func (in *Inbox) parse(t *task) {
	if t.act != nil || t.parseErr != nil {
		return
	}
	in.metrics.Parses.WithLabelValues(parseParsedAgain).Inc()
	t.act, t.parseErr = Parse(t.it.Body)
	if t.parseErr != nil {
		t.act = nil
	}
}

// processor is one run of the worker pool over a scheduler.
type processor struct {
	in    *Inbox
	sched *scheduler
	wg    sync.WaitGroup

	mu        sync.Mutex
	nextRetry time.Time          // the earliest retry a worker scheduled, not yet taken
	marks     []InboxResult      // outcomes not written yet
	marking   map[int64]bool     // their items: not dispatched again meanwhile
	kick      chan struct{}      // a mark is waiting
	flushed   chan struct{}      // the mark writer has stopped
	stopMarks context.CancelFunc // stops the mark writer, which writes what is left
}

// markEvery is how long outcomes wait to be written together: one write
// for the marks of many activities, not one each. A crash loses at most
// that much of marks, and those activities are processed again, which is
// harmless (see ProcessPending).
const markEvery = 20 * time.Millisecond

// startProcessor starts the workers; they stop when the scheduler closes
// (which ctx's end does).
func (in *Inbox) startProcessor(ctx context.Context) *processor {
	p := &processor{in: in, sched: newScheduler(maxDispatched * in.workers), marking: map[int64]bool{},
		kick: make(chan struct{}, 1), flushed: make(chan struct{})}
	context.AfterFunc(ctx, p.sched.close)
	var mctx context.Context
	mctx, p.stopMarks = context.WithCancel(context.WithoutCancel(ctx))
	go p.writeMarks(mctx)
	for range in.workers {
		p.wg.Go(func() {
			for t := p.sched.next(); t != nil; t = p.sched.next() {
				p.run(ctx, t)
				p.sched.done(t)
			}
		})
	}
	return p
}

// stop closes the scheduler, waits for the workers, and writes the
// outcomes not written yet.
func (p *processor) stop() {
	p.sched.close()
	p.wg.Wait()
	p.stopMarks()
	<-p.flushed
}

// mark keeps an outcome for the mark writer; the item is not dispatched
// again until it is written.
func (p *processor) mark(r InboxResult) {
	p.mu.Lock()
	p.marks = append(p.marks, r)
	p.marking[r.ID] = true
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// isMarking tells whether an item's outcome waits to be written.
func (p *processor) isMarking(id int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.marking[id]
}

// writeMarks writes waiting outcomes at most every markEvery, in one
// write, until ctx ends; then it writes what is left.
func (p *processor) writeMarks(ctx context.Context) {
	defer close(p.flushed)
	for {
		select {
		case <-ctx.Done():
			p.flushMarks()
			return
		case <-p.kick:
		}
		p.flushMarks()
		select {
		case <-ctx.Done():
		case <-time.After(markEvery):
		}
	}
}

func (p *processor) flushMarks() {
	p.mu.Lock()
	batch := p.marks
	p.marks = nil
	p.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	p.in.markProcessed(batch)
	p.mu.Lock()
	for _, r := range batch {
		delete(p.marking, r.ID)
	}
	p.mu.Unlock()
}

// run processes one task and marks its outcome.
func (p *processor) run(ctx context.Context, t *task) {
	in := p.in
	in.parse(t)
	result, err := in.process(ctx, t.it, t.act, t.parseErr)
	if ctx.Err() != nil {
		// Shutting down: processed again after the restart.
		return
	}
	// Once processed, an activity is kept by its id (for dedup) and what
	// superseded reads, not its body: 20 x 1 MB of "type":"Foo" from a
	// known actor were stored 14 days.
	r := InboxResult{ID: t.it.ID, Result: result, At: in.now().UTC(), Kept: keptOf(t.act)}
	if err != nil && t.it.Attempts < len(in.retries) {
		r.RetryAt = r.At.Add(in.retries[t.it.Attempts])
		r.Result = fmt.Sprintf("%s (attempt %d; next at %s)", result, t.it.Attempts+1, r.RetryAt.Format(time.RFC3339))
		p.mu.Lock()
		earlier := p.nextRetry.IsZero() || r.RetryAt.Before(p.nextRetry)
		if earlier {
			p.nextRetry = r.RetryAt
		}
		p.mu.Unlock()
		if earlier { // the dispatcher sets its timer by it
			select {
			case in.wake <- struct{}{}:
			default:
			}
		}
	}
	p.mark(r)
}

// takeRetry returns and forgets the earliest retry scheduled.
func (p *processor) takeRetry() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.nextRetry
	p.nextRetry = time.Time{}
	return r
}

// dispatch gives the scheduler every recorded activity due by due after
// the item after, but those it has in flight, and returns the last item
// read. Rows are numbered in commit order (SQLite's one writer), so a
// later read from there finds every activity recorded since.
func (p *processor) dispatch(ctx context.Context, after int64, due time.Time) int64 {
	in := p.in
	for ctx.Err() == nil {
		items, err := in.store.UnprocessedInbox(ctx, after, due, dispatchPage)
		if err != nil {
			if ctx.Err() == nil {
				in.log.Error("inbox: read queue", "err", err)
			}
			return after
		}
		for _, it := range items {
			if p.sched.has(it.ID) || p.isMarking(it.ID) {
				after = it.ID
				continue
			}
			if !p.sched.add(in.newTask(it)) {
				return after
			}
			after = it.ID
		}
		if len(items) < dispatchPage {
			break
		}
	}
	return after
}

// Run processes recorded activities until ctx ends: those left from before
// a restart first, then each new one as Receive records it, and failed
// ones when their retry is due. It returns once its workers have stopped.
func (in *Inbox) Run(ctx context.Context) {
	const poll = 5 * time.Second
	p := in.startProcessor(ctx)
	defer p.stop()
	timer := time.NewTimer(poll)
	defer timer.Stop()
	var after int64         // the last item dispatched: new ones come after it
	var nextRetry time.Time // the earliest retry scheduled and not yet due
	var pruned time.Time
	for {
		if now := in.now(); now.Sub(pruned) >= time.Hour || now.Before(pruned) {
			pruned = now
			in.prune(ctx, now)
		}
		after = p.dispatch(ctx, after, in.now())
		if r := p.takeRetry(); !r.IsZero() && (nextRetry.IsZero() || r.Before(nextRetry)) {
			nextRetry = r
		}
		wait := poll
		if !nextRetry.IsZero() {
			if d := nextRetry.Sub(in.now()); d < wait {
				wait = max(d, 0)
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-in.wake:
		case <-timer.C:
			// Retries come due behind the cursor: read the queue from
			// its start (what is in flight is skipped).
			after = 0
			if !nextRetry.IsZero() && !in.now().Before(nextRetry) {
				nextRetry = time.Time{}
			}
		}
	}
}

// Wake makes Run read the queue now rather than at its next poll: another
// node sharing the database recorded an activity (storage/postgres's
// LISTEN/NOTIFY), or one came due there.
func (in *Inbox) Wake() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// ProcessPending processes every recorded activity that is due, with the
// worker pool, and returns when they are done (or ctx ends: the rest are
// processed after the restart).
//
// Outcomes are marked as activities end, those of markEvery together.
// Processing an activity
// again is harmless, so a crash before the mark only means it is
// processed again after the restart, as one interrupted mid-activity
// always was: Follows are accepted again, leaves and deletes find nothing
// left to do, and Posts.Receive decides once per (community, object) and
// completes an Announce that was stored but not queued.
func (in *Inbox) ProcessPending(ctx context.Context) {
	p := in.startProcessor(ctx)
	p.dispatch(ctx, 0, in.now())
	p.sched.waitIdle()
	p.stop()
}

// markProcessed records outcomes, in one write, also at shutdown: what
// was done need not be done again.
func (in *Inbox) markProcessed(rs []InboxResult) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.store.MarkInboxProcessed(ctx, rs); err != nil {
		in.log.Error("inbox: mark processed", "first", rs[0].ID, "items", len(rs), "err", err)
	}
}

// DefaultProcessRetries: an activity whose processing fails (its origin or
// its actor's server did not answer) is tried again after a minute, 5
// minutes, half an hour, 2 hours and 12 hours, then given up with its
// error on record. The sender got its 202 and will not send it again, so
// without this a join or a post would be lost to one slow answer.
var DefaultProcessRetries = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour}

// InboxKeep is how long processed activities are kept: their ids
// recognise a peer's retry of one as a duplicate (Mastodon retries for
// about two days), and their bodies are there to look at. Older ones are
// deleted, so the inbox does not grow for ever.
const InboxKeep = 14 * 24 * time.Hour

func (in *Inbox) prune(ctx context.Context, now time.Time) {
	n, err := in.store.PruneInbox(ctx, now.Add(-InboxKeep))
	switch {
	case err != nil && ctx.Err() == nil:
		in.log.Error("inbox: prune", "err", err)
	case n > 0:
		in.log.Info("inbox pruned", "deleted", n, "processed_before", now.Add(-InboxKeep))
	}
}

// process applies one activity and returns what happened, for the record
// and the log, and the error when it could not be applied (it may be tried
// again). act is nil when the recorded body no longer parses (parseErr).
func (in *Inbox) process(ctx context.Context, it InboxItem, act *Object, parseErr error) (string, error) {
	if act == nil {
		// It parsed before its 202; it will not parse better later.
		in.log.Warn("inbox activity failed", "activity", it.ActivityID, "type", it.Type, "actor", it.Actor, "err", parseErr)
		return "error: " + parseErr.Error(), nil
	}
	if it.Attempts > 0 {
		if why, err := in.superseded(ctx, it, act); err != nil || why != "" {
			if err != nil {
				return "error: " + err.Error(), err
			}
			in.log.Info("inbox activity", "activity", it.ActivityID, "type", it.Type, "actor", it.Actor, "result", "ignored: "+why)
			return "ignored: " + why, nil
		}
	}
	result, err := in.apply(ctx, act)
	if err != nil {
		in.log.Warn("inbox activity failed", "activity", it.ActivityID, "type", it.Type, "actor", it.Actor,
			"attempt", it.Attempts+1, "err", err)
		return "error: " + err.Error(), err
	}
	in.log.Info("inbox activity", "activity", it.ActivityID, "type", it.Type, "actor", it.Actor, "result", result)
	return result, nil
}

// superseded tells why an activity tried again after a failure must not
// be applied any more: it was taken back meanwhile, by an Undo of the
// Follow, Like or Dislike, or a Delete of the created object by its
// author, received after it (and applied then, to nothing). Applying it
// late would undo the newer activity: a member who left would be joined
// again, a deleted post announced. Mastodon guards its Create the same
// way (app/lib/activitypub/activity/create.rb: tombstone_exists? and
// delete_arrived_first?, a Delete that came before its Create).
func (in *Inbox) superseded(ctx context.Context, it InboxItem, act *Object) (string, error) {
	typ, actor, object := "", act.Actor, act.ID
	switch act.Type {
	case "Follow", "Like", "Dislike":
		typ = "Undo"
	case "Create":
		if act.Object == nil || act.Object.ID == "" {
			return "", nil
		}
		typ, object = "Delete", act.Object.ID
		if act.Object.AttributedTo != "" {
			actor = act.Object.AttributedTo // a forwarded post is deleted by its author
		}
	default:
		return "", nil
	}
	if object == "" {
		return "", nil
	}
	later, err := in.store.ReceivedLater(ctx, it.ID, typ, actor, object)
	if err != nil || !later {
		return "", err
	}
	return fmt.Sprintf("%s received meanwhile", typ), nil
}

// keptOf is what is kept of a processed activity's body: for an Undo or
// a Delete, the id of its object, which superseded asks ReceivedLater
// about while earlier activities are retried (up to 12 hours); nothing of
// the others. What was applied lives on in the posts, members and reports
// it made; the body is not read again.
func keptOf(act *Object) []byte {
	if act == nil || (act.Type != "Undo" && act.Type != "Delete") || idOf(act.Object) == "" {
		return nil
	}
	b, _ := json.Marshal(map[string]string{"object": idOf(act.Object)})
	return b
}

func (in *Inbox) apply(ctx context.Context, act *Object) (string, error) {
	switch act.Type {
	case "Follow":
		return in.follow(ctx, act)
	case "Create":
		return in.create(ctx, act)
	case "Update":
		return in.update(ctx, act)
	case "Delete":
		if act.Object == nil {
			return "ignored: delete of nothing", nil
		}
		if act.Object.ID == act.Actor {
			return in.actorDeleted(ctx, act.Actor)
		}
		return in.deletePost(ctx, act)
	case "Like", "Dislike":
		return in.react(ctx, act, act.Type, act.Object, true)
	case "Flag":
		return in.flag(ctx, act)
	case "Undo":
		switch o := act.Object; {
		case o == nil:
			return "ignored: undo of nothing", nil
		case o.Type == "Like" || o.Type == "Dislike":
			if o.Actor != "" && o.Actor != act.Actor {
				return "ignored: undo of someone else's " + o.Type, nil
			}
			return in.react(ctx, act, o.Type, o.Object, false)
		case o.Type == "Follow" || o.Type == "":
			return in.unfollow(ctx, act)
		}
	}
	return "ignored: " + act.Type, nil
}
