// Command agora-bench measures Agora: fan-out, ingest, and a soak
// (BENCHMARKS.md). It runs Agora as 'agora serve' wires it
// (cmd/internal/agora), in this process, against loopback member servers
// in a child process; the server binary carries none of it.
//
//	agora-bench fanout|ingest|soak [flags]
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "agora-bench:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError is a command line that does not parse: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0 // asked for: the flags were printed
	case errors.As(err, &u):
		return 2
	}
	return 1
}

// parseFlags parses a benchmark's flags; a benchmark takes no other
// argument.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stdout, "usage: agora-%s [flags]\n", fs.Name())
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return err
		}
		return usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	return cmdBench(ctx, args, stdout, stderr, env)
}
