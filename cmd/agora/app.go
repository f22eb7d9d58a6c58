package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage"
	"github.com/agorafed/agora/storage/postgres"
	"github.com/agorafed/agora/storage/sqlite"
	"github.com/agorafed/agora/web"
)

// app is every part of Agora, wired. Only this package knows the concrete
// types.
type app struct {
	cfg       Config
	log       *slog.Logger
	db        storage.Store
	local     *federation.Local
	client    *http.Client
	fetcher   *federation.Fetcher
	keys      *federation.KeyCache
	actors    *federation.Actors
	docs      *federation.Documents
	deliverer *federation.Deliverer
	publisher *federation.Publisher
	dialects  *federation.Dialects
	svc       *community.Service
	posts     *community.Posts
	mod       *community.Moderation
	metrics   *federation.Metrics
	started   time.Time
}

// userAgent is what Agora says it is: instances block empty user agents.
func userAgent(base string) string { return "agora/" + version + " (+" + base + ")" }

// newLogger makes the slog logger the config asks for.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openDB opens the database the config names: PostgreSQL at cfg.Database,
// else SQLite in cfg.DataDir.
func openDB(ctx context.Context, cfg Config) (storage.Store, error) {
	if cfg.Database != "" {
		opts := cfg.pg
		if opts.Node == "" {
			opts.Node = nodeName(cfg)
		}
		if opts.InboxLease == 0 {
			opts.InboxLease = cfg.NodeLease.Duration
		}
		if opts.MaxDeliveryLease == 0 {
			opts.MaxDeliveryLease = cfg.NodeLease.Duration
		}
		return postgres.Open(ctx, cfg.Database, opts)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	return sqlite.Open(ctx, filepath.Join(cfg.DataDir, "agora.db"))
}

// nodeName is the node's name in its claims on a shared database: the
// config's, else the host name and listen address, which stay the same
// across restarts and differ between two nodes on one machine.
func nodeName(cfg Config) string {
	if cfg.Node != "" {
		return cfg.Node
	}
	host, _ := os.Hostname()
	return host + "/" + cfg.Listen
}

// openApp opens the database (openDB) and wires everything. With
// withDeliverer, the Deliverer is woken by what is queued, for serve to
// run it; the CLI does not run it and leaves delivery to serve (it uses
// it to clear hosts, as the console does).
func openApp(ctx context.Context, cfg Config, log *slog.Logger, metrics *federation.Metrics, withDeliverer bool) (*app, error) {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.BaseURL) // validated already
	a := &app{cfg: cfg, log: log, db: db, metrics: metrics, started: time.Now().UTC()}
	if a.metrics == nil {
		a.metrics = federation.NewMetrics(nil)
	}
	a.local = federation.NewLocal(base, db, nil)
	// The instance key is made on first start and kept for ever.
	if _, err := a.local.PrivateKey(ctx, federation.InstanceKeyOwner); err != nil {
		db.Close()
		return nil, err
	}
	a.client = federation.NewHTTPClient(federation.ClientConfig{
		AllowPrivate:   cfg.AllowPrivateAddresses,
		UserAgent:      userAgent(cfg.BaseURL),
		ConnectTimeout: cfg.Delivery.ConnectTimeout.Duration,
		RequestTimeout: cfg.Delivery.RequestTimeout.Duration,
	})
	if cfg.wrapTransport != nil {
		a.client.Transport = cfg.wrapTransport(db, a.client.Transport)
	}
	a.fetcher = federation.NewLimitedFetcher(a.client, func(r *http.Request) error {
		key, err := a.local.SigningKey(r.Context(), federation.InstanceKeyOwner)
		if err != nil {
			return err
		}
		return federation.SignRequest(r, key, nil, time.Now())
	}, cfg.fetchLimits)
	a.keys = federation.NewKeyCache(a.fetcher, db, federation.KeyCacheConfig{})
	a.actors = federation.NewActors(db, a.fetcher, nil)
	a.docs = federation.NewDocuments(a.local, db, db, a.started)
	a.docs.SummaryHTML = func(s string) string { return string(web.Markdown(s)) } // as the community page shows it
	a.dialects = federation.NewDialects(db, a.client, nil)
	a.deliverer = federation.NewDeliverer(federation.DelivererDeps{
		Config: federation.DeliveryConfig{
			Workers:          cfg.Delivery.Workers,
			PerHost:          cfg.Delivery.PerHost,
			MaxAttempts:      cfg.Delivery.MaxAttempts,
			UnavailableAfter: cfg.Delivery.UnavailableAfter.Duration,
			RequestTimeout:   cfg.Delivery.RequestTimeout.Duration,
			ShutdownTimeout:  cfg.Delivery.ShutdownTimeout.Duration,
		},
		Queue:     db,
		Hosts:     db,
		Gone:      db,
		Local:     a.local,
		Client:    a.client,
		UserAgent: userAgent(cfg.BaseURL),
		Metrics:   a.metrics,
		Log:       log,
		Refused: func(ctx context.Context, dl federation.Delivery, status int) (bool, error) {
			return a.publisher.DeliveryRefused(ctx, dl, status) // made below, before Run
		},
	})
	var notify func()
	if withDeliverer {
		notify = a.deliverer.Notify
	}
	a.publisher = federation.NewPublisher(federation.PublisherDeps{
		Local: a.local, Docs: a.docs, Queue: db, Actors: a.actors, Inboxes: db,
		Dialects: a.dialects, Announces: db, Notify: notify,
	})
	a.svc = community.NewService(db, db, a.publisher, nil)
	a.posts = community.NewPosts(db, a.publisher, community.Limits{
		MaxMentions: cfg.Posting.MaxMentions,
		RatePosts:   cfg.Posting.RatePosts,
		RateWindow:  cfg.Posting.RateWindow.Duration,
	}, nil)
	a.mod = community.NewModeration(community.ModerationDeps{
		Service: a.svc, Store: db, Posts: db, Mods: db, Publisher: a.publisher, PostPublisher: a.publisher,
		ModPublisher: a.publisher, Resolver: federation.NewResolver(a.fetcher, cfg.AllowPrivateAddresses),
		PostPages: func(c community.Community) string { return a.local.CommunityIRI(c.Name) + "/p/" },
	})
	return a, nil
}

