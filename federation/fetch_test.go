package federation

// Internal tests: they inject the address check, to play a "public"
// server on loopback.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// docServer serves, at every path, an AS2 document whose id is on its
// own host, unless handler answers first (returns true).
func docServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request) bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/activity+json")
		if handler != nil && handler(w, r) {
			return
		}
		fmt.Fprintf(w, `{"id":"http://%s%s","type":"Note"}`, r.Host, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeDNS answers every A query with ip and every other query with no
// records, on 127.0.0.1 over UDP, and returns a Resolver that uses it.
func fakeDNS(t *testing.T, ip netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], ip); resp != nil {
				_, _ = pc.WriteTo(resp, addr)
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", server)
		},
	}
}

// dnsAnswer builds the response to a one-question DNS query (RFC 1035 4.1).
func dnsAnswer(q []byte, ip netip.Addr) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	resp := append([]byte{}, q[:2]...)        // id
	resp = append(resp, 0x84|q[2]&0x01, 0x80) // response, authoritative, RD copied; RA
	answers := byte(0)
	if qtype == 1 {
		answers = 1
	}
	resp = append(resp, 0, 1, 0, answers, 0, 0, 0, 0) // 1 question, answers, no NS/AR
	resp = append(resp, q[12:i+5]...)                 // the question
	if answers == 1 {
		a := ip.As4()
		resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4) // name at 12, A, IN, TTL 60
		resp = append(resp, a[:]...)
	}
	return resp
}

