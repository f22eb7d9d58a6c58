package federation

import (
	"context"
	"time"
)

// The interfaces below are what federation needs from storage; storage/sqlite
// implements them. A missing row is community.ErrNotFound.

// LocalKeyStore keeps the private keys of Agora's own actors. Keys are made
// once and never replaced: peers such as GoToSocial refuse a known actor
// whose key changed.
type LocalKeyStore interface {
	LocalKey(ctx context.Context, owner string) (privatePEM string, err error)
	// AddLocalKey stores a key for owner unless one exists, and returns the
	// stored one, so two processes racing to make a key agree on one.
	AddLocalKey(ctx context.Context, owner, privatePEM, publicPEM string, at time.Time) (storedPEM string, err error)
}

// RemoteActor is what Agora keeps of a remote actor's document.
type RemoteActor struct {
	ID                string
	Type              string
	PreferredUsername string
	Name              string
	URL               string
	Icon              string
	Inbox             string
	SharedInbox       string
	Followers         string // the followers collection, to recognise followers-only posts
	FetchedAt         time.Time
}

// DeliveryInbox is where activities for this actor go: the shared inbox when
// the server has one, so one POST serves every follower on that host.
func (a RemoteActor) DeliveryInbox() string {
	if a.SharedInbox != "" {
		return a.SharedInbox
	}
	return a.Inbox
}

// ActorStore caches remote actors.
type ActorStore interface {
	RemoteActor(ctx context.Context, iri string) (RemoteActor, error)
	PutRemoteActor(ctx context.Context, a RemoteActor) error
	// DeleteRemoteActor forgets an actor (Delete{Person}, or its inbox is gone).
	DeleteRemoteActor(ctx context.Context, iri string) error
}

// InboxItem is a verified incoming activity, recorded before the inbox
// answers 202 and processed after.
type InboxItem struct {
	ID         int64
	ActivityID string // the activity's id, or a digest of the body when it has none: the dedup key
	Type       string
	Actor      string
	Body       []byte
	ReceivedAt time.Time
	Attempts   int // processing attempts that failed so far
	// Budget, when above 0, bounds the bytes of the actor's activities
	// waiting to be processed, this one's included (RecordInbox only).
	Budget int64
	// OrderKeys, when not nil, are the activity's ordering keys as the
	// inbox's parse gave them (RecordInbox only): a store that keeps
	// them (storage/postgres) reads them from Body otherwise (OrderKeys,
	// which gives the same keys: TestScanFactsMatchesParse).
	OrderKeys []string
}

// InboxStore is the durable inbox queue.
type InboxStore interface {
	// RecordInbox stores the item unless an item with the same ActivityID
	// exists; it reports whether it was new. With it.Budget above 0, an
	// item that would take its actor's bytes waiting past the budget is
	// not stored, and the error wraps ErrOverBudget: the check and the
	// insert are one step, so concurrent records of one actor cannot all
	// pass it (on several nodes, records made at the same moment on two
	// nodes may).
	RecordInbox(ctx context.Context, it InboxItem) (bool, error)
	// UnprocessedInbox returns items not yet processed whose next attempt
	// is due by due, oldest first, after id.
	UnprocessedInbox(ctx context.Context, afterID int64, due time.Time, limit int) ([]InboxItem, error)
	// MarkInboxProcessed records the outcomes of processed items, all in
	// one write: done, or (RetryAt set) failed and to be tried again then.
	MarkInboxProcessed(ctx context.Context, results []InboxResult) error
	// ReceivedLater tells whether an activity of type typ by actor, whose
	// object is object (its IRI, or an embedded object with that id), was
	// recorded after the item afterID.
	ReceivedLater(ctx context.Context, afterID int64, typ, actor, object string) (bool, error)
	// PruneInbox deletes the items processed before a time; it returns
	// how many.
	PruneInbox(ctx context.Context, processedBefore time.Time) (int, error)
}

// InboxResult is the outcome of processing one InboxItem.
type InboxResult struct {
	ID     int64 // InboxItem.ID
	Result string
	At     time.Time
	// RetryAt, when set, keeps the item unprocessed: it failed and is
	// tried again at that time.
	RetryAt time.Time
	// Kept replaces the recorded body once the item is processed: the
	// id stays (for dedup), and of the body only what ReceivedLater reads
	// later ("{}" when empty). Ignored when RetryAt is set.
	Kept []byte
}

// OutActivity is an activity Agora sends, stored once however many inboxes
// it goes to.
type OutActivity struct {
	ID          int64
	IRI         string
	Type        string
	CommunityID int64  // 0 for the instance actor
	Signer      string // local key owner that signs deliveries
	Body        []byte
	CreatedAt   time.Time
	// Announces and Withdraws, when set, are recorded by Enqueue in the
	// same transaction as the activity and its deliveries: this activity
	// is the Announce of that post in that dialect, or takes that
	// dialect's Announces of the post back. A crash then leaves a post
	// either announced (and queued) or not, never in between, and the
	// work can be resumed by doing it again.
	Announces *AnnounceMark
	Withdraws *AnnounceMark
}

