package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
	"github.com/agorafed/agora/storage/sqlite"
)

// cmdBenchIngest is `agora-bench ingest`: distinct signed Create{Note} from
// cached actors, sent open loop at rising rates, to find the highest rate
// the inbox sustains with p99 under a bound and no errors.
func cmdBenchIngest(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	bf := addBenchFlags(fs, env)
	actors := fs.Int("actors", 1000, "distinct senders, keys cached by Agora before the run")
	rateList := fs.String("rates", "500,1000,2000,3000,4000,5000,6500,8000,10000", "rates to try, per second, in order; stops at the first not sustained")
	step := fs.Duration("step", 2*time.Second, "how long each rate is held")
	p99Max := fs.Duration("p99", 250*time.Millisecond, "a rate is sustained when p99 is below this and nothing failed")
	floorN := fs.Int("floor-n", 2000, "requests to measure the floor")
	keyPool := fs.Int("keys", 8, "distinct RSA keys among the actors (each actor has its own keyId)")
	timeout := fs.Duration("timeout", 5*time.Minute, "stop after this long")
	procN := fs.Int("process-n", 6000, "recorded activities for the processing-alone measure (0: none)")
	procList := fs.String("process-procs", "1,2", "GOMAXPROCS values for the processing-alone measure")
	procProfile := fs.String("process-cpuprofile", "", "write a CPU profile (pprof) of the processing-alone measure to this file (FILE-N at GOMAXPROCS=N)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := bf.check(); err != nil {
		return err
	}
	var procs []int
	for _, s := range strings.Split(*procList, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || p < 1 {
			return usageError{Msg: fmt.Sprintf("ingest: bad --process-procs %q", s)}
		}
		procs = append(procs, p)
	}
	var rates []float64
	for _, s := range strings.Split(*rateList, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || r <= 0 {
			return usageError{Msg: fmt.Sprintf("ingest: bad rate %q", s)}
		}
		rates = append(rates, r)
	}
	if *actors < 1 || *step <= 0 {
		return usageError{Msg: "ingest: need --actors >= 1 and --step > 0"}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	const hosts = 10
	perHost := (*actors + hosts - 1) / hosts
	fmt.Fprintf(stdout, "ingest: %d actors on %d hosts, steps of %v, p99 < %v, %d cores\n", *actors, hosts, *step, *p99Max, cores())
	run, err := startBenchRun(ctx, bf, env, stderr, fedtest.FleetOptions{Hosts: hosts, UsersPerHost: perHost, KeyPool: *keyPool})
	if err != nil {
		return err
	}
	defer run.stop(*bf.keep, stderr)
	rem, fleet, b, a, c := run.rem, run.fleet, run.benchServer, run.App, run.c
	group := a.Local.CommunityIRI(c.Name)

	// Cache every actor and key, as earlier traffic would have.
	setup := time.Now()
	if err := cacheActors(ctx, a, fleet, perHost); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "setup: %d actors and keys cached in %v\n", hosts*perHost, time.Since(setup).Round(time.Millisecond))

	// The floor: verify + parse + insert + HTTP on a bare net/http server
	// in this process, first sent one request at a time; measured again
	// under the load of the best rate at the end (requests that arrive
	// together cost less each: the comparison must be like with like).
	floorSrv, err := startIngestFloor(ctx, a, b.dir)
	if err != nil {
		return err
	}
	defer floorSrv.close()
	floorSeq, _, err := floorSrv.measure(rem, group, *floorN, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "floor (verify + parse + insert + HTTP), one request at a time: %.1f us per activity, %.0f/s on %d cores\n",
		us(floorSeq), float64(cores())*float64(time.Second)/float64(floorSeq), cores())

	type stepResult struct {
		rate                float64
		res                 loadResult
		cpuWindow, cpuTotal time.Duration
		remote              time.Duration // the load generator's CPU per request
		backlog             int           // recorded, not processed, when the sending ended
		drain               time.Duration // from the end of the sending until all was processed
		ok                  bool
	}
	var steps []stepResult
	var best *stepResult
	accepted := 0
	stopProfile, err := bf.startProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	for _, rate := range rates {
		if err := drained(ctx, a, time.Minute); err != nil {
			return err
		}
		n := int(rate * step.Seconds())
		if _, err := rem.call(remoteReq{Op: "prepare", URL: a.Local.SharedInbox(), N: n, Community: group}); err != nil {
			return err
		}
		rc0, err := rem.call(remoteReq{Op: "cpu"})
		if err != nil {
			return err
		}
		c0 := cpuTime()
		resp, err := rem.call(remoteReq{Op: "fire", Rate: rate})
		if err != nil {
			return err
		}
		c1, t1 := cpuTime(), time.Now()
		rc1, err := rem.call(remoteReq{Op: "cpu"})
		if err != nil {
			return err
		}
		backlog, err := a.DB.UnprocessedCount(ctx)
		if err != nil {
			return err
		}
		if err := drained(ctx, a, time.Minute); err != nil {
			return err
		}
		c2 := cpuTime()
		res := *resp.Load
		got := res.Statuses[http.StatusAccepted]
		accepted += got
		per := func(d time.Duration, n int) time.Duration { return d / time.Duration(max(n, 1)) }
		sr := stepResult{rate: rate, res: res, ok: res.Errors == 0 && res.P99 < *p99Max,
			cpuWindow: per(c1-c0, got), cpuTotal: per(c2-c0, got), remote: per(rc1.CPU-rc0.CPU, res.Sent),
			backlog: backlog}
		if backlog > 0 {
			sr.drain = time.Since(t1)
		}
		steps = append(steps, sr)
		verdict := "sustained"
		if !sr.ok {
			verdict = "NOT sustained"
		}
		fmt.Fprintf(stdout, "rate %6.0f/s: %6d sent, %6d accepted, %d errors, p50 %7.2f ms, p99 %7.2f ms, max %7.2f ms, CPU %6.1f us/activity while sending, %6.1f us with processing; backlog %d when sending ended (%.1f s to process); generator %.0f us/request: %s\n",
			rate, res.Sent, got, res.Errors, ms(res.P50), ms(res.P99), ms(res.Max), us(sr.cpuWindow), us(sr.cpuTotal),
			sr.backlog, sr.drain.Seconds(), us(sr.remote), verdict)
		if res.FirstErr != "" {
			fmt.Fprintf(stdout, "  first error: %s\n", res.FirstErr)
		}
		if !sr.ok {
			break
		}
		best = &steps[len(steps)-1]
	}
	// Every 202 means recorded: count what the database holds.
	recorded, err := a.DB.InboxCount(ctx)
	if err != nil {
		return err
	}
	lost := accepted - recorded
	fig := map[string]any{"bench": "ingest", "actors": hosts * perHost, "cores": cores(), "step_s": step.Seconds(),
		"floor_seq_us": us(floorSeq), "accepted": accepted, "recorded": recorded, "lost": lost}
	if best == nil {
		fmt.Fprintf(stdout, "no rate sustained\n")
		fig["rate"] = 0
	} else {
		// The floor again, at the best rate, open loop like the step.
		n := int(best.rate * step.Seconds())
		floor, fres, err := floorSrv.measure(rem, group, n, best.rate)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "floor at %.0f/s: %.1f us per activity (p99 %.2f ms)\n", best.rate, us(floor), ms(fres.P99))
		r3 := float64(floor) / float64(best.cpuTotal)
		r3w := float64(floor) / float64(best.cpuWindow)
		fmt.Fprintf(stdout, "sustained: %.0f activities/s, p99 %.2f ms (target >= 6500/s); backlog %d when the sending ended, processed %.1f s later\n",
			best.rate, ms(best.res.P99), best.backlog, best.drain.Seconds())
		fmt.Fprintf(stdout, "CPU per accepted activity: %.1f us received and processed, %.1f us while sending; R3 = %.2f (%.2f while sending), target >= 0.7\n",
			us(best.cpuTotal), us(best.cpuWindow), r3, r3w)
		fig["rate"] = best.rate
		fig["p99_ms"] = round(ms(best.res.P99), 2)
		fig["cpu_us"] = us(best.cpuTotal)
		fig["cpu_window_us"] = us(best.cpuWindow)
		fig["floor_us"] = us(floor)
		fig["r3"] = round(r3, 3)
		fig["r3_window"] = round(r3w, 3)
		fig["backlog"] = best.backlog
		fig["drain_s"] = secs(best.drain)
		fig["generator_us"] = us(best.remote)
	}
	// The highest rate whose processing kept up with its sending: when the
	// sending ended, what was left to process had arrived in the last
	// --p99 (processed, not only recorded, within the latency bound).
	keptUp := 0.0
	for _, st := range steps {
		if st.ok && float64(st.backlog) <= st.rate*p99Max.Seconds() {
			keptUp = st.rate
		}
	}
	fig["rate_processed"] = keptUp
	fig["rss_mb"] = round(peakRSSMB(), 1)
	fmt.Fprintf(stdout, "highest rate processed as fast as received (backlog at most %v of arrivals): %.0f/s\n", *p99Max, keptUp)
	if last := steps[len(steps)-1]; !last.ok {
		fig["failed_rate"] = last.rate
		fig["failed_p99_ms"] = round(ms(last.res.P99), 2)
		fig["failed_errors"] = last.res.Errors
	}
	fmt.Fprintf(stdout, "recorded %d of %d accepted (lost %d), peak RSS %.1f MB\n", recorded, accepted, lost, peakRSSMB())
	// Each activity the processor parses again costs a go-fed parse, the
	// largest part of receiving one.
	handed, again := a.Metrics.ParseSources()
	fmt.Fprintf(stdout, "processed %.0f: %.0f with the inbox's parse, %.0f parsed again\n", handed+again, handed, again)
	fig["parsed_again"] = again
	if *procN > 0 {
		procRates, err := benchProcessing(ctx, a.Cfg, fleet, perHost, *procN, procs, *procProfile, stderr)
		if err != nil {
			return err
		}
		var line []string
		for _, p := range procs {
			line = append(line, fmt.Sprintf("GOMAXPROCS=%d %.0f/s", p, procRates[p]))
			fig[fmt.Sprintf("process_rate_%d", p)] = math.Round(procRates[p])
		}
		fmt.Fprintf(stdout, "processing alone, %d recorded activities parsed from the queue: %s", *procN, strings.Join(line, ", "))
		if r1, r2 := procRates[1], procRates[2]; r1 > 0 && r2 > 0 {
			fig["process_scaling_2_1"] = round(r2/r1, 2)
			fmt.Fprintf(stdout, " (x%.2f from 1 to 2)", r2/r1)
		}
		fmt.Fprintln(stdout)
	}
	printJSON(stdout, fig)
	return nil
}

