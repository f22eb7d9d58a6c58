package agora

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// UsageError is a command line that does not parse: exit status 2.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// ExitCode is the exit status for a command's error: 2 for a usage error
// or a help request, 1 for the rest.
func ExitCode(err error) int {
	var u UsageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// ParseFlags parses flags that may come before, between or after the
// positional arguments (agora community create NAME --title T), and
// returns the positional ones.
func ParseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, UsageError{Msg: fmt.Sprintf("%s: %v", fs.Name(), err)}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// ConfigFlag adds --config to a command's flags.
func ConfigFlag(fs *flag.FlagSet, env func(string) string) *string {
	return fs.String("config", env("AGORA_CONFIG"), "config file (TOML)")
}
