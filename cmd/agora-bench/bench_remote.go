package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

// The remote side of a benchmark (the fleet of member servers and the
// load generator) runs in a child process, `agora-bench remote`, so that
// getrusage in the benchmark process counts Agora's CPU alone. The two
// talk in JSON lines over the child's stdin and stdout: one request, one
// answer. The child stops when its stdin closes.

// remoteReq is a request to the remote side.
type remoteReq struct {
	Op string `json:"op"` // fleet, post, tally, prepare, fire, cpu

	Fleet fedtest.FleetOptions `json:"fleet,omitzero"`

	// post: a signed POST of Body to URL as user User of host Host.
	URL  string `json:"url,omitempty"`
	Host int    `json:"host,omitempty"`
	User int    `json:"user,omitempty"`
	Body []byte `json:"body,omitempty"`

	// tally
	Type   string `json:"type,omitempty"`
	Object string `json:"object,omitempty"`

	// prepare: N signed Create{Note} to URL, addressed to Community,
	// from the fleet's actors in turn. fire: send them, Rate per second
	// (open loop), or one after the other when Rate is 0.
	N         int     `json:"n,omitempty"`
	Community string  `json:"community,omitempty"`
	Rate      float64 `json:"rate,omitempty"`
}

// remoteResp is the answer.
type remoteResp struct {
	Err    string              `json:"err,omitempty"`
	Hosts  []fedtest.FleetHost `json:"hosts,omitempty"`
	Status int                 `json:"status,omitempty"`
	At     time.Time           `json:"at,omitzero"` // when the post's answer arrived
	Tally  *fedtest.FleetTally `json:"tally,omitempty"`
	Stats  *fedtest.FleetStats `json:"stats,omitempty"`
	Load   *loadResult         `json:"load,omitempty"`
	CPU    time.Duration       `json:"cpu,omitzero"` // cpu: the remote side's CPU so far
}

// loadResult is what a fire saw.
type loadResult struct {
	Sent     int           `json:"sent"`
	Statuses map[int]int   `json:"statuses"` // status -> count; 0 for transport errors
	Errors   int           `json:"errors"`   // anything but 202
	Elapsed  time.Duration `json:"elapsed"`  // from the first scheduled send to the last answer
	P50      time.Duration `json:"p50,omitzero"`
	P99      time.Duration `json:"p99,omitzero"`
	Max      time.Duration `json:"max,omitzero"`
	FirstErr string        `json:"first_err,omitempty"`
	Lag      time.Duration `json:"lag,omitzero"` // how late the generator sent its last request
}

// cmdBenchRemote is `agora-bench remote`: the child's side.
func cmdBenchRemote(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	r := &remoteSide{}
	defer r.close()
	// The remote side's own profile, to see what the harness costs.
	if p := os.Getenv("AGORA_BENCH_REMOTE_CPUPROFILE"); p != "" {
		stop, err := benchFlags{profile: &p}.startProfile()
		if err != nil {
			return err
		}
		defer stop()
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	enc := json.NewEncoder(stdout)
	for sc.Scan() {
		var req remoteReq
		resp := remoteResp{}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp.Err = err.Error()
		} else if err := r.do(ctx, req, &resp); err != nil {
			resp.Err = err.Error()
		}
		if err := enc.Encode(resp); err != nil {
			return err
		}
	}
	return sc.Err()
}

type remoteSide struct {
	fleet    *fedtest.Fleet
	client   *http.Client
	users    int // actors per host
	prepared []preparedReq
	seq      int
}

type preparedReq struct {
	url    string
	header http.Header
	body   []byte
}

func (r *remoteSide) close() {
	if r.fleet != nil {
		r.fleet.Close()
	}
}

func (r *remoteSide) do(ctx context.Context, req remoteReq, resp *remoteResp) error {
	if req.Op != "fleet" && req.Op != "cpu" && r.fleet == nil {
		return errors.New("no fleet started")
	}
	switch req.Op {
	case "fleet":
		if r.fleet != nil {
			return errors.New("fleet already started")
		}
		f, err := fedtest.StartFleet(req.Fleet)
		if err != nil {
			return err
		}
		r.fleet, r.users = f, max(req.Fleet.UsersPerHost, 1)
		r.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			Proxy: nil, MaxIdleConnsPerHost: 2048, MaxIdleConns: 4096, IdleConnTimeout: time.Minute}}
		resp.Hosts = f.Hosts()
	case "post":
		code, err := r.fleet.SignedPost(ctx, req.URL, req.Host, req.User, req.Body)
		resp.Status, resp.At = code, time.Now()
		return err
	case "tally":
		t, s := r.fleet.Tally(req.Type, req.Object), r.fleet.Stats()
		resp.Tally, resp.Stats = &t, &s
	case "prepare":
		return r.prepare(req)
	case "fire":
		res := r.fire(ctx, req.Rate)
		resp.Load = &res
	case "cpu":
		resp.CPU = cpuTime()
	default:
		return fmt.Errorf("unknown op %q", req.Op)
	}
	return nil
}

// noteContent is about 1.6 KB of HTML, so that a Create{Note} is about 2 KB.
var noteContent = "<p>" + strings.Repeat("Seeds, soil and sun: what grows in a small garden in spring. ", 26) + "</p>"

