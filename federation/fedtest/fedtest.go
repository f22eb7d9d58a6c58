// Package fedtest runs a fake remote fediverse server for tests: actors
// with keys, WebFinger, NodeInfo, and inboxes that record what they receive
// and check its HTTP Signature independently of package federation (with
// go-fed/httpsig directly), so that a bug in Agora's signing cannot hide
// behind the same bug in its verification.
package fedtest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-fed/httpsig"

	"github.com/agorafed/agora/federation"
)

// Options configures a Server.
type Options struct {
	// Users are the names served at /users/{name}; default "alice".
	Users []string
	// GoToSocialKeys makes keyIds "{actor}/main-key" and serves the key
	// document there, as GoToSocial does; otherwise "{actor}#main-key".
	GoToSocialKeys bool
	// Software is NodeInfo's software.name ("mastodon", "lemmy", ...);
	// empty serves no NodeInfo at all.
	Software string
	// OriginStrict makes the inboxes apply NodeBB's origin rule
	// (src/middleware/activitypub.js of NodeBB v4.11.3, assertPayload and
	// resolveObjects): an embedded object whose id is on another origin
	// than the actor is stripped to its id; an object given by id (so
	// stripped) is fetched, unless the activity is a Delete, and the POST is
	// answered 424 when it cannot be: an id with a fragment (NodeBB's own
	// "#activity/create/..." ids, which it cannot resolve, src/activitypub/
	// helpers.js resolveActivity) or a fetch that does not answer 2xx. Ids
	// on the server itself are taken as resolved, but for that Create. NodeBB compares hostnames; loopback test servers
	// differ only by port, so this compares host:port.
	OriginStrict bool
}

// Reply is how an inbox answers a request.
type Reply struct {
	Status int           // default 202
	Delay  time.Duration // wait before answering, cut short if the client leaves
	Header http.Header   // extra headers, e.g. Retry-After
}

// Request is a request received by an inbox.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// KeyID is the signature's keyId, if one could be read.
	KeyID string
	// Verified tells whether the signature covered (request-target), host,
	// date and digest, Date was within an hour, Digest matched the body,
	// and the signature verified with the key fetched from KeyID.
	// VerifyErr says why not.
	Verified  bool
	VerifyErr error
	// Status is what the inbox answered.
	Status int
	// Resolved is, with OriginStrict, the id the inbox fetched the
	// activity's object from ("" when it was taken embedded).
	Resolved string
}

// Server is a fake remote server. Its methods are safe for concurrent use.
type Server struct {
	opts   Options
	srv    *httptest.Server
	client *http.Client

	mu       sync.Mutex
	keys     map[string]*rsa.PrivateKey
	received []Request
	hits     map[string]int
	replies  map[string][]Reply
	served   map[string]int // inbox path -> requests answered
	docs     map[string][]byte
	peerKeys map[string]*rsa.PublicKey // keyId -> key fetched before
}

// NewServer starts a Server on 127.0.0.1, closed when the test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if len(opts.Users) == 0 {
		opts.Users = []string{"alice"}
	}
	s := &Server{
		opts:    opts,
		client:  &http.Client{Timeout: 10 * time.Second},
		keys:    make(map[string]*rsa.PrivateKey),
		hits:    make(map[string]int),
		replies: make(map[string][]Reply),
		served:  make(map[string]int),
	}
	for _, name := range opts.Users {
		k, err := federation.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		s.keys[name] = k
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{name}", s.serveActor)
	mux.HandleFunc("GET /users/{name}/main-key", s.serveKey)
	mux.HandleFunc("POST /inbox", s.serveInbox)
	mux.HandleFunc("POST /users/{name}/inbox", s.serveInbox)
	mux.HandleFunc("GET /.well-known/webfinger", s.serveWebFinger)
	mux.HandleFunc("GET /.well-known/nodeinfo", s.serveNodeInfoLinks)
	mux.HandleFunc("GET /nodeinfo/2.0", s.serveNodeInfo)
	mux.HandleFunc("GET /", s.serveDocument)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the server's base URL, "http://127.0.0.1:port".
func (s *Server) URL() string { return s.srv.URL }

// ActorIRI is the IRI of the named user.
func (s *Server) ActorIRI(name string) string { return s.srv.URL + "/users/" + name }

// KeyID is the keyId of the named user's key.
func (s *Server) KeyID(name string) string {
	if s.opts.GoToSocialKeys {
		return s.ActorIRI(name) + "/main-key"
	}
	return s.ActorIRI(name) + "#main-key"
}

// SigningKey is the named user's key, to sign requests as that user.
func (s *Server) SigningKey(name string) federation.SigningKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[name]
	if !ok {
		panic("fedtest: no user " + name)
	}
	return federation.SigningKey{KeyID: s.KeyID(name), Private: k}
}

