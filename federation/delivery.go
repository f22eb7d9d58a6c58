package federation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DeliveryConfig tunes the delivery workers.
type DeliveryConfig struct {
	Workers          int           // deliveries in flight at once, all hosts together
	PerHost          int           // deliveries in flight to one host
	MaxAttempts      int           // tries (the first and the retries) before a delivery is given up
	UnavailableAfter time.Duration // a host failing every attempt this long is marked unavailable
	RequestTimeout   time.Duration // whole request
	ShutdownTimeout  time.Duration // how long in-flight deliveries may finish at shutdown
	Poll             time.Duration // how often the queue is read when nobody wakes the workers
}

// DefaultDeliveryConfig follows docs/protocol.md, "What every peer gets": many in flight
// (latency, not CPU, bounds a fan-out), a small cap per host, the first try
// and 16 retries over about 2 days (Mastodon's sidekiq_options retry: 16),
// unavailable after 7 days (Mastodon).
func DefaultDeliveryConfig() DeliveryConfig {
	return DeliveryConfig{
		Workers:          1024,
		PerHost:          4,
		MaxAttempts:      17,
		UnavailableAfter: 7 * 24 * time.Hour,
		RequestTimeout:   30 * time.Second,
		ShutdownTimeout:  10 * time.Second,
		Poll:             time.Second,
	}
}

// GoneInboxes removes the members whose inbox answered 410 Gone.
type GoneInboxes interface {
	RemoveMembersByInbox(ctx context.Context, inbox string) (int, error)
}

// Deliverer runs the delivery queue: it leases due deliveries, signs and
// POSTs them, and records the outcome.
type Deliverer struct {
	cfg     DeliveryConfig
	queue   Queue
	hosts   HostStore
	gone    GoneInboxes
	local   *Local
	client  *http.Client
	agent   string
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time
	wake    chan struct{}
	signing chan struct{} // one token per core: see post
	refused func(ctx context.Context, dl Delivery, status int) (bool, error)

	mu sync.Mutex
	// recorded are the hosts that may have a failure on record (read at
	// start, then kept up to date): only their successes are written.
	// nil until read, or when it could not be: every success is written.
	recorded    map[string]bool
	failing     map[string]bool // hosts whose last attempt failed: one delivery in flight at a time
	unavailable map[string]bool
}

// DelivererDeps are the dependencies of a Deliverer.
type DelivererDeps struct {
	Config    DeliveryConfig
	Queue     Queue
	Hosts     HostStore
	Gone      GoneInboxes // may be nil
	Local     *Local
	Client    *http.Client // the SSRF-safe client
	UserAgent string
	Metrics   *Metrics
	Log       *slog.Logger
	Now       func() time.Time
	// Refused, when set, is told of every 4xx answer (after it is logged
	// and counted): Publisher.DeliveryRefused learns origin-strict hosts
	// from it.
	Refused func(ctx context.Context, dl Delivery, status int) (switched bool, err error)
}

