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

	"github.com/agorafed/agora/cmd/internal/agora"
)

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
		os.Exit(agora.ExitCode(err))
	}
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return agora.UsageError{Msg: "no command given"}
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
	case "host":
		return cmdHost(ctx, args[1:], stdout, stderr, env)
	case "backup":
		return cmdBackup(ctx, args[1:], stdout, stderr, env)
	case "version", "--version":
		fmt.Fprintln(stdout, "agora", agora.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return agora.UsageError{Msg: fmt.Sprintf("unknown command %q", args[0])}
}
