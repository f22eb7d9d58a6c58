package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/web"
)

// stdin is where `agora admin create` reads the password; tests replace it.
var stdin io.Reader = os.Stdin

func cmdAdmin(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, usage)
		return agora.UsageError{Msg: "admin: use 'agora admin create NAME'"}
	}
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	configPath := agora.ConfigFlag(fs, env)
	pos, err := agora.ParseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return agora.UsageError{Msg: "admin create: give exactly one NAME"}
	}
	name := pos[0]
	if err := web.ValidateAdminName(name); err != nil {
		return err
	}
	cfg, err := agora.LoadConfig(*configPath, env)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Password for %s (at least %d characters), then Enter: ", name, web.MinPassword)
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return fmt.Errorf("admin create: read password: %w", err)
	}
	fmt.Fprintln(stderr)
	hash, err := web.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return err
	}
	a, err := agora.Open(ctx, cfg, agora.NewLogger(cfg, stderr), nil, false)
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.DB.CreateAdmin(ctx, name, hash, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "admin %s created: log in at %s/admin/login\n", name, cfg.BaseURL)
	return nil
}

// printSetupLink prints a one-time link that creates the first admin
// account, while there is none: on the console and in the log.
func printSetupLink(ctx context.Context, a *agora.App, stdout io.Writer) error {
	n, err := a.DB.CountAdmins(ctx)
	if err != nil || n > 0 {
		return err
	}
	link, err := web.NewSetupLink(ctx, a.DB, a.Cfg.BaseURL, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "No admin account yet. Create the first one within 24 hours at:\n  %s\n(or run 'agora admin create NAME')\n", link)
	a.Log.Info("setup link for the first admin account", "url", link)
	return nil
}