// AnnounceMark names a post's Announces of one dialect.
type AnnounceMark struct {
	PostID  int64
	Dialect Dialect
}

// Delivery is one POST of an activity to one inbox.
type Delivery struct {
	ID         int64
	ActivityID int64
	Inbox      string
	Host       string
	Signer     string
	Attempts   int
	NextAt     time.Time
	Body       []byte // filled by ClaimDue
	LastError  string
}

// Queue is the durable delivery queue.
type Queue interface {
	// NextOutActivityID reserves the next activity number so its IRI can
	// carry it.
	NextOutActivityID(ctx context.Context) (int64, error)
	// Enqueue stores the activity and one delivery per inbox in one
	// transaction.
	Enqueue(ctx context.Context, a OutActivity, inboxes []string, now time.Time) error
	// ClaimDue leases up to limit due deliveries (NextAt <= now, not leased)
	// whose host is not unavailable, oldest due first, at most perHost for
	// one host (one for a host whose last attempt failed: HostFailed and
	// no HostSucceeded since), so no other worker takes them until the
	// lease ends. On several nodes the bound counts every node's leases.
	// skipHosts are left out: the caller has enough of theirs in hand.
	ClaimDue(ctx context.Context, now time.Time, limit, perHost int, lease time.Duration, skipHosts ...string) ([]Delivery, error)
	DeliveryDone(ctx context.Context, id int64) error
	RetryDelivery(ctx context.Context, id int64, attempts int, next time.Time, lastErr string) error
	DropDelivery(ctx context.Context, id int64, reason string) error
	// ReleaseLeases ends every lease: at start, before any worker runs.
	ReleaseLeases(ctx context.Context) error
	QueueDepth(ctx context.Context) (int, error)
	OutActivity(ctx context.Context, iri string) (OutActivity, error)
}

// HostStatus is what the delivery queue knows of one remote host, for
// `agora host list` and the console's delivery page.
type HostStatus struct {
	Host             string
	Software         string    // from its NodeInfo, "" when unknown
	FailingSince     time.Time // zero when its last delivery succeeded
	UnavailableSince time.Time // zero when deliveries go to it
	Queued           int       // deliveries waiting for it
	LastError        string    // why its last failed delivery failed; "" after a success
	LastErrorAt      time.Time
}

// HostStore keeps what Agora knows of remote hosts: failures, availability.
type HostStore interface {
	// HostSucceeded clears failure state.
	HostSucceeded(ctx context.Context, host string) error
	// HostFailed records a failure; it returns when the host has been
	// failing since, so the caller can mark it unavailable.
	// reason is the failure's error, kept as the host's last error.
	HostFailed(ctx context.Context, host string, at time.Time, reason string) (since time.Time, err error)
	MarkHostUnavailable(ctx context.Context, host string, at time.Time) error
	UnavailableHosts(ctx context.Context) ([]string, error)
	// FailingHosts lists the hosts with a failure on record, and since
	// when (unavailable ones are failing too).
	FailingHosts(ctx context.Context) (map[string]time.Time, error)
	// ClearHost clears a host's failure state and makes its queued
	// deliveries due at now; it reports whether the host was known (on
	// record or with deliveries queued).
	ClearHost(ctx context.Context, host string, now time.Time) (known bool, err error)
}

// Dialect is the way of announcing a peer understands (docs/protocol.md, the peer families).
type Dialect string

// Dialects.
const (
	Microblog    Dialect = "microblog"    // Mastodon and friends: Announce{object id}
	Threadiverse Dialect = "threadiverse" // Lemmy and friends: Announce{activity} (FEP-1b12)
	UnknownPeer  Dialect = ""             // both
)

// SoftwareStore keeps what software each host runs (NodeInfo software.name).
type SoftwareStore interface {
	// HostSoftware returns the software name and when it was learnt; a host
	// never asked is "" and the zero time, with no error.
	HostSoftware(ctx context.Context, host string) (software string, at time.Time, err error)
	SetHostSoftware(ctx context.Context, host, software string, at time.Time) error
}

// AnnounceRef is an Announce a community sent for a post.
type AnnounceRef struct {
	PostID      int64
	Dialect     Dialect
	Activity    OutActivity
	WithdrawnAt time.Time
}

// AnnounceStore records which Announces were sent for which post.
type AnnounceStore interface {
	AddAnnounce(ctx context.Context, postID int64, d Dialect, outActivityID int64) error
	// Announces returns the post's Announces (with their activities), oldest first.
	Announces(ctx context.Context, postID int64) ([]AnnounceRef, error)
	// MarkWithdrawn marks the post's Announces of a dialect withdrawn.
	MarkWithdrawn(ctx context.Context, postID int64, d Dialect, at time.Time) error
	// Outbox lists a community's microblog Announces of live posts, newest
	// first, below beforeID (0: from the newest).
	Outbox(ctx context.Context, communityID int64, beforeID int64, limit int) ([]OutActivity, error)
	CountOutbox(ctx context.Context, communityID int64) (int, error)
}
