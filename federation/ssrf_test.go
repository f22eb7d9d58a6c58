package federation

// Every way Agora makes an outgoing request, tried against the addresses
// an attacker would name (docs/protocol.md, "Fetching"): all are refused when the
// connection is dialled, before a packet is sent, so only loopback servers
// are ever contacted, and they never see a request.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memLocalKeys is a LocalKeyStore in memory.
type memLocalKeys struct {
	mu   sync.Mutex
	keys map[string]string
}

func (m *memLocalKeys) LocalKey(_ context.Context, owner string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.keys[owner]; ok {
		return k, nil
	}
	return "", ErrNotFound
}

func (m *memLocalKeys) AddLocalKey(_ context.Context, owner, private, _ string, _ time.Time) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[string]string{}
	}
	if k, ok := m.keys[owner]; ok {
		return k, nil
	}
	m.keys[owner] = private
	return private, nil
}

// memSoftware is a SoftwareStore in memory.
type memSoftware struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *memSoftware) HostSoftware(_ context.Context, host string) (string, time.Time, error) {
	return "", time.Time{}, nil
}

func (s *memSoftware) SetHostSoftware(_ context.Context, host, software string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[host] = software
	return nil
}

var errNotAuthentic = errors.New("post not authentic")

// outgoing is one entry point of an outgoing request: it makes the request
// for something on origin (scheme://host[:port]) with client.
type outgoing struct {
	name string
	call func(ctx context.Context, client *http.Client, origin string) error
	// refused tells whether err is the refusal expected.
	refused func(err error) bool
}

func isForbidden(err error) bool { return errors.Is(err, ErrForbiddenAddress) }

func outgoingRequests(t *testing.T) []outgoing {
	local := NewLocal(&url.URL{Scheme: "https", Host: "agora.test"}, &memLocalKeys{}, nil)
	if _, err := local.SigningKey(context.Background(), InstanceKeyOwner); err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.DiscardHandler)
	return []outgoing{
		{"key fetch (keyId)", func(ctx context.Context, c *http.Client, origin string) error {
			keys := NewKeyCache(NewFetcher(c, nil), nil, KeyCacheConfig{})
			_, err := keys.PublicKey(ctx, origin+"/users/mallory#main-key", false)
			return err
		}, isForbidden},
		{"actor fetch (actor id)", func(ctx context.Context, c *http.Client, origin string) error {
			_, err := NewActors(nil, NewFetcher(c, nil), nil).Fetch(ctx, origin+"/users/mallory")
			return err
		}, isForbidden},
		{"post fetched from its origin (object id)", func(ctx context.Context, c *http.Client, origin string) error {
			in := &Inbox{fetch: NewFetcher(c, nil), log: discard}
			act := &Object{Type: "Announce", Actor: "https://relay.example/actor"}
			_, ok, err := in.authenticate(ctx, act, &Object{ID: origin + "/notes/1"})
			if err == nil && !ok {
				return errNotAuthentic
			}
			return err
		}, func(err error) bool { return errors.Is(err, errNotAuthentic) }},
		{"WebFinger, https then http", func(ctx context.Context, c *http.Client, origin string) error {
			u, _ := url.Parse(origin)
			_, err := NewFetcher(c, nil).WebFinger(ctx, "@mallory@"+u.Host, true)
			return err
		}, isForbidden},
		{"NodeInfo of a peer", func(ctx context.Context, c *http.Client, origin string) error {
			return NewDialects(&memSoftware{}, c, nil).Refresh(ctx, origin+"/users/mallory")
		}, isForbidden},
		{"delivery POST (inbox)", func(ctx context.Context, c *http.Client, origin string) error {
			d := &Deliverer{local: local, client: c, now: time.Now, cfg: DeliveryConfig{RequestTimeout: 5 * time.Second},
				signing: make(chan struct{}, 1)}
			body := []byte(`{"id":"https://agora.test/x","type":"Announce"}`)
			status, _, _, err := d.post(ctx, Delivery{Inbox: origin + "/inbox", Signer: InstanceKeyOwner, Body: body})
			if o := classify(status, err); err != nil && o != permanent {
				return fmt.Errorf("classified %d, not permanent: %w", o, err)
			}
			return err
		}, isForbidden},
	}
}

