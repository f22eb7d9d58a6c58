package federation_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-fed/httpsig"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

const (
	testActor = "https://remote.example/users/alice"
	testKeyID = testActor + "#main-key"
	testInbox = "https://agora.example/inbox"
	testBody  = `{"type":"Follow","actor":"https://remote.example/users/alice"}`
)

// RSA-2048 generation takes a while; three keys serve every test.
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := federation.GenerateKey()
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

func aliceKey() federation.SigningKey {
	return federation.SigningKey{KeyID: testKeyID, Private: testKeys()[0]}
}

// staticKeys is a KeyResolver answering from fixed keys: old for a plain
// lookup, fresh (if set) for a refresh.
type staticKeys struct {
	old, fresh *rsa.PrivateKey
	err        error

	mu        sync.Mutex
	lookups   int
	refreshes int
}

func (s *staticKeys) PublicKey(_ context.Context, keyID string, refresh bool) (federation.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	k := s.old
	if refresh {
		s.refreshes++
		if s.fresh != nil {
			k = s.fresh
		}
	}
	if s.err != nil {
		return federation.PublicKey{}, s.err
	}
	return federation.PublicKey{ID: keyID, Owner: testActor, Key: &k.PublicKey}, nil
}

// onWire returns r as a server receives it: written out and read back, so
// that Host lives in r.Host and the path is parsed from the request line.
func onWire(t *testing.T, r *http.Request) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

func newRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	var r *http.Request
	var err error
	if body == nil {
		r, err = http.NewRequest(method, url, nil)
	} else {
		r, err = http.NewRequest(method, url, bytes.NewReader(body))
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// signed returns a request signed by SignRequest at date, as received.
func signed(t *testing.T, method, url string, body []byte, key federation.SigningKey, date time.Time) *http.Request {
	t.Helper()
	r := newRequest(t, method, url, body)
	if err := federation.SignRequest(r, key, body, date); err != nil {
		t.Fatal(err)
	}
	return onWire(t, r)
}

// signedWith signs with go-fed directly, covering exactly headers; digest,
// if not empty, is the Digest header value to send and sign.
func signedWith(t *testing.T, method, url string, body []byte, headers []string, digest string, date time.Time) *http.Request {
	t.Helper()
	r := newRequest(t, method, url, body)
	r.Header.Set("Date", date.UTC().Format(http.TimeFormat))
	r.Header.Set("Host", r.URL.Host)
	if digest != "" {
		r.Header.Set("Digest", digest)
	}
	signer, _, err := httpsig.NewSigner([]httpsig.Algorithm{httpsig.RSA_SHA256}, httpsig.DigestSha256, headers, httpsig.Signature, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.SignRequest(testKeys()[0], testKeyID, r, nil); err != nil {
		t.Fatal(err)
	}
	return onWire(t, r)
}

func sha256Digest(body string) string {
	sum := sha256.Sum256([]byte(body))
	return "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

func TestSignVerifyRoundTrip(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, method, url string
		body              []byte
		date              time.Time // signing time; verified at now
		wantHeaders       string
	}{
		{"POST", http.MethodPost, testInbox, []byte(testBody), now, "(request-target) host date digest"},
		{"GET", http.MethodGet, "https://agora.example/c/cats/outbox", nil, now, "(request-target) host date"},
		{"GET with query", http.MethodGet, "https://agora.example/c/cats/outbox?page=2", nil, now, "(request-target) host date"},
		{"escaped path", http.MethodGet, "https://agora.example/c/caf%C3%A9", nil, now, "(request-target) host date"},
		{"host with port", http.MethodPost, "http://127.0.0.1:8080/inbox", []byte(testBody), now, "(request-target) host date digest"},
		{"59 min ahead", http.MethodPost, testInbox, []byte(testBody), now.Add(59 * time.Minute), "(request-target) host date digest"},
		{"11 h behind", http.MethodPost, testInbox, []byte(testBody), now.Add(-11 * time.Hour), "(request-target) host date digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := signed(t, tt.method, tt.url, tt.body, aliceKey(), tt.date)
			if got := r.Header.Get("Signature"); !strings.Contains(got, `algorithm="rsa-sha256"`) ||
				!strings.Contains(got, `headers="`+tt.wantHeaders+`"`) {
				t.Errorf("Signature = %s", got)
			}
			if tt.body != nil && r.Header.Get("Digest") != sha256Digest(string(tt.body)) {
				t.Errorf("Digest = %q", r.Header.Get("Digest"))
			}
			sig, err := federation.ParseSignature(r, tt.body, now)
			if err != nil {
				t.Fatalf("ParseSignature: %v", err)
			}
			if sig.KeyID != testKeyID {
				t.Errorf("KeyID = %q", sig.KeyID)
			}
			keys := &staticKeys{old: testKeys()[0]}
			key, err := sig.Verify(context.Background(), keys)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if key.Owner != testActor || keys.refreshes != 0 {
				t.Errorf("owner %q, %d refreshes", key.Owner, keys.refreshes)
			}
		})
	}
}

func TestVerifyPathWithoutQuery(t *testing.T) {
	// Mastodon before 4.1 signed (request-target) without the query.
	now := time.Now()
	r := signed(t, http.MethodGet, "https://agora.example/c/cats/outbox", nil, aliceKey(), now)
	r.URL.RawQuery = "page=2"
	sig, err := federation.ParseSignature(r, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sig.Verify(context.Background(), &staticKeys{old: testKeys()[0]}); err != nil {
		t.Fatal(err)
	}
}

func TestParseSignatureRejects(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(testBody)
	post := func(t *testing.T) *http.Request {
		return signed(t, http.MethodPost, testInbox, body, aliceKey(), now)
	}
	withSignature := func(v string) func(*testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			r := post(t)
			r.Header.Set("Signature", v)
			return r
		}
	}
	all := []string{"(request-target)", "host", "date", "digest"}
	without := func(h string) []string {
		var out []string
		for _, v := range all {
			if v != h {
				out = append(out, v)
			}
		}
		return out
	}
	tests := []struct {
		name    string
		request func(*testing.T) *http.Request
		body    []byte // given to ParseSignature; default body
		want    error
	}{
		{"no signature", func(t *testing.T) *http.Request {
			r := post(t)
			r.Header.Del("Signature")
			return r
		}, nil, federation.ErrNoSignature},
		{"RFC 9421 input, no Content-Digest", func(t *testing.T) *http.Request {
			r := post(t)
			r.Header.Set("Signature-Input", `sig1=("@method" "@target-uri" "content-digest");created=1740830400;keyid="`+testKeyID+`"`)
			r.Header.Set("Signature", "sig1=:AAAA:")
			return r
		}, nil, federation.ErrDigest},
		{"RFC 9421 input, no Signature", func(t *testing.T) *http.Request {
			r := post(t)
			r.Header.Del("Signature")
			r.Header.Set("Signature-Input", `sig1=("@method");keyid="x"`)
			return r
		}, nil, federation.ErrMalformedSignature},
		{"garbage", withSignature("garbage"), nil, federation.ErrMalformedSignature},
		{"unterminated", withSignature(`keyId="x,signature="AAAA`), nil, federation.ErrMalformedSignature},
		{"no keyId", withSignature(`headers="(request-target) host date digest",signature="AAAA"`), nil, federation.ErrMalformedSignature},
		{"no signature value", withSignature(`keyId="` + testKeyID + `",headers="(request-target) host date digest"`), nil, federation.ErrMalformedSignature},
		{"signature not base64", withSignature(`keyId="` + testKeyID + `",headers="(request-target) host date digest",signature="%%%"`), nil, federation.ErrMalformedSignature},
		{"repeated headers", withSignature(`keyId="k",headers="(request-target) host date digest",headers="date",signature="AAAA"`), nil, federation.ErrMalformedSignature},
		{"unknown algorithm", withSignature(`keyId="k",algorithm="rsa-sha1",headers="(request-target) host date digest",signature="AAAA"`), nil, federation.ErrMalformedSignature},
		{"two Signature headers", func(t *testing.T) *http.Request {
			r := post(t)
			r.Header.Add("Signature", r.Header.Get("Signature"))
			return r
		}, nil, federation.ErrMalformedSignature},
		{"POST without (request-target)", func(t *testing.T) *http.Request {
			return signedWith(t, http.MethodPost, testInbox, body, without("(request-target)"), sha256Digest(testBody), now)
		}, nil, federation.ErrMissingSignedHeader},
		{"POST without host", func(t *testing.T) *http.Request {
			return signedWith(t, http.MethodPost, testInbox, body, without("host"), sha256Digest(testBody), now)
		}, nil, federation.ErrMissingSignedHeader},
		{"POST without date", func(t *testing.T) *http.Request {
			return signedWith(t, http.MethodPost, testInbox, body, without("date"), sha256Digest(testBody), now)
		}, nil, federation.ErrMissingSignedHeader},
		{"POST without digest", func(t *testing.T) *http.Request {
			return signedWith(t, http.MethodPost, testInbox, body, without("digest"), sha256Digest(testBody), now)
		}, nil, federation.ErrMissingSignedHeader},
		{"no headers parameter", withSignature(`keyId="k",signature="AAAA"`), nil, federation.ErrMissingSignedHeader},
		{"GET without host", func(t *testing.T) *http.Request {
			return signedWith(t, http.MethodGet, testInbox, nil, []string{"(request-target)", "date"}, "", now)
		}, nil, federation.ErrMissingSignedHeader},
		{"2 h ahead", func(t *testing.T) *http.Request {
			return signed(t, http.MethodPost, testInbox, body, aliceKey(), now.Add(2*time.Hour))
		}, nil, federation.ErrDateWindow},
		{"13 h behind", func(t *testing.T) *http.Request {
			return signed(t, http.MethodPost, testInbox, body, aliceKey(), now.Add(-13*time.Hour))
		}, nil, federation.ErrDateWindow},
		{"Date unparsable", func(t *testing.T) *http.Request {
			r := post(t)
			r.Header.Set("Date", "yesterday")
			return r
		}, nil, federation.ErrDateWindow},
		{"Digest mismatch", post, []byte(`{"type":"Delete"}`), federation.ErrDigest},
		{"Digest missing", func(t *testing.T) *http.Request {
			r := post(t)
			r.Header.Del("Digest")
			return r
		}, nil, federation.ErrDigest},
		{"Digest SHA-512 only", func(t *testing.T) *http.Request {
			return signedWith(t, http.MethodPost, testInbox, body, all, "SHA-512=AAAA", now)
		}, nil, federation.ErrDigest},
		{"Digest SHA-256 wrong among others", func(t *testing.T) *http.Request {
			return signedWith(t, http.MethodPost, testInbox, body, all, "SHA-512=AAAA,"+sha256Digest("other"), now)
		}, nil, federation.ErrDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.body
			if b == nil {
				b = body
			}
			r := tt.request(t)
			if r.Method == http.MethodGet {
				b = nil
			}
			_, err := federation.ParseSignature(r, b, now)
			if !errors.Is(err, tt.want) || !errors.Is(err, federation.ErrNotVerified) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDigestVariantsAccepted(t *testing.T) {
	now := time.Now()
	sum := strings.TrimPrefix(sha256Digest(testBody), "SHA-256=")
	all := []string{"(request-target)", "host", "date", "digest"}
	for _, digest := range []string{
		"sha-256=" + sum,
		"SHA-512=AAAA, SHA-256=" + sum,
		"SHA-256=" + sum + ",MD5=xyz",
	} {
		t.Run(digest, func(t *testing.T) {
			r := signedWith(t, http.MethodPost, testInbox, []byte(testBody), all, digest, now)
			sig, err := federation.ParseSignature(r, []byte(testBody), now)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sig.Verify(context.Background(), &staticKeys{old: testKeys()[0]}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// closedPortURL returns a URL on 127.0.0.1 where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestVerifyRejects(t *testing.T) {
	now := time.Now()
	body := []byte(testBody)
	tamperedBody := []byte(`{"type":"Delete","actor":"https://remote.example/users/alice"}`)
	unreachable := closedPortURL(t) + "/users/alice#main-key"
	cache := federation.NewKeyCache(
		federation.NewFetcher(federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true, ConnectTimeout: 2 * time.Second}), nil),
		nil, federation.KeyCacheConfig{})

	tests := []struct {
		name    string
		request func(*testing.T) *http.Request
		body    []byte
		keys    federation.KeyResolver
		want    error
	}{
		{"tampered body, recomputed digest", func(t *testing.T) *http.Request {
			r := signed(t, http.MethodPost, testInbox, body, aliceKey(), now)
			r.Header.Set("Digest", sha256Digest(string(tamperedBody)))
			return r
		}, tamperedBody, &staticKeys{old: testKeys()[0]}, federation.ErrBadSignature},
		{"wrong key", func(t *testing.T) *http.Request {
			return signed(t, http.MethodPost, testInbox, body, aliceKey(), now)
		}, body, &staticKeys{old: testKeys()[1]}, federation.ErrBadSignature},
		{"other path", func(t *testing.T) *http.Request {
			r := signed(t, http.MethodPost, testInbox, body, aliceKey(), now)
			r.URL.Path = "/c/cats/inbox"
			return r
		}, body, &staticKeys{old: testKeys()[0]}, federation.ErrBadSignature},
		{"other host", func(t *testing.T) *http.Request {
			r := signed(t, http.MethodPost, testInbox, body, aliceKey(), now)
			r.Host = "evil.example"
			return r
		}, body, &staticKeys{old: testKeys()[0]}, federation.ErrBadSignature},
		{"resolver fails", func(t *testing.T) *http.Request {
			return signed(t, http.MethodPost, testInbox, body, aliceKey(), now)
		}, body, &staticKeys{err: errors.New("boom")}, federation.ErrKeyUnavailable},
		{"key host unreachable", func(t *testing.T) *http.Request {
			return signed(t, http.MethodPost, testInbox, body, federation.SigningKey{KeyID: unreachable, Private: testKeys()[0]}, now)
		}, body, cache, federation.ErrKeyUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := federation.ParseSignature(tt.request(t), tt.body, now)
			if err != nil {
				t.Fatalf("ParseSignature: %v", err)
			}
			_, err = sig.Verify(context.Background(), tt.keys)
			if !errors.Is(err, tt.want) || !errors.Is(err, federation.ErrNotVerified) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	now := time.Now()
	newKey := federation.SigningKey{KeyID: testKeyID, Private: testKeys()[2]}
	r := signed(t, http.MethodPost, testInbox, []byte(testBody), newKey, now)
	sig, err := federation.ParseSignature(r, []byte(testBody), now)
	if err != nil {
		t.Fatal(err)
	}
	keys := &staticKeys{old: testKeys()[0], fresh: testKeys()[2]}
	key, err := sig.Verify(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if keys.refreshes != 1 || keys.lookups != 2 {
		t.Errorf("%d lookups, %d refreshes; want 2, 1", keys.lookups, keys.refreshes)
	}
	if !key.Key.(*rsa.PublicKey).Equal(&testKeys()[2].PublicKey) {
		t.Error("Verify returned the old key")
	}
}

// TestSignedPostEndToEnd sends a signed POST over HTTP from a fedtest
// actor and verifies it as the inbox will: ParseSignature, then Verify
// with a KeyCache fetching the key from the fedtest server.
func TestSignedPostEndToEnd(t *testing.T) {
	for _, gts := range []bool{false, true} {
		remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"bob"}, GoToSocialKeys: gts})
		client := federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true})
		keys := federation.NewKeyCache(federation.NewFetcher(client, nil), nil, federation.KeyCacheConfig{})
		results := make(chan error, 1)
		inbox := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body := readAll(t, r)
			sig, err := federation.ParseSignature(r, body, time.Now())
			if err == nil {
				var key federation.PublicKey
				key, err = sig.Verify(r.Context(), keys)
				if err == nil && key.Owner != remote.ActorIRI("bob") {
					err = errors.New("owner " + key.Owner)
				}
			}
			results <- err
			w.WriteHeader(http.StatusAccepted)
		}))
		status, err := remote.SignedPost(context.Background(), inbox+"/inbox", "bob", []byte(testBody))
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("SignedPost: %d, %v", status, err)
		}
		if err := <-results; err != nil {
			t.Errorf("GoToSocial keys %v: %v", gts, err)
		}
	}
}