// NewDeliverer returns a Deliverer; call Run to start it.
func NewDeliverer(d DelivererDeps) *Deliverer {
	def := DefaultDeliveryConfig()
	c := d.Config
	if c.Workers <= 0 {
		c.Workers = def.Workers
	}
	if c.PerHost <= 0 {
		c.PerHost = def.PerHost
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = def.MaxAttempts
	}
	if c.UnavailableAfter <= 0 {
		c.UnavailableAfter = def.UnavailableAfter
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = def.RequestTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = def.ShutdownTimeout
	}
	if c.Poll <= 0 {
		c.Poll = def.Poll
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	return &Deliverer{cfg: c, queue: d.Queue, hosts: d.Hosts, gone: d.Gone, local: d.Local, client: d.Client,
		agent: d.UserAgent, metrics: d.Metrics, log: d.Log, now: d.Now, wake: make(chan struct{}, 1),
		signing: make(chan struct{}, runtime.GOMAXPROCS(0)), refused: d.Refused,
		failing: map[string]bool{}, unavailable: map[string]bool{}}
}

// Notify wakes the workers: something was queued.
func (d *Deliverer) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// HostAlive is told when a host sent us a verified activity: an
// unavailable host is available again (Mastodon does the same).
func (d *Deliverer) HostAlive(host string) {
	d.mu.Lock()
	was := d.unavailable[host]
	delete(d.unavailable, host)
	if was {
		delete(d.recorded, host) // cleared below
	}
	d.mu.Unlock()
	if !was {
		return
	}
	if err := d.hosts.HostSucceeded(context.Background(), host); err != nil {
		d.log.Error("delivery: clear host", "host", host, "err", err)
	}
	d.log.Info("host available again", "host", host)
	d.Notify()
}

// ClearHost makes a host available again because an admin says it is back
// (the console and `agora host clear` both come here): its failure state
// is cleared, its queued deliveries are due now rather than at the end of
// their backoff, and, in the process whose workers run, it is forgotten
// as failing (so its cap is PerHost again, not 1) and the workers are
// woken. Where no workers run (the CLI beside a running server), the
// server's find the deliveries at their next poll, and its cap for the
// host comes back with the first success. It reports whether the host
// was known: named as `agora host list` names it, with its port if any.
func (d *Deliverer) ClearHost(ctx context.Context, host string) (bool, error) {
	host = strings.ToLower(strings.TrimSpace(host))
	known, err := d.hosts.ClearHost(ctx, host, d.now())
	if err != nil {
		return false, fmt.Errorf("clear host %s: %w", host, err)
	}
	d.mu.Lock()
	delete(d.failing, host)
	delete(d.unavailable, host)
	delete(d.recorded, host)
	d.mu.Unlock()
	if known {
		d.log.Info("host cleared", "host", host)
		d.Notify()
	}
	return known, nil
}

// Run delivers until ctx ends, then lets in-flight deliveries finish for up
// to ShutdownTimeout; what is left stays queued for the next start.
func (d *Deliverer) Run(ctx context.Context) error {
	if err := d.queue.ReleaseLeases(ctx); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	hosts, err := d.hosts.UnavailableHosts(ctx)
	if err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	d.mu.Lock()
	for _, h := range hosts {
		d.unavailable[h] = true
	}
	d.mu.Unlock()
	if err := d.loadRecorded(ctx); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}

	// In-flight work gets its own context so shutdown can let it finish.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	p := newPool(d.cfg.Workers, d.hostCap)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		d.fill(ctx, p)
		p.start(func(dl Delivery) { d.deliver(work, dl) })
		select {
		case <-ctx.Done():
			done := make(chan struct{})
			go func() { p.wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(d.cfg.ShutdownTimeout):
				cancelWork()
				<-done
			}
			return nil
		case <-d.wake:
			p.drained = false
		case <-p.finished:
		case <-timer.C:
			p.drained = false
			timer.Reset(d.cfg.Poll)
		}
	}
}

// DeliverDue delivers every delivery due now and waits for the outcomes.
// Tests with an injected clock use it instead of Run.
func (d *Deliverer) DeliverDue(ctx context.Context) {
	if err := d.loadRecorded(ctx); err != nil {
		d.log.Error("delivery: failing hosts", "err", err) // every success is written
	}
	p := newPool(d.cfg.Workers, d.hostCap)
	for {
		if !d.fill(ctx, p) && p.idle() {
			return
		}
		p.start(func(dl Delivery) { d.deliver(ctx, dl) })
		<-p.finished
	}
}

// fill claims due deliveries while the pool has room for them; it reports
// whether it claimed any.
func (d *Deliverer) fill(ctx context.Context, p *pool) bool {
	room := 2*p.workers - p.buffered()
	if room <= 0 || ctx.Err() != nil || p.drained {
		return false
	}
	// Enough claimed work can still start: claiming again now would run
	// the claim query once per finished delivery, which in a large
	// fan-out cost more CPU than anything but signing.
	if p.startable() >= max(p.workers/2, 1) {
		return false
	}
	// A claim takes at most a healthy host's hand of one host (one limit
	// for every host in SQL); saturated keeps the hosts that have theirs.
	skip, limit := p.saturated(), inHand(d.cfg.PerHost)
	ds, err := d.queue.ClaimDue(ctx, d.now(), room, limit, 5*time.Minute, skip...)
	if err != nil {
		if ctx.Err() == nil { // a claim cut short by shutdown is no error
			d.log.Error("delivery: claim", "err", err)
		}
		return false
	}
	perHost, cut := map[string]int{}, false
	for _, dl := range ds {
		p.add(dl)
		perHost[dl.Host]++
		cut = cut || perHost[dl.Host] >= limit
	}
	// Everything due was claimed when the claim left nothing out: fewer
	// rows than it could take, no host skipped, none cut at its per-host
	// limit. Until something is queued (Notify) or time passes (Poll:
	// retries and leases come due), claiming again would find nothing, and
	// at the end of a fan-out every finished delivery would ask again
	// (BENCHMARKS.md, "Figures behind the code").
	p.drained = len(ds) < room && len(skip) == 0 && !cut
	return len(ds) > 0
}