// benchProcessing measures the processor alone: n recorded Create{Note}
// (parsed from the queue, as after a restart) drained by the worker pool
// (its default size) at each GOMAXPROCS in procs, each on a new instance
// in its own data dir, with the fleet's actors cached first as in the
// run. It returns activities processed per second, by GOMAXPROCS. With
// a profile, each measure is profiled to profile-N (N its GOMAXPROCS).
func benchProcessing(ctx context.Context, cfg agora.Config, fleet []fedtest.FleetHost, perHost, n int, procs []int, profile string, stderr io.Writer) (map[int]float64, error) {
	rates := map[int]float64{}
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	for _, p := range procs {
		rate, err := func() (float64, error) {
			dir, err := os.MkdirTemp("", "agora-bench-process-")
			if err != nil {
				return 0, err
			}
			defer os.RemoveAll(dir)
			cfg := cfg
			cfg.DataDir, cfg.Inbox.Workers = dir, 0
			if cfg.Database != "" { // a new instance: a schema of its own
				s, err := newBenchSchema(ctx, cfg.Database)
				if err != nil {
					return 0, err
				}
				defer s.drop()
				cfg.Database = s.url
			}
			a, err := agora.Open(ctx, cfg, agora.NewLogger(cfg, stderr), nil, false)
			if err != nil {
				return 0, err
			}
			defer a.Close()
			if cfg.Database != "" {
				// Listening, as agora serve does on PostgreSQL: the
				// communities and domain blocks are read from memory
				// (storage/postgres/cache.go).
				lctx, stop := context.WithCancel(ctx)
				defer stop()
				go a.Listen(lctx, func() {})
				if err := waitFor(ctx, 10*time.Second, func() (bool, error) { return a.Listening(), nil }); err != nil {
					return 0, fmt.Errorf("bench: the PostgreSQL store never listened: %w", err)
				}
			}
			c, err := a.CreateCommunity(ctx, community.Community{Name: "bench", Title: "Bench"})
			if err != nil {
				return 0, err
			}
			if err := cacheActors(ctx, a, fleet, perHost); err != nil {
				return 0, err
			}
			group := a.Local.CommunityIRI(c.Name)
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for range 64 { // concurrent records share group commits
				wg.Go(func() {
					for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
						h, u := i%len(fleet), (i/len(fleet))%perHost
						actor := fmt.Sprintf("%s/users/u%d", fleet[h].URL, u)
						note := fmt.Sprintf("%s/statuses/process-%d", actor, i)
						if _, err := a.DB.RecordInbox(ctx, federation.InboxItem{ActivityID: note + "/activity", Type: "Create",
							Actor: actor, Body: benchCreate(actor, note, group), ReceivedAt: time.Now().UTC()}); err != nil {
							select {
							case errs <- err:
							default:
							}
							return
						}
					}
				})
			}
			wg.Wait()
			select {
			case err := <-errs:
				return 0, err
			default:
			}
			runtime.GOMAXPROCS(p)
			in := a.NewInbox(nil) // its pool sized for p
			stopProfile := func() {}
			if profile != "" {
				name := fmt.Sprintf("%s-%d", profile, p)
				if stopProfile, err = (benchFlags{profile: &name}).startProfile(); err != nil {
					return 0, err
				}
			}
			start := time.Now()
			in.ProcessPending(ctx)
			took := time.Since(start)
			stopProfile()
			runtime.GOMAXPROCS(prev)
			if left, err := a.DB.UnprocessedCount(ctx); err != nil || left > 0 {
				return 0, fmt.Errorf("bench: processing at GOMAXPROCS=%d left %d (%v)", p, left, err)
			}
			return float64(n) / took.Seconds(), nil
		}()
		if err != nil {
			return nil, err
		}
		rates[p] = rate
	}
	return rates, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cacheActors fetches every actor and key once, through Agora's caches.
