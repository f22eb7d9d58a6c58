package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/agorafed/agora/cmd/internal/agora"
)

// command is one line of `agora help`: the command, its arguments and
// what it does. `agora CMD --help` prints it with the command's flags.
type command struct {
	name, args, what string
}

// commands are every command, in the order `agora help` lists them.
var commands = []command{
	{"serve", "[--config FILE] [--listen ADDR]", "run the server"},
	{"doctor", "[--config FILE]", "check a production setup: config, data_dir, database, keys, base_url through the public URL, TLS, clock"},
	{"community create", "NAME [--title T] [--summary S] [--approval] [--posting members|open|moderators] [--replies]", "create a community"},
	{"community list", "", "the communities, with members and pending requests"},
	{"community show", "NAME", "one community's settings and counts"},
	{"community edit", "NAME [--title T] [--summary S] [--approval=true|false] [--posting members|open|moderators] [--replies=true|false]", "change a community; members' servers are sent Update"},
	{"community posts", "NAME [-n 20] [--all=false]", "recent posts with decision and reason"},
	{"community delete", "NAME", "delete a community: members' servers are sent Delete; the name stays reserved"},
	{"community members", "NAME [--pending]", "the members (or pending join requests)"},
	{"community approve", "NAME ACTOR", "approve a join request (ACTOR: actor URL or @user@host)"},
	{"community reject", "NAME ACTOR", "reject a join request"},
	{"admin create", "NAME", "an admin account for /admin (the password is asked, or read from stdin)"},
	{"admin passwd", "NAME", "set an admin's password (a forgotten one too); their browsers are logged out"},
	{"admin list", "", "the admin accounts"},
	{"admin delete", "NAME", "delete an admin account and log its browsers out"},
	{"mod add", "NAME ACTOR [--owner]", "make ACTOR (actor URL, @user@host or local:NAME) a moderator"},
	{"mod remove", "NAME ACTOR", "take the moderator role away"},
	{"mod list", "NAME", "the moderators of a community"},
	{"mod ban", "NAME ACTOR [--reason R] [--remove-posts]", "ban an account from a community"},
	{"mod unban", "NAME ACTOR", "lift a ban"},
	{"mod remove-post", "NAME POST [--reason R]", "remove a post (POST: its id at origin, its page here or its number)"},
	{"mod restore-post", "NAME POST", "restore a removed post"},
	{"mod pin", "NAME POST", "pin a post"},
	{"mod unpin", "NAME POST", "unpin a post"},
	{"mod reports", "NAME [--all]", "open reports (--all: resolved ones too)"},
	{"mod resolve", "NAME REPORT", "mark a report resolved"},
	{"mod log", "NAME [-n 50] [--public=true|false]", "the moderation log; --public shows it on the community's page, or not"},
	{"domain block", "DOMAIN [--community NAME] [--reason R]", "block a server: instance-wide unless --community"},
	{"domain unblock", "DOMAIN [--community NAME]", "lift a block"},
	{"domain list", "[--community NAME]", "the blocked servers"},
	{"host list", "[--all]", "remote hosts failing, unavailable or with queued deliveries, with their last error"},
	{"host clear", "HOST", "make an unavailable host available; its deliveries are due now"},
	{"backup", "FILE", "consistent copy of the database (keys included), server running or not"},
	{"db migrate", "--from sqlite:PATH [--to postgres://USER@HOST/DB] [--config FILE]", "copy an instance from SQLite into a new, empty PostgreSQL database (server stopped)"},
	{"version", "", "print the version"},
}

// usageText is `agora help`.
func usageText() string {
	var b strings.Builder
	b.WriteString(tr("cli.intro") + "\n\n" + tr("cli.usage") + "\n")
	for _, c := range commands {
		line := "  agora " + c.name
		if c.args != "" {
			line += " " + c.args
		}
		fmt.Fprintf(&b, "%s\n      %s\n", line, commandWhat(c))
	}
	b.WriteString("\n" + tr("cli.footer") + "\n")
	return b.String()
}

// helpRequest is -h or --help given to a command: run prints the
// command's help to stdout and exits 0.
type helpRequest struct{ fs *flag.FlagSet }

func (h helpRequest) Error() string { return "help requested" }