// countingServer answers everything with an AS2 document on its own host
// and counts what it receives.
func countingServer(t *testing.T, hits *atomic.Int64, handler func(w http.ResponseWriter, r *http.Request) bool) *httptest.Server {
	t.Helper()
	return docServer(t, func(w http.ResponseWriter, r *http.Request) bool {
		hits.Add(1)
		return handler != nil && handler(w, r)
	})
}

func TestSSRFEveryEntryPoint(t *testing.T) {
	var hits atomic.Int64
	srv := countingServer(t, &hits, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	targets := []struct {
		origin  string
		resolve string // what the fake DNS answers for names
	}{
		{srv.URL, "127.0.0.1"},
		{fmt.Sprintf("http://[::1]:%d", port), "127.0.0.1"},
		{fmt.Sprintf("http://127.1.2.3:%d", port), "127.0.0.1"},
		{fmt.Sprintf("http://[::ffff:127.0.0.1]:%d", port), "127.0.0.1"},
		{fmt.Sprintf("http://0.0.0.0:%d", port), "127.0.0.1"},
		{"http://10.1.2.3", "127.0.0.1"},
		{"http://172.16.0.1", "127.0.0.1"},
		{"http://172.31.255.254", "127.0.0.1"},
		{"http://192.168.0.1", "127.0.0.1"},
		{"http://169.254.169.254", "127.0.0.1"},
		{"http://[fd00::1]", "127.0.0.1"},
		{"http://[fe80::1]", "127.0.0.1"},
		{fmt.Sprintf("http://localhost:%d", port), "127.0.0.1"},
		// Names: the fake DNS answers them with a forbidden address.
		{fmt.Sprintf("http://rebind.test:%d", port), "127.0.0.1"},
		{"http://internal.test", "10.0.0.7"},
		{"http://intranet.test", "172.20.1.1"},
		{"http://router.test", "192.168.1.1"},
		{"http://metadata.test", "169.254.169.254"},
		{fmt.Sprintf("http://zero.test:%d", port), "0.0.0.0"},
	}
	ctx := context.Background()
	for _, out := range outgoingRequests(t) {
		for _, tt := range targets {
			t.Run(out.name+" "+tt.origin+" ("+tt.resolve+")", func(t *testing.T) {
				client := NewHTTPClient(ClientConfig{Resolver: fakeDNS(t, netip.MustParseAddr(tt.resolve)),
					ConnectTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second})
				before := hits.Load()
				err := out.call(ctx, client, tt.origin)
				if !out.refused(err) {
					t.Errorf("err = %v, want the request refused", err)
				}
				if n := hits.Load() - before; n != 0 {
					t.Errorf("the server was reached %d times", n)
				}
			})
		}
	}
	// The control: the same calls reach the server when private addresses
	// are allowed, so the refusals above are the address check's doing.
	for _, out := range outgoingRequests(t) {
		before := hits.Load()
		out.call(ctx, NewHTTPClient(ClientConfig{AllowPrivate: true, RequestTimeout: 5 * time.Second}), srv.URL)
		if hits.Load() == before {
			t.Errorf("%s: the allowed request did not reach the server", out.name)
		}
	}
}

// TestSSRFRedirects: a public server (loopback, treated as public here)
// redirects every entry point's request to a forbidden address; the hop is
// refused at dial time.
func TestSSRFRedirects(t *testing.T) {
	var hits atomic.Int64
	srv := countingServer(t, &hits, func(w http.ResponseWriter, r *http.Request) bool {
		// 307 keeps the method and body, so a delivery POST follows it too.
		http.Redirect(w, r, "http://169.254.169.254"+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		return true
	})
	ctx := context.Background()
	for _, out := range outgoingRequests(t) {
		t.Run(out.name, func(t *testing.T) {
			client := newHTTPClient(ClientConfig{RequestTimeout: 5 * time.Second}, allowLoopback)
			before := hits.Load()
			err := out.call(ctx, client, srv.URL)
			// NodeInfo refuses any redirect to another host before dialling.
			if !out.refused(err) && !errors.Is(err, ErrNoNodeInfo) {
				t.Errorf("err = %v, want the redirect refused", err)
			}
			if hits.Load() == before {
				t.Error("the first hop did not happen: the test proves nothing")
			}
		})
	}
}
