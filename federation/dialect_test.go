package federation_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
)

func TestDialectOf(t *testing.T) {
	tests := []struct {
		software string
		want     federation.Dialect
	}{
		{"mastodon", federation.Microblog},
		{"Mastodon", federation.Microblog},
		{" gotosocial ", federation.Microblog},
		{"pleroma", federation.Microblog},
		{"akkoma", federation.Microblog},
		{"misskey", federation.Microblog},
		{"sharkey", federation.Microblog},
		{"firefish", federation.Microblog},
		{"iceshrimp", federation.Microblog},
		{"Iceshrimp.NET", federation.Microblog},
		{"hometown", federation.Microblog},
		{"calckey", federation.Microblog},
		{"foundkey", federation.Microblog},
		{"catodon", federation.Microblog},
		{"hollo", federation.Microblog},
		{"snac", federation.Microblog},
		{"takahe", federation.Microblog},
		{"mitra", federation.Microblog},
		{"peertube", federation.Microblog},
		{"lemmy", federation.Threadiverse},
		{"LEMMY", federation.Threadiverse},
		{"mbin", federation.Threadiverse},
		{"kbin", federation.Threadiverse},
		{"piefed", federation.Threadiverse},
		{"nodebb", federation.OriginStrict}, {"NodeBB", federation.OriginStrict},
		{"discourse", federation.Threadiverse},
		{"friendica", federation.Threadiverse},
		{"hubzilla", federation.Threadiverse},
		{"lotide", federation.Threadiverse},
		{"bonfire", federation.UnknownPeer},
		{"agora", federation.UnknownPeer},
		{"wordpress", federation.UnknownPeer},
		{"", federation.UnknownPeer},
		{"mastodon-but-not", federation.UnknownPeer},
	}
	for _, tt := range tests {
		if got := federation.DialectOf(tt.software); got != tt.want {
			t.Errorf("DialectOf(%q) = %q, want %q", tt.software, got, tt.want)
		}
	}
}

// memSoftware is an in-memory SoftwareStore.
type memSoftware struct {
	mu   sync.Mutex
	rows map[string]softwareRow
	sets int
}

type softwareRow struct {
	software string
	at       time.Time
}

func newMemSoftware() *memSoftware { return &memSoftware{rows: map[string]softwareRow{}} }

func (m *memSoftware) HostSoftware(_ context.Context, host string) (string, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rows[host]
	return r.software, r.at, nil
}

func (m *memSoftware) SetHostSoftware(_ context.Context, host, software string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[host] = softwareRow{software, at}
	m.sets++
	return nil
}

func (m *memSoftware) get(host string) (softwareRow, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[host]
	return r, ok
}

// nodeInfoPeer is a fake peer serving NodeInfo on 127.0.0.1; it counts
// the requests it gets.
type nodeInfoPeer struct {
	*httptest.Server
	hits atomic.Int32
}

// newNodeInfoPeer starts a peer; handler answers every request, and gets
// the peer's own URL to build links with.
func newNodeInfoPeer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, self string)) *nodeInfoPeer {
	t.Helper()
	p := &nodeInfoPeer{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		handler(w, r, p.URL)
	}))
	t.Cleanup(p.Close)
	return p
}

