package agora

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is a running Agora: HTTP server, inbox processor and delivery
// workers.
type Server struct {
	App      *App
	Inbox    *federation.Inbox
	http     *http.Server
	metrics  *http.Server // on metrics.listen; nil: none
	ServeErr chan error
	stopWork context.CancelFunc
	wg       sync.WaitGroup
}

// Start wires Agora on cfg and serves on ln until Stop.
func Start(ctx context.Context, cfg Config, log *slog.Logger, ln net.Listener) (*Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := federation.NewMetrics(reg)
	a, err := Open(ctx, cfg, log, metrics, true)
	if err != nil {
		return nil, err
	}
	federation.RegisterQueueDepth(reg, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := a.DB.QueueDepth(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	federation.RegisterInboxDepth(reg, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := a.DB.UnprocessedCount(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	s := &Server{App: a, ServeErr: make(chan error, 1)}
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
	s.Inbox = a.NewInbox(metrics)
	handler := web.New(web.Deps{
		Local:           a.Local,
		Docs:            a.Docs,
		Communities:     a.Svc,
		Posts:           a.Posts,
		Moderation:      a.Mod,
		Activities:      a.DB,
		Inbox:           s.Inbox,
		Keys:            a.Keys,
		AuthorizedFetch: cfg.AuthorizedFetch,
		TrustedProxies:  cfg.TrustedProxies,
		Limits:          web.Limits{MaxConcurrent: cfg.Inbox.MaxConcurrent, PerIP: cfg.Inbox.RatePerIP, PerActor: cfg.Inbox.RatePerActor, Window: cfg.Inbox.RateWindow.Duration},
		Version:         Version,
		Metrics:         metricsHandler,
		MetricsToken:    cfg.Metrics.Token,
		HTTPMetrics:     web.NewHTTPMetrics(reg),
		Health:          func(ctx context.Context) error { _, err := a.DB.QueueDepth(ctx); return err },
		Admin:           a.DB,
		Pages:           a.DB,
		Actors:          a.DB,
		Delivery:        a.DB,
		Hosts:           a.Deliverer,
		Finger:          a.Fetcher,
		Software:        a.Dialects,
		API:             a.Fetcher,
		AllowHTTP:       cfg.AllowPrivateAddresses,
		Resolver:        federation.NewResolver(a.Fetcher, cfg.AllowPrivateAddresses),
		Log:             log,
	})
	timeouts := cfg.Timeouts.OrDefaults()
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
		if err := a.Deliverer.Run(work); err != nil {
			log.Error("delivery stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.Inbox.Run(work)
	}()
	// Deliveries another node queued (a post it processed) and activities
	// it recorded are shared out at once, not at this node's next poll.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		a.Listen(work, s.Inbox.Wake)
	}()
	go func() { s.ServeErr <- s.http.Serve(ln) }()
	log.Info("agora listening", "listen", ln.Addr().String(), "base_url", cfg.BaseURL, "data", DataWhere(cfg), "version", Version)
	return s, nil
}

// Stop stops accepting requests, lets in-flight deliveries finish for up
// to delivery.shutdown_timeout (the rest stay queued), and closes the
// database.
func (s *Server) Stop() {
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.http.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.App.Log.Warn("shutdown", "err", err)
	}
	if s.metrics != nil {
		s.metrics.Shutdown(shutCtx)
	}
	s.stopWork()
	s.wg.Wait()
	s.App.Client.CloseIdleConnections() // a Stop without exit (tests, benchmarks) must not keep them
	s.App.Close()
}
