package federation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/agorafed/agora/community"
)

// Inbox results, recorded per activity, counted in metrics and logged.
const (
	ResultQueued    = "queued"    // verified, recorded, processed later
	ResultDuplicate = "duplicate" // an activity id seen before
	ResultIgnored   = "ignored"   // verified but concerns no local community
	ResultRejected  = "rejected"  // not verified, malformed or refused
)

// ErrForged is an activity signed by someone other than its actor.
var ErrForged = fmt.Errorf("%w: key owner is not the actor", ErrNotVerified)

// Membership is what the inbox needs to know about members beyond a
// community.
type Membership interface {
	// MembershipsOf lists an actor's relations to every community.
	MembershipsOf(ctx context.Context, actor string) ([]community.Member, error)
	CommunityByID(ctx context.Context, id int64) (community.Community, error)
}

// Inbox is the inbox pipeline: Receive verifies and records an activity
// before the HTTP answer; Run processes recorded activities after it.
type Inbox struct {
	local      *Local
	keys       KeyResolver
	store      InboxStore
	actors     *Actors
	cache      ActorStore
	svc        *community.Service
	posts      *community.Posts
	fetch      *Fetcher
	dialects   *Dialects
	members    Membership
	mod        *community.Moderation // may be nil: no commands, reports or domain blocks
	deliveries *Deliverer            // may be nil: told that a host is alive again
	schemes    *schemeRecorder
	metrics    *Metrics
	log        *slog.Logger
	now        func() time.Time
	retries    []time.Duration
	workers    int
	followers  followersCache // actors' followers collections, for visibility
	wake       chan struct{}

	// parsed hands the processor what Receive already parsed, so an
	// activity is parsed once, not twice (go-fed's parse is a large part of
	// the cost of an activity). Bounded; after a restart or overflow the
	// processor parses the recorded body again.
	parsedMu    sync.Mutex
	parsed      map[string]parsedActivity
	parsedBytes int       // sum of the bodies in parsed
	parsedSwept time.Time // when stale entries were last looked for
}

// parsedActivity is an activity handed from Receive to the processor.
type parsedActivity struct {
	act  *Object
	size int    // of the body
	sum  uint64 // of the body, so the processor takes only the parse of the body it read
	at   time.Time
}

// handOverSeed keys the sums of handed-over bodies.
var handOverSeed = maphash.MakeSeed()

// maxParsedBytes bounds the hand-over of parsed activities by the sum of
// their bodies: by memory, not by count, so that large bodies cannot make
// it large and small ones keep more of a backlog parsed. Measured with
// the 2.3 KB Create{Note} of `agora bench ingest`, a parse kept without
// its Raw holds about 3.5 KB, so 16 MiB of bodies (7,300 activities, a
// backlog of 1.5 s at 5,000/s) holds about 26 MB.
const maxParsedBytes = 16 << 20

// staleParsed is when a hand-over entry is taken to be one the processor
// will never ask for. None should be left: Receive hands over before the
// record and takes back what it did not record, and the processor takes
// every recorded one. The sweep is a guard, so that an entry some path
// leaves behind cannot hold the bound's room for good. Dropping an entry
// is always safe: the body is parsed again.
const staleParsed = time.Minute

// InboxDeps are the dependencies of an Inbox.
type InboxDeps struct {
	Local      *Local
	Keys       KeyResolver
	Store      InboxStore
	Actors     *Actors
	ActorCache ActorStore
	Service    *community.Service
	Posts      *community.Posts
	Fetcher    *Fetcher // fetches posts from their origin when they were not delivered by their author
	Dialects   *Dialects
	Members    Membership
	Moderation *community.Moderation // may be nil
	Deliverer  *Deliverer
	Schemes    SchemeStore // may be nil: which signature scheme each host uses is not kept
	Metrics    *Metrics
	Log        *slog.Logger
	Now        func() time.Time
	// RetryDelays are the waits before each new attempt at an activity
	// whose processing failed; nil: DefaultProcessRetries.
	RetryDelays []time.Duration
	// Workers is the size of the processing pool; 0: DefaultInboxWorkers.
	Workers int
}

// DefaultProcessRetries: an activity whose processing fails (its origin or
// its actor's server did not answer) is tried again after a minute, 5
// minutes, half an hour, 2 hours and 12 hours, then given up with its
// error on record. The sender got its 202 and will not send it again, so
// without this a join or a post would be lost to one slow answer.
var DefaultProcessRetries = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour}

