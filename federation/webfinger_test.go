package federation_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

func TestSplitHandle(t *testing.T) {
	tests := []struct {
		in, user, host string
		ok             bool
	}{
		{"@alice@mastodon.example", "alice", "mastodon.example", true},
		{"alice@Mastodon.Example", "alice", "mastodon.example", true},
		{"acct:alice@127.0.0.1:8080", "alice", "127.0.0.1:8080", true},
		{" @bob@lemmy.example ", "bob", "lemmy.example", true},
		{"alice", "", "", false},
		{"@alice@", "", "", false},
		{"@@host", "", "", false},
		{"https://mastodon.example/@alice", "", "", false},
		{"a@b@c", "", "", false},
		{"alice@host/path", "", "", false},
		{"acct:acct:@0", "", "", false}, // found by FuzzSplitHandle: user "acct:" did not split again from "@acct:@0"
		{"al:ice@host", "", "", false},
	}
	for _, tt := range tests {
		user, host, err := federation.SplitHandle(tt.in)
		if (err == nil) != tt.ok || user != tt.user || host != tt.host {
			t.Errorf("SplitHandle(%q) = %q %q %v", tt.in, user, host, err)
		}
		if err != nil && !errors.Is(err, federation.ErrBadHandle) {
			t.Errorf("SplitHandle(%q) error %v is not ErrBadHandle", tt.in, err)
		}
	}
}

// The https attempt fails on a plain-http test peer; with allowHTTP the
// lookup falls back to http, without it the lookup fails.
func TestWebFingerFallback(t *testing.T) {
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}})
	host := strings.TrimPrefix(remote.URL(), "http://")
	f := federation.NewFetcher(federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true}), nil)
	ctx := context.Background()
	jrd, err := f.WebFinger(ctx, "@alice@"+host, true)
	if err != nil {
		t.Fatal(err)
	}
	if jrd.ActorIRI() != remote.ActorIRI("alice") {
		t.Fatalf("actor %q, want %q (%+v)", jrd.ActorIRI(), remote.ActorIRI("alice"), jrd)
	}
	if _, err := f.WebFinger(ctx, "@alice@"+host, false); err == nil {
		t.Fatal("https-only lookup of a plain-http peer succeeded")
	}
	if _, err := f.WebFinger(ctx, "@nobody@"+host, true); err == nil {
		t.Fatal("lookup of an unknown user succeeded")
	}
}