// benchCreate is the Create{Note} of the ingest benchmark: about 2 KB,
// from actor, to community.
func benchCreate(actor, noteID, community string) []byte {
	body, _ := json.Marshal(map[string]any{
		"@context": []string{"https://www.w3.org/ns/activitystreams"},
		"id":       noteID + "/activity", "type": "Create", "actor": actor,
		"to": []string{federation.PublicCollection}, "cc": []string{actor + "/followers", community},
		"object": map[string]any{
			"id": noteID, "type": "Note", "attributedTo": actor, "url": noteID,
			"to": []string{federation.PublicCollection}, "cc": []string{actor + "/followers", community},
			"published": time.Now().UTC().Format(time.RFC3339),
			"content":   noteContent,
			"tag":       []map[string]string{{"type": "Mention", "href": community, "name": "@bench"}},
		},
	})
	return body
}

// prepare signs n distinct Create{Note}, from every actor of the fleet in
// turn, using every core: signing is what costs, and it is not measured.
func (r *remoteSide) prepare(req remoteReq) error {
	hosts := r.fleet.Hosts()
	users := r.users
	out := make([]preparedReq, req.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, runtime.GOMAXPROCS(0))
	base := r.seq
	r.seq += req.N
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= req.N {
					return
				}
				n := base + i
				h, u := n%len(hosts), (n/len(hosts))%users
				actor := r.fleet.ActorIRI(h, u)
				noteID := fmt.Sprintf("%s/statuses/%d", actor, n)
				body := benchCreate(actor, noteID, req.Community)
				hr, _ := http.NewRequest(http.MethodPost, req.URL, bytes.NewReader(body))
				hr.Header.Set("Content-Type", "application/activity+json")
				key, err := r.fleet.SigningKey(h, u)
				if err == nil {
					err = federation.SignRequest(hr, key, body, time.Now())
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				out[i] = preparedReq{url: req.URL, header: hr.Header, body: body}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	r.prepared = out
	return nil
}

// fire sends what prepare signed: open loop at rate per second (each
// request at its own time, whatever the answers before it; latency counts
// from that time, so a late generator shows as latency, not as a lower
// rate), or one after the other when rate is 0.
func (r *remoteSide) fire(ctx context.Context, rate float64) loadResult {
	reqs := r.prepared
	r.prepared = nil
	res := loadResult{Sent: len(reqs), Statuses: map[int]int{}}
	lat := make([]time.Duration, len(reqs))
	codes := make([]int, len(reqs))
	var firstErr atomic.Value
	send := func(i int, sched time.Time) {
		p := reqs[i]
		hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(p.body))
		hr.Header = p.header
		resp, err := r.client.Do(hr)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		} else {
			firstErr.CompareAndSwap(nil, err.Error())
		}
		lat[i] = time.Since(sched)
	}
	start := time.Now()
	if rate <= 0 {
		for i := range reqs {
			send(i, time.Now())
		}
	} else {
		var wg sync.WaitGroup
		interval := time.Duration(float64(time.Second) / rate)
		for i := range reqs {
			sched := start.Add(time.Duration(i) * interval)
			if d := time.Until(sched); d > 0 {
				time.Sleep(d)
			}
			if i == len(reqs)-1 {
				res.Lag = time.Since(sched)
			}
			wg.Add(1)
			go func() { defer wg.Done(); send(i, sched) }()
		}
		wg.Wait()
	}
	res.Elapsed = time.Since(start)
	for _, c := range codes {
		res.Statuses[c]++
		if c != http.StatusAccepted {
			res.Errors++
		}
	}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstErr = s
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		res.P50, res.P99, res.Max = lat[n/2], lat[min(n-1, n*99/100)], lat[n-1]
	}
	return res
}

// remote is the benchmark's handle on its remote side.
type remote struct {
	mu   sync.Mutex
	enc  *json.Encoder
	sc   *bufio.Scanner
	stop func() error
}

// startRemote starts `agora-bench remote` as a child process, or, with
// inproc (tests: the test binary is not agora), in this process.
func startRemote(ctx context.Context, inproc bool, stderr io.Writer) (*remote, error) {
	if inproc {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		done := make(chan error, 1)
		go func() {
			err := cmdBenchRemote(ctx, inR, outW)
			outW.CloseWithError(err)
			done <- err
		}()
		return newRemote(inW, outR, func() error { inW.Close(); return <-done }), nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "remote")
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start remote side: %w", err)
	}
	return newRemote(in, out, func() error { in.Close(); return cmd.Wait() }), nil
}

func newRemote(w io.Writer, r io.Reader, stop func() error) *remote {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	return &remote{enc: json.NewEncoder(w), sc: sc, stop: stop}
}

func (r *remote) call(req remoteReq) (remoteResp, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var resp remoteResp
	if err := r.enc.Encode(req); err != nil {
		return resp, fmt.Errorf("remote %s: %w", req.Op, err)
	}
	if !r.sc.Scan() {
		err := r.sc.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return resp, fmt.Errorf("remote %s: %w", req.Op, err)
	}
	if err := json.Unmarshal(r.sc.Bytes(), &resp); err != nil {
		return resp, fmt.Errorf("remote %s: %w", req.Op, err)
	}
	if resp.Err != "" {
		return resp, fmt.Errorf("remote %s: %s", req.Op, resp.Err)
	}
	return resp, nil
}

func (r *remote) Close() error { return r.stop() }