func (a *app) Close() error { return a.db.Close() }

// newInbox makes the inbox pipeline over the app's parts.
func (a *app) newInbox(metrics *federation.Metrics) *federation.Inbox {
	return federation.NewInbox(federation.InboxDeps{
		Local: a.local, Keys: a.keys, Store: a.db, Actors: a.actors, ActorCache: a.db,
		Service: a.svc, Posts: a.posts, Fetcher: a.fetcher, Dialects: a.dialects,
		Members: a.db, Moderation: a.mod, Deliverer: a.deliverer, Schemes: a.db, Metrics: metrics, Log: a.log,
		RetryDelays: a.cfg.processRetries, Workers: a.cfg.Inbox.Workers,
	})
}

// resolveMember finds the actor IRI a CLI argument names among a
// community's members: an actor URL as is, or @user@host matched against
// the cached actor documents (no network needed: members were fetched when
// they followed).
func (a *app) resolveMember(ctx context.Context, c community.Community, arg string, state community.MemberState) (string, error) {
	if strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://") {
		return arg, nil
	}
	user, host, ok := strings.Cut(strings.TrimPrefix(arg, "@"), "@")
	if !ok || user == "" || host == "" {
		return "", fmt.Errorf("%w actor %q: use an actor URL or @user@host", community.ErrInvalid, arg)
	}
	after := ""
	for {
		ms, err := a.svc.Members(ctx, c, state, after, 500)
		if err != nil {
			return "", err
		}
		for _, m := range ms {
			ra, err := a.db.RemoteActor(ctx, m.Actor)
			if err != nil {
				continue
			}
			u, err := url.Parse(m.Actor)
			if err == nil && strings.EqualFold(ra.PreferredUsername, user) && strings.EqualFold(u.Host, host) {
				return m.Actor, nil
			}
		}
		if len(ms) < 500 {
			return "", fmt.Errorf("%s in %s: %w", arg, c.Name, community.ErrNotFound)
		}
		after = ms[len(ms)-1].Actor
	}
}
