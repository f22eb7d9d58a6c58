package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agorafed/agora/community"
)

// cmdHost lists the remote hosts the delivery queue is having trouble
// with, and clears one that an admin knows is back.
func cmdHost(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		printGroupHelp(stderr, "host")
		return usageError{Msg: "host: which command? list, clear"}
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("host "+sub, flag.ContinueOnError)
	configPath := configFlag(fs, env)
	var all *bool
	want := 0
	switch sub {
	case "list":
		all = fs.Bool("all", false, "every host heard of, not only those failing or with queued deliveries")
	case "clear":
		want = 1
	default:
		return usageError{Msg: fmt.Sprintf("host: unknown command %q", sub)}
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != want {
		return usageError{Msg: fmt.Sprintf("host %s: want %d argument(s), got %d (see agora help)", sub, want, len(pos))}
	}
	cfg, src, err := loadCLIConfig(*configPath, env)
	if err != nil {
		return err
	}
	a, err := openCLI(ctx, cfg, src, stderr, "host "+sub, false)
	if err != nil {
		return err
	}
	defer a.Close()

	switch sub {
	case "list":
		hosts, err := a.DB.HostStatuses(ctx, *all)
		if err != nil {
			return fmt.Errorf("host list: %w", err)
		}
		if len(hosts) == 0 {
			fmt.Fprintln(stdout, "no host is failing and nothing is queued")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HOST\tSTATE\tSINCE\tQUEUED\tSOFTWARE\tLAST ERROR")
		for _, h := range hosts {
			state, since := "ok", time.Time{}
			switch {
			case !h.UnavailableSince.IsZero():
				state, since = "unavailable", h.UnavailableSince
			case !h.FailingSince.IsZero():
				state, since = "failing", h.FailingSince
			}
			sinceText := "-"
			if !since.IsZero() {
				sinceText = since.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", h.Host, state, sinceText, h.Queued, dash(h.Software), dash(h.LastError))
		}
		return tw.Flush()
	case "clear":
		host := strings.ToLower(strings.TrimSpace(pos[0]))
		known, err := a.Deliverer.ClearHost(ctx, host) // as the console's button does
		if err != nil {
			return fmt.Errorf("host clear: %w", err)
		}
		if !known {
			return fmt.Errorf("host %s: %w (hosts are named as in 'agora host list', with the port if any)", host, community.ErrNotFound)
		}
		fmt.Fprintf(stdout, "host %s cleared: its queued deliveries are due now\n", host)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
