package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Fetch errors.
var (
	// ErrForbiddenAddress: the URL's host resolved to an address that an
	// outgoing request must not reach (loopback, private, link-local, ...),
	// checked when the connection is dialled.
	ErrForbiddenAddress = errors.New("forbidden address")

	// ErrForbiddenURL: not an absolute http(s) URL with a host.
	ErrForbiddenURL = errors.New("forbidden URL")

	// ErrTooManyRedirects: more than maxRedirects redirects.
	ErrTooManyRedirects = errors.New("too many redirects")

	// ErrTooLarge: the response body is larger than maxDocumentSize.
	ErrTooLarge = errors.New("response too large")

	// ErrWrongOrigin: the fetched document has no id, or its id is not on
	// the host it was finally fetched from, so that host cannot speak for it.
	ErrWrongOrigin = errors.New("document id not on the fetched host")

	// ErrContentType: the answer is not an ActivityStreams document by its
	// Content-Type. A server that serves its users' uploads as JSON (or
	// as anything) must not thereby speak for its actors.
	ErrContentType = errors.New("not an ActivityStreams content type")
)

const (
	maxRedirects    = 3
	maxDocumentSize = 1 << 20

	defaultConnectTimeout = 10 * time.Second
	defaultRequestTimeout = 30 * time.Second
	defaultUserAgent      = "agora"

	// ActivityAccept is the Accept header of AS2 GETs: Mastodon answers
	// either type, and some servers only the ld+json one with the profile.
	ActivityAccept = `application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`
)

// ClientConfig configures NewHTTPClient.
type ClientConfig struct {
	// AllowPrivate lets requests reach loopback, private and link-local
	// addresses: for tests and loopback setups only.
	AllowPrivate bool
	// UserAgent is sent when a request has none. Instances block empty
	// ones; use "agora/<version> (+{base})".
	UserAgent string
	// ConnectTimeout bounds dialling (default 10 s); RequestTimeout the
	// whole request including reading the body (default 30 s).
	ConnectTimeout, RequestTimeout time.Duration
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// MaxConnsPerHost caps connections per host; 0 means no cap (the
	// delivery queue has its own per-host limit).
	MaxConnsPerHost int
}

// NewHTTPClient returns the client for every outgoing request of Agora,
// GETs and delivery POSTs alike. It speaks only http and https, follows at
// most 3 redirects, uses no proxy from the environment (a proxy would
// dial on our behalf, out of reach of the address check), and, unless
// AllowPrivate, refuses to connect to non-public addresses. The check runs
// on the resolved address at dial time, so it also covers DNS rebinding and
// every redirect hop.
func NewHTTPClient(cfg ClientConfig) *http.Client {
	check := checkPublicAddr
	if cfg.AllowPrivate {
		check = nil
	}
	return newHTTPClient(cfg, check)
}

// newHTTPClient is NewHTTPClient with the address check injected, so that
// tests can treat one loopback server as public.
func newHTTPClient(cfg ClientConfig, check func(netip.Addr) error) *http.Client {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = defaultRequestTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = defaultUserAgent
	}
	dialer := &net.Dialer{
		Timeout:   cfg.ConnectTimeout,
		KeepAlive: 30 * time.Second,
		Resolver:  cfg.Resolver,
	}
	if check != nil {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
			}
			return check(ap.Addr())
		}
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024, // a fan-out touches many hosts
		MaxIdleConnsPerHost:   8,
		MaxConnsPerHost:       cfg.MaxConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     &userAgentTransport{base: transport, userAgent: cfg.UserAgent},
		Timeout:       cfg.RequestTimeout,
		CheckRedirect: checkRedirect,
	}
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, maxRedirects)
	}
	return IsAllowedURL(req.URL.String())
}

// userAgentTransport sets the User-Agent of requests that have none.
type userAgentTransport struct {
	base      *http.Transport
	userAgent string
}

