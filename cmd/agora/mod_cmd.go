package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
)

// cmdMod runs `agora mod ...`: the instance admin's moderation, with the
// same rules and effects as moderators' direct messages.
func cmdMod(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		printGroupHelp(stderr, "mod")
		return usageError{Msg: "mod: which command? add, remove, list, ban, unban, remove-post, restore-post, pin, unpin, reports, resolve, log"}
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("mod "+sub, flag.ContinueOnError)
	configPath := configFlag(fs, env)
	var owner, removePosts, all *bool
	var reason *string
	var limit *int
	var public *string
	want := 2
	switch sub {
	case "add":
		owner = fs.Bool("owner", false, "an owner (may appoint moderators) rather than a moderator")
	case "remove", "unban", "restore-post", "pin", "unpin", "resolve":
	case "ban":
		reason = fs.String("reason", "", "why (logged, and sent to threadiverse servers)")
		removePosts = fs.Bool("remove-posts", false, "also remove their announced posts in the community")
	case "remove-post":
		reason = fs.String("reason", "", "why (logged, and sent to threadiverse servers)")
	case "list":
		want = 1
	case "reports":
		want = 1
		all = fs.Bool("all", false, "resolved reports too")
	case "log":
		want = 1
		limit = fs.Int("n", 50, "how many entries")
		public = fs.String("public", "", "true: show the log on the community's web page; false: hide it")
	default:
		return usageError{Msg: fmt.Sprintf("mod: unknown command %q", sub)}
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != want {
		return usageError{Msg: fmt.Sprintf("mod %s: want %d argument(s), got %d (see agora help)", sub, want, len(pos))}
	}
	cfg, src, err := loadCLIConfig(*configPath, env)
	if err != nil {
		return err
	}
	a, err := openCLI(ctx, cfg, src, stderr, "mod "+sub, false)
	if err != nil {
		return err
	}
	defer a.Close()
	c, err := a.Svc.Get(ctx, pos[0])
	if err != nil {
		return err
	}
	by := community.Admin

	switch sub {
	case "add", "remove", "ban", "unban":
		actor, err := resolveActor(ctx, a, pos[1])
		if err != nil {
			return err
		}
		switch sub {
		case "add":
			role := community.RoleModerator
			if *owner {
				role = community.RoleOwner
			}
			err = a.Mod.AddModerator(ctx, c, by, actor, role)
			if err == nil {
				fmt.Fprintf(stdout, "%s is %s of %s\n", actor, map[community.Role]string{community.RoleOwner: "an owner", community.RoleModerator: "a moderator"}[role], c.Name)
			}
		case "remove":
			err = a.Mod.RemoveModerator(ctx, c, by, actor)
			if err == nil {
				fmt.Fprintf(stdout, "%s is no longer a moderator of %s\n", actor, c.Name)
			}
		case "ban":
			err = a.Mod.Ban(ctx, c, by, actor, *reason, *removePosts)
			if err == nil {
				fmt.Fprintf(stdout, "banned %s from %s\n", actor, c.Name)
			}
		case "unban":
			err = a.Mod.Unban(ctx, c, by, actor)
			if err == nil {
				fmt.Fprintf(stdout, "unbanned %s in %s\n", actor, c.Name)
			}
		}
		return err
	case "remove-post", "restore-post", "pin", "unpin":
		p, err := a.Mod.FindPost(ctx, c, pos[1])
		if err != nil {
			return err
		}
		switch sub {
		case "remove-post":
			err = a.Mod.RemovePost(ctx, c, by, p, *reason)
		case "restore-post":
			err = a.Mod.RestorePost(ctx, c, by, p)
		case "pin":
			err = a.Mod.Pin(ctx, c, by, p)
		case "unpin":
			err = a.Mod.Unpin(ctx, c, by, p)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s (post %d) in %s\n", strings.TrimSuffix(sub, "-post"), p.ObjectID, p.ID, c.Name)
	case "list":
		mods, err := a.Mod.Moderators(ctx, c)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACTOR\tROLE\tADDED BY\tSINCE")
		for _, m := range mods {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Actor, m.Role, m.AddedBy, m.CreatedAt.Format("2006-01-02"))
		}
		return tw.Flush()
	case "reports":
		rs, err := a.Mod.Reports(ctx, c, !*all)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRECEIVED\tREPORTER\tRESOLVED BY\tCOMMENT\tABOUT")
		for _, r := range rs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.CreatedAt.Format("2006-01-02 15:04"), r.Reporter,
				r.ResolvedBy, r.Content, strings.Join(r.Targets, " "))
		}
		return tw.Flush()
	case "resolve":
		id, err := strconv.ParseInt(strings.TrimPrefix(pos[1], "#"), 10, 64)
		if err != nil {
			return usageError{Msg: fmt.Sprintf("mod resolve: %q is not a report number", pos[1])}
		}
		if err := a.Mod.ResolveReport(ctx, c, by, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "resolved report %d in %s\n", id, c.Name)
	case "log":
		if *public != "" {
			show, err := strconv.ParseBool(*public)
			if err != nil {
				return usageError{Msg: fmt.Sprintf("mod log: --public=%q: use true or false", *public)}
			}
			if err := a.Mod.SetLogPublic(ctx, c, by, show); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "the moderation log of %s is %s\n", c.Name, map[bool]string{true: "public at " + a.Local.CommunityIRI(c.Name) + "/modlog", false: "private"}[show])
			return nil
		}
		entries, err := a.Mod.Log(ctx, c, *limit)
		if err != nil {
			return err
		}
		return printLog(stdout, entries)
	}
	return nil
}