func TestForbiddenAddresses(t *testing.T) {
	srv := docServer(t, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	resolver := fakeDNS(t, netip.MustParseAddr("127.0.0.1"))
	client := NewHTTPClient(ClientConfig{Resolver: resolver, ConnectTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second})
	fetcher := NewFetcher(client, nil)

	// The check runs before connect(2): none of these sends a packet.
	for _, u := range []string{
		srv.URL + "/note",
		fmt.Sprintf("http://[::1]:%d/note", port),
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/note", port),
		fmt.Sprintf("http://0.0.0.0:%d/note", port),
		fmt.Sprintf("http://localhost:%d/note", port),
		fmt.Sprintf("http://rebind.test:%d/note", port), // fake DNS: 127.0.0.1
		"http://10.0.0.1/",
		"http://172.16.0.1/",
		"http://192.168.1.1/",
		"http://169.254.169.254/latest/meta-data/",
		"http://100.64.0.1/",
		"http://[::ffff:10.0.0.1]/",
		"http://[fd00::1]/",
		"http://[fe80::1]/",
		"http://224.0.0.1/",
		"http://[::]/",
	} {
		t.Run(u, func(t *testing.T) {
			_, err := fetcher.Get(context.Background(), u)
			if !errors.Is(err, ErrForbiddenAddress) {
				t.Errorf("err = %v, want ErrForbiddenAddress", err)
			}
		})
	}
}

func TestCheckPublicAddr(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"93.184.216.34", true},
		{"1.1.1.1", true},
		{"2606:4700::1111", true},
		{"64:ff9b::5db8:d822", true}, // NAT64 of a public address
		{"::ffff:93.184.216.34", true},
		{"127.0.0.1", false},
		{"127.1.2.3", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.31.255.255", false},
		{"192.168.0.1", false},
		{"169.254.169.254", false},
		{"100.100.100.200", false}, // CGNAT (Alibaba's metadata service)
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1%eth0", false},
		{"ff02::1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false},          // IPv4-compatible
		{"64:ff9b::a00:1", false},       // NAT64 of 10.0.0.1
		{"2002:7f00:1::1", false},       // 6to4 of 127.0.0.1
		{"2002:5db8:d822::1", true},     // 6to4 of a public address
		{"fec0::1", false},              // site-local
		{"64:ff9b:1::5db8:d822", false}, // local-use NAT64
	}
	for _, tt := range tests {
		err := checkPublicAddr(netip.MustParseAddr(tt.addr))
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrForbiddenAddress)) {
			t.Errorf("%s: err = %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}

// allowLoopback treats loopback as public and applies the real policy to
// everything else, so that a loopback server can redirect to private space.
func allowLoopback(a netip.Addr) error {
	if a.Unmap().IsLoopback() {
		return nil
	}
	return checkPublicAddr(a)
}

func TestRedirectToPrivateAddress(t *testing.T) {
	srv := docServer(t, func(w http.ResponseWriter, r *http.Request) bool {
		if target := r.URL.Query().Get("to"); target != "" {
			http.Redirect(w, r, target, http.StatusFound)
			return true
		}
		return false
	})
	fetcher := NewFetcher(newHTTPClient(ClientConfig{RequestTimeout: 5 * time.Second}, allowLoopback), nil)
	ctx := context.Background()
	if _, err := fetcher.Get(ctx, srv.URL+"/public"); err != nil {
		t.Fatalf("the allowed server: %v", err)
	}
	for _, target := range []string{"http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data/", "http://[fd00::1]/"} {
		_, err := fetcher.Get(ctx, srv.URL+"/r?to="+target)
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("redirect to %s: err = %v, want ErrForbiddenAddress", target, err)
		}
	}
	_, err := fetcher.Get(ctx, srv.URL+"/r?to=file:///etc/passwd")
	if !errors.Is(err, ErrForbiddenURL) {
		t.Errorf("redirect to file: err = %v, want ErrForbiddenURL", err)
	}
}

func TestFetcherGet(t *testing.T) {
	other := docServer(t, nil)
	big := strings.Repeat("x", maxDocumentSize)
	srv := docServer(t, func(w http.ResponseWriter, r *http.Request) bool {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/hop/"):
			// /hop/n redirects n times before the document.
			n, _ := strconv.Atoi(strings.TrimPrefix(p, "/hop/"))
			if n == 0 {
				return false
			}
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusMovedPermanently)
		case p == "/big":
			fmt.Fprintf(w, `{"id":"http://%s/big","content":"%s"}`, r.Host, big)
		case p == "/big-chunked":
			fmt.Fprintf(w, `{"id":"http://%s/big","content":"`, r.Host)
			w.(http.Flusher).Flush() // no Content-Length
			fmt.Fprintf(w, `%s"}`, big)
		case p == "/foreign-id":
			fmt.Fprintf(w, `{"id":"%s/note"}`, other.URL)
		case p == "/no-id":
			fmt.Fprint(w, `{"type":"Note"}`)
		case p == "/not-json":
			fmt.Fprint(w, `<html></html>`)
		case p == "/to-other":
			// The other host serves a document with its own id: fine.
			http.Redirect(w, r, other.URL+"/note", http.StatusFound)
		case p == "/gone":
			w.WriteHeader(http.StatusGone)
		case p == "/missing":
			http.NotFound(w, r)
		case strings.HasPrefix(p, "/type/"):
			// /type/N serves a valid document as the N-th Content-Type.
			types := []string{"application/activity+json", `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`,
				"application/activity+json; charset=utf-8", "application/json", "image/png", "text/html", ""}
			n, _ := strconv.Atoi(strings.TrimPrefix(p, "/type/"))
			w.Header().Set("Content-Type", types[n])
			fmt.Fprintf(w, `{"id":"http://%s%s","type":"Person"}`, r.Host, p)
		case p == "/agent":
			fmt.Fprintf(w, `{"id":"http://%s/agent","ua":%q,"accept":%q}`, r.Host, r.UserAgent(), r.Header.Get("Accept"))
		default:
			return false
		}
		return true
	})
	fetcher := NewFetcher(NewHTTPClient(ClientConfig{AllowPrivate: true, UserAgent: "agora/test (+http://agora.test)"}), nil)
	ctx := context.Background()
	tests := []struct {
		path   string
		want   error
		status int
	}{
		{"/note", nil, 0},
		{"/hop/3", nil, 0},
		{"/hop/4", ErrTooManyRedirects, 0},
		{"/big", ErrTooLarge, 0},
		{"/big-chunked", ErrTooLarge, 0},
		{"/foreign-id", ErrWrongOrigin, 0},
		{"/no-id", ErrWrongOrigin, 0},
		{"/to-other", nil, 0},
		{"/gone", nil, http.StatusGone},
		{"/missing", nil, http.StatusNotFound},
		{"/type/0", nil, 0},
		{"/type/1", nil, 0},
		{"/type/2", nil, 0},
		{"/type/3", ErrContentType, 0}, // an uploaded .json file
		{"/type/4", ErrContentType, 0}, // an upload served as an image
		{"/type/5", ErrContentType, 0},
		{"/type/6", ErrContentType, 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, err := fetcher.Get(ctx, srv.URL+tt.path)
			var se *StatusError
			switch {
			case tt.status != 0:
				if !errors.As(err, &se) || se.Code != tt.status {
					t.Errorf("err = %v, want status %d", err, tt.status)
				}
			case tt.want == nil && err != nil:
				t.Errorf("err = %v", err)
			case !errors.Is(err, tt.want):
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := fetcher.Get(ctx, srv.URL+"/not-json"); err == nil {
		t.Error("HTML accepted")
	}

	var doc struct{ ID, UA, Accept string }
	if err := fetcher.GetDocument(ctx, srv.URL+"/agent", &doc); err != nil {
		t.Fatal(err)
	}
	if doc.UA != "agora/test (+http://agora.test)" || doc.Accept != ActivityAccept {
		t.Errorf("User-Agent %q, Accept %q", doc.UA, doc.Accept)
	}
}

// TestFetcherRedirectClaimingOrigin: a document fetched, after a redirect,
// from another host cannot claim an id on the first host.
func TestFetcherRedirectClaimingOrigin(t *testing.T) {
	other := docServer(t, func(w http.ResponseWriter, r *http.Request) bool {
		fmt.Fprintf(w, `{"id":%q}`, r.URL.Query().Get("id"))
		return true
	})
	srv := docServer(t, func(w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, other.URL+"/?id=http://"+r.Host+"/note", http.StatusFound)
		return true
	})
	fetcher := NewFetcher(NewHTTPClient(ClientConfig{AllowPrivate: true}), nil)
	if _, err := fetcher.Get(context.Background(), srv.URL+"/note"); !errors.Is(err, ErrWrongOrigin) {
		t.Errorf("err = %v, want ErrWrongOrigin", err)
	}
}

// TestFetcherSignsEveryHop: the signature covers host and path, so a
// redirect must be signed anew; the final server verifies it.
func TestFetcherSignsEveryHop(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	const keyID = "https://agora.test/actor#main-key"
	keys := resolverFunc(func(_ context.Context, id string, _ bool) (PublicKey, error) {
		return PublicKey{ID: id, Owner: "https://agora.test/actor", Key: &key.PublicKey}, nil
	})
	verifying := docServer(t, func(w http.ResponseWriter, r *http.Request) bool {
		sig, err := ParseSignature(r, nil, time.Now())
		if err == nil {
			_, err = sig.Verify(r.Context(), keys)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return true
		}
		return false
	})
	redirecting := docServer(t, func(w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, verifying.URL+"/note", http.StatusFound)
		return true
	})
	sign := func(r *http.Request) error {
		return SignRequest(r, SigningKey{KeyID: keyID, Private: key}, nil, time.Now())
	}
	fetcher := NewFetcher(NewHTTPClient(ClientConfig{AllowPrivate: true}), sign)
	if _, err := fetcher.Get(context.Background(), redirecting.URL+"/start"); err != nil {
		t.Fatal(err)
	}
	unsigned := NewFetcher(NewHTTPClient(ClientConfig{AllowPrivate: true}), nil)
	if _, err := unsigned.Get(context.Background(), verifying.URL+"/note"); err == nil {
		t.Error("unsigned fetch verified")
	}
}

type resolverFunc func(ctx context.Context, keyID string, refresh bool) (PublicKey, error)

func (f resolverFunc) PublicKey(ctx context.Context, keyID string, refresh bool) (PublicKey, error) {
	return f(ctx, keyID, refresh)
}

func TestIsAllowedURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://mastodon.example/users/alice", true},
		{"http://127.0.0.1:8080/inbox", true}, // refused later, at dial time
		{"HTTPS://Example.org/x", true},
		{"file:///etc/passwd", false},
		{"ftp://example.org/x", false},
		{"gopher://example.org/", false},
		{"javascript:alert(1)", false},
		{"mailto:a@example.org", false},
		{"http:opaque", false},
		{"http://", false},
		{"http:///path", false},
		{"https://user:pw@example.org/", false},
		{"//example.org/x", false},
		{"", false},
		{"http://exa mple.org/", false},
	}
	for _, tt := range tests {
		err := IsAllowedURL(tt.url)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrForbiddenURL)) {
			t.Errorf("%q: err = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
	fetcher := NewFetcher(NewHTTPClient(ClientConfig{}), nil)
	if _, err := fetcher.Get(context.Background(), "file:///etc/passwd"); !errors.Is(err, ErrForbiddenURL) {
		t.Errorf("Get(file:): %v", err)
	}
}

func TestSameHost(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://a.example/users/x", "https://a.example/users/x#main-key", true},
		{"https://A.example/x", "https://a.example:443/y", true},
		{"http://a.example/x", "http://a.example:80/y", true},
		{"http://127.0.0.1:8080/x", "http://127.0.0.1:8081/x", false},
		{"https://a.example/x", "https://b.example/x", false},
		{"https://a.example/x", "https://a.example.evil/x", false},
		{"https://a.example/x", "not a url", false},
	}
	for _, tt := range tests {
		if got := SameHost(tt.a, tt.b); got != tt.want {
			t.Errorf("SameHost(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}
