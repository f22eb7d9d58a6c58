package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/agorafed/agora/cmd/internal/agora"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := agora.ConfigFlag(fs, env)
	pos, err := agora.ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return agora.UsageError{Msg: fmt.Sprintf("serve: unexpected argument %q", pos[0])}
	}
	cfg, err := agora.LoadConfig(*configPath, env)
	if err != nil {
		return err
	}
	log := agora.NewLogger(cfg, stderr)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	srv, err := agora.Start(ctx, cfg, log, ln)
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(stdout, "agora %s serving %s on http://%s (data in %s)\n", agora.Version, cfg.BaseURL, ln.Addr(), cfg.DataDir)
	if err := printSetupLink(ctx, srv.App, stdout); err != nil {
		srv.Stop()
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-srv.ServeErr:
		srv.Stop()
		return fmt.Errorf("serve: %w", err)
	}
	srv.Stop()
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