func FuzzParseSignature(f *testing.F) {
	f.Add(`keyId="https://a.example/u#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AAAA"`)
	f.Add(`Signature keyId="k",headers="(request-target) host date digest",signature="AAAA"`)
	f.Add(`keyId="a\"b",headers="(request-target)  HOST date digest",signature="AAAA",created=1,expires=2`)
	f.Add(`keyId = "k" , signature = "AAAA" , headers = "(request-target) host date digest"`)
	f.Add(`sig1=:AAAA:`)
	f.Add(`keyId="k,headers=date",headers="(request-target) host date digest",signature="AAAA"`)
	f.Add(`,,,=`)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, header string) {
		r, err := http.NewRequest(http.MethodPost, testInbox, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Host = "agora.example"
		r.Header.Set("Date", now.Format(http.TimeFormat))
		r.Header.Set("Digest", sha256Digest(testBody))
		r.Header["Signature"] = []string{header}
		sig, err := federation.ParseSignature(r, []byte(testBody), now)
		if err != nil {
			if !errors.Is(err, federation.ErrNotVerified) {
				t.Fatalf("error %v does not wrap ErrNotVerified", err)
			}
			return
		}
		if sig.KeyID == "" {
			t.Fatal("accepted without keyId")
		}
		for _, h := range []string{"(request-target)", "host", "date", "digest"} {
			if !strings.Contains(" "+strings.Join(sig.Headers, " ")+" ", " "+h+" ") {
				t.Fatalf("accepted without %s signed: %q", h, header)
			}
		}
		// Must not panic, whatever was accepted.
		_, err = sig.Verify(context.Background(), &staticKeys{old: testKeys()[0]})
		if err == nil {
			t.Fatalf("fuzzed signature verified: %q", header)
		}
	})
}