// printHelp prints a command's usage line, what it does and its flags.
func printHelp(w io.Writer, name string, fs *flag.FlagSet) {
	for _, c := range commands {
		if c.name == name {
			fmt.Fprintf(w, "%s agora %s %s\n\n%s.\n", tr("cli.usage"), c.name, c.args, upperFirst(commandWhat(c)))
		}
	}
	if fs != nil {
		fmt.Fprintln(w, "\n"+tr("cli.flags"))
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// printGroupHelp prints the commands of a group (agora community --help).
func printGroupHelp(w io.Writer, group string) bool {
	found := false
	for _, c := range commands {
		if strings.HasPrefix(c.name, group+" ") {
			if !found {
				fmt.Fprintf(w, "%s\n", tr("cli.usage"))
			}
			found = true
			fmt.Fprintf(w, "  agora %s %s\n      %s\n", c.name, c.args, commandWhat(c))
		}
	}
	if found {
		fmt.Fprintf(w, "\n%s\n", tr("cli.group_more", "Group", group))
	}
	return found
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// systemConfig and localConfig are where commands look for a config file
// that neither --config nor AGORA_CONFIG names, in this order (tests
// change them).
var (
	systemConfig = "/etc/agora/agora.toml"
	localConfig  = "agora.toml"
)

// configSource says which config a command read, or where it looked.
type configSource struct {
	Path   string   // "" when none: embedded defaults
	From   string   // "--config", "AGORA_CONFIG", "found", "none"
	Looked []string // the places searched, in order
}

func (s configSource) String() string {
	switch s.From {
	case "--config", "AGORA_CONFIG":
		return fmt.Sprintf("config %s (from %s)", s.Path, s.From)
	case "found":
		return fmt.Sprintf("config %s (found after looking at %s)", s.Path, strings.Join(s.Looked, ", "))
	}
	return fmt.Sprintf("no config file (looked for --config, AGORA_CONFIG, %s): embedded defaults and AGORA_* variables", strings.Join(s.Looked, ", "))
}

// locateConfig finds the config file: --config, AGORA_CONFIG, then
// /etc/agora/agora.toml, then ./agora.toml. A file named by the flag or
// the variable must exist; none found at the two places is no config.
func locateConfig(flagPath string, env func(string) string) (configSource, error) {
	for _, named := range []struct{ from, path string }{{"--config", flagPath}, {"AGORA_CONFIG", env("AGORA_CONFIG")}} {
		if named.path == "" {
			continue
		}
		if _, err := os.Stat(named.path); err != nil {
			return configSource{}, fmt.Errorf("config %s (from %s): %w", named.path, named.from, err)
		}
		return configSource{Path: named.path, From: named.from}, nil
	}
	src := configSource{From: "none"}
	for _, p := range []string{systemConfig, localConfig} {
		shown := p
		if !filepath.IsAbs(p) {
			shown = "./" + p
		}
		src.Looked = append(src.Looked, shown)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			src.Path, src.From = p, "found"
			return src, nil
		}
	}
	return src, nil
}

// loadCLIConfig locates and loads the config of a command.
func loadCLIConfig(flagPath string, env func(string) string) (agora.Config, configSource, error) {
	src, err := locateConfig(flagPath, env)
	if err != nil {
		return agora.Config{}, src, err
	}
	cfg, err := agora.LoadConfig(src.Path, env)
	return cfg, src, err
}

// dbPath is where the database of a data_dir lives.
func dbPath(cfg agora.Config) string { return filepath.Join(cfg.DataDir, "agora.db") }

// errNoDatabase is a command finding no database where the config says.
var errNoDatabase = errors.New("no database")

// openCLI opens the app for a command. Only commands that set things up
// (create) may create a database; the others, finding none, say where they
// looked, so that a command run without the server's config does not
// quietly work on an empty database of its own.
func openCLI(ctx context.Context, cfg agora.Config, src configSource, stderr io.Writer, cmd string, create bool) (*agora.App, error) {
	if err := requireDB(cfg, src, cmd); err != nil {
		if !create || !errors.Is(err, errNoDatabase) {
			return nil, err
		}
		fmt.Fprintf(stderr, "agora: no database at %s yet: creating it (%s)\n", dbPath(cfg), src)
	}
	return agora.Open(ctx, cfg, agora.NewLogger(cfg, stderr).With("cmd", cmd), nil, false)
}

// requireDB fails with errNoDatabase, saying where it looked, when the
// config's data_dir has no database.
func requireDB(cfg agora.Config, src configSource, cmd string) error {
	if cfg.Database != "" {
		return nil // PostgreSQL: the database is there or the connection says why
	}
	path := dbPath(cfg)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w at %s (data_dir %q, %s). Give the config 'agora serve' uses: --config FILE or AGORA_CONFIG",
			cmd, errNoDatabase, path, cfg.DataDir, src)
	}
	return nil
}
