package federation

import (
	"container/list"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/agorafed/agora/community"
)

// ErrNotFound is returned by stores for a record they do not have: the
// domain's not-found, so storage has one error for every missing row.
var ErrNotFound = community.ErrNotFound

// StoredKey is a remote public key as a KeyStore keeps it.
type StoredKey struct {
	ID        string    // the keyId, fragment included ("{actor}#main-key")
	Owner     string    // the actor IRI the key belongs to
	PEM       string    // "PUBLIC KEY" (PKIX) PEM, as EncodePublicKey writes it
	FetchedAt time.Time // when the key was last fetched from its origin
}

// KeyStore keeps remote public keys across restarts, so that a restart
// does not refetch the key of every peer. KeyCache is its only user.
//
// Implementations must be safe for concurrent use. Key returns ErrNotFound
// (possibly wrapped) when it has no key with that exact id. PutKey inserts
// or replaces the key with k.ID; a replaced key is gone (keys rotate, and
// only the current one matters). The keyId is compared byte for byte.
type KeyStore interface {
	Key(ctx context.Context, keyID string) (StoredKey, error)
	PutKey(ctx context.Context, k StoredKey) error
}

// MemoryKeyStore is a KeyStore in memory, for tests.
type MemoryKeyStore struct {
	mu   sync.Mutex
	keys map[string]StoredKey
}

// NewMemoryKeyStore returns an empty MemoryKeyStore.
func NewMemoryKeyStore() *MemoryKeyStore {
	return &MemoryKeyStore{keys: make(map[string]StoredKey)}
}

// Key implements KeyStore.
func (s *MemoryKeyStore) Key(_ context.Context, keyID string) (StoredKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[keyID]
	if !ok {
		return StoredKey{}, fmt.Errorf("key %s: %w", keyID, ErrNotFound)
	}
	return k, nil
}

// PutKey implements KeyStore.
func (s *MemoryKeyStore) PutKey(_ context.Context, k StoredKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.ID] = k
	return nil
}

// KeyCacheConfig tunes a KeyCache; zero values take the defaults.
type KeyCacheConfig struct {
	// TTL is how long a key is used without refetching (default 24 h).
	// A key older than that is refetched; if the refetch fails, the old
	// key is still used rather than rejecting a known peer.
	TTL time.Duration
	// MinRefresh is the shortest interval between two refreshes of one
	// key (default 1 min), so that a stream of badly signed requests
	// cannot make us hammer the key's origin.
	MinRefresh time.Duration
	// Size is the number of keys kept in memory (default 10,000).
	Size int
	// FetchTimeout bounds one key fetch, the key's document and its
	// owner's together (default 5 s): the request that needs it waits
	// meanwhile, and forged keyIds that hang must not hold it for long.
	FetchTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// defaultKeyFetchTimeout: a key and its actor are two small documents.
const defaultKeyFetchTimeout = 5 * time.Second

// KeyCache resolves keyIds to public keys: from memory, then from the
// store, then from the key's origin. It implements KeyResolver and is safe
// for concurrent use. Concurrent requests for a key that must be fetched
// share one fetch.
type KeyCache struct {
	fetcher *Fetcher
	store   KeyStore
	cfg     KeyCacheConfig

	mu       sync.Mutex
	lru      *list.List               // of *cachedKey, most recent first
	byID     map[string]*list.Element // keyId -> element of lru
	inflight map[string]*keyFetch
}

type cachedKey struct {
	key       PublicKey
	fetchedAt time.Time
}

// keyFetch is a fetch in progress that later callers wait for.
type keyFetch struct {
	done chan struct{}
	key  PublicKey
	err  error
}

// NewKeyCache returns a KeyCache fetching keys with fetcher (which should
// sign as the instance actor: servers in authorized-fetch mode answer key
// fetches only to signed requests) and keeping them in store (nil: memory
// only).
func NewKeyCache(fetcher *Fetcher, store KeyStore, cfg KeyCacheConfig) *KeyCache {
	if cfg.TTL <= 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = time.Minute
	}
	if cfg.Size <= 0 {
		cfg.Size = 10000
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = defaultKeyFetchTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &KeyCache{
		fetcher:  fetcher,
		store:    store,
		cfg:      cfg,
		lru:      list.New(),
		byID:     make(map[string]*list.Element),
		inflight: make(map[string]*keyFetch),
	}
}

// PublicKey implements KeyResolver. Without refresh, a key fetched less
// than TTL ago is answered from memory or the store. With refresh, the key
// is fetched again, unless it was fetched less than MinRefresh ago.
func (c *KeyCache) PublicKey(ctx context.Context, keyID string, refresh bool) (PublicKey, error) {
	now := c.cfg.Now()
	cached, ok := c.cached(keyID)
	if !ok && c.store != nil {
		cached, ok = c.stored(ctx, keyID)
	}
	if ok && c.usable(cached, now, refresh) {
		return cached.key, nil
	}
	key, err := c.fetchShared(ctx, keyID, now, refresh)
	if err != nil && ok && !refresh {
		return cached.key, nil // stale but known beats rejecting a peer whose server hiccups
	}
	return key, err
}

// usable tells whether k may be answered without fetching.
func (c *KeyCache) usable(k cachedKey, now time.Time, refresh bool) bool {
	age := now.Sub(k.fetchedAt)
	if refresh {
		return age < c.cfg.MinRefresh
	}
	return age < c.cfg.TTL
}

func (c *KeyCache) cached(keyID string) (cachedKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[keyID]
	if !ok {
		return cachedKey{}, false
	}
	c.lru.MoveToFront(e)
	return *e.Value.(*cachedKey), true
}

func (c *KeyCache) remember(k cachedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[k.key.ID]; ok {
		*e.Value.(*cachedKey) = k
		c.lru.MoveToFront(e)
		return
	}
	c.byID[k.key.ID] = c.lru.PushFront(&k)
	for c.lru.Len() > c.cfg.Size {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.byID, oldest.Value.(*cachedKey).key.ID)
	}
}

