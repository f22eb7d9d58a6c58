package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage/postgres"
	"github.com/agorafed/agora/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := configFlag(fs, env)
	listen := fs.String("listen", "", "the address to listen on, host:port (overrides listen and AGORA_LISTEN)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("serve: unexpected argument %q", pos[0])}
	}
	cfg, src, err := loadCLIConfig(*configPath, env)
	if err != nil {
		return err
	}
	if *listen != "" {
		if _, _, err := net.SplitHostPort(*listen); err != nil {
			return usageError{fmt.Sprintf("serve --listen %q: want host:port, like 127.0.0.1:8080 or :8080", *listen)}
		}
		cfg.Listen = *listen
	}
	if note, warn := reconcileListen(&cfg); note != "" {
		fmt.Fprintln(stderr, "agora:", note)
	} else if warn != "" {
		fmt.Fprintln(stderr, "agora: warning:", warn)
	}
	log := newLogger(cfg, stderr)
	log.Info("config", "source", src.String())

	// On SQLite one server uses a data_dir; on PostgreSQL, several nodes
	// share the database and claim their work in it.
	if cfg.Database == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
		}
		unlock, err := lockDataDir(cfg.DataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	srv, err := startServer(ctx, cfg, log, ln)
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(stdout, "agora %s serving %s on http://%s (data in %s)\n", version, cfg.BaseURL, ln.Addr(), dataWhere(cfg))
	if err := printSetupLink(ctx, srv.app, stdout); err != nil {
		srv.Stop()
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-srv.serveErr:
		srv.Stop()
		return fmt.Errorf("serve: %w", err)
	}
	srv.Stop()
	log.Info("stopped")
	return nil
}

// reconcileListen compares base_url with listen on a loopback setup,
// where a browser reaches Agora at base_url directly: the setup link and
// every actor id must name the port Agora listens on. Left at its default,
// base_url follows listen (note); set to another port, it gets a warning.
func reconcileListen(cfg *Config) (note, warn string) {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || !isLoopbackHost(base.Hostname()) {
		return "", "" // a public base_url: a proxy in front maps the ports
	}
	lhost, lport, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return "", ""
	}
	bport := base.Port()
	if bport == "" {
		bport = map[string]string{"http": "80", "https": "443"}[base.Scheme]
	}
	if lport == bport || lport == "0" {
		return "", ""
	}
	if lhost != "" && !isLoopbackHost(lhost) && lhost != "0.0.0.0" && lhost != "::" {
		return "", "" // listening elsewhere than on this machine's loopback
	}
	if cfg.BaseURL == defaultConfig().BaseURL {
		cfg.BaseURL = base.Scheme + "://" + net.JoinHostPort(base.Hostname(), lport)
		return fmt.Sprintf("base_url is not set: it follows listen %s and is %s", cfg.Listen, cfg.BaseURL), ""
	}
	return "", fmt.Sprintf("base_url %s names port %s on this machine, but Agora listens on %s: links it prints and actor ids point where nothing answers. Set base_url to %s://%s, unless a proxy on port %s forwards to Agora.",
		cfg.BaseURL, bport, cfg.Listen, base.Scheme, net.JoinHostPort(base.Hostname(), lport), bport)
}

// isLoopbackHost tells whether a host name or address is this machine.
func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// server is a running Agora: HTTP server, inbox processor and delivery
// workers.
type server struct {
	app      *app
	inbox    *federation.Inbox
	http     *http.Server
	metrics  *http.Server // on metrics.listen; nil: none
	serveErr chan error
	stopWork context.CancelFunc
	wg       sync.WaitGroup
}

