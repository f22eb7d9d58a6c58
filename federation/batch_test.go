package federation

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Whoever holds a write batch (the inbox processor) lets it go before
// any outgoing request and before waiting for a key: a peer's answer, or
// another request's fetch that must store what it fetched, may take
// seconds, and the database's one writer would wait with it.
func TestBatchFlushedBeforeWaits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	}))
	defer srv.Close()
	var flushes atomic.Int32
	ctx := withFlush(context.Background(), func() error { flushes.Add(1); return nil })

	client := NewHTTPClient(ClientConfig{AllowPrivate: true})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := flushes.Load(); n != 1 {
		t.Fatalf("%d flushes before a request, want 1", n)
	}

	keys := NewKeyCache(NewFetcher(client, nil), nil, KeyCacheConfig{})
	if _, err := keys.PublicKey(ctx, srv.URL+"/users/a#main-key", false); err == nil {
		t.Fatal("a key from a 404 answered")
	}
	// One flush before the wait for the fetch, one before its request.
	if n := flushes.Load(); n < 3 {
		t.Fatalf("%d flushes in all, want the key wait flushed too", n)
	}
	// Without a batch nothing is flushed, and nothing fails.
	flushBatch(context.Background())
}
