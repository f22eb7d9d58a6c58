package agora

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage"
	"github.com/agorafed/agora/storage/postgres"
)

// Config is agora.toml. Every key is documented in config.example.toml.
type Config struct {
	BaseURL string `toml:"base_url"`
	Listen  string `toml:"listen"`
	DataDir string `toml:"data_dir"`
	// Database, when set, is a PostgreSQL database
	// (postgres://user@host/db) that several nodes may share; without
	// it, SQLite in data_dir.
	Database string `toml:"database"`
	// Node names this node in its claims on a shared database; default:
	// the host name and listen. Two nodes need different names, and a
	// node keeps its name across restarts.
	Node string `toml:"node"`
	// NodeLease is how long a node's claim on an activity or a delivery
	// lasts on a shared database: what a node killed mid-work leaves
	// waits that long before another node takes it (default 2m).
	NodeLease             Duration `toml:"node_lease"`
	AllowPrivateAddresses bool     `toml:"allow_private_addresses"`
	AuthorizedFetch       bool     `toml:"authorized_fetch"`
	LogLevel              string   `toml:"log_level"`
	LogFormat             string   `toml:"log_format"`
	// TrustedProxies are the reverse proxies (CIDRs or addresses) whose
	// X-Forwarded-For names the client for the rate limits.
	TrustedProxies []string       `toml:"trusted_proxies"`
	Delivery       DeliveryConfig `toml:"delivery"`
	Posting        PostingConfig  `toml:"posting"`
	Inbox          InboxConfig    `toml:"inbox"`
	Metrics        MetricsConfig  `toml:"metrics"`

	Timeouts Timeouts // not in the file: tests shorten them
	// ProcessRetries, when set, replaces the waits before new attempts at
	// an inbox activity that failed (not in the file: tests shorten them).
	ProcessRetries []time.Duration
	// FetchLimits, when set, replaces the Fetcher's default limits (not in
	// the file: tests shorten them).
	FetchLimits federation.FetchLimits
	// WrapTransport, when set, wraps the transport of every outgoing
	// request (not in the file: tests check that none is made while a
	// write transaction is open).
	WrapTransport func(storage.Store, http.RoundTripper) http.RoundTripper
	// PG, when set, tunes the PostgreSQL store (not in the file: tests
	// shorten its leases).
	PG postgres.Options
}

// InboxConfig is the [inbox] table: what one client may make the inboxes
// do. 0 is no limit.
type InboxConfig struct {
	MaxConcurrent int      `toml:"max_concurrent"`
	RatePerIP     int      `toml:"rate_per_ip"`
	RatePerActor  int      `toml:"rate_per_actor"`
	RateWindow    Duration `toml:"rate_window"`
	// Workers process recorded activities; 0: 8 per core.
	Workers int `toml:"workers"`
}

// MetricsConfig is the [metrics] table: where the Prometheus metrics are
// served. With neither key, they are not served.
type MetricsConfig struct {
	// Listen is an address of their own (host:port), with no token.
	Listen string `toml:"listen"`
	// Token, when set, serves them on the main listener too, to requests
	// with "Authorization: Bearer <token>".
	Token string `toml:"token"`
}

// PostingConfig is the [posting] table: the instance's anti-spam limits.
type PostingConfig struct {
	MaxMentions int      `toml:"max_mentions"`
	RatePosts   int      `toml:"rate_posts"`
	RateWindow  Duration `toml:"rate_window"`
}

// DeliveryConfig is the [delivery] table.
type DeliveryConfig struct {
	Workers          int      `toml:"workers"`
	PerHost          int      `toml:"per_host"`
	MaxAttempts      int      `toml:"max_attempts"`
	ConnectTimeout   Duration `toml:"connect_timeout"`
	RequestTimeout   Duration `toml:"request_timeout"`
	UnavailableAfter Duration `toml:"unavailable_after"`
	ShutdownTimeout  Duration `toml:"shutdown_timeout"`
}

// Duration is a time.Duration written as "30s", "7d" or "168h".
type Duration struct{ time.Duration }

// UnmarshalText reads a duration; "d" counts days.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid duration %q", s)
		}
		d.Duration = time.Duration(n) * 24 * time.Hour
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, 7d)", s)
	}
	d.Duration = v
	return nil
}