// startServer wires Agora on cfg and serves on ln until Stop.
func startServer(ctx context.Context, cfg Config, log *slog.Logger, ln net.Listener) (*server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := federation.NewMetrics(reg)
	a, err := openApp(ctx, cfg, log, metrics, true)
	if err != nil {
		return nil, err
	}
	federation.RegisterQueueDepth(reg, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := a.db.QueueDepth(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	s := &server{app: a, serveErr: make(chan error, 1)}
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if cfg.Metrics.Listen != "" {
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("metrics.listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metricsHandler)
		s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute}
		go s.metrics.Serve(mln)
		log.Info("metrics listening", "listen", mln.Addr().String())
	}
	s.inbox = a.newInbox(metrics)
	handler := web.New(web.Deps{
		Local:           a.local,
		Docs:            a.docs,
		Communities:     a.svc,
		Posts:           a.posts,
		Moderation:      a.mod,
		Activities:      a.db,
		Inbox:           s.inbox,
		Keys:            a.keys,
		AuthorizedFetch: cfg.AuthorizedFetch,
		TrustedProxies:  cfg.TrustedProxies,
		Limits:          web.Limits{MaxConcurrent: cfg.Inbox.MaxConcurrent, PerIP: cfg.Inbox.RatePerIP, PerActor: cfg.Inbox.RatePerActor, Window: cfg.Inbox.RateWindow.Duration},
		Version:         version,
		Metrics:         metricsHandler,
		MetricsToken:    cfg.Metrics.Token,
		Health:          func(ctx context.Context) error { _, err := a.db.QueueDepth(ctx); return err },
		Admin:           a.db,
		Pages:           a.db,
		Actors:          a.db,
		Delivery:        a.db,
		Hosts:           a.deliverer,
		Finger:          a.fetcher,
		AllowHTTP:       cfg.AllowPrivateAddresses,
		Resolver:        federation.NewResolver(a.fetcher, cfg.AllowPrivateAddresses),
		Log:             log,
	})
	timeouts := cfg.timeouts.orDefaults()
	s.http = &http.Server{
		Handler: handler,
		// Slow clients must not hold connections: limits on every phase.
		ReadHeaderTimeout: timeouts.ReadHeader,
		ReadTimeout:       timeouts.Read,
		WriteTimeout:      timeouts.Write,
		IdleTimeout:       timeouts.Idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	var work context.Context
	work, s.stopWork = context.WithCancel(context.Background())
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := a.deliverer.Run(work); err != nil {
			log.Error("delivery stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.inbox.Run(work)
	}()
	if pg, ok := a.db.(*postgres.DB); ok {
		// Deliveries another node queued (a post it processed) and
		// activities it recorded are shared out at once, not at this
		// node's next poll.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			pg.Listen(work, func(ch string) {
				switch ch {
				case postgres.ChannelDeliveries:
					a.deliverer.Notify()
				case postgres.ChannelInbox:
					s.inbox.Wake()
				}
			})
		}()
	}
	go func() { s.serveErr <- s.http.Serve(ln) }()
	log.Info("agora listening", "listen", ln.Addr().String(), "base_url", cfg.BaseURL, "data", dataWhere(cfg), "version", version)
	return s, nil
}

// Stop stops accepting requests, lets in-flight deliveries finish for up
// to delivery.shutdown_timeout (the rest stay queued), and closes the
// database.
func (s *server) Stop() {
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.http.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.app.log.Warn("shutdown", "err", err)
	}
	if s.metrics != nil {
		s.metrics.Shutdown(shutCtx)
	}
	s.stopWork()
	s.wg.Wait()
	s.app.client.CloseIdleConnections() // a Stop without exit (tests, benchmarks) must not keep them
	s.app.Close()
}

// lockDataDir makes sure one server at a time uses a data dir: two would
// deliver every queued activity twice. The CLI does not take the lock.
func lockDataDir(dir string) (func(), error) {
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data_dir %s is in use by another 'agora serve' (lock %s): %w", dir, path, err)
	}
	return func() { f.Close() }, nil
}

// dataWhere says where the data is, for logs: the data_dir, or the
// PostgreSQL database without its password, and this node's name.
func dataWhere(cfg Config) string {
	if cfg.Database == "" {
		return cfg.DataDir
	}
	u, err := url.Parse(cfg.Database)
	if err != nil {
		return "PostgreSQL"
	}
	u.User = url.User(u.User.Username())
	u.RawQuery = ""
	return u.Redacted() + " as node " + nodeName(cfg)
}
