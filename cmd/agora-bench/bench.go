package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
)

const benchUsage = `Usage:
  agora-bench fanout [--hosts 2000] [--followers 10000] [--latency 200ms]
                     [--dead 0.01] [--flaky 0.01] [--timeout 90s]
  agora-bench ingest [--actors 1000] [--rates 500,1000,...] [--step 2s]
                     [--p99 250ms] [--timeout 5m]
  agora-bench soak   [--actors 200] [--hosts 40] [--duration 60s] [--rate 20]
                     [--failing 0.05] [--settle 60s]

Both run Agora as 'agora serve' wires it, on a temporary data dir and a
loopback port, against member servers on 127.0.0.1 run by a child process.
They print a summary, then one JSON object with every figure as the last
line. See BENCHMARKS.md.
`

// cmdBench runs `agora-bench ...`.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchUsage)
		return usageError{"fanout, ingest or soak?"}
	}
	switch args[0] {
	case "fanout":
		return cmdBenchFanout(ctx, args[1:], stdout, stderr, env)
	case "ingest":
		return cmdBenchIngest(ctx, args[1:], stdout, stderr, env)
	case "soak":
		return cmdBenchSoak(ctx, args[1:], stdout, stderr, env)
	case "remote": // the child process of a benchmark
		return cmdBenchRemote(ctx, os.Stdin, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, benchUsage)
		return nil
	}
	fmt.Fprint(stderr, benchUsage)
	return usageError{fmt.Sprintf("unknown benchmark %q", args[0])}
}

// benchFlags are the flags both benchmarks take.
type benchFlags struct {
	config   *string
	logLevel *string
	inproc   *bool
	keep     *bool
	profile  *string
}

func addBenchFlags(fs *flag.FlagSet, env func(string) string) benchFlags {
	return benchFlags{
		config:   fs.String("config", env("AGORA_CONFIG"), "config file (TOML); AGORA_* variables apply too"),
		logLevel: fs.String("log-level", "warn", "Agora's log level during the run (logs go to stderr)"),
		inproc:   fs.Bool("inproc", false, "run the remote side in this process (tests; CPU figures then include it)"),
		keep:     fs.Bool("keep", false, "keep the temporary data dir"),
		profile:  fs.String("cpuprofile", "", "write a CPU profile (pprof) of the measured part to this file"),
	}
}

// startProfile starts the CPU profile if --cpuprofile asks for one; the
// returned function stops it.
func (bf benchFlags) startProfile() (stop func(), err error) {
	if *bf.profile == "" {
		return func() {}, nil
	}
	f, err := os.Create(*bf.profile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { pprof.StopCPUProfile(); f.Close() }) }, nil
}

// benchServer is Agora started for a benchmark.
type benchServer struct {
	*agora.Server
	dir string
}

// startBenchServer starts Agora as serve does, on a loopback port and a
// temporary data dir. The config file and AGORA_* variables apply (to try
// other delivery settings); base_url, listen and data_dir are the
// benchmark's, and private addresses are allowed (the fleet is on
// 127.0.0.1).
func startBenchServer(ctx context.Context, bf benchFlags, env func(string) string, stderr io.Writer) (*benchServer, error) {
	cfg, err := agora.LoadConfig(*bf.config, env)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "agora-bench-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg.BaseURL = "http://" + ln.Addr().String()
	cfg.Listen = ln.Addr().String()
	cfg.DataDir = dir
	cfg.AllowPrivateAddresses = true
	cfg.LogLevel = *bf.logLevel
	// Deliveries to dead hosts wait for their timeout; at the end of a run
	// they need not.
	cfg.Delivery.ShutdownTimeout = agora.Duration{Duration: time.Second}
	// The whole fleet sends from 127.0.0.1: per-address and per-actor rate
	// limits would measure themselves. inbox.max_concurrent stays.
	cfg.Inbox.RatePerIP, cfg.Inbox.RatePerActor = 0, 0
	if err := cfg.Validate(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	srv, err := agora.Start(ctx, cfg, agora.NewLogger(cfg, stderr), ln)
	if err != nil {
		ln.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	return &benchServer{Server: srv, dir: dir}, nil
}

func (b *benchServer) stop(keep bool, stderr io.Writer) {
	b.Stop()
	if keep {
		fmt.Fprintln(stderr, "data kept in", b.dir)
		return
	}
	os.RemoveAll(b.dir)
}

// cpuTime is the CPU this process used so far, user and system
// (getrusage).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSSMB is this process's peak resident set size, in MB.
func peakRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}

// cores is how many CPUs Agora may use at once.
func cores() int { return runtime.GOMAXPROCS(0) }

// printJSON writes the figures as one line of JSON.
func printJSON(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintln(w, string(b))
}

func us(d time.Duration) float64   { return round(float64(d)/float64(time.Microsecond), 1) }
func secs(d time.Duration) float64 { return round(d.Seconds(), 3) }
func round(v float64, n int) float64 {
	p := 1.0
	for range n {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