// httpServer starts handler on 127.0.0.1 for the test and returns its URL.
func httpServer(t *testing.T, handler http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.URL
}

func readAll(t *testing.T, r *http.Request) []byte {
	t.Helper()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Error(err)
	}
	return body
}

// TestSignatureAcceptedByIndependentVerifier checks SignRequest against a
// verifier that shares no code with ParseSignature: fedtest's inbox, which
// uses go-fed directly.
func TestSignatureAcceptedByIndependentVerifier(t *testing.T) {
	sender := fedtest.NewServer(t, fedtest.Options{Users: []string{"carol"}})
	receiver := fedtest.NewServer(t, fedtest.Options{Users: []string{"dave"}})
	receiver.SetReplies("/users/dave/inbox", fedtest.Reply{Status: http.StatusServiceUnavailable}, fedtest.Reply{})
	ctx := context.Background()
	for _, want := range []int{http.StatusServiceUnavailable, http.StatusAccepted} {
		status, err := sender.SignedPost(ctx, receiver.ActorIRI("dave")+"/inbox", "carol", []byte(testBody))
		if err != nil || status != want {
			t.Fatalf("SignedPost: %d, %v; want %d", status, err, want)
		}
	}
	got := receiver.WaitFor(t, 2, 5*time.Second)
	for _, r := range got {
		if !r.Verified || r.KeyID != sender.KeyID("carol") || string(r.Body) != testBody {
			t.Errorf("received %+v", r)
		}
	}
	// A body changed after signing must be caught by the Digest check.
	req := newRequest(t, http.MethodPost, receiver.URL()+"/inbox", []byte(`{"type":"Delete"}`))
	if err := federation.SignRequest(req, sender.SigningKey("carol"), []byte(testBody), time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := receiver.WaitFor(t, 3, 5*time.Second); got[2].Verified {
		t.Error("tampered body verified")
	}
}