func (t *userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("User-Agent") == "" {
		r = r.Clone(r.Context()) // a RoundTripper must not modify its request
		r.Header.Set("User-Agent", t.userAgent)
	}
	return t.base.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (t *userAgentTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// Non-public ranges that netip's predicates (IsLoopback, IsPrivate,
// IsLinkLocalUnicast, IsMulticast, IsUnspecified) do not cover.
var forbiddenPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network": 0.x reaches localhost on Linux
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT, internal to providers
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking, used inside some clouds
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated
}

// Prefixes whose addresses embed an IPv4 address in their last 32 bits
// (NAT64) or in bits 16-47 (6to4); the embedded address is judged too.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// checkPublicAddr refuses any address that is not public unicast.
// IPv4-mapped addresses (::ffff:a.b.c.d) are judged by their IPv4 address.
func checkPublicAddr(a netip.Addr) error {
	a = a.Unmap().WithZone("")
	if !isPublicAddr(a) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, a)
	}
	b := a.As16()
	var embedded netip.Addr
	switch {
	case nat64Prefix.Contains(a):
		embedded = netip.AddrFrom4([4]byte(b[12:16]))
	case sixToFour.Contains(a):
		embedded = netip.AddrFrom4([4]byte(b[2:6]))
	}
	if embedded.IsValid() && !isPublicAddr(embedded) {
		return fmt.Errorf("%w: %s (embeds %s)", ErrForbiddenAddress, a, embedded)
	}
	return nil
}

func isPublicAddr(a netip.Addr) bool {
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() ||
		a.IsLinkLocalUnicast() || a.IsMulticast() {
		return false
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// IsAllowedURL refuses early what no outgoing request may fetch: anything
// but an absolute http or https URL with a host and without user info.
func IsAllowedURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrForbiddenURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q", ErrForbiddenURL, u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return fmt.Errorf("%w: no host in %q", ErrForbiddenURL, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%w: user info in %q", ErrForbiddenURL, raw)
	}
	return nil
}

// SameHost reports whether two absolute URLs are on the same host and port
// (the scheme's default port when none is given). Ports count: loopback
// test setups run several servers on one address.
func SameHost(a, b string) bool {
	ka, oka := hostKey(a)
	kb, okb := hostKey(b)
	return oka && okb && ka == kb
}

func hostKey(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return "", false
	}
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return strings.TrimSuffix(strings.ToLower(u.Hostname()), ".") + ":" + port, true
}

// StatusError is the error of a fetch answered with a non-2xx status.
// 404 and 410 tell callers the document is gone.
type StatusError struct {
	Code int
	URL  string // the URL that answered, after redirects
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: status %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// Fetcher GETs ActivityStreams documents from remote servers, each within
// a deadline, a few at a time per host, and not from a host that failed a
// moment ago (FetchLimits).
type Fetcher struct {
	client *http.Client
	sign   func(*http.Request) error
	hosts  *hostGate
}

// NewFetcher returns a Fetcher using client (from NewHTTPClient), with the
// default FetchLimits. sign, if not nil, signs each GET, normally as the
// instance actor; it is called again for every redirect hop, since the
// signature covers host and path.
func NewFetcher(client *http.Client, sign func(*http.Request) error) *Fetcher {
	return NewLimitedFetcher(client, sign, FetchLimits{})
}

// NewLimitedFetcher is NewFetcher with its limits given.
func NewLimitedFetcher(client *http.Client, sign func(*http.Request) error, limits FetchLimits) *Fetcher {
	c := *client
	next := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if next != nil {
			if err := next(req, via); err != nil {
				return err
			}
		} else if len(via) > maxRedirects {
			return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, maxRedirects)
		}
		if sign == nil {
			return nil
		}
		return sign(req)
	}
	return &Fetcher{client: &c, sign: sign, hosts: newHostGate(limits)}
}

// Get fetches the AS2 document at iri and returns its body. It fails on a
// non-2xx status (a *StatusError), a Content-Type that is not an
// ActivityStreams one (ErrContentType), a body over 1 MiB (ErrTooLarge), and a
// document whose id is missing or not on the host that finally answered
// (ErrWrongOrigin). It is meant for AS2 documents only: WebFinger and
// NodeInfo documents have no id.
func (f *Fetcher) Get(ctx context.Context, iri string) ([]byte, error) {
	if err := IsAllowedURL(iri); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", iri, err)
	}
	leave, err := f.hosts.enter(ctx, iri)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", iri, err)
	}
	var failed error // the host did not answer (in time)
	defer func() { leave(failed) }()
	rctx, cancel := context.WithTimeout(ctx, f.hosts.limits.Timeout)
	defer cancel()
	body, err := f.get(ctx, rctx, iri)
	if err != nil && ctx.Err() == nil && errors.Is(err, errNoAnswer) {
		failed = err
	}
	return body, err
}

// errNoAnswer marks the failures that are the host's: no connection, no
// answer, or none in time.
var errNoAnswer = errors.New("no answer")

