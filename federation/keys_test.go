package federation_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

func loopbackFetcher() *federation.Fetcher {
	return federation.NewFetcher(federation.NewHTTPClient(federation.ClientConfig{AllowPrivate: true}), nil)
}

func pkixPEM(t *testing.T, k *rsa.PrivateKey) string {
	t.Helper()
	s, err := federation.EncodePublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pkcs1PEM(k *rsa.PrivateKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.PublicKey)}))
}

func TestKeyCacheFedtest(t *testing.T) {
	for _, gts := range []bool{false, true} {
		t.Run(fmt.Sprintf("GoToSocial=%v", gts), func(t *testing.T) {
			remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, GoToSocialKeys: gts})
			store := federation.NewMemoryKeyStore()
			cache := federation.NewKeyCache(loopbackFetcher(), store, federation.KeyCacheConfig{})
			ctx := context.Background()
			keyID := remote.KeyID("alice")
			key, err := cache.PublicKey(ctx, keyID, false)
			if err != nil {
				t.Fatal(err)
			}
			want := remote.SigningKey("alice").Private.PublicKey
			if key.ID != keyID || key.Owner != remote.ActorIRI("alice") || !want.Equal(key.Key) {
				t.Errorf("key = %+v", key)
			}
			if gts != strings.HasSuffix(keyID, "/main-key") {
				t.Errorf("keyId %s", keyID)
			}
			if sk, err := store.Key(ctx, keyID); err != nil || sk.Owner != key.Owner {
				t.Errorf("stored %+v, %v", sk, err)
			}
		})
	}
}

// keyServer serves documents from a map path -> JSON, where "{base}" is
// replaced by the server's URL, and counts requests per path.
type keyServer struct {
	url  string
	mu   sync.Mutex
	docs map[string]string
	hits map[string]int
}

func newKeyServer(t *testing.T, docs map[string]string) *keyServer {
	s := &keyServer{docs: docs, hits: make(map[string]int)}
	s.url = httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		doc, ok := s.docs[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/activity+json")
		fmt.Fprint(w, strings.ReplaceAll(doc, "{base}", s.url))
	}))
	return s
}

