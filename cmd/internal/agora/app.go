// Package agora wires Agora: its config (agora.toml and AGORA_*), every
// part made and connected (App), and the running server (Server). The
// server command (cmd/agora) and the benchmarks (cmd/agora-bench) both
// start Agora through it, so that what is measured is what is served.
package agora

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage"
	"github.com/agorafed/agora/storage/postgres"
	"github.com/agorafed/agora/storage/sqlite"
	"github.com/agorafed/agora/web"
)

// App is every part of Agora, wired. Only this package (and the commands
// under cmd that use it) knows the concrete types.
type App struct {
	Cfg       Config
	Log       *slog.Logger
	DB        storage.Store
	Local     *federation.Local
	Client    *http.Client
	Fetcher   *federation.Fetcher
	Keys      *federation.KeyCache
	Actors    *federation.Actors
	Docs      *federation.Documents
	Deliverer *federation.Deliverer
	Publisher *federation.Publisher
	Dialects  *federation.Dialects
	Svc       *community.Service
	Posts     *community.Posts
	Mod       *community.Moderation
	Metrics   *federation.Metrics
	Started   time.Time
}

// userAgent is what Agora says it is: instances block empty user agents.
func userAgent(base string) string { return "agora/" + Version + " (+" + base + ")" }

// NewLogger makes the slog logger the config asks for.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// OpenDB opens the database the config names: PostgreSQL at cfg.Database,
// else SQLite in cfg.DataDir.
func OpenDB(ctx context.Context, cfg Config) (storage.Store, error) {
	if cfg.Database != "" {
		opts := cfg.PG
		if opts.Node == "" {
			opts.Node = NodeName(cfg)
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

// NodeName is the node's name in its claims on a shared database: the
// config's, else the host name and listen address, which stay the same
// across restarts and differ between two nodes on one machine.
func NodeName(cfg Config) string {
	if cfg.Node != "" {
		return cfg.Node
	}
	host, _ := os.Hostname()
	return host + "/" + cfg.Listen
}

// DataWhere says where the data is, for logs: the data_dir, or the
// PostgreSQL database without its password, and this node's name.
func DataWhere(cfg Config) string {
	if cfg.Database == "" {
		return cfg.DataDir
	}
	u, err := url.Parse(cfg.Database)
	if err != nil {
		return "PostgreSQL"
	}
	u.User = url.User(u.User.Username())
	u.RawQuery = ""
	return u.Redacted() + " as node " + NodeName(cfg)
}

// Open opens the database (OpenDB) and wires everything. With
// withDeliverer, the Deliverer is woken by what is queued, for serve to
// run it; the CLI does not run it and leaves delivery to serve (it uses
// it to clear hosts, as the console does).
func Open(ctx context.Context, cfg Config, log *slog.Logger, metrics *federation.Metrics, withDeliverer bool) (*App, error) {
	db, err := OpenDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.BaseURL) // validated already
	a := &App{Cfg: cfg, Log: log, DB: db, Metrics: metrics, Started: time.Now().UTC()}
	if a.Metrics == nil {
		a.Metrics = federation.NewMetrics(nil)
	}
	a.Local = federation.NewLocal(base, db, nil)
	// The instance key is made on first start and kept for ever.
	if _, err := a.Local.PrivateKey(ctx, federation.InstanceKeyOwner); err != nil {
		db.Close()
		return nil, err
	}
	a.Client = federation.NewHTTPClient(federation.ClientConfig{
		AllowPrivate:   cfg.AllowPrivateAddresses,
		UserAgent:      userAgent(cfg.BaseURL),
		ConnectTimeout: cfg.Delivery.ConnectTimeout.Duration,
		RequestTimeout: cfg.Delivery.RequestTimeout.Duration,
	})
	if cfg.WrapTransport != nil {
		a.Client.Transport = cfg.WrapTransport(db, a.Client.Transport)
	}
	a.Fetcher = federation.NewLimitedFetcher(a.Client, func(r *http.Request) error {
		key, err := a.Local.SigningKey(r.Context(), federation.InstanceKeyOwner)
		if err != nil {
			return err
		}
		return federation.SignRequest(r, key, nil, time.Now())
	}, cfg.FetchLimits)
	a.Keys = federation.NewKeyCache(a.Fetcher, db, federation.KeyCacheConfig{})
	a.Actors = federation.NewActors(db, a.Fetcher, nil)
	// The instance's actors are dated by the instance key, made on first
	// start: their published stays the same across restarts.
	created, err := db.LocalKeyCreated(ctx, federation.InstanceKeyOwner)
	if err != nil {
		db.Close()
		return nil, err
	}
	a.Docs = federation.NewDocuments(a.Local, db, db, created)
	a.Docs.SummaryHTML = func(s string) string { return string(web.Markdown(s)) } // as the community page shows it
	a.Dialects = federation.NewDialects(db, a.Client, nil)
	a.Deliverer = federation.NewDeliverer(federation.DelivererDeps{
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
		Local:     a.Local,
		Client:    a.Client,
		UserAgent: userAgent(cfg.BaseURL),
		Metrics:   a.Metrics,
		Log:       log,
		Refused: func(ctx context.Context, dl federation.Delivery, status int) (bool, error) {
			return a.Publisher.DeliveryRefused(ctx, dl, status) // made below, before Run
		},
	})
	var notify func()
	if withDeliverer {
		notify = a.Deliverer.Notify
	}
	a.Publisher = federation.NewPublisher(federation.PublisherDeps{
		Local: a.Local, Docs: a.Docs, Queue: db, Actors: a.Actors, Inboxes: db,
		Dialects: a.Dialects, Announces: db, Notify: notify,
	})
	a.Svc = community.NewService(db, db, a.Publisher, nil)
	a.Posts = community.NewPosts(db, a.Publisher, community.Limits{
		MaxMentions: cfg.Posting.MaxMentions,
		RatePosts:   cfg.Posting.RatePosts,
		RateWindow:  cfg.Posting.RateWindow.Duration,
	}, nil)
	a.Mod = community.NewModeration(community.ModerationDeps{
		Service: a.Svc, Store: db, Posts: db, Mods: db, Publisher: a.Publisher, PostPublisher: a.Publisher,
		ModPublisher: a.Publisher, Resolver: federation.NewResolver(a.Fetcher, cfg.AllowPrivateAddresses),
		PostPages: func(c community.Community) string { return a.Local.CommunityIRI(c.Name) + "/p/" },
	})
	return a, nil
}

func (a *App) Close() error { return a.DB.Close() }

// Listen hears the other nodes that share the PostgreSQL database until
// ctx ends (storage/postgres: LISTEN/NOTIFY, reconnecting on its own):
// deliveries another node queued go to the deliverer at once, activities
// it recorded call wakeInbox, and writes to the cached tables empty this
// node's cache (which caches only while it listens). On SQLite there is
// no other node: it returns at once.
func (a *App) Listen(ctx context.Context, wakeInbox func()) {
	pg, ok := a.DB.(*postgres.DB)
	if !ok {
		return
	}
	pg.Listen(ctx, func(ch string) {
		switch ch {
		case postgres.ChannelDeliveries:
			if a.Deliverer != nil {
				a.Deliverer.Notify()
			}
		case postgres.ChannelInbox:
			wakeInbox()
		}
	})
}

// Listening tells whether Listen hears the other nodes now (never on
// SQLite).
func (a *App) Listening() bool {
	pg, ok := a.DB.(*postgres.DB)
	return ok && pg.Listening()
}

// NewInbox makes the inbox pipeline over the app's parts.
func (a *App) NewInbox(metrics *federation.Metrics) *federation.Inbox {
	return federation.NewInbox(federation.InboxDeps{
		Local: a.Local, Keys: a.Keys, Store: a.DB, Actors: a.Actors, ActorCache: a.DB,
		Service: a.Svc, Posts: a.Posts, Fetcher: a.Fetcher, Dialects: a.Dialects,
		Members: a.DB, Moderation: a.Mod, Deliverer: a.Deliverer, Schemes: a.DB, Metrics: metrics, Log: a.Log,
		RetryDelays: a.Cfg.ProcessRetries, Workers: a.Cfg.Inbox.Workers,
	})
}

// CreateCommunity creates a community and makes its key now rather than at
// the first request.
func (a *App) CreateCommunity(ctx context.Context, c community.Community) (community.Community, error) {
	c, err := a.Svc.Create(ctx, c)
	if err != nil {
		return c, err
	}
	_, err = a.Local.PrivateKey(ctx, federation.CommunityKeyOwner(c.Name))
	return c, err
}
