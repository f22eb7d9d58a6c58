package web

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
)

// limited wraps next in the inbox middleware for l.
func limited(l Limits, next http.Handler) http.Handler {
	return chi.Chain(append([]func(http.Handler) http.Handler{clientIP(DefaultTrustedProxies)}, inboxLimits(l)...)...).Handler(next)
}

type limitReq struct {
	remote string // RemoteAddr
	xff    string // X-Forwarded-For
	keyID  string // keyId of the Signature header; "" for none
	input  string // keyid of an RFC 9421 Signature-Input; "" for none
}

func (lr limitReq) do(h http.Handler) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/inbox", nil)
	r.RemoteAddr = lr.remote
	if lr.xff != "" {
		r.Header.Set("X-Forwarded-For", lr.xff)
	}
	if lr.keyID != "" {
		r.Header.Set("Signature", `keyId="`+lr.keyID+`",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AAAA"`)
	}
	if lr.input != "" {
		r.Header.Set("Signature-Input", `sig1=("@method" "@target-uri" "content-digest");created=1;keyid="`+lr.input+`";alg="rsa-v1_5-sha256"`)
		r.Header.Set("Signature", "sig1=:AAAA:")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestRateLimits(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	const alice = "https://a.example/users/alice#main-key"
	tests := []struct {
		name   string
		limits Limits
		reqs   []limitReq
		want   []int
	}{
		{"per IP", Limits{PerIP: 2, Window: time.Hour},
			[]limitReq{{remote: "203.0.113.1:1"}, {remote: "203.0.113.1:2"}, {remote: "203.0.113.1:3"}, {remote: "203.0.113.2:1"}},
			[]int{202, 202, 429, 202}},
		{"per IPv6 /64", Limits{PerIP: 1, Window: time.Hour},
			[]limitReq{{remote: "[2001:db8:1:2::1]:1"}, {remote: "[2001:db8:1:2::ffff]:1"}, {remote: "[2001:db8:1:3::1]:1"}},
			[]int{202, 429, 202}},
		{"behind a loopback proxy, X-Forwarded-For names the client", Limits{PerIP: 1, Window: time.Hour},
			[]limitReq{{remote: "127.0.0.1:1", xff: "198.51.100.7"}, {remote: "127.0.0.1:2", xff: "198.51.100.8"},
				{remote: "127.0.0.1:3", xff: "198.51.100.7"}},
			[]int{202, 202, 429}},
		{"X-Forwarded-For from anyone else is ignored", Limits{PerIP: 1, Window: time.Hour},
			[]limitReq{{remote: "203.0.113.9:1", xff: "198.51.100.1"}, {remote: "203.0.113.9:2", xff: "198.51.100.2"}},
			[]int{202, 429}},
		{"signing keys are not counted here (see TestAdmitActor)", Limits{PerActor: 1, Window: time.Hour},
			[]limitReq{{remote: "203.0.113.1:1", keyID: alice}, {remote: "203.0.113.2:1", keyID: alice}, {remote: "203.0.113.3:1", input: alice}},
			[]int{202, 202, 202}},
		{"no limits", Limits{},
			[]limitReq{{remote: "203.0.113.1:1", keyID: alice}, {remote: "203.0.113.1:1", keyID: alice}},
			[]int{202, 202}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := limited(tt.limits, ok)
			for i, lr := range tt.reqs {
				w := lr.do(h)
				if w.Code != tt.want[i] {
					t.Fatalf("request %d (%+v): status %d, want %d", i, lr, w.Code, tt.want[i])
				}
				if w.Code == http.StatusTooManyRequests {
					if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s <= 0 {
						t.Errorf("429 with Retry-After %q", w.Header().Get("Retry-After"))
					}
				}
			}
		})
	}
}

func TestConcurrencyLimit(t *testing.T) {
	release := make(chan struct{})
	var started sync.WaitGroup
	h := limited(Limits{MaxConcurrent: 2}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Block") != "" {
			started.Done()
			<-release
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	var done sync.WaitGroup
	for i := 0; i < 2; i++ {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			r := httptest.NewRequest(http.MethodPost, "/inbox", nil)
			r.Header.Set("X-Block", "1")
			h.ServeHTTP(httptest.NewRecorder(), r)
		}()
	}
	started.Wait()
	w := limitReq{remote: "203.0.113.1:1"}.do(h)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("third request while two run: status %d, Retry-After %q; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	close(release)
	done.Wait()
	if w := (limitReq{remote: "203.0.113.1:1"}).do(h); w.Code != http.StatusAccepted {
		t.Fatalf("after the others finished: status %d", w.Code)
	}
}

// TestAdmitActor: the per-actor limit counts the actor Receive verified,
// answers errRateLimited (429) with Retry-After past the limit, and is
// absent when PerActor is 0.
func TestAdmitActor(t *testing.T) {
	const alice, bob = "https://a.example/users/alice", "https://b.example/users/bob"
	tests := []struct {
		name   string
		limits Limits
		actors []string
		want   []int // statusOf the admission's answer; 0: admitted
	}{
		{"over the limit", Limits{PerActor: 2, Window: time.Hour}, []string{alice, alice, alice, bob}, []int{0, 0, 429, 0}},
		{"each actor its own allowance", Limits{PerActor: 1, Window: time.Hour}, []string{alice, bob, bob}, []int{0, 0, 429}},
		{"zero window is a minute", Limits{PerActor: 1}, []string{alice, alice}, []int{0, 429}},
		{"0 disables", Limits{Window: time.Hour}, []string{alice, alice, alice}, []int{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limiter := actorLimiter(tt.limits)
			for i, actor := range tt.actors {
				w := httptest.NewRecorder()
				admit := admitActor(limiter, w, httptest.NewRequest(http.MethodPost, "/inbox", nil))
				got := 0
				if admit != nil {
					if err := admit(actor); err != nil {
						got = statusOf(fmt.Errorf("activity from %s: %w", actor, err))
					}
				}
				if got != tt.want[i] {
					t.Fatalf("request %d from %s: %d, want %d", i, actor, got, tt.want[i])
				}
				if got == http.StatusTooManyRequests {
					if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s <= 0 {
						t.Errorf("429 with Retry-After %q", w.Header().Get("Retry-After"))
					}
				}
			}
		})
	}
}

// blockingBody is a request body that sends nothing until released; it
// closes reading when the handler first reads it.
type blockingBody struct {
	release, reading chan struct{}
	once             *sync.Once
}

func (b blockingBody) Read(p []byte) (int, error) {
	b.once.Do(func() { close(b.reading) })
	<-b.release
	return 0, io.EOF
}
func (b blockingBody) Close() error { return nil }

// A client sending its body slowly holds no slot.
func TestConcurrencyLimitSlowBody(t *testing.T) {
	var seen atomic.Int64
	h := limited(Limits{MaxConcurrent: 1}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen.Add(int64(len(b)))
		w.WriteHeader(http.StatusAccepted)
	}))
	release, reading := make(chan struct{}), make(chan struct{})
	done := make(chan int)
	go func() {
		r := httptest.NewRequest(http.MethodPost, "/inbox", nil)
		r.Body = blockingBody{release, reading, new(sync.Once)}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		done <- w.Code
	}()
	<-reading // blocked in its body
	r := httptest.NewRequest(http.MethodPost, "/inbox", strings.NewReader(`{"a":1}`))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusAccepted || seen.Load() != 7 {
		t.Fatalf("while another sends its body slowly: status %d, body %d bytes seen", w.Code, seen.Load())
	}
	close(release)
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("the slow request: %d", code)
	}
}