// outcome of one attempt.
type outcome int

const (
	delivered outcome = iota
	retry
	permanent
)

func (d *Deliverer) deliver(ctx context.Context, dl Delivery) {
	status, retryAfter, answer, err := d.post(ctx, dl)
	if ctx.Err() != nil {
		// Shutting down: the delivery stays queued as it was, not counted
		// as a failed attempt, and its lease ends at the next start.
		return
	}
	o := classify(status, err)
	now := d.now()
	switch o {
	case delivered:
		d.metrics.Deliveries.WithLabelValues("delivered").Inc()
		d.log.Info("delivered", "inbox", dl.Inbox, "delivery", dl.ID, "status", status)
		if err := d.queue.DeliveryDone(ctx, dl.ID); err != nil {
			d.log.Error("delivery: record done", "delivery", dl.ID, "err", err)
		}
		d.hostOK(ctx, dl.Host)
	case permanent:
		d.metrics.Deliveries.WithLabelValues("dropped").Inc()
		d.log.Warn("delivery dropped", "inbox", dl.Inbox, "delivery", dl.ID, "status", status, "answer", answer, "err", err)
		if status >= 400 && status < 500 {
			d.refusal(ctx, dl, status)
		}
		if err := d.queue.DropDelivery(ctx, dl.ID, fmt.Sprintf("status %d: %v", status, err)); err != nil {
			d.log.Error("delivery: drop", "delivery", dl.ID, "err", err)
		}
		if status == http.StatusGone && d.gone != nil {
			if n, err := d.gone.RemoveMembersByInbox(ctx, dl.Inbox); err != nil {
				d.log.Error("delivery: remove gone members", "inbox", dl.Inbox, "err", err)
			} else if n > 0 {
				d.log.Info("members gone", "inbox", dl.Inbox, "removed", n)
			}
		}
	case retry:
		attempts := dl.Attempts + 1
		msg := fmt.Sprintf("status %d", status)
		if err != nil {
			msg = err.Error()
		}
		if attempts >= d.cfg.MaxAttempts {
			d.metrics.Deliveries.WithLabelValues("failed").Inc()
			d.log.Warn("delivery failed, giving up", "inbox", dl.Inbox, "delivery", dl.ID, "attempts", attempts, "err", msg)
			if err := d.queue.DropDelivery(ctx, dl.ID, msg); err != nil {
				d.log.Error("delivery: drop", "delivery", dl.ID, "err", err)
			}
		} else {
			d.metrics.Deliveries.WithLabelValues("retry").Inc()
			next := now.Add(max(Backoff(dl.Attempts), retryAfter))
			d.log.Info("delivery will be retried", "inbox", dl.Inbox, "delivery", dl.ID, "attempts", attempts, "next", next, "err", msg)
			if err := d.queue.RetryDelivery(ctx, dl.ID, attempts, next, msg); err != nil {
				d.log.Error("delivery: reschedule", "delivery", dl.ID, "err", err)
			}
		}
		d.hostFailed(ctx, dl.Host, now, msg)
	}
}

// refusal counts a 4xx answer by status, so that an admin sees a whole
// software family refusing the community's activities, and tells the
// Refused hook.
func (d *Deliverer) refusal(ctx context.Context, dl Delivery, status int) {
	d.metrics.Refusals.WithLabelValues(strconv.Itoa(status)).Inc()
	if d.refused == nil {
		return
	}
	switched, err := d.refused(ctx, dl, status)
	if err != nil {
		d.log.Error("delivery: learn announce form", "host", dl.Host, "err", err)
	} else if switched {
		d.log.Warn("host refused an embedded activity of another origin: it gets Announce{object id} from now on",
			"host", dl.Host, "status", status, "delivery", dl.ID)
	}
}

