package federation

// The receiver: Receive verifies a POSTed activity, records it and lets
// the caller answer 202 (docs/architecture.md, "Inbox processing").

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"time"
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
// it large and small ones keep more of a backlog parsed. 16 MiB keeps a
// backlog of about a second and a half at the rates `agora-bench ingest`
// sustains, in tens of MB (BENCHMARKS.md, "Figures behind the code").
const maxParsedBytes = 16 << 20

// staleParsed is when a hand-over entry is taken to be one the processor
// will never ask for. None should be left: Receive hands over before the
// record and takes back what it did not record, and the processor takes
// every recorded one. The sweep is a guard, so that an entry some path
// leaves behind cannot hold the bound's room for good. Dropping an entry
// is always safe: the body is parsed again.
const staleParsed = time.Minute

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
	// commit, other requests' wake-ups make that common: BENCHMARKS.md,
	// "Figures behind the code").
	handed := in.handOver(id, act, body)
	// Within its actor's byte budget (ActorBudget), checked as it is
	// recorded: a known actor sending 1 MB bodies faster than they are
	// processed would otherwise fill the disk.
	isNew, err := in.store.RecordInbox(ctx, InboxItem{ActivityID: id, Type: act.Type, Actor: act.Actor, Body: body,
		ReceivedAt: in.now().UTC(), Budget: max(in.budget, 0), OrderKeys: orderKeys(act.Actor, factsOf(act))})
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

// instanceBlocked tells whether an actor's server is blocked on the whole
// instance: its activities are answered 202 and dropped (docs/protocol.md,
// "What Agora accepts" asks no more of a refusal than that).
func (in *Inbox) instanceBlocked(ctx context.Context, actor string) (bool, error) {
	if in.mod == nil {
		return false, nil
	}
	return in.mod.InstanceBlocked(ctx, actor)
}