// RotateKey gives the named user a new key, served from now on.
func (s *Server) RotateKey(name string) (federation.SigningKey, error) {
	k, err := federation.GenerateKey()
	if err != nil {
		return federation.SigningKey{}, err
	}
	s.mu.Lock()
	s.keys[name] = k
	s.mu.Unlock()
	return s.SigningKey(name), nil
}

// SignedPost POSTs body to url, signed as the named user, and returns the
// response status.
func (s *Server) SignedPost(ctx context.Context, url, name string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/activity+json")
	if err := federation.SignRequest(req, s.SigningKey(name), body, time.Now()); err != nil {
		return 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// SignedGet GETs url as AS2, signed as the named user, and returns the
// response status and body.
func (s *Server) SignedGet(ctx context.Context, url, name string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", federation.ActivityAccept)
	if err := federation.SignRequest(req, s.SigningKey(name), nil, time.Now()); err != nil {
		return 0, nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// SetReplies sets how the inbox at path ("/inbox", "/users/bob/inbox"),
// an actor ("/users/bob") or a document put with PutDocument (their
// status only) answers its next requests: the first reply to the next request, and so
// on; the last one repeats. SetReplies(p, Reply{Status: 503}, Reply{})
// fails once; SetReplies(p, Reply{Status: 410}) always answers 410.
func (s *Server) SetReplies(path string, replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies[path] = replies
	s.served[path] = 0
}

// nextReply is the reply SetReplies set for path's next request (the
// zero Reply when none), and counts it.
func (s *Server) nextReply(path string) Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	reply := Reply{}
	if rs := s.replies[path]; len(rs) > 0 {
		reply = rs[min(s.served[path], len(rs)-1)]
	}
	s.served[path]++
	return reply
}

// failWith answers the request with the error status SetReplies set for
// it, if any, and reports whether it did.
func (s *Server) failWith(w http.ResponseWriter, r *http.Request) bool {
	reply := s.nextReply(r.URL.Path)
	if reply.Status < 300 {
		return false
	}
	for k, v := range reply.Header {
		w.Header()[k] = v
	}
	http.Error(w, http.StatusText(reply.Status), reply.Status)
	return true
}

// Received returns the inbox requests received so far, oldest first.
func (s *Server) Received() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}

// WaitFor waits until the inboxes have received at least n requests and
// returns them; the test fails after timeout.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Request {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := s.Received()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("fedtest: %d requests received after %v, want %d", len(got), timeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Hits is the number of requests received for path, any method.
func (s *Server) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) (string, *rsa.PrivateKey, bool) {
	name := r.PathValue("name")
	s.mu.Lock()
	k, ok := s.keys[name]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
	}
	return name, k, ok
}

func (s *Server) publicKey(name string, k *rsa.PrivateKey) map[string]any {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		panic(err) // cannot happen for an RSA key
	}
	return map[string]any{
		"id":           s.KeyID(name),
		"owner":        s.ActorIRI(name),
		"publicKeyPem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	}
}