// answerLine is the first line of an answer's body, at most 200 bytes, for
// the log of a refused delivery.
func answerLine(body []byte) string {
	if i := bytes.IndexByte(body, '\n'); i >= 0 {
		body = body[:i]
	}
	body = bytes.TrimSpace(body)
	if len(body) > 200 {
		body = body[:200]
	}
	return strconv.QuoteToASCII(string(body))
}

// post signs and sends one delivery. answer is the first line of a
// non-2xx answer's body.
func (d *Deliverer) post(ctx context.Context, dl Delivery) (status int, retryAfter time.Duration, answer string, err error) {
	key, err := d.local.SigningKey(ctx, dl.Signer)
	if err != nil {
		return 0, 0, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.Inbox, bytes.NewReader(dl.Body))
	if err != nil {
		return 0, 0, "", fmt.Errorf("deliver %s: %w", dl.Inbox, err)
	}
	req.Header.Set("Content-Type", "application/activity+json")
	req.Header.Set("Accept", "application/activity+json")
	if d.agent != "" {
		req.Header.Set("User-Agent", d.agent)
	}
	// Signing is CPU work (an RSA-2048 signature, about a millisecond) and
	// the workers are many (they mostly wait on the network): without a
	// bound, a fan-out starts hundreds of signatures at once, they share
	// the cores and finish together, then every worker waits on its peer
	// at the same time while the cores idle. One signature per core at a
	// time sends each request as soon as its own signature is done and
	// keeps the cores busy while earlier requests wait for their answers.
	select {
	case d.signing <- struct{}{}:
	case <-ctx.Done():
		return 0, 0, "", fmt.Errorf("deliver %s: %w", dl.Inbox, ctx.Err())
	}
	err = SignRequest(req, key, dl.Body, d.now())
	<-d.signing
	if err != nil {
		return 0, 0, "", fmt.Errorf("deliver %s: %w", dl.Inbox, err)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, 0, "", fmt.Errorf("deliver %s: %w", dl.Inbox, err)
	}
	// Drain a little so the connection can be reused; keep the start of
	// a refusal for the log.
	if resp.StatusCode >= 300 {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		answer = answerLine(head)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, parseRetryAfter(resp.Header.Get("Retry-After"), d.now()), answer, nil
}

func classify(status int, err error) outcome {
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return permanent
	case err != nil:
		return retry
	case status >= 200 && status < 300:
		return delivered
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return retry
	default:
		return permanent
	}
}

// Backoff is the wait after the n-th failed attempt (n from 0): Sidekiq's
// default retry formula, n^4 + 15 + rand(10)*(n+1) seconds, which Mastodon's
// delivery worker uses for its 16 retries: about 50 hours in all.
func Backoff(n int) time.Duration {
	s := n*n*n*n + 15 + rand.IntN(10)*(n+1)
	return time.Duration(s) * time.Second
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; at most a
// day is honoured, so a hostile value cannot park a delivery for ever.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), 24*time.Hour)
}

