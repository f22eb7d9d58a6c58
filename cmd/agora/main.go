// Command agora runs an Agora server and administers it.
//
//	agora serve [--config agora.toml] [--listen ADDR]
//	agora doctor [--config agora.toml]
//	agora community create|list|show|edit|delete|approve|reject|members ...
//	agora admin create|passwd|list|delete ...
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

	"github.com/agorafed/agora/cmd/internal/agora"
)

func main() { agora.Main("agora", run) }

// usageError is a command line that does not parse: exit status 2.
type usageError = agora.UsageError

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	setCLILang(env)
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText())
		return usageError{Msg: "no command given"}
	}
	// agora community --help: the group's commands.
	if len(args) >= 2 && isHelp(args[1]) && printGroupHelp(stdout, args[0]) {
		return nil
	}
	err := runCommand(ctx, args, stdout, stderr, env)
	var help helpRequest
	if errors.As(err, &help) {
		printHelp(stdout, help.fs.Name(), help.fs)
		return nil
	}
	return err
}

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
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
	case "db":
		return cmdDB(ctx, args[1:], stdout, stderr, env)
	case "doctor":
		return cmdDoctor(ctx, args[1:], stdout, stderr, env)
	case "version", "--version":
		fmt.Fprintln(stdout, "agora", agora.Version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText())
		return nil
	}
	fmt.Fprint(stderr, usageText())
	return usageError{Msg: fmt.Sprintf("unknown command %q", args[0])}
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
				return nil, helpRequest{fs}
			}
			return nil, usageError{Msg: fmt.Sprintf("%s: %v", fs.Name(), err)}
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
	return fs.String("config", "", "config file (TOML); without it: AGORA_CONFIG, else /etc/agora/agora.toml, else ./agora.toml")
}