func (s *keyServer) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *keyServer) set(path, doc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[path] = doc
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestKeyCacheDocuments(t *testing.T) {
	k0, k1 := testKeys()[0], testKeys()[1]
	pkix0, pkix1 := jsonString(pkixPEM(t, k0)), jsonString(pkixPEM(t, k1))
	pkcs1 := jsonString(pkcs1PEM(k0))
	mislabelled := jsonString(strings.ReplaceAll(pkixPEM(t, k0), "PUBLIC KEY", "RSA PUBLIC KEY"))
	// The other host: same address, another port.
	other := newKeyServer(t, map[string]string{})

	// The owner's actor document, as a key document's owner is checked
	// against it: it lists "/users/a/main-key" and "#main-key".
	ownerDoc := `{"id":"{base}/users/a","type":"Person","inbox":"{base}/users/a/inbox","publicKey":[` +
		`{"id":"{base}/users/a/main-key","owner":"{base}/users/a","publicKeyPem":` + pkix0 + `},` +
		`{"id":"{base}/users/a#main-key","owner":"{base}/users/a","publicKeyPem":` + pkix0 + `}]}`
	tests := []struct {
		name, path, doc, keyID string // keyID relative to {base}
		owner                  string // served at /users/a when set
		wantOwner              string // relative to {base}; "" means an error
		wantErr                error
	}{
		{"Mastodon actor, PKIX", "/users/a",
			`{"id":"{base}/users/a","type":"Person","publicKey":{"id":"{base}/users/a#main-key","owner":"{base}/users/a","publicKeyPem":` + pkix0 + `}}`,
			"/users/a#main-key", "", "/users/a", nil},
		{"actor, PKCS1", "/users/a",
			`{"id":"{base}/users/a","type":"Person","publicKey":{"id":"{base}/users/a#main-key","owner":"{base}/users/a","publicKeyPem":` + pkcs1 + `}}`,
			"/users/a#main-key", "", "/users/a", nil},
		{"actor, PKIX labelled RSA PUBLIC KEY", "/users/a",
			`{"id":"{base}/users/a","type":"Person","publicKey":{"id":"{base}/users/a#main-key","owner":"{base}/users/a","publicKeyPem":` + mislabelled + `}}`,
			"/users/a#main-key", "", "/users/a", nil},
		{"actor, key without owner", "/users/a",
			`{"id":"{base}/users/a","type":"Person","publicKey":{"id":"{base}/users/a#main-key","publicKeyPem":` + pkix0 + `}}`,
			"/users/a#main-key", "", "/users/a", nil},
		{"actor, publicKey array", "/users/a",
			`{"id":"{base}/users/a","type":"Person","publicKey":[{"id":"{base}/users/a#other","owner":"{base}/users/a","publicKeyPem":` + pkix1 + `},{"id":"{base}/users/a#main-key","owner":"{base}/users/a","publicKeyPem":` + pkix0 + `}]}`,
			"/users/a#main-key", "", "/users/a", nil},
		{"GoToSocial key document", "/users/a/main-key",
			`{"id":"{base}/users/a/main-key","type":"Key","owner":"{base}/users/a","publicKeyPem":` + pkix0 + `}`,
			"/users/a/main-key", ownerDoc, "/users/a", nil},
		{"GoToSocial stub actor", "/users/a/main-key",
			`{"id":"{base}/users/a","type":"Person","publicKey":{"id":"{base}/users/a/main-key","owner":"{base}/users/a","publicKeyPem":` + pkcs1 + `}}`,
			"/users/a/main-key", ownerDoc, "/users/a", nil},
		// An upload on the actor's host (served as AS2, the worst case)
		// naming the account as its key's owner: the account does not list
		// that key, so it is not the account's.
		{"uploaded key document naming an account", "/uploads/x.json",
			`{"id":"{base}/uploads/x.json","owner":"{base}/users/a","publicKeyPem":` + pkix1 + `}`,
			"/uploads/x.json", ownerDoc, "", federation.ErrNotVerified},
		{"uploaded stub of an account", "/uploads/x.json",
			`{"id":"{base}/users/a","type":"Person","publicKey":{"id":"{base}/uploads/x.json","owner":"{base}/users/a","publicKeyPem":` + pkix1 + `}}`,
			"/uploads/x.json", ownerDoc, "", federation.ErrNotVerified},
		{"uploaded fragment key naming an account", "/uploads/x.json",
			`{"id":"{base}/uploads/x.json","owner":"{base}/users/a","publicKey":{"id":"{base}/uploads/x.json#k","owner":"{base}/users/a","publicKeyPem":` + pkix1 + `}}`,
			"/uploads/x.json#k", ownerDoc, "", federation.ErrWrongOrigin},
		{"key document whose owner is gone", "/users/a/main-key",
			`{"id":"{base}/users/a/main-key","type":"Key","owner":"{base}/users/a","publicKeyPem":` + pkix0 + `}`,
			"/users/a/main-key", "", "", nil},
		{"key owner on another host", "/users/a/main-key",
			`{"id":"{base}/users/a/main-key","owner":"` + other.url + `/users/a","publicKeyPem":` + pkix0 + `}`,
			"/users/a/main-key", "", "", federation.ErrWrongOrigin},
		{"actor claims someone else's key", "/users/a",
			`{"id":"{base}/users/a","publicKey":{"id":"{base}/users/a#main-key","owner":"{base}/users/b","publicKeyPem":` + pkix0 + `}}`,
			"/users/a#main-key", "", "", federation.ErrWrongOrigin},
		{"no such key in actor", "/users/a",
			`{"id":"{base}/users/a","publicKey":{"id":"{base}/users/a#other","owner":"{base}/users/a","publicKeyPem":` + pkix0 + `}}`,
			"/users/a#main-key", "", "", federation.ErrNotFound},
		{"no key at all", "/users/a", `{"id":"{base}/users/a","type":"Person"}`, "/users/a#main-key", "", "", federation.ErrNotFound},
		{"document id on another host", "/users/a",
			`{"id":"` + other.url + `/users/a","publicKey":{"id":"{base}/users/a#main-key","owner":"{base}/users/a","publicKeyPem":` + pkix0 + `}}`,
			"/users/a#main-key", "", "", federation.ErrWrongOrigin},
		{"bad PEM", "/users/a",
			`{"id":"{base}/users/a","publicKey":{"id":"{base}/users/a#main-key","owner":"{base}/users/a","publicKeyPem":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}}`,
			"/users/a#main-key", "", "", nil},
		{"not found", "/nothing-here", `{}`, "/users/a#main-key", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := map[string]string{tt.path: tt.doc}
			if tt.owner != "" && tt.path != "/users/a" {
				docs["/users/a"] = tt.owner
			}
			srv := newKeyServer(t, docs)
			cache := federation.NewKeyCache(loopbackFetcher(), nil, federation.KeyCacheConfig{})
			key, err := cache.PublicKey(context.Background(), srv.url+tt.keyID, false)
			if tt.wantOwner == "" {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if key.Owner != srv.url+tt.wantOwner || key.ID != srv.url+tt.keyID || !k0.PublicKey.Equal(key.Key) {
				t.Errorf("key = %+v", key)
			}
		})
	}
}

func TestKeyCacheCaching(t *testing.T) {
	k0, k1 := testKeys()[0], testKeys()[1]
	actor := func(k *rsa.PrivateKey) string {
		return `{"id":"{base}/users/a","publicKey":{"id":"{base}/users/a#main-key","owner":"{base}/users/a","publicKeyPem":` + jsonString(pkixPEM(t, k)) + `}}`
	}
	srv := newKeyServer(t, map[string]string{"/users/a": actor(k0)})
	keyID := srv.url + "/users/a#main-key"
	ctx := context.Background()

	var mu sync.Mutex
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	store := federation.NewMemoryKeyStore()
	cache := federation.NewKeyCache(loopbackFetcher(), store, federation.KeyCacheConfig{Now: clock})
	lookup := func(c *federation.KeyCache, refresh bool, wantKey *rsa.PrivateKey, wantHits int) {
		t.Helper()
		key, err := c.PublicKey(ctx, keyID, refresh)
		if err != nil {
			t.Fatal(err)
		}
		if !wantKey.PublicKey.Equal(key.Key) {
			t.Error("unexpected key")
		}
		if got := srv.Hits("/users/a"); got != wantHits {
			t.Errorf("%d fetches, want %d", got, wantHits)
		}
	}

	lookup(cache, false, k0, 1)
	lookup(cache, false, k0, 1) // memory
	cache2 := federation.NewKeyCache(loopbackFetcher(), store, federation.KeyCacheConfig{Now: clock})
	lookup(cache2, false, k0, 1) // store, as after a restart

	srv.set("/users/a", actor(k1)) // the actor rotates its key
	lookup(cache, true, k0, 1)     // refreshed less than a minute ago: not again
	advance(2 * time.Minute)
	lookup(cache, true, k1, 2)
	lookup(cache, false, k1, 2)
	if sk, _ := store.Key(ctx, keyID); sk.PEM != pkixPEM(t, k1) {
		t.Error("store still has the old key")
	}

	advance(25 * time.Hour) // past the TTL: fetched again
	lookup(cache, false, k1, 3)
	advance(25 * time.Hour)
	srv.set("/users/a", `{"id":"{base}/users/a"}`) // origin broken: the stale key is kept
	lookup(cache, false, k1, 4)
	if _, err := cache.PublicKey(ctx, keyID, true); err == nil {
		t.Error("refresh with a broken origin succeeded")
	}
}

func TestKeyCacheEviction(t *testing.T) {
	doc := func(name string) string {
		return `{"id":"{base}/users/` + name + `","publicKey":{"id":"{base}/users/` + name + `#main-key","publicKeyPem":` + jsonString(pkixPEM(t, testKeys()[0])) + `}}`
	}
	srv := newKeyServer(t, map[string]string{"/users/a": doc("a"), "/users/b": doc("b")})
	cache := federation.NewKeyCache(loopbackFetcher(), nil, federation.KeyCacheConfig{Size: 1})
	for _, name := range []string{"a", "b", "a"} {
		if _, err := cache.PublicKey(context.Background(), srv.url+"/users/"+name+"#main-key", false); err != nil {
			t.Fatal(err)
		}
	}
	if srv.Hits("/users/a") != 2 || srv.Hits("/users/b") != 1 {
		t.Errorf("hits a=%d b=%d; want 2, 1", srv.Hits("/users/a"), srv.Hits("/users/b"))
	}
}

func TestKeyCacheSingleFlight(t *testing.T) {
	const callers = 10
	pemJSON := jsonString(pkixPEM(t, testKeys()[0]))
	var fetches atomic.Int32
	release := make(chan struct{})
	url := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		<-release
		base := "http://" + r.Host
		w.Header().Set("Content-Type", "application/activity+json")
		fmt.Fprintf(w, `{"id":"%s/users/a","publicKey":{"id":"%s/users/a#main-key","publicKeyPem":%s}}`, base, base, pemJSON)
	}))

	// Every caller reads the clock once, before it looks for the key; the
	// server answers only when all have, so all of them miss the cache.
	// A caller that joins late finds the fetched key in memory, so one
	// fetch is also what a slow machine must see.
	var clockReads atomic.Int32
	allIn := make(chan struct{})
	clock := func() time.Time {
		if clockReads.Add(1) == callers {
			close(allIn)
		}
		return time.Now()
	}
	cache := federation.NewKeyCache(loopbackFetcher(), nil, federation.KeyCacheConfig{Now: clock})
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, err := cache.PublicKey(context.Background(), url+"/users/a#main-key", false)
			errs <- err
		})
	}
	<-allIn
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches for %d concurrent callers, want 1", n, callers)
	}
}

func TestPrivateKeyRoundTrip(t *testing.T) {
	k := testKeys()[0]
	pkcs8, err := federation.EncodePrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	for _, text := range []string{pkcs8, pkcs1} {
		got, err := federation.DecodePrivateKey(text)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(k) {
			t.Error("decoded key differs")
		}
	}
	if _, err := federation.DecodePrivateKey("not a key"); err == nil {
		t.Error("decoded garbage")
	}
	pub, err := federation.ParsePublicKeyPEM(pkixPEM(t, k))
	if err != nil || !k.PublicKey.Equal(pub) {
		t.Errorf("ParsePublicKeyPEM: %v", err)
	}
	if k.N.BitLen() != 2048 {
		t.Errorf("GenerateKey: %d bits", k.N.BitLen())
	}
}