var contexts = []string{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"}

// serveActor serves a Mastodon-like Person.
func (s *Server) serveActor(w http.ResponseWriter, r *http.Request) {
	name, k, ok := s.user(w, r)
	if !ok || s.failWith(w, r) {
		return
	}
	actor := s.ActorIRI(name)
	writeJSON(w, "application/activity+json", map[string]any{
		"@context":          contexts,
		"id":                actor,
		"type":              "Person",
		"preferredUsername": name,
		"name":              strings.ToUpper(name[:1]) + name[1:],
		"url":               s.srv.URL + "/@" + name,
		"inbox":             actor + "/inbox",
		"outbox":            actor + "/outbox",
		"followers":         actor + "/followers",
		"endpoints":         map[string]any{"sharedInbox": s.srv.URL + "/inbox"},
		"publicKey":         s.publicKey(name, k),
		"icon":              map[string]any{"type": "Image", "mediaType": "image/png", "url": s.srv.URL + "/avatars/" + name + ".png"},
	})
}

// serveKey serves GoToSocial's key document.
func (s *Server) serveKey(w http.ResponseWriter, r *http.Request) {
	if !s.opts.GoToSocialKeys {
		http.NotFound(w, r)
		return
	}
	name, k, ok := s.user(w, r)
	if !ok {
		return
	}
	doc := s.publicKey(name, k)
	doc["@context"] = contexts
	doc["type"] = "Key"
	writeJSON(w, "application/activity+json", doc)
}

func (s *Server) serveWebFinger(w http.ResponseWriter, r *http.Request) {
	resource := r.URL.Query().Get("resource")
	name, host, _ := strings.Cut(strings.TrimPrefix(resource, "acct:"), "@")
	s.mu.Lock()
	_, ok := s.keys[name]
	s.mu.Unlock()
	if !ok || host != s.srv.Listener.Addr().String() {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, "application/jrd+json", map[string]any{
		"subject": resource,
		"aliases": []string{s.ActorIRI(name)},
		"links": []map[string]string{
			{"rel": "self", "type": "application/activity+json", "href": s.ActorIRI(name)},
			{"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": s.srv.URL + "/@" + name},
		},
	})
}

func (s *Server) serveNodeInfoLinks(w http.ResponseWriter, r *http.Request) {
	if s.opts.Software == "" {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, "application/json", map[string]any{
		"links": []map[string]string{{
			"rel":  "http://nodeinfo.diaspora.software/ns/schema/2.0",
			"href": s.srv.URL + "/nodeinfo/2.0",
		}},
	})
}

func (s *Server) serveNodeInfo(w http.ResponseWriter, r *http.Request) {
	if s.opts.Software == "" {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, "application/json", map[string]any{
		"version":           "2.0",
		"software":          map[string]string{"name": s.opts.Software, "version": "1.0.0"},
		"protocols":         []string{"activitypub"},
		"services":          map[string]any{"inbound": []string{}, "outbound": []string{}},
		"openRegistrations": false,
		"usage":             map[string]any{"users": map[string]int{"total": len(s.opts.Users)}},
		"metadata":          map[string]any{},
	})
}

// serveInbox records the request with its verification result, then
// answers as SetReplies said.
func (s *Server) serveInbox(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	req.KeyID, req.VerifyErr = s.verify(r, body)
	req.Verified = req.VerifyErr == nil
	reply := s.nextReply(r.URL.Path)
	if s.opts.OriginStrict && reply.Status == 0 {
		req.Resolved, reply.Status = s.originRule(r.Context(), body)
	}
	req.Status = cmp.Or(reply.Status, http.StatusAccepted)

	s.mu.Lock()
	s.received = append(s.received, req)
	s.mu.Unlock()

	if reply.Delay > 0 {
		select {
		case <-time.After(reply.Delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, vs := range reply.Header {
		w.Header()[k] = vs
	}
	if reply.Status == 0 {
		reply.Status = http.StatusAccepted
	}
	w.WriteHeader(reply.Status)
	if reply.Status >= 400 {
		io.WriteString(w, http.StatusText(reply.Status)) // as Express's res.sendStatus does
	}
}

// originRule applies NodeBB's origin rule (see Options.OriginStrict) to an
// activity, and returns the id it resolved and the status to answer (0:
// the default 202).
func (s *Server) originRule(ctx context.Context, body []byte) (resolved string, status int) {
	var a struct {
		Type   string          `json:"type"`
		Actor  string          `json:"actor"`
		Object json.RawMessage `json:"object"`
	}
	if json.Unmarshal(body, &a) != nil || a.Actor == "" || len(a.Object) == 0 {
		return "", http.StatusBadRequest // "Request body missing required properties"
	}
	var id string
	if json.Unmarshal(a.Object, &id) != nil {
		var o struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(a.Object, &o) != nil || o.ID == "" {
			return "", 0
		}
		ou, err1 := url.Parse(o.ID)
		au, err2 := url.Parse(a.Actor)
		if err1 == nil && err2 == nil && ou.Host == au.Host {
			return "", 0 // same origin: taken embedded
		}
		id = o.ID // "Origin check failed, stripping object down to id"
	}
	if a.Type == "Delete" {
		return "", 0
	}
	u, err := url.Parse(id)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return id, http.StatusFailedDependency
	}
	if u.Host == s.srv.Listener.Addr().String() {
		// Its own ids NodeBB resolves locally (helpers.resolveLocalId):
		// of its "#activity/..." ids only a Follow (resolveActivity), so
		// an Accept{its Follow} is taken and a Create of its own post,
		// relayed back, is not.
		if strings.HasPrefix(u.Fragment, "activity/") && !strings.HasPrefix(u.Fragment, "activity/follow/") {
			return id, http.StatusFailedDependency
		}
		return id, 0
	}
	if u.Fragment != "" {
		return id, http.StatusFailedDependency
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return id, http.StatusFailedDependency
	}
	req.Header.Set("Accept", federation.ActivityAccept)
	resp, err := s.client.Do(req)
	if err != nil {
		return id, http.StatusFailedDependency
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return id, http.StatusFailedDependency // "Failed to resolve object(s)"
	}
	return id, 0
}

var signedHeadersParam = regexp.MustCompile(`headers="([^"]*)"`)

// verify checks r's signature the way a careful peer would, with go-fed
// and no code from package federation.
//
// Like Mastodon and Lemmy, it keeps the keys it fetched: a key that
// verifies is not fetched again (a deleted community's Delete is verified
// with the key known from before its actor answers 410), one that does
// not is fetched again once (a rotated key).
func (s *Server) verify(r *http.Request, body []byte) (keyID string, err error) {
	cached := func(ctx context.Context, keyID string) (*rsa.PublicKey, error) {
		s.mu.Lock()
		k := s.peerKeys[keyID]
		s.mu.Unlock()
		if k == nil {
			return nil, errors.New("no key known")
		}
		return k, nil
	}
	if keyID, err := verifyRequest(r, body, cached); err == nil {
		return keyID, nil
	}
	return verifyRequest(r, body, func(ctx context.Context, keyID string) (*rsa.PublicKey, error) {
		k, err := fetchKey(ctx, s.client, keyID)
		if err == nil {
			s.mu.Lock()
			if s.peerKeys == nil {
				s.peerKeys = map[string]*rsa.PublicKey{}
			}
			s.peerKeys[keyID] = k
			s.mu.Unlock()
		}
		return k, err
	})
}

// verifyRequest checks a signed POST: (request-target), host, date and
// digest signed, Date within an hour, Digest matching the body, and the
// signature verifying with the key that key returns for the keyId.
func verifyRequest(r *http.Request, body []byte, key func(ctx context.Context, keyID string) (*rsa.PublicKey, error)) (keyID string, err error) {
	sig := r.Header.Get("Signature")
	m := signedHeadersParam.FindStringSubmatch(sig)
	if m == nil {
		return "", errors.New("no headers parameter in Signature")
	}
	signed := strings.Fields(m[1])
	for _, h := range []string{"(request-target)", "host", "date", "digest"} {
		if !slices.Contains(signed, h) {
			return "", fmt.Errorf("%s not signed", h)
		}
	}
	date, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return "", fmt.Errorf("date: %w", err)
	}
	if d := time.Since(date); d > time.Hour || d < -time.Hour {
		return "", fmt.Errorf("date %v off", d)
	}
	sum := sha256.Sum256(body)
	want := base64.StdEncoding.EncodeToString(sum[:])
	algo, got, _ := strings.Cut(r.Header.Get("Digest"), "=")
	if !strings.EqualFold(algo, "SHA-256") || got != want {
		return "", fmt.Errorf("digest %s=%q, body has SHA-256=%q", algo, got, want)
	}

	// NewVerifier adds the Host header to the map it is given.
	v, err := httpsig.NewVerifier(r.Clone(r.Context()))
	if err != nil {
		return "", err
	}
	keyID = v.KeyId()
	pub, err := key(r.Context(), keyID)
	if err != nil {
		return keyID, err
	}
	return keyID, v.Verify(pub, httpsig.RSA_SHA256)
}

// fetchKey fetches an RSA public key from its keyId: an actor with
// publicKey (one or several), or a key document.
func fetchKey(ctx context.Context, client *http.Client, keyID string) (*rsa.PublicKey, error) {
	u, _, _ := strings.Cut(keyID, "#")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", federation.ActivityAccept)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch key: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch key %s: status %d", u, resp.StatusCode)
	}
	type key struct {
		ID           string `json:"id"`
		PublicKeyPem string `json:"publicKeyPem"`
	}
	var doc struct {
		key
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("fetch key %s: %w", u, err)
	}
	keys := []key{doc.key}
	var one key
	var many []key
	if json.Unmarshal(doc.PublicKey, &one) == nil {
		keys = append(keys, one)
	} else if json.Unmarshal(doc.PublicKey, &many) == nil {
		keys = append(keys, many...)
	}
	for _, k := range keys {
		if k.ID != keyID || k.PublicKeyPem == "" {
			continue
		}
		block, _ := pem.Decode([]byte(k.PublicKeyPem))
		if block == nil {
			return nil, errors.New("key: no PEM block")
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("key: %T is not RSA", pub)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("no key %s in %s", keyID, u)
}

func writeJSON(w http.ResponseWriter, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// PutDocument serves body as AS2 JSON at path ("/notes/1"), as a post's
// origin does; nil removes it (404).
func (s *Server) PutDocument(path string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.docs == nil {
		s.docs = map[string][]byte{}
	}
	if body == nil {
		delete(s.docs, path)
		return
	}
	s.docs[path] = body
}

func (s *Server) serveDocument(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body, ok := s.docs[r.URL.Path]
	s.mu.Unlock()
	if s.failWith(w, r) {
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/activity+json")
	w.Write(body)
}