// stored reads the key from the store; any failure counts as a miss, and
// the key is fetched instead.
func (c *KeyCache) stored(ctx context.Context, keyID string) (cachedKey, bool) {
	sk, err := c.store.Key(ctx, keyID)
	if err != nil {
		return cachedKey{}, false
	}
	pub, err := ParsePublicKeyPEM(sk.PEM)
	if err != nil {
		return cachedKey{}, false
	}
	k := cachedKey{key: PublicKey{ID: sk.ID, Owner: sk.Owner, Key: pub}, fetchedAt: sk.FetchedAt}
	c.remember(k)
	return k, true
}

// fetchShared fetches keyID, or waits for the fetch already in progress.
// It looks at memory again under the lock: a fetch that ended since the
// caller's first look has left its key there, not in inflight.
// The fetch runs detached from the caller's context, which may be
// cancelled while others still wait, and is bounded by FetchTimeout.
func (c *KeyCache) fetchShared(ctx context.Context, keyID string, now time.Time, refresh bool) (PublicKey, error) {
	c.mu.Lock()
	if e, ok := c.byID[keyID]; ok && c.usable(*e.Value.(*cachedKey), now, refresh) {
		c.mu.Unlock()
		return e.Value.(*cachedKey).key, nil
	}
	f, ok := c.inflight[keyID]
	if !ok {
		f = &keyFetch{done: make(chan struct{})}
		c.inflight[keyID] = f
		go func() {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.FetchTimeout)
			defer cancel()
			f.key, f.err = c.fetch(fctx, keyID) // remembers the key before leaving inflight
			c.mu.Lock()
			delete(c.inflight, keyID)
			c.mu.Unlock()
			close(f.done)
		}()
	}
	c.mu.Unlock()
	if err := waitReleasing(ctx, f.done); err != nil {
		return PublicKey{}, fmt.Errorf("key %s: %w", keyID, err)
	}
	return f.key, f.err
}