// NewInbox returns an Inbox.
func NewInbox(d InboxDeps) *Inbox {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	if d.RetryDelays == nil {
		d.RetryDelays = DefaultProcessRetries
	}
	if d.Workers <= 0 {
		d.Workers = DefaultInboxWorkers()
	}
	return &Inbox{retries: d.RetryDelays, workers: d.Workers, local: d.Local, keys: d.Keys, store: d.Store, actors: d.Actors, cache: d.ActorCache,
		svc: d.Service, posts: d.Posts, fetch: d.Fetcher, dialects: d.Dialects, members: d.Members, mod: d.Moderation,
		deliveries: d.Deliverer, schemes: newSchemeRecorder(d.Schemes), metrics: d.Metrics, log: d.Log, now: d.Now,
		wake: make(chan struct{}, 1), parsed: map[string]parsedActivity{}}
}

// Receive verifies a POSTed activity and records it durably. A nil error
// means the caller answers 202 (result says whether it was queued, a
// duplicate or ignored). Errors wrap ErrNotVerified (401), ErrMalformed
// (400), an error of admit, or a storage failure (500).
//
// admit, when not nil, is asked once the signature is verified and its key
// owner is the activity's actor, before anything is recorded: an error
// from it refuses the activity, returned wrapped. It is how the caller
// limits requests per actor: counting the claimed keyId before verifying
// would let a forger spend an honest actor's allowance with junk naming
// its key. It is a parameter rather than an InboxDeps hook because the
// refusal is the caller's to answer (web's 429 with Retry-After, which the
// limiter sets on the response it has and Receive does not).
func (in *Inbox) Receive(ctx context.Context, r *http.Request, body []byte, admit func(actor string) error) (result string, err error) {
	typ := "unknown"
	defer func() {
		if err != nil {
			result = ResultRejected
		}
		in.metrics.Inbox.WithLabelValues(typ, result).Inc()
	}()
	sig, err := ParseSignature(r, body, in.now())
	if err != nil {
		return "", err
	}
	// Nothing costly before the signature is verified: the shape of the
	// body is bounded on its bytes, and the actor and type are read with
	// a small decode; go-fed parses only what a verified actor sent.
	if err := CheckShape(body); err != nil {
		return "", err
	}
	head, err := scanHead(body)
	if err != nil {
		return "", err
	}
	typ = metricType(head.typ)
	// Mastodon sends Delete{actor} for deleted accounts to every server that
	// ever saw them; their keys are gone, so verifying means a fetch that
	// fails. If we never knew the actor there is nothing to delete.
	if head.typ == "Delete" && head.object == head.actor && !in.knows(ctx, head.actor) {
		return ResultIgnored, nil
	}
	key, err := sig.Verify(ctx, in.keys)
	if err != nil {
		return "", err
	}
	if key.Owner != head.actor {
		return "", fmt.Errorf("%w: %s signed for %s", ErrForged, key.Owner, head.actor)
	}
	act, err := Parse(body)
	if err != nil {
		return "", err
	}
	if act.Actor != head.actor {
		return "", fmt.Errorf("%w: actor %q read as %q", ErrMalformed, head.actor, act.Actor)
	}
	if admit != nil {
		if err := admit(act.Actor); err != nil {
			return "", fmt.Errorf("activity from %s: %w", act.Actor, err)
		}
	}
	in.metrics.Signatures.WithLabelValues(sig.Scheme).Inc()
	if u, err := url.Parse(act.Actor); err == nil {
		if in.deliveries != nil {
			in.deliveries.HostAlive(u.Host)
		}
		if err := in.schemes.record(ctx, u.Host, sig.Scheme, in.now()); err != nil {
			in.log.Warn("record signature scheme", "actor", act.Actor, "scheme", sig.Scheme, "err", err)
		}
	}
	if blocked, err := in.instanceBlocked(ctx, act.Actor); err != nil {
		return "", fmt.Errorf("domain blocks: %w", err)
	} else if blocked {
		return ResultIgnored, nil
	}
	if !in.concernsUs(ctx, act) {
		return ResultIgnored, nil
	}
	id := dedupKey(act, body)
	// Handed over before it is recorded: the processor may read the row
	// as soon as it is committed, before this returns (with a group
	// commit, other requests' wake-ups make that common: handed over
	// after the record, 9% of a run of `agora bench ingest` that
	// sustained 3,000/s were parsed again).
	handed := in.handOver(id, act, body)
	isNew, err := in.store.RecordInbox(ctx, InboxItem{ActivityID: id, Type: act.Type, Actor: act.Actor, Body: body, ReceivedAt: in.now().UTC()})
	if handed && (err != nil || !isNew) {
		in.takeParsed(id, body)
	}
	if err != nil {
		return "", fmt.Errorf("record activity %s: %w", id, err)
	}
	if !isNew {
		return ResultDuplicate, nil
	}
	select {
	case in.wake <- struct{}{}:
	default:
	}
	return ResultQueued, nil
}