// DefaultConfig is what `agora serve` runs on with no config file at all.
// The delivery defaults are federation's (DefaultDeliveryConfig), stated
// there once.
func DefaultConfig() Config {
	del := federation.DefaultDeliveryConfig()
	return Config{
		BaseURL:   "http://localhost:8080",
		Listen:    "127.0.0.1:8080",
		DataDir:   "./agora-data",
		NodeLease: Duration{2 * time.Minute},
		LogLevel:  "info",
		LogFormat: "text",
		Delivery: DeliveryConfig{
			Workers:          del.Workers,
			PerHost:          del.PerHost,
			MaxAttempts:      del.MaxAttempts,
			ConnectTimeout:   Duration{10 * time.Second},
			RequestTimeout:   Duration{del.RequestTimeout},
			UnavailableAfter: Duration{del.UnavailableAfter},
			ShutdownTimeout:  Duration{del.ShutdownTimeout},
		},
		Posting:        PostingConfig{MaxMentions: 3, RatePosts: 10, RateWindow: Duration{time.Hour}},
		TrustedProxies: []string{"127.0.0.0/8", "::1/128"},
		Inbox:          InboxConfig{MaxConcurrent: 256, RatePerIP: 1200, RatePerActor: 120, RateWindow: Duration{time.Minute}},
	}
}

// LoadConfig reads the defaults, then the file (if path is not empty),
// then AGORA_* environment variables, and validates the result. Errors
// name the key at fault.
func LoadConfig(path string, env func(string) string) (Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		md, err := toml.DecodeFile(path, &cfg)
		if err != nil {
			var perr toml.ParseError
			if errors.As(err, &perr) {
				return cfg, fmt.Errorf("config %s: %s", path, strings.TrimSpace(perr.ErrorWithPosition()))
			}
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return cfg, fmt.Errorf("config %s: unknown key %q", path, und[0].String())
		}
	}
	if err := applyEnv(&cfg, env); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// applyEnv applies AGORA_<KEY> overrides (AGORA_DELIVERY_<KEY> for the
// [delivery] table).
func applyEnv(cfg *Config, env func(string) string) error {
	str := func(key string, dst *string) {
		if v := env(key); v != "" {
			*dst = v
		}
	}
	boolean := func(key string, dst *bool) error {
		if v := env(key); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("environment %s: want true or false, got %q", key, v)
			}
			*dst = b
		}
		return nil
	}
	integer := func(key string, dst *int) error {
		if v := env(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("environment %s: want a whole number, got %q", key, v)
			}
			*dst = n
		}
		return nil
	}
	duration := func(key string, dst *Duration) error {
		if v := env(key); v != "" {
			if err := dst.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("environment %s: %w", key, err)
			}
		}
		return nil
	}
	str("AGORA_BASE_URL", &cfg.BaseURL)
	str("AGORA_LISTEN", &cfg.Listen)
	str("AGORA_DATA_DIR", &cfg.DataDir)
	str("AGORA_DATABASE", &cfg.Database)
	str("AGORA_NODE", &cfg.Node)
	if err := duration("AGORA_NODE_LEASE", &cfg.NodeLease); err != nil {
		return err
	}
	str("AGORA_LOG_LEVEL", &cfg.LogLevel)
	str("AGORA_LOG_FORMAT", &cfg.LogFormat)
	str("AGORA_METRICS_LISTEN", &cfg.Metrics.Listen)
	str("AGORA_METRICS_TOKEN", &cfg.Metrics.Token)
	if v := env("AGORA_TRUSTED_PROXIES"); v != "" {
		cfg.TrustedProxies = splitList(v) // "none": trust no proxy
	}
	d := &cfg.Delivery
	return errors.Join(
		boolean("AGORA_ALLOW_PRIVATE_ADDRESSES", &cfg.AllowPrivateAddresses),
		boolean("AGORA_AUTHORIZED_FETCH", &cfg.AuthorizedFetch),
		integer("AGORA_DELIVERY_WORKERS", &d.Workers),
		integer("AGORA_DELIVERY_PER_HOST", &d.PerHost),
		integer("AGORA_DELIVERY_MAX_ATTEMPTS", &d.MaxAttempts),
		duration("AGORA_DELIVERY_CONNECT_TIMEOUT", &d.ConnectTimeout),
		duration("AGORA_DELIVERY_REQUEST_TIMEOUT", &d.RequestTimeout),
		duration("AGORA_DELIVERY_UNAVAILABLE_AFTER", &d.UnavailableAfter),
		duration("AGORA_DELIVERY_SHUTDOWN_TIMEOUT", &d.ShutdownTimeout),
		integer("AGORA_POSTING_MAX_MENTIONS", &cfg.Posting.MaxMentions),
		integer("AGORA_POSTING_RATE_POSTS", &cfg.Posting.RatePosts),
		duration("AGORA_POSTING_RATE_WINDOW", &cfg.Posting.RateWindow),
		integer("AGORA_INBOX_MAX_CONCURRENT", &cfg.Inbox.MaxConcurrent),
		integer("AGORA_INBOX_RATE_PER_IP", &cfg.Inbox.RatePerIP),
		integer("AGORA_INBOX_RATE_PER_ACTOR", &cfg.Inbox.RatePerActor),
		duration("AGORA_INBOX_RATE_WINDOW", &cfg.Inbox.RateWindow),
		integer("AGORA_INBOX_WORKERS", &cfg.Inbox.Workers),
	)
}