// fetch gets the key from its origin and records it.
func (c *KeyCache) fetch(ctx context.Context, keyID string) (PublicKey, error) {
	owner, pemText, err := c.resolveKey(ctx, keyID)
	if err != nil {
		return PublicKey{}, fmt.Errorf("key %s: %w", keyID, err)
	}
	pub, err := ParsePublicKeyPEM(pemText)
	if err != nil {
		return PublicKey{}, fmt.Errorf("key %s: %w", keyID, err)
	}
	fetchedAt := c.cfg.Now()
	if c.store != nil {
		// Stored as sent would keep PKCS1 keys PKCS1; normalise to PKIX.
		normal, err := EncodePublicKey(pub)
		if err != nil {
			return PublicKey{}, fmt.Errorf("key %s: %w", keyID, err)
		}
		sk := StoredKey{ID: keyID, Owner: owner, PEM: normal, FetchedAt: fetchedAt}
		if err := c.store.PutKey(ctx, sk); err != nil {
			return PublicKey{}, fmt.Errorf("key %s: store: %w", keyID, err)
		}
	}
	key := PublicKey{ID: keyID, Owner: owner, Key: pub}
	c.remember(cachedKey{key: key, fetchedAt: fetchedAt})
	return key, nil
}

// resolveKey finds who owns keyID and its PEM. A key belongs to an actor
// only when the actor's own document lists it: the document fetched from
// the actor's id, whose publicKey has the keyId. When the keyId's document
// is that actor (Mastodon: "{actor}#main-key"), one fetch settles it.
// Otherwise (GoToSocial's "{actor}/main-key" answers a key document naming
// its owner, or a stub of the actor; anything else on the host can claim
// the same) the claimed owner is fetched and must list the key, as
// Mastodon does (app/services/activitypub/fetch_remote_key_service.rb:
// find_actor and confirmed_owner?). A document on the same host is not
// enough: a user's upload served there could name any account as owner.
func (c *KeyCache) resolveKey(ctx context.Context, keyID string) (owner, pemText string, err error) {
	docURL, _, _ := strings.Cut(keyID, "#")
	body, err := c.fetcher.Get(ctx, docURL)
	if err != nil {
		return "", "", err
	}
	claim, err := findKey(body, keyID)
	if err != nil {
		return "", "", err
	}
	if claim.listedBy == docURL {
		return claim.owner, claim.pem, nil
	}
	body, err = c.fetcher.Get(ctx, claim.owner)
	if err != nil {
		return "", "", fmt.Errorf("owner %s: %w", claim.owner, err)
	}
	listed, err := findKey(body, keyID)
	if errors.Is(err, ErrNotFound) {
		return "", "", fmt.Errorf("%w: owner %s does not list the key: %w", ErrNotVerified, claim.owner, err)
	}
	if err != nil {
		return "", "", fmt.Errorf("owner %s: %w", claim.owner, err)
	}
	if listed.listedBy != claim.owner {
		return "", "", fmt.Errorf("%w: owner %s does not list key %s", ErrNotVerified, claim.owner, keyID)
	}
	return listed.owner, listed.pem, nil
}

// keyDocument is what a key fetch may return: an actor with publicKey
// (Mastodon: "{actor}#main-key" fetches the actor), or the key itself
// (GoToSocial: "{actor}/main-key").
type keyDocument struct {
	ID           string          `json:"id"`
	Owner        string          `json:"owner"`
	PublicKeyPem string          `json:"publicKeyPem"`
	PublicKey    json.RawMessage `json:"publicKey"`
}

type keyObject struct {
	ID           string `json:"id"`
	Owner        string `json:"owner"`
	PublicKeyPem string `json:"publicKeyPem"`
}

// keyClaim is what one document says of a key: its owner and PEM, and
// listedBy, the id of the actor document that lists it among its keys
// ("" for a key document, which only names an owner).
type keyClaim struct {
	owner, pem, listedBy string
}

