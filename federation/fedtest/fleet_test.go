package fedtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
)

func announce(id, object string) []byte {
	b, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       id, "type": "Announce", "actor": "x", "object": object,
	})
	return b
}

func TestFleet(t *testing.T) {
	f, err := StartFleet(FleetOptions{Hosts: 10, UsersPerHost: 3, Dead: 0.2, Flaky: 0.2, KeyPool: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sender := NewServer(t, Options{Users: []string{"group", "forger"}})
	hosts := f.Hosts()
	var dead, flaky []FleetHost
	seen := map[string]bool{}
	for _, h := range hosts {
		if seen[h.Host] {
			t.Fatalf("host %s twice", h.Host)
		}
		seen[h.Host] = true
		if h.Dead {
			dead = append(dead, h)
		}
		if h.Flaky {
			flaky = append(flaky, h)
		}
	}
	if len(dead) != 2 || len(flaky) != 2 {
		t.Fatalf("%d dead and %d flaky hosts, want 2 and 2", len(dead), len(flaky))
	}

	ctx := context.Background()
	const object = "http://127.0.0.1:1/notes/1"
	body := announce(sender.URL()+"/announce/1", object)
	for _, h := range hosts {
		if h.Dead {
			continue
		}
		code, err := sender.SignedPost(ctx, h.SharedInbox(), "group", body)
		if err != nil {
			t.Fatal(err)
		}
		want := http.StatusAccepted
		if h.Flaky {
			want = http.StatusServiceUnavailable
		}
		if code != want {
			t.Fatalf("host %d (flaky %v): status %d, want %d", h.Index, h.Flaky, code, want)
		}
	}
	tl := f.Tally("Announce", object)
	if tl.Live != 8 || tl.Once != 6 || tl.Missing != 2 || tl.Duplicates != 0 {
		t.Fatalf("before the retries: %+v, want 8 live, 6 once, 2 missing", tl)
	}

	// The flaky hosts take the retry; one host gets the activity twice.
	for _, h := range flaky {
		if code, err := sender.SignedPost(ctx, h.SharedInbox(), "group", body); err != nil || code != http.StatusAccepted {
			t.Fatalf("retry to flaky host: %d %v", code, err)
		}
	}
	twice := hosts[0]
	for twice.Dead {
		twice = hosts[twice.Index+1]
	}
	sender.SignedPost(ctx, twice.SharedInbox(), "group", body)

	// A request signed with the wrong key is refused and counted.
	forged := federation.SigningKey{KeyID: sender.KeyID("group"), Private: sender.SigningKey("forger").Private}
	other := announce(sender.URL()+"/announce/2", object)
	req, _ := http.NewRequest(http.MethodPost, twice.SharedInbox(), bytes.NewReader(other))
	if err := federation.SignRequest(req, forged, other, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged request: status %d, want 401", resp.StatusCode)
	}

	// A dead host holds the request until the client gives up.
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = sender.SignedPost(dctx, dead[0].SharedInbox(), "group", body)
	cancel()
	if err == nil {
		t.Fatal("dead host answered")
	}

	tl = f.Tally("Announce", object)
	want := FleetTally{Hosts: 10, Live: 8, Once: 7, Duplicates: 1, Missing: 0, Invalid: 1}
	if tl.Hosts != want.Hosts || tl.Live != want.Live || tl.Once != want.Once || tl.Duplicates != want.Duplicates ||
		tl.Missing != want.Missing || tl.Invalid != want.Invalid {
		t.Fatalf("tally %+v, want %+v", tl, want)
	}
	if tl.First.IsZero() || tl.Last.Before(tl.First) || tl.LastSteady.After(tl.Last) {
		t.Errorf("times first %v last %v steady %v", tl.First, tl.Last, tl.LastSteady)
	}
	st := f.Stats()
	if st.KeyFetches != 1 || st.Refused != 2 || st.Held != 1 || st.Invalid != 1 || st.Verified != 9 {
		t.Errorf("stats %+v, want 1 key fetch, 2 refused, 1 held, 1 invalid, 9 verified", st)
	}
	if got := f.Tally("Announce", "http://127.0.0.1:1/other"); got.Missing != 8 || got.Once != 0 {
		t.Errorf("tally of another object: %+v", got)
	}
}

// The fleet's actors sign as themselves, with keys served from their host.
func TestFleetActors(t *testing.T) {
	f, err := StartFleet(FleetOptions{Hosts: 2, UsersPerHost: 2, KeyPool: 2, Software: "lemmy"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fetcher := federation.NewFetcher(federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true}), nil)
	keys := federation.NewKeyCache(fetcher, nil, federation.KeyCacheConfig{})
	for _, tc := range []struct{ host, user int }{{0, 0}, {0, 1}, {1, 1}} {
		sk, err := f.SigningKey(tc.host, tc.user)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := keys.PublicKey(context.Background(), f.KeyID(tc.host, tc.user), false)
		if err != nil {
			t.Fatalf("key of %d/%d: %v", tc.host, tc.user, err)
		}
		if pk.Owner != f.ActorIRI(tc.host, tc.user) || !sk.Private.PublicKey.Equal(pk.Key) {
			t.Errorf("key of %d/%d: owner %s, matches %v", tc.host, tc.user, pk.Owner, sk.Private.PublicKey.Equal(pk.Key))
		}
	}
	// Actors on another host post to the fleet and verify.
	code, err := f.SignedPost(context.Background(), f.Hosts()[0].SharedInbox(), 1, 0, announce(f.ActorIRI(1, 0)+"/a/1", "o"))
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("signed post: %d %v", code, err)
	}
	if r := f.Received(0); len(r) != 1 || !r[0].Verified || r[0].Object != "o" {
		t.Fatalf("received %+v", r)
	}
	resp, err := http.Get(f.Hosts()[1].URL + "/users/u2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown user: status %d, want 404", resp.StatusCode)
	}
	resp, err = http.Get(f.Hosts()[1].URL + "/nodeinfo/2.0")
	if err != nil {
		t.Fatal(err)
	}
	var ni struct {
		Software struct{ Name string }
	}
	json.NewDecoder(resp.Body).Decode(&ni)
	resp.Body.Close()
	if ni.Software.Name != "lemmy" {
		t.Errorf("nodeinfo software %q, want lemmy", ni.Software.Name)
	}
}