func (c *Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("config base_url: want the public URL with scheme and host only, like https://groups.example.org, got %q", c.BaseURL)
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.Listen == "" {
		return errors.New("config listen: must not be empty (host:port)")
	}
	if c.DataDir == "" {
		return errors.New("config data_dir: must not be empty")
	}
	if c.Database != "" {
		if u, err := url.Parse(c.Database); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("config database: want a PostgreSQL URL like postgres://agora@db.example/agora (or leave it out for SQLite in data_dir)")
		}
		if _, err := pgxpool.ParseConfig(c.Database); err != nil {
			return fmt.Errorf("config database: %v", err)
		}
	}
	// A delivery claimed runs to its request timeout, after waiting in
	// the node's hand for its host's turn: a lease shorter than twice the
	// timeout could run out under it, and another node send it again.
	if c.NodeLease.Duration < 2*c.Delivery.RequestTimeout.Duration {
		return fmt.Errorf("config node_lease: want at least twice delivery.request_timeout (%v), got %v",
			c.Delivery.RequestTimeout.Duration, c.NodeLease.Duration)
	}
	for i, p := range c.TrustedProxies {
		norm, err := proxyPrefix(p)
		if err != nil {
			return fmt.Errorf("config trusted_proxies: want CIDRs or addresses like 127.0.0.0/8 or 10.0.0.2, got %q", p)
		}
		c.TrustedProxies[i] = norm
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config log_level: want debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("config log_format: want text or json, got %q", c.LogFormat)
	}
	d := c.Delivery
	switch {
	case d.Workers < 1 || d.Workers > 10000:
		return fmt.Errorf("config delivery.workers: want 1 to 10000, got %d", d.Workers)
	case d.PerHost < 1 || d.PerHost > d.Workers:
		return fmt.Errorf("config delivery.per_host: want 1 to delivery.workers, got %d", d.PerHost)
	case d.MaxAttempts < 1:
		return fmt.Errorf("config delivery.max_attempts: want at least 1, got %d", d.MaxAttempts)
	case d.ConnectTimeout.Duration <= 0:
		return errors.New("config delivery.connect_timeout: must be positive")
	case d.RequestTimeout.Duration <= 0:
		return errors.New("config delivery.request_timeout: must be positive")
	case d.UnavailableAfter.Duration <= 0:
		return errors.New("config delivery.unavailable_after: must be positive")
	}
	p := c.Posting
	switch {
	case p.MaxMentions < 0:
		return fmt.Errorf("config posting.max_mentions: want 0 (no limit) or more, got %d", p.MaxMentions)
	case p.RatePosts < 0:
		return fmt.Errorf("config posting.rate_posts: want 0 (no limit) or more, got %d", p.RatePosts)
	case p.RatePosts > 0 && p.RateWindow.Duration <= 0:
		return errors.New("config posting.rate_window: must be positive")
	}
	in := c.Inbox
	switch {
	case in.MaxConcurrent < 0:
		return fmt.Errorf("config inbox.max_concurrent: want 0 (no limit) or more, got %d", in.MaxConcurrent)
	case in.RatePerIP < 0:
		return fmt.Errorf("config inbox.rate_per_ip: want 0 (no limit) or more, got %d", in.RatePerIP)
	case in.RatePerActor < 0:
		return fmt.Errorf("config inbox.rate_per_actor: want 0 (no limit) or more, got %d", in.RatePerActor)
	case in.Workers < 0:
		return fmt.Errorf("config inbox.workers: want 0 (8 per core) or more, got %d", in.Workers)
	case (in.RatePerIP > 0 || in.RatePerActor > 0) && in.RateWindow.Duration < time.Second:
		return errors.New("config inbox.rate_window: must be at least 1s")
	}
	if t := c.Metrics.Token; t != "" && len(t) < 16 {
		return fmt.Errorf("config metrics.token: want at least 16 characters (a random one: openssl rand -hex 16), got %d", len(t))
	}
	return nil
}

// proxyPrefix is p as a CIDR: an address alone is a prefix of its full
// length.
func proxyPrefix(p string) (string, error) {
	p = strings.TrimSpace(p)
	if pfx, err := netip.ParsePrefix(p); err == nil {
		return pfx.Masked().String(), nil
	}
	a, err := netip.ParseAddr(p)
	if err != nil {
		return "", err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String(), nil
}

// splitList is a comma-separated environment value as a list; "none" is
// an empty one.
func splitList(v string) []string {
	out := []string{}
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" && f != "none" {
			out = append(out, f)
		}
	}
	return out
}
