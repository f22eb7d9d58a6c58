package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

// TestSlowOriginBlocksNobody: four posts, each given only by its id on an
// origin that never answers, are being fetched when someone else's Follow
// arrives: the Follow is accepted at once, not after the fetches time out.
// The four then fail, and their retries, while the origin is remembered
// failing, cost no new request and hold nobody up.
func TestSlowOriginBlocksNobody(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int32
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select { // never answers, until the test ends
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(dead.Close)
	t.Cleanup(func() { close(release) }) // runs first: the handlers return, then Close
	posters := []string{"b1", "b2", "b3", "b4"}
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: posters, Software: "mastodon"})
	gts := fedtest.NewServer(t, fedtest.Options{Users: []string{"gina"}, Software: "gotosocial"})
	const fetchTimeout = 3 * time.Second
	a, group := gardening(t, func(c *agora.Config) {
		c.ProcessRetries = []time.Duration{100 * time.Millisecond, time.Hour}
		c.FetchLimits = federation.FetchLimits{Timeout: fetchTimeout}
	})

	var ids []string
	for i, u := range posters {
		id := fmt.Sprintf("%s/create/%d", mastodon.ActorIRI(u), i)
		body, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
			"id": id, "type": "Create", "actor": mastodon.ActorIRI(u),
			"object": fmt.Sprintf("%s/notes/%d", dead.URL, i), "to": []string{asPublic, group}})
		post(t, mastodon, a.base()+"/inbox", u, body)
		ids = append(ids, id)
	}
	waitUntil(t, "the four fetches under way", func() bool { return hits.Load() == int32(len(posters)) })

	body, _ := follow(gts, "gina", group)
	start := time.Now()
	post(t, gts, a.base()+"/inbox", "gina", body)
	waitUntil(t, "Accept", func() bool { return len(received(gts, "Accept")) == 1 })
	took := time.Since(start)
	t.Logf("Follow to Accept received: %v, while %d fetches hang", took, hits.Load())
	if took > time.Second {
		t.Errorf("the Accept took %v, want it within 1 s of the Follow", took)
	}
	for _, id := range ids {
		if _, done, attempts := inboxResult(t, a, id); done || attempts != 0 {
			t.Errorf("%s: processed=%v attempts=%d before its fetch ended: the fetch did not hang", id, done, attempts)
		}
	}

	// The fetches time out; each is retried 100 ms later while the origin
	// is remembered failing: the retry fails at once, without a request.
	for _, id := range ids {
		waitUntil(t, "the retry of "+id, func() bool { _, _, attempts := inboxResult(t, a, id); return attempts == 2 })
		result, _, _ := inboxResult(t, a, id)
		if !strings.Contains(result, federation.ErrHostDown.Error()) {
			t.Errorf("%s: retry result %q, want the origin remembered failing", id, result)
		}
	}
	if n := hits.Load(); n != int32(len(posters)) {
		t.Errorf("the origin was asked %d times, want %d (one per post, none for the retries)", n, len(posters))
	}
}