// findKey reads what a fetched document says of keyID. The Fetcher has
// checked that the document's id is on the host that answered; here the
// document, the key and its owner must all be on the keyId's host, so
// that no host can publish a key for another's actors (even through an
// open redirect). Whether the owner really lists the key is resolveKey's.
func findKey(body []byte, keyID string) (keyClaim, error) {
	var doc keyDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return keyClaim{}, fmt.Errorf("decode key document: %w", err)
	}
	if !SameHost(doc.ID, keyID) {
		return keyClaim{}, fmt.Errorf("%w: document %s", ErrWrongOrigin, doc.ID)
	}
	var k keyObject
	listedBy := ""
	switch {
	case doc.ID == keyID && doc.PublicKeyPem != "":
		k = keyObject{ID: doc.ID, Owner: doc.Owner, PublicKeyPem: doc.PublicKeyPem}
	case len(doc.PublicKey) > 0:
		var keys []keyObject
		var err error
		if strings.HasPrefix(strings.TrimSpace(string(doc.PublicKey)), "[") {
			err = json.Unmarshal(doc.PublicKey, &keys)
		} else {
			keys = make([]keyObject, 1)
			err = json.Unmarshal(doc.PublicKey, &keys[0])
		}
		if err != nil {
			return keyClaim{}, fmt.Errorf("decode publicKey: %w", err)
		}
		for _, kk := range keys {
			if kk.ID == keyID {
				k = kk
				break
			}
		}
		if k.ID == "" {
			return keyClaim{}, fmt.Errorf("document %s: no publicKey with id %s: %w", doc.ID, keyID, ErrNotFound)
		}
		// An actor speaks only for its own keys.
		if k.Owner == "" {
			k.Owner = doc.ID
		}
		if k.Owner != doc.ID {
			return keyClaim{}, fmt.Errorf("%w: key owner %s in actor %s", ErrWrongOrigin, k.Owner, doc.ID)
		}
		listedBy = doc.ID
	default:
		return keyClaim{}, fmt.Errorf("document %s: no key %s: %w", doc.ID, keyID, ErrNotFound)
	}
	if k.Owner == "" || k.PublicKeyPem == "" {
		return keyClaim{}, fmt.Errorf("key %s: owner or publicKeyPem missing", keyID)
	}
	if !SameHost(k.Owner, keyID) {
		return keyClaim{}, fmt.Errorf("%w: owner %s of key %s", ErrWrongOrigin, k.Owner, keyID)
	}
	return keyClaim{owner: k.Owner, pem: k.PublicKeyPem, listedBy: listedBy}, nil
}

// ParsePublicKeyPEM parses a "PUBLIC KEY" (PKIX) or "RSA PUBLIC KEY"
// (PKCS #1) PEM block. Some servers label one as the other, so both
// decodings are tried. Only RSA and Ed25519 keys are accepted.
func ParsePublicKeyPEM(text string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("parse public key: no PEM block")
	}
	var pub crypto.PublicKey
	var err error
	if block.Type == "RSA PUBLIC KEY" {
		if pub, err = x509.ParsePKCS1PublicKey(block.Bytes); err != nil {
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		}
	} else {
		if pub, err = x509.ParsePKIXPublicKey(block.Bytes); err != nil {
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("parse public key (%s): %w", block.Type, err)
	}
	switch pub.(type) {
	case *rsa.PublicKey, ed25519.PublicKey:
		return pub, nil
	}
	return nil, fmt.Errorf("parse public key: unsupported type %T", pub)
}

// GenerateKey generates an actor key: RSA-2048, what every peer expects.
func GenerateKey() (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// EncodePrivateKey encodes k as a PKCS #8 "PRIVATE KEY" PEM block.
func EncodePrivateKey(k *rsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", fmt.Errorf("encode private key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// DecodePrivateKey decodes an RSA private key from a PKCS #8 "PRIVATE KEY"
// or PKCS #1 "RSA PRIVATE KEY" PEM block.
func DecodePrivateKey(text string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("decode private key: no PEM block")
	}
	if block.Type == "RSA PRIVATE KEY" {
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("decode private key: %w", err)
		}
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("decode private key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("decode private key: %T is not RSA", k)
	}
	return rk, nil
}

// EncodePublicKey encodes pub as a PKIX "PUBLIC KEY" PEM block, the form
// of publicKeyPem in actor documents.
func EncodePublicKey(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}
