package federation

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/agorafed/agora/community"
)

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
	budget     int64          // ActorBudget
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
	// ActorBudget bounds the bytes of one actor's activities waiting to
	// be processed; 0: DefaultActorBudget, negative: no bound.
	ActorBudget int64
}

// DefaultActorBudget is an actor's budget of bytes recorded and not yet
// processed: some 7,000 activities of an ordinary size, far more than a
// person or a server's relay has waiting, while a sender of 1 MB bodies
// stops at 16.
const DefaultActorBudget = 16 << 20

// ErrOverBudget refuses an activity whose actor has too many bytes of
// activities waiting: the sender is told to come back later (429), and
// loses nothing.
var ErrOverBudget = errors.New("too many bytes of this actor's activities wait to be processed")

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
	if d.ActorBudget == 0 {
		d.ActorBudget = DefaultActorBudget
	}
	return &Inbox{retries: d.RetryDelays, workers: d.Workers, budget: d.ActorBudget, local: d.Local, keys: d.Keys, store: d.Store, actors: d.Actors, cache: d.ActorCache,
		svc: d.Service, posts: d.Posts, fetch: d.Fetcher, dialects: d.Dialects, members: d.Members, mod: d.Moderation,
		deliveries: d.Deliverer, schemes: newSchemeRecorder(d.Schemes), metrics: d.Metrics, log: d.Log, now: d.Now,
		wake: make(chan struct{}, 1), parsed: map[string]parsedActivity{}}
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
