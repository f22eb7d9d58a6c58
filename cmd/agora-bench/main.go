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

	"github.com/agorafed/agora/cmd/internal/agora"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "agora-bench:", err)
		}
		os.Exit(agora.ExitCode(err))
	}
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	return cmdBench(ctx, args, stdout, stderr, env)
}