// get is Get's request, made with rctx (its deadline).
func (f *Fetcher) get(ctx, rctx context.Context, iri string) ([]byte, error) {
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, iri, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", iri, err)
	}
	req.Header.Set("Accept", ActivityAccept)
	if f.sign != nil {
		if err := f.sign(req); err != nil {
			return nil, fmt.Errorf("fetch %s: %w", iri, err)
		}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrForbiddenAddress) && !errors.Is(err, ErrForbiddenURL) && !errors.Is(err, ErrTooManyRedirects) {
			return nil, fmt.Errorf("fetch %s: %w: %w", iri, errNoAnswer, err)
		}
		return nil, fmt.Errorf("fetch %s: %w", iri, err)
	}
	defer resp.Body.Close()
	final := resp.Request.URL.String()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Drain a little so that the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return nil, fmt.Errorf("fetch %s: %w", iri, &StatusError{Code: resp.StatusCode, URL: final})
	}
	if !IsActivityContentType(resp.Header.Get("Content-Type")) {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return nil, fmt.Errorf("fetch %s: %w: %q", iri, ErrContentType, resp.Header.Get("Content-Type"))
	}
	if resp.ContentLength > maxDocumentSize {
		return nil, fmt.Errorf("fetch %s: %w: Content-Length %d", iri, ErrTooLarge, resp.ContentLength)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		if ctx.Err() == nil {
			return nil, fmt.Errorf("fetch %s: %w: %w", iri, errNoAnswer, err)
		}
		return nil, fmt.Errorf("fetch %s: %w", iri, err)
	}
	if len(body) > maxDocumentSize {
		return nil, fmt.Errorf("fetch %s: %w: over %d bytes", iri, ErrTooLarge, maxDocumentSize)
	}
	var doc struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("fetch %s: decode: %w", iri, err)
	}
	if doc.ID == "" {
		return nil, fmt.Errorf("fetch %s: %w: no id", iri, ErrWrongOrigin)
	}
	if !SameHost(doc.ID, final) {
		return nil, fmt.Errorf("fetch %s: %w: id %s fetched from %s", iri, ErrWrongOrigin, doc.ID, final)
	}
	return body, nil
}

// GetDocument fetches iri like Get and decodes the JSON document into v.
func (f *Fetcher) GetDocument(ctx context.Context, iri string, v any) error {
	body, err := f.Get(ctx, iri)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("fetch %s: decode: %w", iri, err)
	}
	return nil
}

// IsActivityContentType tells whether a Content-Type header names an
// ActivityStreams document: application/activity+json or
// application/ld+json. Plain application/json, and anything else, is
// refused: it is what a server may serve its users' uploaded files as.
// Mastodon refuses the same (app/helpers/jsonld_helper.rb,
// valid_activitypub_content_type?), and asks ld+json for the AS2 profile
// too; JSON-LD without the profile is still no upload, so it passes here.
func IsActivityContentType(header string) bool {
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return false
	}
	return mt == "application/activity+json" || mt == "application/ld+json"
}

// GetJSON GETs a public JSON document that is not ActivityStreams (a
// server's own API, such as Lemmy's /api/v3/community) and decodes it into
// v, under the same limits as Get: allowed addresses only, the host gate,
// the deadline, 1 MiB. It is not signed. A non-2xx status is a
// *StatusError.
func (f *Fetcher) GetJSON(ctx context.Context, rawURL string, v any) error {
	if err := IsAllowedURL(rawURL); err != nil {
		return fmt.Errorf("get %s: %w", rawURL, err)
	}
	leave, err := f.hosts.enter(ctx, rawURL)
	if err != nil {
		return fmt.Errorf("get %s: %w", rawURL, err)
	}
	var failed error
	defer func() { leave(failed) }()
	rctx, cancel := context.WithTimeout(ctx, f.hosts.limits.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("get %s: %w", rawURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrForbiddenAddress) && !errors.Is(err, ErrForbiddenURL) && !errors.Is(err, ErrTooManyRedirects) {
			failed = err
		}
		return fmt.Errorf("get %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return fmt.Errorf("get %s: %w", rawURL, &StatusError{Code: resp.StatusCode, URL: resp.Request.URL.String()})
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return fmt.Errorf("get %s: %w", rawURL, err)
	}
	if len(body) > maxDocumentSize {
		return fmt.Errorf("get %s: %w: over %d bytes", rawURL, ErrTooLarge, maxDocumentSize)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("get %s: decode: %w", rawURL, err)
	}
	return nil
}
