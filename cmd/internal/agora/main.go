package agora

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

// UsageError is a command line that does not parse: exit status 2.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// ExitCode is the exit status for what run returned: 2 for a command
// line that does not parse or a request for help, 1 for any other error.
func ExitCode(err error) int {
	var u UsageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// Main runs a command (agora, agora-bench) on the process's arguments,
// stopping on SIGINT or SIGTERM, prints its error prefixed with name, and
// exits with ExitCode.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, name+":", err)
		}
		os.Exit(ExitCode(err))
	}
}
