package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
)

// Limits bounds the work anyone can make the inboxes do. A zero field is
// no limit.
type Limits struct {
	// MaxConcurrent is the number of inbox requests processed at once;
	// one more is answered 503 with Retry-After at once, not queued, so a
	// flood cannot pile up goroutines, memory and key fetches.
	MaxConcurrent int
	// PerIP is inbox requests allowed per Window from one client address
	// (an IPv6 /64), counted before anything else: it bounds the CPU and
	// key fetches that verifying costs. PerActor is those allowed for one
	// actor, counted once its signature is verified (see actorLimiter).
	// More are answered 429 with Retry-After.
	PerIP, PerActor int
	Window          time.Duration
}

// retryAfterBusy is the Retry-After of a 503 when the inbox is full: the
// requests in progress take a few seconds at most.
const retryAfterBusy = 5

// retryAfterBudget is the Retry-After of a 429 to an actor over its byte
// budget (federation.ErrOverBudget): its backlog is being processed.
const retryAfterBudget = 60

// errRateLimited is a request over a rate limit: 429, with the Retry-After
// the limiter set on the response.
var errRateLimited = errors.New("too many requests")

func (l Limits) window() time.Duration {
	if l.Window <= 0 {
		return time.Minute
	}
	return l.Window
}

// inboxLimits returns the middleware of every inbox route, cheapest
// refusal first: per address, then the concurrency bound. The per-actor
// limit is not here: only the handler knows the verified actor.
func inboxLimits(l Limits) []func(http.Handler) http.Handler {
	var mws []func(http.Handler) http.Handler
	if l.PerIP > 0 {
		tooMany := httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "too many requests", http.StatusTooManyRequests)
		})
		mws = append(mws, rateLimit(httprate.NewRateLimiter(l.PerIP, l.window(), tooMany), clientIPKey))
	}
	if l.MaxConcurrent > 0 {
		mws = append(mws, concurrencyLimit(l.MaxConcurrent))
	}
	return mws
}

// DefaultTrustedProxies are the proxies whose X-Forwarded-For is believed
// when the configuration names none: loopback, where the README's reverse
// proxy runs.
var DefaultTrustedProxies = []string{"127.0.0.0/8", "::1/128"}

// clientIP finds each request's client address for every limit (login,
// setup, password, Join, inbox): behind a trusted proxy every request
// comes from the proxy, and its X-Forwarded-For names the client (read
// from the right, past the trusted hops); from any other peer the header
// is ignored, so it cannot be forged. No proxies: the TCP peer always.
func clientIP(trusted []string) func(http.Handler) http.Handler {
	if len(trusted) == 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	return middleware.ClientIPFromXFF(trusted...)
}

// limitByClient allows n requests per window from one client address
// (clientIPKey) and answers 429 with Retry-After to the rest.
func limitByClient(n int, window time.Duration, opts ...httprate.Option) func(http.Handler) http.Handler {
	return httprate.Limit(n, window, append([]httprate.Option{httprate.WithKeyFuncs(func(r *http.Request) (string, error) {
		return clientIPKey(r), nil
	})}, opts...)...)
}

// tooMany answers a request over a limit of the pages: 429, with the
// Retry-After the limiter set, as an error page to a browser.
func (s *server) tooMany(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, errRateLimited)
}