// loadRecorded reads, once, the hosts with a failure on record. A fan-out
// to 2,000 hosts that never failed then makes no write for their
// successes.
func (d *Deliverer) loadRecorded(ctx context.Context) error {
	d.mu.Lock()
	loaded := d.recorded != nil
	d.mu.Unlock()
	if loaded {
		return nil
	}
	failing, err := d.hosts.FailingHosts(ctx)
	if err != nil {
		return err
	}
	recorded := make(map[string]bool, len(failing))
	for h := range failing {
		recorded[h] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.recorded == nil {
		d.recorded = recorded
	}
	return nil
}

func (d *Deliverer) hostOK(ctx context.Context, host string) {
	d.mu.Lock()
	write := d.recorded == nil || d.recorded[host]
	delete(d.recorded, host)
	delete(d.failing, host)
	d.mu.Unlock()
	if !write {
		return
	}
	if err := d.hosts.HostSucceeded(ctx, host); err != nil {
		d.log.Error("delivery: record host success", "host", host, "err", err)
	}
}

func (d *Deliverer) hostFailed(ctx context.Context, host string, now time.Time, reason string) {
	d.mu.Lock()
	if d.recorded != nil {
		d.recorded[host] = true
	}
	d.failing[host] = true
	d.mu.Unlock()
	since, err := d.hosts.HostFailed(ctx, host, now, reason)
	if err != nil {
		d.log.Error("delivery: record host failure", "host", host, "err", err)
		return
	}
	if now.Sub(since) < d.cfg.UnavailableAfter {
		return
	}
	if err := d.hosts.MarkHostUnavailable(ctx, host, now); err != nil {
		d.log.Error("delivery: mark host unavailable", "host", host, "err", err)
		return
	}
	d.mu.Lock()
	d.unavailable[host] = true
	d.mu.Unlock()
	d.log.Warn("host unavailable", "host", host, "failing_since", since)
}

// pool runs deliveries with a cap in all and per host. Only the dispatcher
// goroutine calls add, start, buffered and idle.
type pool struct {
	workers  int
	hostCap  func(host string) int // Deliverer.hostCap
	waiting  map[string][]Delivery
	hosts    []string // hosts with waiting deliveries, in arrival order
	inflight map[string]int
	running  int
	nwaiting int
	done     chan string
	finished chan struct{}
	wg       sync.WaitGroup
	// drained: the last claim took everything due; the dispatcher does
	// not claim again until it is woken or polls.
	drained bool
}

func newPool(workers int, hostCap func(host string) int) *pool {
	return &pool{workers: workers, hostCap: hostCap, waiting: map[string][]Delivery{}, inflight: map[string]int{},
		done: make(chan string, workers), finished: make(chan struct{}, 1)}
}

// inHand is how many of one host's deliveries the pool holds at most,
// waiting or in flight, for a host whose cap is hostCap: twice the cap, so
// that the next ones are at hand as those in flight finish.
func inHand(hostCap int) int { return 2 * hostCap }

// saturated lists the hosts that have their hand full: claiming more of
// theirs would only fill the buffer with deliveries that cannot start, a
// dead host's backlog ahead of live hosts.
func (p *pool) saturated() []string {
	p.reap()
	var out []string
	for h, ws := range p.waiting {
		if len(ws)+p.inflight[h] >= inHand(p.hostCap(h)) {
			out = append(out, h)
		}
	}
	return out
}

func (p *pool) add(dl Delivery) {
	if len(p.waiting[dl.Host]) == 0 {
		p.hosts = append(p.hosts, dl.Host)
	}
	p.waiting[dl.Host] = append(p.waiting[dl.Host], dl)
	p.nwaiting++
}

func (p *pool) buffered() int { p.reap(); return p.nwaiting + p.running }

// startable counts the waiting deliveries that the per-host cap would let
// start (the overall cap aside).
func (p *pool) startable() int {
	p.reap()
	n := 0
	for h, ws := range p.waiting {
		n += max(0, min(len(ws), p.hostCap(h)-p.inflight[h]))
	}
	return n
}

func (p *pool) idle() bool { p.reap(); return p.nwaiting == 0 && p.running == 0 }

// reap takes note of finished deliveries.
func (p *pool) reap() {
	for {
		select {
		case h := <-p.done:
			p.running--
			p.inflight[h]--
			if p.inflight[h] == 0 {
				delete(p.inflight, h)
			}
		default:
			return
		}
	}
}

// start launches waiting deliveries while caps allow, hosts in turn.
func (p *pool) start(run func(Delivery)) {
	p.reap()
	kept := p.hosts[:0]
	for _, h := range p.hosts {
		for len(p.waiting[h]) > 0 && p.running < p.workers && p.inflight[h] < p.hostCap(h) {
			dl := p.waiting[h][0]
			p.waiting[h] = p.waiting[h][1:]
			p.nwaiting--
			p.running++
			p.inflight[h]++
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				run(dl)
				p.done <- dl.Host
				select {
				case p.finished <- struct{}{}:
				default:
				}
			}()
		}
		if len(p.waiting[h]) > 0 {
			kept = append(kept, h)
		} else {
			delete(p.waiting, h)
		}
	}
	p.hosts = kept
}

// hostCap is how many deliveries may be in flight to a host: PerHost, but
// one for a host whose last attempt failed, so that dead hosts with a
// backlog cannot hold every worker for a whole request timeout each.
func (d *Deliverer) hostCap(host string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failing[host] {
		return 1
	}
	return d.cfg.PerHost
}
