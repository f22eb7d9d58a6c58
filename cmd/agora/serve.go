package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/agorafed/agora/cmd/internal/agora"
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
		return usageError{Msg: fmt.Sprintf("serve: unexpected argument %q", pos[0])}
	}
	cfg, src, err := loadCLIConfig(*configPath, env)
	if err != nil {
		return err
	}
	if *listen != "" {
		if _, _, err := net.SplitHostPort(*listen); err != nil {
			return usageError{Msg: fmt.Sprintf("serve --listen %q: want host:port, like 127.0.0.1:8080 or :8080", *listen)}
		}
		cfg.Listen = *listen
	}
	if note, warn := reconcileListen(&cfg); note != "" {
		fmt.Fprintln(stderr, "agora:", note)
	} else if warn != "" {
		fmt.Fprintln(stderr, "agora: warning:", warn)
	}
	log := agora.NewLogger(cfg, stderr)
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
	srv, err := agora.Start(ctx, cfg, log, ln)
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(stdout, "agora %s serving %s on http://%s (data in %s)\n", agora.Version, cfg.BaseURL, ln.Addr(), agora.DataWhere(cfg))
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

// reconcileListen compares base_url with listen on a loopback setup,
// where a browser reaches Agora at base_url directly: the setup link and
// every actor id must name the port Agora listens on. Left at its default,
// base_url follows listen (note); set to another port, it gets a warning.
func reconcileListen(cfg *agora.Config) (note, warn string) {
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
	if cfg.BaseURL == agora.DefaultConfig().BaseURL {
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
