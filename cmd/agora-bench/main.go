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

	"github.com/agorafed/agora/cmd/internal/agora"
)

func main() { agora.Main("agora-bench", run) }

// usageError is a command line that does not parse: exit status 2.
type usageError = agora.UsageError

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
		return usageError{Msg: fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	if fs.NArg() > 0 {
		return usageError{Msg: fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	return cmdBench(ctx, args, stdout, stderr, env)
}
