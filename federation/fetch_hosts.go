package federation

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ErrHostDown: a fetch from this host failed a moment ago (it did not
// answer, or not in time), so it is not tried again yet. A transient
// error: the activity that needed the document is retried later.
var ErrHostDown = errors.New("host not answering")

// FetchLimits bound what the Fetcher's GETs may cost; zero values take the
// defaults.
type FetchLimits struct {
	// Timeout bounds one GET, redirects and body included (default 10 s).
	Timeout time.Duration
	// PerHost is how many GETs to one host run at once (default 8); more
	// wait for a slot.
	PerHost int
	// DownFor is how long a host whose GET failed (no answer, or none in
	// time) is not asked again (default 1 min): 500 activities naming a
	// dead origin cost one timeout, not 500.
	DownFor time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (l FetchLimits) withDefaults() FetchLimits {
	if l.Timeout <= 0 {
		l.Timeout = 10 * time.Second
	}
	if l.PerHost <= 0 {
		l.PerHost = 8
	}
	if l.DownFor <= 0 {
		l.DownFor = time.Minute
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	return l
}

// hostGate holds the per-host slots and failures of a Fetcher.
type hostGate struct {
	limits FetchLimits
	mu     sync.Mutex
	hosts  map[string]*gateHost
}

type gateHost struct {
	slots     chan struct{}
	users     int // holding a slot or waiting for one
	downUntil time.Time
	lastErr   error
}

// maxGateHosts bounds the hosts remembered; past it, those idle and not
// down are forgotten.
const maxGateHosts = 10000

func newHostGate(l FetchLimits) *hostGate {
	return &hostGate{limits: l.withDefaults(), hosts: map[string]*gateHost{}}
}

// enter waits for a slot of the host of iri. It fails at once with
// ErrHostDown while the host is remembered failing. leave gives the slot
// back; failed tells whether the host failed to answer.
func (g *hostGate) enter(ctx context.Context, iri string) (leave func(failed error), err error) {
	host := iri
	if u, err := url.Parse(iri); err == nil {
		host = strings.ToLower(u.Host)
	}
	g.mu.Lock()
	h := g.hosts[host]
	if h == nil {
		if len(g.hosts) >= maxGateHosts {
			g.forgetIdle()
		}
		h = &gateHost{slots: make(chan struct{}, g.limits.PerHost)}
		g.hosts[host] = h
	}
	if err := g.down(host, h); err != nil {
		g.mu.Unlock()
		return nil, err
	}
	h.users++
	g.mu.Unlock()
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		g.mu.Lock()
		h.users--
		g.mu.Unlock()
		return nil, ctx.Err()
	}
	g.mu.Lock()
	// Those who waited while the host failed fail as well, without asking.
	if err := g.down(host, h); err != nil {
		h.users--
		<-h.slots
		g.mu.Unlock()
		return nil, err
	}
	g.mu.Unlock()
	return func(failed error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		<-h.slots
		h.users--
		if failed != nil {
			h.downUntil, h.lastErr = g.limits.Now().Add(g.limits.DownFor), failed
		} else {
			h.downUntil, h.lastErr = time.Time{}, nil
		}
	}, nil
}

// down is the error of a host remembered failing; g.mu is held.
func (g *hostGate) down(host string, h *gateHost) error {
	if g.limits.Now().Before(h.downUntil) {
		return fmt.Errorf("%w: %s failed at %s: %v", ErrHostDown, host,
			h.downUntil.Add(-g.limits.DownFor).UTC().Format(time.RFC3339), h.lastErr)
	}
	return nil
}

// forgetIdle drops the hosts nobody uses that are not failing; g.mu is held.
func (g *hostGate) forgetIdle() {
	now := g.limits.Now()
	for k, h := range g.hosts {
		if h.users == 0 && !now.Before(h.downUntil) {
			delete(g.hosts, k)
		}
	}
}
