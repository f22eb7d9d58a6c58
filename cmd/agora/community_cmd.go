package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/community"
)

func cmdCommunity(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		printGroupHelp(stderr, "community")
		return usageError{Msg: "community: which command? create, list, show, edit, delete, members, posts, approve, reject"}
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("community "+sub, flag.ContinueOnError)
	configPath := configFlag(fs, env)
	var title, summary, posting *string
	var approval, pending, replies, all *bool
	var limit *int
	switch sub {
	case "create", "edit":
		title = fs.String("title", "", "title shown on the community page and in fediverse clients")
		summary = fs.String("summary", "", "description (plain text; blank lines separate paragraphs)")
		approval = fs.Bool("approval", false, "join requests wait for approval")
		posting = fs.String("posting", "members", "whose posts are announced: members, open or moderators")
		replies = fs.Bool("replies", false, "announce replies too")
	case "members":
		pending = fs.Bool("pending", false, "list pending join requests instead of members")
	case "posts":
		limit = fs.Int("n", 20, "how many posts")
		all = fs.Bool("all", true, "include refused and deleted posts")
	case "list", "show", "delete", "approve", "reject":
	default:
		return usageError{Msg: fmt.Sprintf("community: unknown command %q", sub)}
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	want := map[string]int{"list": 0, "approve": 2, "reject": 2}[sub]
	if sub != "list" && want == 0 {
		want = 1
	}
	if len(pos) != want {
		return usageError{Msg: fmt.Sprintf("community %s: want %d argument(s), got %d (see agora help)", sub, want, len(pos))}
	}
	cfg, src, err := loadCLIConfig(*configPath, env)
	if err != nil {
		return err
	}
	a, err := openCLI(ctx, cfg, src, stderr, "community "+sub, sub == "create")
	if err != nil {
		return err
	}
	defer a.Close()
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	switch sub {
	case "create":
		c := community.Community{Name: pos[0], Title: *title, Summary: *summary, RequiresApproval: *approval,
			PostingPolicy: community.PostingPolicy(*posting), AnnounceReplies: *replies}
		if c.Title == "" {
			c.Title = c.Name
		}
		c, err := a.CreateCommunity(ctx, c)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tr("cli.community_created", "Name", c.Name, "URL", a.Local.CommunityIRI(c.Name), "Handle", "@"+c.Name+"@"+a.Local.Host()))
	case "list":
		cs, err := a.Svc.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tTITLE\tMEMBERS\tPENDING\tAPPROVAL")
		for _, c := range cs {
			members, _ := a.Svc.CountMembers(ctx, c, community.Joined)
			pend, _ := a.Svc.CountMembers(ctx, c, community.Pending)
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%v\n", c.Name, c.Title, members, pend, c.RequiresApproval)
		}
		return tw.Flush()
	case "show":
		c, err := a.Svc.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		members, _ := a.Svc.CountMembers(ctx, c, community.Joined)
		pend, _ := a.Svc.CountMembers(ctx, c, community.Pending)
		fmt.Fprintf(stdout, "name:      %s\nhandle:    @%s@%s\nactor:     %s\ntitle:     %s\napproval:  %v\nposting:   %s\nreplies:   %v\nmembers:   %d\npending:   %d\ncreated:   %s\nsummary:\n%s\n",
			c.Name, c.Name, a.Local.Host(), a.Local.CommunityIRI(c.Name), c.Title, c.RequiresApproval,
			c.PostingPolicy, c.AnnounceReplies, members, pend, c.CreatedAt.Format("2006-01-02 15:04:05Z"), c.Summary)
	case "edit":
		if len(set) == 0 || (len(set) == 1 && set["config"]) {
			return usageError{Msg: "community edit: nothing to change (give --title, --summary, --approval, --posting or --replies)"}
		}
		c, err := a.Svc.Edit(ctx, pos[0], func(c *community.Community) {
			if set["title"] {
				c.Title = *title
			}
			if set["summary"] {
				c.Summary = *summary
			}
			if set["approval"] {
				c.RequiresApproval = *approval
			}
			if set["posting"] {
				c.PostingPolicy = community.PostingPolicy(*posting)
			}
			if set["replies"] {
				c.AnnounceReplies = *replies
			}
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tr("cli.community_updated", "Name", c.Name))
	case "delete":
		if err := a.Svc.Delete(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintln(stdout, tr("cli.community_deleted", "Name", pos[0]))
	case "members":
		c, err := a.Svc.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		state := community.Joined
		if *pending {
			state = community.Pending
		}
		return printMembers(ctx, a, stdout, c, state)
	case "posts":
		c, err := a.Svc.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		ps, err := a.Posts.List(ctx, c, 0, *limit, !*all)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRECEIVED\tDECISION\tREASON\tVISIBILITY\tAUTHOR\tOBJECT")
		for _, p := range ps {
			decision := string(p.Decision)
			if !p.DeletedAt.IsZero() {
				decision += " (deleted)"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.ReceivedAt.Format("2006-01-02 15:04"),
				decision, p.Reason, p.Visibility, p.Author, p.ObjectID)
		}
		return tw.Flush()
	case "approve", "reject":
		c, err := a.Svc.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		actor, err := resolveMember(ctx, a, c, pos[1], community.Pending)
		if err != nil {
			return err
		}
		if sub == "approve" {
			err = a.Mod.Approve(ctx, c, community.Admin, actor)
		} else {
			err = a.Mod.Reject(ctx, c, community.Admin, actor)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%sd %s in %s\n", sub, actor, c.Name)
	}
	return nil
}

func printMembers(ctx context.Context, a *agora.App, w io.Writer, c community.Community, state community.MemberState) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTOR\tNAME\tSINCE")
	after := ""
	for {
		ms, err := a.Svc.Members(ctx, c, state, after, 500)
		if err != nil {
			return err
		}
		for _, m := range ms {
			name := ""
			if ra, err := a.DB.RemoteActor(ctx, m.Actor); err == nil {
				name = ra.PreferredUsername
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Actor, name, m.CreatedAt.Format("2006-01-02"))
		}
		if len(ms) < 500 {
			return tw.Flush()
		}
		after = ms[len(ms)-1].Actor
	}
}