func cacheActors(ctx context.Context, a *agora.App, fleet []fedtest.FleetHost, perHost int) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(fleet))
	for _, h := range fleet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range perHost {
				iri := fmt.Sprintf("%s/users/u%d", h.URL, u)
				if _, err := a.Actors.Get(ctx, iri, false); err != nil {
					errs <- err
					return
				}
				if _, err := a.Keys.PublicKey(ctx, iri+"#main-key", false); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// drained waits until the inbox has processed everything recorded.
func drained(ctx context.Context, a *agora.App, limit time.Duration) error {
	if err := waitFor(ctx, limit, func() (bool, error) { return inboxDone(ctx, a) }); err != nil {
		return fmt.Errorf("bench: the inbox did not catch up: %w", err)
	}
	return nil
}

// ingestFloorServer is the floor: a bare net/http server in this process
// doing what the inbox must do before its 202 (the same signature,
// parsing and SQLite code, on a scratch database), and nothing else.
type ingestFloorServer struct {
	srv *http.Server
	db  *sqlite.DB
	url string
}

func startIngestFloor(ctx context.Context, a *agora.App, dir string) (*ingestFloorServer, error) {
	db, err := sqlite.Open(ctx, filepath.Join(dir, "floor.db"))
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		sig, err := federation.ParseSignature(r, body, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		act, err := federation.Parse(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := sig.Verify(r.Context(), a.Keys); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		id := act.ID
		if id == "" {
			sum := sha256.Sum256(body)
			id = "sha256:" + hex.EncodeToString(sum[:])
		}
		if _, err := db.RecordInbox(r.Context(), federation.InboxItem{ActivityID: id, Type: act.Type, Actor: act.Actor,
			Body: body, ReceivedAt: time.Now().UTC()}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return &ingestFloorServer{srv: srv, db: db, url: "http://" + ln.Addr().String() + "/inbox"}, nil
}

func (f *ingestFloorServer) close() {
	f.srv.Close()
	f.db.Close()
}

// measure sends n distinct activities to the floor server, one after the
// other (rate 0) or open loop at rate, and returns the CPU per request.
func (f *ingestFloorServer) measure(rem *remote, group string, n int, rate float64) (time.Duration, loadResult, error) {
	if _, err := rem.call(remoteReq{Op: "prepare", URL: f.url, N: n, Community: group}); err != nil {
		return 0, loadResult{}, err
	}
	c0 := cpuTime()
	resp, err := rem.call(remoteReq{Op: "fire", Rate: rate})
	if err != nil {
		return 0, loadResult{}, err
	}
	floor := (cpuTime() - c0) / time.Duration(max(n, 1))
	if resp.Load.Errors > 0 {
		return 0, *resp.Load, fmt.Errorf("bench: floor server refused %d of %d: %s %v", resp.Load.Errors, n, resp.Load.FirstErr, resp.Load.Statuses)
	}
	return floor, *resp.Load, nil
}