// rateLimit counts each request under key(r) with limiter.
func rateLimit(limiter *httprate.RateLimiter, key func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if limiter.RespondOnLimit(w, r, key(r)) {
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// clientIPKey is the client address: the one the trusted proxy names, else
// the TCP peer. IPv6 clients count by /64, which one client usually owns.
func clientIPKey(r *http.Request) string {
	ip := middleware.GetClientIP(r.Context())
	if ip == "" {
		ip = r.RemoteAddr
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			ip = host
		}
	}
	return "ip:" + httprate.CanonicalizeIP(ip)
}

// actorLimiter returns the per-actor limiter of l, nil for none. It counts
// the actor whose signature federation.Inbox.Receive verified, so that a
// forger naming an honest actor's keyId spends nothing of its allowance
// (its requests fail verification and count only against its address).
// Receive asks before recording, so a limited activity leaves no row.
func actorLimiter(l Limits) *httprate.RateLimiter {
	if l.PerActor <= 0 {
		return nil
	}
	return httprate.NewRateLimiter(l.PerActor, l.window())
}

// admitActor is the admission Receive asks once it knows the verified
// actor: nil (no limit) or one that counts the request, and past the limit
// sets Retry-After on w and returns errRateLimited.
func admitActor(limiter *httprate.RateLimiter, w http.ResponseWriter, r *http.Request) func(actor string) error {
	if limiter == nil {
		return nil
	}
	return func(actor string) error {
		if limiter.OnLimit(w, r, "actor:"+actor) {
			return errRateLimited
		}
		return nil
	}
}

// concurrencyLimit lets n requests through at once and refuses the others
// with 503 and Retry-After. The body is read before a slot is taken, so a
// client sending it slowly (until the server's read timeout) holds no slot;
// at most MaxInboxBody+1 bytes are read, and the handler answers 413 past
// MaxInboxBody as it would have.
//
// A request that waits on another server for a signing key gives its slot
// back meanwhile (federation.Slot), so forged keyIds that hang cannot
// hold every slot; at most n such requests wait so, with their bodies,
// beyond that they wait holding their slot.
func concurrencyLimit(n int) func(http.Handler) http.Handler {
	slots := make(chan struct{}, n)
	waiting := &atomic.Int64{}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body != nil && r.ContentLength <= MaxInboxBody {
				body, err := io.ReadAll(io.LimitReader(r.Body, MaxInboxBody+1))
				if err != nil {
					http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			select {
			case slots <- struct{}{}:
				slot := &inboxSlot{slots: slots, waiting: waiting, maxWaiting: int64(n), held: true}
				defer slot.leave()
				next.ServeHTTP(w, r.WithContext(federation.WithSlot(r.Context(), slot)))
			default:
				w.Header().Set("Retry-After", strconv.Itoa(retryAfterBusy))
				http.Error(w, "inbox busy", http.StatusServiceUnavailable)
			}
		})
	}
}

// inboxSlot is one request's slot of concurrencyLimit: a federation.Slot.
type inboxSlot struct {
	slots      chan struct{}
	waiting    *atomic.Int64 // requests that gave their slot back to wait
	maxWaiting int64
	held       bool
}

func (s *inboxSlot) Release() bool {
	if !s.held {
		return false
	}
	if s.waiting.Add(1) > s.maxWaiting {
		s.waiting.Add(-1)
		return false
	}
	<-s.slots
	s.held = false
	return true
}

func (s *inboxSlot) Reacquire(ctx context.Context) error {
	if s.held {
		return nil
	}
	defer s.waiting.Add(-1)
	select {
	case s.slots <- struct{}{}:
		s.held = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leave gives the slot back at the end of the request, if it holds one.
func (s *inboxSlot) leave() {
	if s.held {
		s.held = false
		<-s.slots
	}
}

// checkHost refuses a signed request made for another server: the
// signature covers the Host header, so a request that a peer signed for
// some other host, replayed here with that Host, would verify. Behind the
// reverse proxy, which passes Host through, it is the public host.
func (s *server) checkHost(r *http.Request) error {
	if hostKeyOf(r.Host, s.Local.Base()) != hostKeyOf(s.Local.Host(), s.Local.Base()) {
		return fmt.Errorf("%w: request for host %q, this is %q", federation.ErrNotVerified, r.Host, s.Local.Host())
	}
	return nil
}

// hostKeyOf is host in lower case with the base URL's default port made
// explicit, so that "example.org" and "example.org:443" compare equal.
func hostKeyOf(host, base string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	if strings.HasPrefix(base, "https:") {
		return net.JoinHostPort(strings.Trim(host, "[]"), "443")
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), "80")
}