func printLog(w io.Writer, entries []community.LogEntry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tBY\tACTION\tTARGET\tREASON")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.Format("2006-01-02 15:04:05"), e.By, e.Action, e.Target, e.Reason)
	}
	return tw.Flush()
}

// cmdDomain runs `agora domain block|unblock|list`: instance-wide domain
// blocks, or one community's with --community.
func cmdDomain(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		printGroupHelp(stderr, "domain")
		return usageError{Msg: "domain: which command? block, unblock, list"}
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("domain "+sub, flag.ContinueOnError)
	configPath := configFlag(fs, env)
	name := fs.String("community", "", "block in this community only (default: the whole instance)")
	var reason *string
	want := 1
	switch sub {
	case "block":
		reason = fs.String("reason", "", "why (logged)")
	case "unblock":
	case "list":
		want = 0
	default:
		return usageError{Msg: fmt.Sprintf("domain: unknown command %q", sub)}
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != want {
		return usageError{Msg: fmt.Sprintf("domain %s: want %d argument(s), got %d (see agora help)", sub, want, len(pos))}
	}
	cfg, src, err := loadCLIConfig(*configPath, env)
	if err != nil {
		return err
	}
	a, err := openCLI(ctx, cfg, src, stderr, "domain "+sub, false)
	if err != nil {
		return err
	}
	defer a.Close()
	var c *community.Community
	where := "the instance"
	if *name != "" {
		cc, err := a.Svc.Get(ctx, *name)
		if err != nil {
			return err
		}
		c, where = &cc, cc.Name
	}
	switch sub {
	case "block":
		n, err := a.Mod.BlockDomain(ctx, c, community.Admin, pos[0], *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "blocked %s in %s; %d members from there removed\n", pos[0], where, n)
	case "unblock":
		if err := a.Mod.UnblockDomain(ctx, c, community.Admin, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "unblocked %s in %s\n", pos[0], where)
	case "list":
		bs, err := a.Mod.DomainBlocks(ctx, c)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DOMAIN\tSINCE\tBY\tREASON")
		for _, b := range bs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Domain, b.CreatedAt.Format("2006-01-02"), b.By, b.Reason)
		}
		return tw.Flush()
	}
	return nil
}

// resolveActor reads an actor as the CLI is given it: an actor URL,
// @user@host (looked up by WebFinger) or local:NAME (a local account).
func resolveActor(ctx context.Context, a *agora.App, arg string) (string, error) {
	if strings.HasPrefix(arg, "local:") {
		return arg, nil
	}
	return federation.NewResolver(a.Fetcher, a.Cfg.AllowPrivateAddresses).ResolveActor(ctx, arg)
}
