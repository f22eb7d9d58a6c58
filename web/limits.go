package web

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
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
	// PerIP and PerActor are inbox requests allowed per Window from one
	// client address (an IPv6 /64) and for one signing key; more are
	// answered 429 with Retry-After.
	PerIP, PerActor int
	Window          time.Duration
}

// retryAfterBusy is the Retry-After of a 503 when the inbox is full: the
// requests in progress take a few seconds at most.
const retryAfterBusy = 5

// inboxLimits returns the middleware of every inbox route, cheapest
// refusal first: per address, per actor, then the concurrency bound.
func inboxLimits(l Limits) []func(http.Handler) http.Handler {
	window := l.Window
	if window <= 0 {
		window = time.Minute
	}
	// Behind the recommended reverse proxy on loopback every request comes
	// from 127.0.0.1: the proxy's X-Forwarded-For names the client. From
	// any other peer the header is ignored, so it cannot be forged.
	mws := []func(http.Handler) http.Handler{middleware.ClientIPFromXFF("127.0.0.0/8", "::1/128")}
	tooMany := httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too many requests", http.StatusTooManyRequests)
	})
	if l.PerIP > 0 {
		mws = append(mws, rateLimit(httprate.NewRateLimiter(l.PerIP, window, tooMany), clientIPKey))
	}
	if l.PerActor > 0 {
		mws = append(mws, rateLimit(httprate.NewRateLimiter(l.PerActor, window, tooMany), signerKey))
	}
	if l.MaxConcurrent > 0 {
		mws = append(mws, concurrencyLimit(l.MaxConcurrent))
	}
	return mws
}

// rateLimit counts each request under key(r) with limiter; a request with
// no key is not counted.
func rateLimit(limiter *httprate.RateLimiter, key func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if k := key(r); k != "" && limiter.RespondOnLimit(w, r, k) {
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

// signerKey is the keyId the request claims to be signed with. It is
// counted before verification, which is what spares the CPU and the key
// fetches; the price is that a forger can spend an actor's allowance, and
// that actor's server then retries later, as it does after any 429.
// Unsigned requests are not counted here: they are refused without work.
func signerKey(r *http.Request) string {
	id := ""
	if input := r.Header.Get("Signature-Input"); input != "" {
		id = keyIDOf9421(input) // RFC 9421
	} else {
		id = keyIDOf(r.Header.Get("Signature"))
	}
	if id != "" {
		return "key:" + id
	}
	return ""
}

// keyIDOf9421 reads the keyid parameter of the first signature in an RFC
// 9421 Signature-Input header.
func keyIDOf9421(input string) string {
	_, rest, ok := strings.Cut(input, `;keyid="`)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

// keyIDOf reads the keyId parameter of a draft-cavage Signature header.
func keyIDOf(sig string) string {
	for _, p := range strings.Split(sig, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "keyId") {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// concurrencyLimit lets n requests through at once and refuses the others
// with 503 and Retry-After. The body is read before a slot is taken, so a
// client sending it slowly (until the server's read timeout) holds no slot;
// at most MaxInboxBody+1 bytes are read, and the handler answers 413 past
// MaxInboxBody as it would have.
func concurrencyLimit(n int) func(http.Handler) http.Handler {
	slots := make(chan struct{}, n)
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
				defer func() { <-slots }()
				next.ServeHTTP(w, r)
			default:
				w.Header().Set("Retry-After", strconv.Itoa(retryAfterBusy))
				http.Error(w, "inbox busy", http.StatusServiceUnavailable)
			}
		})
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