// standardNodeInfo serves /.well-known/nodeinfo with the given links
// (rel -> path on self, or an absolute URL) and the documents at the
// given paths.
func standardNodeInfo(links [][2]string, docs map[string]string) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, self string) {
		if r.URL.Path == "/.well-known/nodeinfo" {
			var parts []string
			for _, l := range links {
				href := l[1]
				if strings.HasPrefix(href, "/") {
					href = self + href
				}
				parts = append(parts, fmt.Sprintf(`{"rel":%q,"href":%q}`, l[0], href))
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"links":[%s]}`, strings.Join(parts, ","))
			return
		}
		if doc, ok := docs[r.URL.Path]; ok {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, doc)
			return
		}
		http.NotFound(w, r)
	}
}

const (
	rel20 = "http://nodeinfo.diaspora.software/ns/schema/2.0"
	rel21 = "http://nodeinfo.diaspora.software/ns/schema/2.1"
)

func TestDialectsRefresh(t *testing.T) {
	other := newNodeInfoPeer(t, standardNodeInfo(nil, map[string]string{
		"/nodeinfo/2.0": `{"version":"2.0","software":{"name":"mastodon"}}`,
	}))
	tests := []struct {
		name     string
		handler  func(http.ResponseWriter, *http.Request, string)
		want     string // software stored
		wantErr  error  // nil: no error
		wantHits int32
	}{
		{
			name: "nodeinfo 2.0 (Lemmy)",
			handler: standardNodeInfo([][2]string{{rel20, "/nodeinfo/2.0.json"}},
				map[string]string{"/nodeinfo/2.0.json": `{"version":"2.0","software":{"name":"lemmy","version":"0.19.3"},"protocols":["activitypub"]}`}),
			want: "lemmy", wantHits: 2,
		},
		{
			name: "nodeinfo 2.1 preferred over 2.0, name lower-cased",
			handler: standardNodeInfo([][2]string{{rel20, "/nodeinfo/2.0"}, {rel21, "/nodeinfo/2.1"}},
				map[string]string{
					"/nodeinfo/2.0": `{"software":{"name":"wrong"}}`,
					"/nodeinfo/2.1": `{"version":"2.1","software":{"name":"GoToSocial","version":"0.17.0"}}`,
				}),
			want: "gotosocial", wantHits: 2,
		},
		{
			name: "other nodeinfo schema version",
			handler: standardNodeInfo([][2]string{{"https://example.org/not-nodeinfo", "/x"}, {"http://nodeinfo.diaspora.software/ns/schema/1.1", "/nodeinfo/1.1"}},
				map[string]string{"/nodeinfo/1.1": `{"software":{"name":"friendica"}}`}),
			want: "friendica", wantHits: 2,
		},
		{
			name:    "no nodeinfo (404)",
			handler: func(w http.ResponseWriter, r *http.Request, _ string) { http.NotFound(w, r) },
			want:    "", wantErr: federation.ErrNoNodeInfo, wantHits: 1,
		},
		{
			name: "malformed index",
			handler: func(w http.ResponseWriter, _ *http.Request, _ string) {
				fmt.Fprint(w, `{"links": [`)
			},
			want: "", wantErr: federation.ErrNoNodeInfo, wantHits: 1,
		},
		{
			name: "malformed document",
			handler: standardNodeInfo([][2]string{{rel20, "/nodeinfo/2.0"}},
				map[string]string{"/nodeinfo/2.0": `<html>hello</html>`}),
			want: "", wantErr: federation.ErrNoNodeInfo, wantHits: 2,
		},
		{
			name: "no software name",
			handler: standardNodeInfo([][2]string{{rel20, "/nodeinfo/2.0"}},
				map[string]string{"/nodeinfo/2.0": `{"software":{}}`}),
			want: "", wantErr: federation.ErrNoNodeInfo, wantHits: 2,
		},
		{
			name:    "no schema link",
			handler: standardNodeInfo(nil, nil),
			want:    "", wantErr: federation.ErrNoNodeInfo, wantHits: 1,
		},
		{
			name:    "link to another host",
			handler: standardNodeInfo([][2]string{{rel20, other.URL + "/nodeinfo/2.0"}}, nil),
			want:    "", wantErr: federation.ErrNoNodeInfo, wantHits: 1,
		},
		{
			name: "redirect to another host",
			handler: func(w http.ResponseWriter, r *http.Request, _ string) {
				http.Redirect(w, r, other.URL+"/.well-known/nodeinfo", http.StatusFound)
			},
			want: "", wantErr: federation.ErrNoNodeInfo, wantHits: 1,
		},
		{
			name: "redirect on the same host followed",
			handler: func(w http.ResponseWriter, r *http.Request, self string) {
				switch r.URL.Path {
				case "/.well-known/nodeinfo":
					http.Redirect(w, r, "/nodeinfo-index", http.StatusMovedPermanently)
				case "/nodeinfo-index":
					fmt.Fprintf(w, `{"links":[{"rel":%q,"href":%q}]}`, rel21, self+"/nodeinfo/2.1")
				case "/nodeinfo/2.1":
					fmt.Fprint(w, `{"software":{"name":"piefed"}}`)
				default:
					http.NotFound(w, r)
				}
			},
			want: "piefed", wantHits: 3,
		},
		{
			name: "body over 256 KiB",
			handler: func(w http.ResponseWriter, _ *http.Request, _ string) {
				fmt.Fprintf(w, `{"links":[],"pad":%q}`, strings.Repeat("x", 300<<10))
			},
			want: "", wantErr: federation.ErrTooLarge, wantHits: 1,
		},
	}
	client := federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true})
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := newNodeInfoPeer(t, tt.handler)
			store := newMemSoftware()
			d := federation.NewDialects(store, client, func() time.Time { return now })
			before := other.hits.Load()

			err := d.Refresh(context.Background(), peer.URL+"/u/alice")
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Refresh: %v", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("Refresh error = %v, want %v", err, tt.wantErr)
			}
			host := mustURL(t, peer.URL).Host
			row, ok := store.get(host)
			if !ok {
				t.Fatalf("nothing stored for %s", host)
			}
			if row.software != tt.want || !row.at.Equal(now) {
				t.Errorf("stored %q at %v, want %q at %v", row.software, row.at, tt.want, now)
			}
			if got := peer.hits.Load(); got != tt.wantHits {
				t.Errorf("peer got %d requests, want %d", got, tt.wantHits)
			}
			if other.hits.Load() != before {
				t.Error("the other host was asked")
			}
			if got, want := d.Of(context.Background(), host), federation.DialectOf(tt.want); got != want {
				t.Errorf("Of = %q, want %q", got, want)
			}
		})
	}
}

func TestDialectsRefreshCachedForADay(t *testing.T) {
	peer := newNodeInfoPeer(t, standardNodeInfo([][2]string{{rel21, "/nodeinfo/2.1"}},
		map[string]string{"/nodeinfo/2.1": `{"software":{"name":"mastodon"}}`}))
	gone := newNodeInfoPeer(t, func(w http.ResponseWriter, r *http.Request, _ string) { http.NotFound(w, r) })

	var mu sync.Mutex
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	store := newMemSoftware()
	d := federation.NewDialects(store, federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true}), clock)
	ctx := context.Background()
	refresh := func(p *nodeInfoPeer) {
		t.Helper()
		if err := d.Refresh(ctx, p.URL+"/users/bob"); err != nil && !errors.Is(err, federation.ErrNoNodeInfo) {
			t.Fatalf("Refresh: %v", err)
		}
	}

	refresh(peer)
	refresh(gone)
	if peer.hits.Load() != 2 || gone.hits.Load() != 1 {
		t.Fatalf("first refresh: %d and %d requests, want 2 and 1", peer.hits.Load(), gone.hits.Load())
	}
	for _, step := range []time.Duration{time.Minute, 12 * time.Hour, 11*time.Hour + 58*time.Minute} {
		advance(step)
		refresh(peer)
		refresh(gone) // a host without NodeInfo is not asked again either
	}
	if peer.hits.Load() != 2 || gone.hits.Load() != 1 {
		t.Fatalf("within a day: %d and %d requests, want 2 and 1 (cached)", peer.hits.Load(), gone.hits.Load())
	}
	advance(2 * time.Minute) // 24 h 1 min after the first
	refresh(peer)
	refresh(gone)
	if peer.hits.Load() != 4 || gone.hits.Load() != 2 {
		t.Fatalf("after a day: %d and %d requests, want 4 and 2", peer.hits.Load(), gone.hits.Load())
	}
	if got := d.Of(ctx, mustURL(t, peer.URL).Host); got != federation.Microblog {
		t.Errorf("Of = %q, want microblog", got)
	}
}

// TestDialectsRefreshUnreachable: a host that is down keeps what was known
// of it, and is not asked again for a day either.
func TestDialectsRefreshUnreachable(t *testing.T) {
	var down atomic.Bool
	peer := newNodeInfoPeer(t, func(w http.ResponseWriter, r *http.Request, self string) {
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		standardNodeInfo([][2]string{{rel20, "/nodeinfo/2.0"}},
			map[string]string{"/nodeinfo/2.0": `{"software":{"name":"lemmy"}}`})(w, r, self)
	})
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	store := newMemSoftware()
	d := federation.NewDialects(store, federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true}), func() time.Time { return now })
	ctx := context.Background()
	if err := d.Refresh(ctx, peer.URL); err != nil {
		t.Fatal(err)
	}
	now = now.Add(25 * time.Hour)
	down.Store(true)
	err := d.Refresh(ctx, peer.URL)
	var se *federation.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable || errors.Is(err, federation.ErrNoNodeInfo) {
		t.Fatalf("Refresh of a host answering 503: %v", err)
	}
	row, _ := store.get(mustURL(t, peer.URL).Host)
	if row.software != "lemmy" || !row.at.Equal(now) {
		t.Errorf("stored %q at %v, want lemmy kept, at %v", row.software, row.at, now)
	}
	hits := peer.hits.Load()
	if err := d.Refresh(ctx, peer.URL); err != nil {
		t.Fatal(err)
	}
	if peer.hits.Load() != hits {
		t.Error("asked again within the day")
	}
}

// failingTransport fails the test on any request.
type failingTransport struct{ t *testing.T }

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("network used: %s %s", r.Method, r.URL)
	return nil, errors.New("no network here")
}

func TestDialectsOfNeverUsesNetwork(t *testing.T) {
	store := newMemSoftware()
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) // long stale: still no fetch
	_ = store.SetHostSoftware(context.Background(), "lemmy.example", "lemmy", at)
	_ = store.SetHostSoftware(context.Background(), "masto.example:8443", "mastodon", at)
	_ = store.SetHostSoftware(context.Background(), "quiet.example", "", at)
	d := federation.NewDialects(store, &http.Client{Transport: failingTransport{t}}, nil)
	ctx := context.Background()
	tests := []struct {
		host string
		want federation.Dialect
	}{
		{"lemmy.example", federation.Threadiverse},
		{"LEMMY.example", federation.Threadiverse},
		{"masto.example:8443", federation.Microblog},
		{"masto.example", federation.UnknownPeer}, // the port is part of the host
		{"quiet.example", federation.UnknownPeer},
		{"never-seen.example", federation.UnknownPeer},
	}
	for _, tt := range tests {
		if got := d.Of(ctx, tt.host); got != tt.want {
			t.Errorf("Of(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}

func TestDialectsRefreshRefusesBadURLs(t *testing.T) {
	store := newMemSoftware()
	d := federation.NewDialects(store, &http.Client{Transport: failingTransport{t}}, nil)
	for _, u := range []string{"", "ftp://x.example/", "/relative", "https://user@x.example/"} {
		if err := d.Refresh(context.Background(), u); !errors.Is(err, federation.ErrForbiddenURL) {
			t.Errorf("Refresh(%q) = %v, want ErrForbiddenURL", u, err)
		}
	}
	if store.sets != 0 {
		t.Errorf("%d rows stored for bad URLs", store.sets)
	}
}

func TestDialectsRefreshCancelled(t *testing.T) {
	release := make(chan struct{})
	peer := newNodeInfoPeer(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.NotFound(w, r)
	})
	defer close(release)
	store := newMemSoftware()
	d := federation.NewDialects(store, federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true}), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Refresh(ctx, peer.URL); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Refresh = %v, want the context's error", err)
	}
	if store.sets != 0 {
		t.Error("a cancelled refresh stored an answer")
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
