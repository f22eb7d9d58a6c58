package federation_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

// Retry-After is honoured in both of its forms, and a 429 without it is
// retried on the backoff schedule; neither counts as a permanent failure.
func TestDeliveryRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter func(now time.Time) string
		early      time.Duration // not retried this long after the first try
		late       time.Duration // retried by then
	}{
		{"429, Retry-After in seconds", func(time.Time) string { return "7200" }, 110 * time.Minute, 121 * time.Minute},
		{"429, Retry-After as an HTTP date", func(now time.Time) string {
			return now.Add(3 * time.Hour).UTC().Format(http.TimeFormat)
		}, 170 * time.Minute, 181 * time.Minute},
		{"429 without Retry-After: the backoff", func(time.Time) string { return "" }, 10 * time.Second, 30 * time.Second},
		{"503 with a Retry-After of a month: capped at a day", func(time.Time) string { return "2592000" }, 23 * time.Hour, 24*time.Hour + time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			remote := fedtest.NewServer(t, fedtest.Options{})
			r := newDeliveryRig(t, federation.DeliveryConfig{})
			status := http.StatusTooManyRequests
			if tt.name[:3] == "503" {
				status = http.StatusServiceUnavailable
			}
			h := http.Header{}
			if v := tt.retryAfter(r.clock.Now()); v != "" {
				h.Set("Retry-After", v)
			}
			remote.SetReplies("/inbox", fedtest.Reply{Status: status, Header: h}, fedtest.Reply{Status: 202})
			r.enqueue(t, remote.URL()+"/inbox")
			r.d.DeliverDue(ctx)
			start := r.clock.Now()
			r.clock.Add(tt.early)
			r.d.DeliverDue(ctx)
			if n := remote.Hits("/inbox"); n != 1 {
				t.Fatalf("retried %v after the first try, before Retry-After (hits %d)", r.clock.Now().Sub(start), n)
			}
			r.clock.Add(tt.late - tt.early)
			r.d.DeliverDue(ctx)
			if n := remote.Hits("/inbox"); n != 2 || r.depth(t) != 0 {
				t.Fatalf("not delivered %v after the first try: hits %d, depth %d", tt.late, n, r.depth(t))
			}
		})
	}
}

// An unavailable host is cleared by the admin (agora host clear): its
// queued deliveries go out at once, without waiting for their backoff.
func TestDeliveryAdminClearsHost(t *testing.T) {
	ctx := context.Background()
	remote := fedtest.NewServer(t, fedtest.Options{})
	host := mustHost(remote.URL())
	r := newDeliveryRig(t, federation.DeliveryConfig{})
	remote.SetReplies("/inbox", fedtest.Reply{Status: 500})
	r.enqueue(t, remote.URL()+"/inbox")
	r.d.DeliverDue(ctx) // fails: the retry is due in 15-25 s
	if err := r.db.MarkHostUnavailable(ctx, host, r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	r.clock.Add(time.Hour)
	r.d.DeliverDue(ctx)
	if n := remote.Hits("/inbox"); n != 1 {
		t.Fatalf("unavailable host hit %d times", n)
	}
	remote.SetReplies("/inbox", fedtest.Reply{Status: 202})
	known, err := r.d.ClearHost(ctx, " "+strings.ToUpper(host)+" ") // as an admin may type it
	if err != nil || !known {
		t.Fatalf("ClearHost = %v, %v", known, err)
	}
	r.d.DeliverDue(ctx)
	if n := remote.Hits("/inbox"); n != 2 || r.depth(t) != 0 {
		t.Fatalf("after clearing: hits %d, depth %d", n, r.depth(t))
	}
	if hosts, _ := r.db.UnavailableHosts(ctx); len(hosts) != 0 {
		t.Fatalf("still unavailable: %v", hosts)
	}
	if known, err := r.d.ClearHost(ctx, "never.example"); known || err != nil {
		t.Fatalf("an unknown host: ClearHost = %v, %v", known, err)
	}
}

// Clearing a host also forgets, in the Deliverer, that it was failing: its
// deliveries go out PerHost at a time again, not one by one as for a host
// whose last attempt failed.
func TestDeliveryClearHostRestoresCap(t *testing.T) {
	ctx := context.Background()
	var inflight, most atomic.Int32
	var fail atomic.Bool
	fail.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if fail.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		time.Sleep(300 * time.Millisecond) // holds the request so that others overlap it
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	r := newDeliveryRig(t, federation.DeliveryConfig{PerHost: 4})
	r.enqueue(t, srv.URL+"/inbox")
	r.d.DeliverDue(ctx) // fails: the host is failing, its cap 1
	fail.Store(false)
	for range 3 { // with the failed one, due again once cleared: 4
		r.enqueue(t, srv.URL+"/inbox")
	}
	most.Store(0)
	if known, err := r.d.ClearHost(ctx, mustHost(srv.URL)); err != nil || !known {
		t.Fatalf("ClearHost = %v, %v", known, err)
	}
	r.d.DeliverDue(ctx)
	if r.depth(t) != 0 {
		t.Fatalf("%d deliveries left after clearing", r.depth(t))
	}
	// Still failing, the host would get one, then (after that success)
	// the other three together.
	if m := most.Load(); m != 4 {
		t.Errorf("at most %d deliveries in flight after clearing, want PerHost (4) at once", m)
	}
}
