// Command agora runs an Agora server and administers it.
//
//	agora serve [--config agora.toml]
//	agora community create|list|show|edit|delete|approve|reject|members ...
//	agora admin create NAME
//	agora mod add|remove|list|ban|unban|remove-post|restore-post|pin|unpin|reports|resolve|log ...
//	agora domain block|unblock|list ...
//	agora host list|clear ...
//	agora backup FILE
//	agora version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usage = `agora: a self-hosted ActivityPub server for communities.

Usage:
  agora serve [--config FILE]                 run the server
  agora community create NAME [--title T] [--summary S] [--approval]
                         [--posting members|open|moderators] [--replies]
  agora community list
  agora community show NAME
  agora community edit NAME [--title T] [--summary S] [--approval=true|false]
                         [--posting members|open|moderators] [--replies=true|false]
  agora community posts NAME [-n 20] [--all=false]
                                              recent posts with decision and reason
  agora community delete NAME                 sends Delete{Group} to members
  agora community members NAME [--pending]
  agora community approve NAME ACTOR          ACTOR: actor URL or @user@host
  agora community reject NAME ACTOR
  agora admin create NAME                     an admin account for /admin (password on stdin)
  agora mod add NAME ACTOR [--owner]         ACTOR: actor URL, @user@host or local:NAME
  agora mod remove NAME ACTOR                 takes the moderator role away
  agora mod list NAME
  agora mod ban NAME ACTOR [--reason R] [--remove-posts]
  agora mod unban NAME ACTOR
  agora mod remove-post NAME POST [--reason R]
                                              POST: its id at origin, its page here or its number
  agora mod restore-post NAME POST
  agora mod pin|unpin NAME POST
  agora mod reports NAME [--all]
  agora mod resolve NAME REPORT
  agora mod log NAME [-n 50]                  the moderation log
  agora mod log NAME --public=true|false      show it on the community's web page, or not
  agora domain block DOMAIN [--community NAME] [--reason R]
                                              instance-wide unless --community
  agora domain unblock DOMAIN [--community NAME]
  agora domain list [--community NAME]
  agora bench fanout|ingest|soak [flags]     measure fan-out and ingest, soak (BENCHMARKS.md)
  agora host list [--all]                     remote hosts failing, unavailable or with queued deliveries
  agora host clear HOST                       make an unavailable host available; its deliveries are due now
  agora backup FILE                           consistent copy of the database (keys included), server running or not
  agora version

Every command takes --config FILE (or AGORA_CONFIG); without one, embedded
defaults apply, overridden by AGORA_* environment variables. The CLI works
while 'agora serve' runs on the same data_dir; what it queues, serve delivers.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "agora:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError is a command line that does not parse: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr, env)
	case "community":
		return cmdCommunity(ctx, args[1:], stdout, stderr, env)
	case "admin":
		return cmdAdmin(ctx, args[1:], stdout, stderr, env)
	case "mod":
		return cmdMod(ctx, args[1:], stdout, stderr, env)
	case "domain":
		return cmdDomain(ctx, args[1:], stdout, stderr, env)
	case "bench":
		return cmdBench(ctx, args[1:], stdout, stderr, env)
	case "host":
		return cmdHost(ctx, args[1:], stdout, stderr, env)
	case "backup":
		return cmdBackup(ctx, args[1:], stdout, stderr, env)
	case "version", "--version":
		fmt.Fprintln(stdout, "agora", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// parseFlags parses flags that may come before, between or after the
// positional arguments (agora community create NAME --title T), and
// returns the positional ones.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// configFlag adds --config to a command's flags.
func configFlag(fs *flag.FlagSet, env func(string) string) *string {
	return fs.String("config", env("AGORA_CONFIG"), "config file (TOML)")
}