// dedupKey is what recognises a delivery of an activity seen before: its
// id, or a digest of the body when it has none. An id outside its
// actor's host is scoped to that host: the namespace is another server's,
// and one actor taking an id there must not make the genuine activity
// of that id, later, look like a duplicate.
func dedupKey(act *Object, body []byte) string {
	switch {
	case act.ID == "":
		sum := sha256.Sum256(body)
		return "sha256:" + hex.EncodeToString(sum[:])
	case SameHost(act.ID, act.Actor):
		return act.ID
	}
	host, _ := hostKey(act.Actor)
	return "from " + host + ": " + act.ID
}

// activityHead is what Receive reads of a body before verifying it.
type activityHead struct {
	typ, actor, object string
}

// scanHead reads an activity's type, actor and object id with a small
// decode (a body CheckShape passed: bounded). An actor given as an object
// is read by its id, as Parse does.
func scanHead(body []byte) (activityHead, error) {
	var doc struct {
		Type   json.RawMessage `json:"type"`
		Actor  json.RawMessage `json:"actor"`
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return activityHead{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var h activityHead
	h.actor, _, _, _ = scanObject(doc.Actor)
	h.object, _, _, _ = scanObject(doc.Object)
	if len(doc.Type) > 0 && doc.Type[0] == '"' {
		json.Unmarshal(doc.Type, &h.typ)
	} else if len(doc.Type) > 0 && doc.Type[0] == '[' {
		var ts []string
		if json.Unmarshal(doc.Type, &ts) == nil && len(ts) > 0 {
			h.typ = ts[0]
		}
	}
	if h.actor == "" {
		return activityHead{}, fmt.Errorf("%w: activity has no actor", ErrMalformed)
	}
	return h, nil
}

// handOver keeps a parsed activity for the processor if there is room
// and none is kept under its id yet, and tells whether it kept it. The
// one who kept it takes it back if the activity is not recorded as new;
// the processor takes it only for the very body it read from the queue
// (takeParsed), so a concurrent duplicate with another body is parsed
// again, never mistaken.
func (in *Inbox) handOver(id string, act *Object, body []byte) bool {
	now, size := in.now(), len(body)
	in.parsedMu.Lock()
	defer in.parsedMu.Unlock()
	if in.parsedBytes+size > maxParsedBytes && now.Sub(in.parsedSwept) > staleParsed/6 {
		in.parsedSwept = now
		for k, p := range in.parsed {
			if now.Sub(p.at) > staleParsed {
				delete(in.parsed, k)
				in.parsedBytes -= p.size
			}
		}
	}
	if _, ok := in.parsed[id]; ok || in.parsedBytes+size > maxParsedBytes {
		return false
	}
	in.parsed[id] = parsedActivity{act: withoutRaw(act), size: size, sum: maphash.Bytes(handOverSeed, body), at: now}
	in.parsedBytes += size
	return true
}

// withoutRaw returns a copy of an activity without the bytes it was parsed
// from, which are half of what a parse keeps: the processor puts the
// activity's own back from the queue, and reads no embedded object's (only
// the activity's Raw is stored and relayed; were an embedded one needed,
// keep it here).
func withoutRaw(act *Object) *Object {
	kept := *act
	kept.Raw = nil
	if act.Objects != nil {
		kept.Objects = make([]*Object, len(act.Objects))
	}
	for i, o := range act.Objects {
		if o != nil {
			c := *o
			c.Raw = nil
			o = &c
		}
		kept.Objects[i] = o
	}
	kept.Object = nil
	if len(kept.Objects) > 0 {
		kept.Object = kept.Objects[0]
	}
	return &kept
}

// takeParsed removes the parsed activity kept under id and returns it if
// it is the parse of body.
func (in *Inbox) takeParsed(id string, body []byte) (*Object, bool) {
	in.parsedMu.Lock()
	p, ok := in.parsed[id]
	if ok {
		delete(in.parsed, id)
		in.parsedBytes -= p.size
	}
	in.parsedMu.Unlock()
	if !ok || p.size != len(body) || p.sum != maphash.Bytes(handOverSeed, body) {
		return nil, false
	}
	return p.act, true
}

// knows tells whether the actor is cached (a member, or someone we talked to).
func (in *Inbox) knows(ctx context.Context, actor string) bool {
	_, err := in.cache.RemoteActor(ctx, actor)
	return err == nil
}

// concernsUs tells whether an activity is for a local community: addressed
// to one, about one, or from someone we know (members' edits, deletes and
// likes name no community). Everything else is dropped after verification,
// so servers that deliver everything everywhere cannot fill the database.
func (in *Inbox) concernsUs(ctx context.Context, act *Object) bool {
	if len(AddressedCommunities(in.local, act)) > 0 {
		return true
	}
	// Follow, Undo{Follow}, Add and Remove name the community as object or
	// target, not in their addressing.
	for _, iri := range []string{act.Target, idOf(act.Object), idOf(objectOf(act.Object))} {
		if in.local.CommunityName(iri) != "" {
			return true
		}
	}
	if in.knows(ctx, act.Actor) || in.flagConcernsUs(ctx, act) {
		return true
	}
	// Likes and replies from people who saw a boost name only the post.
	for _, o := range []*Object{act.Object, objectOf(act.Object)} {
		if o != nil && o.ID != "" && !in.local.IsLocal(o.ID) {
			if ps, err := in.posts.ByObject(ctx, o.ID); err == nil && len(ps) > 0 {
				return true
			}
		}
	}
	return false
}

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

func (in *Inbox) community(ctx context.Context, iri string) (community.Community, error) {
	name := in.local.CommunityName(iri)
	if name == "" {
		return community.Community{}, fmt.Errorf("%s: %w", iri, community.ErrNotFound)
	}
	return in.svc.Get(ctx, name)
}

func (in *Inbox) follow(ctx context.Context, act *Object) (string, error) {
	if act.Object == nil {
		return "ignored: follow of nothing", nil
	}
	c, err := in.community(ctx, act.Object.ID)
	if errors.Is(err, community.ErrNotFound) {
		return "ignored: follow of " + act.Object.ID, nil
	}
	if err != nil && !errors.Is(err, community.ErrGone) {
		return "", err
	}
	// The Accept goes to the follower's inbox: know it before deciding.
	if _, err := in.actors.Get(ctx, act.Actor, false); err != nil {
		return "", err
	}
	// Learn the member's software now, so that announcing later never
	// waits on NodeInfo.
	if in.dialects != nil {
		if err := in.dialects.Refresh(ctx, act.Actor); err != nil {
			in.log.Debug("nodeinfo", "actor", act.Actor, "err", err)
		}
	}
	d, err := in.svc.Follow(ctx, c, act.Actor, act.ID)
	if err != nil {
		return "", err
	}
	return "follow " + string(d), nil
}

func (in *Inbox) unfollow(ctx context.Context, act *Object) (string, error) {
	f := act.Object
	if f.Actor != "" && f.Actor != act.Actor {
		return "ignored: undo of someone else's follow", nil
	}
	if f.Object != nil && f.Object.ID != "" {
		c, err := in.community(ctx, f.Object.ID)
		if errors.Is(err, community.ErrNotFound) || errors.Is(err, community.ErrGone) {
			return "ignored: undo follow of " + f.Object.ID, nil
		}
		if err != nil {
			return "", err
		}
		return "left " + c.Name, in.svc.Leave(ctx, c, act.Actor)
	}
	// Undo naming the Follow only by its id: find the membership it made.
	ms, err := in.members.MembershipsOf(ctx, act.Actor)
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		if m.FollowID == f.ID {
			c, err := in.members.CommunityByID(ctx, m.CommunityID)
			if err != nil {
				return "", err
			}
			return "left " + c.Name, in.svc.Leave(ctx, c, act.Actor)
		}
	}
	return "ignored: undo of unknown follow", nil
}

// actorDeleted handles an account deletion: it leaves every community (a
// ban stays) and is forgotten.
func (in *Inbox) actorDeleted(ctx context.Context, actor string) (string, error) {
	ms, err := in.members.MembershipsOf(ctx, actor)
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		c, err := in.members.CommunityByID(ctx, m.CommunityID)
		if err != nil {
			return "", err
		}
		if err := in.svc.Leave(ctx, c, actor); err != nil {
			return "", err
		}
	}
	posts, err := in.posts.AuthorGone(ctx, actor)
	if err != nil {
		return "", err
	}
	in.followers.drop(actor)
	if err := in.cache.DeleteRemoteActor(ctx, actor); err != nil {
		return "", err
	}
	return fmt.Sprintf("actor deleted, left %d communities, %d posts removed", len(ms), posts), nil
}

// metricType keeps the label set of the inbox metric small: unknown types
// from hostile senders would otherwise each make a new series.
func metricType(t string) string {
	switch t {
	case "Create", "Update", "Delete", "Follow", "Undo", "Accept", "Reject", "Announce",
		"Like", "Dislike", "Flag", "Add", "Remove", "Block", "Move":
		return t
	}
	return "other"
}

// VerifyFetch checks the signature of a GET (authorized fetch). Any
// verified key will do: who may read what is not restricted further.
func VerifyFetch(ctx context.Context, r *http.Request, keys KeyResolver, now time.Time) error {
	sig, err := ParseSignature(r, nil, now)
	if err != nil {
		return err
	}
	_, err = sig.Verify(ctx, keys)
	return err
}

func idOf(o *Object) string {
	if o == nil {
		return ""
	}
	return o.ID
}

func objectOf(o *Object) *Object {
	if o == nil {
		return nil
	}
	return o.Object
}
