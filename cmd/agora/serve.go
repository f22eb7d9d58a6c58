package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := configFlag(fs, env)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("serve: unexpected argument %q", pos[0])}
	}
	cfg, err := loadConfig(*configPath, env)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := federation.NewMetrics(reg)
	a, err := openApp(ctx, cfg, log, metrics, true)
	if err != nil {
		return err
	}
	defer a.Close()
	federation.RegisterQueueDepth(reg, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := a.db.QueueDepth(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})

	inbox := federation.NewInbox(federation.InboxDeps{
		Local: a.local, Keys: a.keys, Store: a.db, Actors: a.actors, ActorCache: a.db,
		Service: a.svc, Members: a.db, Deliverer: a.deliverer, Metrics: metrics, Log: log,
	})
	handler := web.New(web.Deps{
		Local:           a.local,
		Docs:            a.docs,
		Communities:     a.svc,
		Inbox:           inbox,
		Keys:            a.keys,
		AuthorizedFetch: cfg.AuthorizedFetch,
		Version:         version,
		Metrics:         promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Health:          func(ctx context.Context) error { _, err := a.db.QueueDepth(ctx); return err },
		Log:             log,
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler: handler,
		// Slow clients must not hold connections: limits on every phase.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}

	workCtx, stopWork := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := a.deliverer.Run(workCtx); err != nil {
			log.Error("delivery stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		inbox.Run(workCtx)
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("agora listening", "listen", ln.Addr().String(), "base_url", cfg.BaseURL, "data_dir", cfg.DataDir, "version", version)
	fmt.Fprintf(stdout, "agora %s serving %s on http://%s (data in %s)\n", version, cfg.BaseURL, ln.Addr(), cfg.DataDir)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		stopWork()
		wg.Wait()
		return fmt.Errorf("serve: %w", err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("shutdown", "err", err)
	}
	// In-flight deliveries get up to delivery.shutdown_timeout; the rest
	// stay queued for the next start.
	stopWork()
	wg.Wait()
	log.Info("stopped")
	return nil
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
