package federation

import (
	"context"
	"sync"
	"time"
)

// SchemeStore keeps, per remote host, which HTTP Signature schemes its
// verified requests used (SchemeCavage, SchemeRFC9421) and when last.
// It is kept in the database rather than only counted in a metric because
// it is per host (too many hosts for metric labels) and must outlive a
// restart: it is what a later choice of the outgoing scheme per host
// (RFC 9421 to those known to speak it) would read.
type SchemeStore interface {
	RecordSignatureScheme(ctx context.Context, host, scheme string, at time.Time) error
}

// schemeRecorder writes to a SchemeStore at most once an hour per host and
// scheme: an inbox POST must not cost a second database write.
type schemeRecorder struct {
	store SchemeStore
	mu    sync.Mutex
	last  map[[2]string]time.Time
}

func newSchemeRecorder(store SchemeStore) *schemeRecorder {
	return &schemeRecorder{store: store, last: make(map[[2]string]time.Time)}
}

// record notes that host used scheme at now. It reports a store failure;
// the caller logs it and goes on, for the request was verified.
func (r *schemeRecorder) record(ctx context.Context, host, scheme string, now time.Time) error {
	if r == nil || r.store == nil || host == "" || scheme == "" {
		return nil
	}
	k := [2]string{host, scheme}
	r.mu.Lock()
	if t, ok := r.last[k]; ok && now.Sub(t) < time.Hour {
		r.mu.Unlock()
		return nil
	}
	if len(r.last) > 100_000 {
		clear(r.last) // bounded memory; costs one write per host afterwards
	}
	r.last[k] = now
	r.mu.Unlock()
	if err := r.store.RecordSignatureScheme(ctx, host, scheme, now); err != nil {
		r.mu.Lock()
		delete(r.last, k)
		r.mu.Unlock()
		return err
	}
	return nil
}
