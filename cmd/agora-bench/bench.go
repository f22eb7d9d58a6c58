package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation/fedtest"
	"github.com/jackc/pgx/v5"
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
Every benchmark takes --database postgres://... (PostgreSQL, in a schema
made for the run) and --nodes N (N nodes on it behind a round-robin proxy).
They print a summary, then one JSON object with every figure as the last
line. See BENCHMARKS.md.
`

// cmdBench runs `agora-bench ...`.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchUsage)
		return usageError{Msg: "fanout, ingest or soak?"}
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
	return usageError{Msg: fmt.Sprintf("unknown benchmark %q", args[0])}
}

// benchFlags are the flags both benchmarks take.
type benchFlags struct {
	config   *string
	logLevel *string
	inproc   *bool
	keep     *bool
	profile  *string
	database *string
	nodes    *int
}

func addBenchFlags(fs *flag.FlagSet, env func(string) string) benchFlags {
	return benchFlags{
		config:   fs.String("config", env("AGORA_CONFIG"), "config file (TOML); AGORA_* variables apply too"),
		logLevel: fs.String("log-level", "warn", "Agora's log level during the run (logs go to stderr)"),
		inproc:   fs.Bool("inproc", false, "run the remote side in this process (tests; CPU figures then include it)"),
		keep:     fs.Bool("keep", false, "keep the temporary data dir"),
		profile:  fs.String("cpuprofile", "", "write a CPU profile (pprof) of the measured part to this file"),
		database: fs.String("database", "", "run on this PostgreSQL database (postgres://...), in a schema of its own made for the run, instead of SQLite"),
		nodes:    fs.Int("nodes", 1, "Agora nodes on the one --database, behind a round-robin proxy (one base_url)"),
	}
}

// check refuses flags that cannot go together, before anything starts.
func (bf benchFlags) check() error {
	if *bf.nodes < 1 || *bf.nodes > 1 && *bf.database == "" {
		return usageError{Msg: "bench: --nodes above 1 needs --database postgres://... (nodes share a PostgreSQL database)"}
	}
	if d := *bf.database; d != "" && !strings.HasPrefix(d, "postgres://") && !strings.HasPrefix(d, "postgresql://") {
		return usageError{Msg: "bench: want --database postgres://user@host/db"}
	}
	return nil
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

// benchRun is what fanout and ingest start from: the fleet (the remote
// side, a child process unless --inproc), Agora, and its community
// "bench".
type benchRun struct {
	*benchServer
	rem   *remote
	fleet []fedtest.FleetHost
	c     community.Community
}

// startBenchRun starts the remote side and its fleet, then Agora, and
// creates the community; stop ends them in the reverse order.
func startBenchRun(ctx context.Context, bf benchFlags, env func(string) string, stderr io.Writer, fleet fedtest.FleetOptions) (*benchRun, error) {
	rem, err := startRemote(ctx, *bf.inproc, stderr)
	if err != nil {
		return nil, err
	}
	resp, err := rem.call(remoteReq{Op: "fleet", Fleet: fleet})
	if err != nil {
		rem.Close()
		return nil, err
	}
	b, err := startBenchServer(ctx, bf, env, stderr)
	if err != nil {
		rem.Close()
		return nil, err
	}
	run := &benchRun{benchServer: b, rem: rem, fleet: resp.Hosts}
	if run.c, err = b.App.CreateCommunity(ctx, community.Community{Name: "bench", Title: "Bench"}); err != nil {
		run.stop(false, stderr)
		return nil, err
	}
	return run, nil
}

func (r *benchRun) stop(keep bool, stderr io.Writer) {
	r.benchServer.stop(keep, stderr)
	r.rem.Close()
}

// benchServer is Agora started for a benchmark: one node, or several on
// one PostgreSQL database behind a round-robin proxy. The embedded server
// is the first node (the others share its database).
type benchServer struct {
	*agora.Server
	dir    string
	others []*agora.Server
	proxy  *http.Server
	schema *benchSchema
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
	if err := bf.check(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "agora-bench-")
	if err != nil {
		return nil, err
	}
	b := &benchServer{dir: dir}
	fail := func(err error) (*benchServer, error) {
		b.stop(false, stderr)
		return nil, err
	}
	if *bf.database != "" {
		if b.schema, err = newBenchSchema(ctx, *bf.database); err != nil {
			return fail(err)
		}
		cfg.Database = b.schema.url
	}
	var lns []net.Listener
	for range *bf.nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fail(err)
		}
		lns = append(lns, ln)
	}
	base := lns[0].Addr().String()
	if len(lns) > 1 {
		pln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fail(err)
		}
		var addrs []string
		for _, ln := range lns {
			addrs = append(addrs, ln.Addr().String())
		}
		b.proxy = roundRobinProxy(addrs)
		go b.proxy.Serve(pln)
		base = pln.Addr().String()
	}
	cfg.BaseURL = "http://" + base
	cfg.DataDir = dir
	cfg.AllowPrivateAddresses = true
	cfg.LogLevel = *bf.logLevel
	// Deliveries to dead hosts wait for their timeout; at the end of a run
	// they need not.
	cfg.Delivery.ShutdownTimeout = agora.Duration{Duration: time.Second}
	// The whole fleet sends from 127.0.0.1: per-address and per-actor rate
	// limits would measure themselves. inbox.max_concurrent stays.
	cfg.Inbox.RatePerIP, cfg.Inbox.RatePerActor = 0, 0
	for i, ln := range lns {
		c := cfg
		c.Listen = ln.Addr().String()
		c.Node = fmt.Sprintf("bench-%d", i)
		if err := c.Validate(); err != nil {
			return fail(err)
		}
		srv, err := agora.Start(ctx, c, agora.NewLogger(c, stderr).With("node", c.Node), ln)
		if err != nil {
			ln.Close()
			return fail(err)
		}
		if i == 0 {
			b.Server = srv
		} else {
			b.others = append(b.others, srv)
		}
	}
	return b, nil
}

// roundRobinProxy is the reverse proxy in front of several nodes: each
// request to the next node, the Host header kept (signatures cover it).
func roundRobinProxy(addrs []string) *http.Server {
	var next atomic.Uint64
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		addr := addrs[next.Add(1)%uint64(len(addrs))]
		r.SetURL(&url.URL{Scheme: "http", Host: addr})
		r.Out.Host = r.In.Host
		r.SetXForwarded()
	}}
	return &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
}

// benchSchema is a PostgreSQL schema made for one run, dropped after it.
type benchSchema struct {
	admin, name, url string
}

// newBenchSchema makes a schema of its own for a run in the database at
// dbURL, and returns it with the URL that uses it (search_path).
func newBenchSchema(ctx context.Context, dbURL string) (*benchSchema, error) {
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, usageError{Msg: "bench: want --database postgres://user@host/db"}
	}
	name := fmt.Sprintf("agora_bench_%d_%d", os.Getpid(), time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("bench: --database: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		return nil, fmt.Errorf("bench: --database: %w", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return &benchSchema{admin: dbURL, name: name, url: u.String()}, nil
}

func (s *benchSchema) drop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if conn, err := pgx.Connect(ctx, s.admin); err == nil {
		conn.Exec(ctx, `DROP SCHEMA `+s.name+` CASCADE`)
		conn.Close(ctx)
	}
}

func (b *benchServer) stop(keep bool, stderr io.Writer) {
	if b.proxy != nil {
		b.proxy.Close()
	}
	for _, o := range b.others {
		o.Stop()
	}
	if b.Server != nil {
		b.Stop()
	}
	if keep {
		fmt.Fprintln(stderr, "data kept in", b.dir)
		if b.schema != nil {
			fmt.Fprintln(stderr, "PostgreSQL schema kept:", b.schema.name)
		}
		return
	}
	os.RemoveAll(b.dir)
	if b.schema != nil {
		b.schema.drop()
	}
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
