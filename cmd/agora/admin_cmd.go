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
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/web"
)

// stdin is where `agora admin create` and `passwd` read the password when
// it is not a terminal; tests replace it.
var stdin io.Reader = os.Stdin

// stdinTerminal tells whether stdin is a terminal, where passwords are
// read without echo; tests replace it.
var stdinTerminal = func() (fd int, ok bool) {
	f, isFile := stdin.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// readPassword is term.ReadPassword; tests replace it.
var readPassword = term.ReadPassword

func cmdAdmin(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		printGroupHelp(stderr, "admin")
		return usageError{Msg: "admin: which command? create, passwd, list, delete"}
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("admin "+sub, flag.ContinueOnError)
	configPath := configFlag(fs, env)
	want := 1
	switch sub {
	case "create", "passwd", "delete":
	case "list":
		want = 0
	default:
		return usageError{Msg: fmt.Sprintf("admin: unknown command %q (create, passwd, list, delete)", sub)}
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != want {
		return usageError{Msg: fmt.Sprintf("admin %s: want %d argument(s), got %d (see agora admin %s --help)", sub, want, len(pos), sub)}
	}
	name := ""
	if want == 1 {
		name = pos[0]
		if err := web.ValidateAdminName(name); err != nil {
			return err
		}
	}
	cfg, src, err := loadCLIConfig(*configPath, env)
	if err != nil {
		return err
	}
	var a *agora.App
	if sub != "create" {
		if a, err = openCLI(ctx, cfg, src, stderr, "admin "+sub, false); err != nil {
			return err
		}
		defer a.Close()
	}
	var hash string
	if sub == "create" || sub == "passwd" {
		if sub == "passwd" {
			if _, _, err := a.DB.AdminByName(ctx, name); err != nil {
				return fmt.Errorf("admin %s: %w (see agora admin list)", name, err)
			}
		}
		pw, err := askPassword(stderr, name)
		if err != nil {
			return fmt.Errorf("admin %s: %w", sub, err)
		}
		if hash, err = web.HashPassword(pw); err != nil {
			return err
		}
	}
	if sub == "create" {
		if a, err = openCLI(ctx, cfg, src, stderr, "admin create", true); err != nil {
			return err
		}
		defer a.Close()
	}
	switch sub {
	case "create":
		if _, err := a.DB.CreateAdmin(ctx, name, hash, time.Now()); err != nil {
			if errors.Is(err, community.ErrExists) {
				return fmt.Errorf("%w; to set a new password: agora admin passwd %s", err, name)
			}
			return err
		}
		fmt.Fprintln(stdout, tr("cli.admin_created", "Name", name, "URL", cfg.BaseURL+"/admin/login"))
	case "passwd":
		id, _, err := a.DB.AdminByName(ctx, name)
		if err != nil {
			return fmt.Errorf("admin %s: %w (see agora admin list)", name, err)
		}
		if err := a.DB.ChangePassword(ctx, id, hash, ""); err != nil {
			return err
		}
		fmt.Fprintln(stdout, tr("cli.admin_passwd", "Name", name))
	case "list":
		admins, err := a.DB.Admins(ctx, time.Now())
		if err != nil {
			return err
		}
		if len(admins) == 0 {
			fmt.Fprintln(stdout, tr("cli.admin_none"))
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCREATED\tLOGGED IN\tLAST LOGIN")
		for _, ad := range admins {
			last := "-"
			if !ad.LastLogin.IsZero() {
				last = ad.LastLogin.UTC().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", ad.Name, ad.CreatedAt.UTC().Format("2006-01-02"), ad.Sessions, last)
		}
		return tw.Flush()
	case "delete":
		if err := a.DB.DeleteAdmin(ctx, name); err != nil {
			return fmt.Errorf("%w (see agora admin list)", err)
		}
		fmt.Fprintln(stdout, tr("cli.admin_deleted", "Name", name))
		if n, err := a.DB.CountAdmins(ctx); err == nil && n == 0 {
			fmt.Fprintln(stdout, tr("cli.admin_none_left"))
		}
	}
	return nil
}

// askPassword reads a new password: on a terminal without echo, twice;
// otherwise one line of stdin (for scripts: echo "$PW" | agora admin ...).
func askPassword(stderr io.Writer, name string) (string, error) {
	if fd, ok := stdinTerminal(); ok {
		fmt.Fprint(stderr, tr("cli.password_prompt", "Name", name, "Min", web.MinPassword)+" ")
		pw, err := readPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if len(pw) < web.MinPassword {
			return "", fmt.Errorf("the password must have at least %d characters", web.MinPassword)
		}
		fmt.Fprint(stderr, tr("cli.password_again")+" ")
		again, err := readPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(again) != string(pw) {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
		return string(pw), nil
	}
	fmt.Fprint(stderr, tr("cli.password_stdin", "Name", name, "Min", web.MinPassword)+" ")
	line, err := bufio.NewReader(stdin).ReadString('\n')
	fmt.Fprintln(stderr)
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
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
	fmt.Fprintf(stdout, "%s\n  %s\n%s\n", tr("cli.setup_link"), link, tr("cli.setup_or"))
	a.Log.Info("setup link for the first admin account", "url", link)
	return nil
}
