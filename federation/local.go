package federation

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/agorafed/agora/community"
)

// InstanceKeyOwner is the local key owner of the instance actor.
const InstanceKeyOwner = "actor"

// ModerationKeyOwner is the local key owner of the moderation Person, the
// actor of the moderation activities communities send (publish_mod.go).
const ModerationKeyOwner = "moderation"

// CommunityKeyOwner is the local key owner of a community. It does not hold
// the base URL, so the key survives a change of it.
func CommunityKeyOwner(name string) string { return "c/" + name }

// Local knows Agora's own actors: their IRIs and their keys.
type Local struct {
	base  *url.URL
	store LocalKeyStore
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]*rsa.PrivateKey // parsed keys: parsing a PEM costs more than a lookup
}

// NewLocal returns Local for the public base URL (scheme and host, no path).
func NewLocal(base *url.URL, store LocalKeyStore, now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{base: base, store: store, now: now, keys: map[string]*rsa.PrivateKey{}}
}

// Base returns the base URL without a trailing slash.
func (l *Local) Base() string { return strings.TrimSuffix(l.base.String(), "/") }

// Host returns the host of the base URL, with its port if it has one: the
// host part of every handle (@name@host).
func (l *Local) Host() string { return l.base.Host }

// InstanceIRI is the IRI of the instance's Application actor.
func (l *Local) InstanceIRI() string { return l.Base() + "/actor" }

// ModerationIRI is the IRI of the instance's moderation Person, which acts
// for every community's moderators towards Lemmy and its kin.
func (l *Local) ModerationIRI() string { return l.Base() + "/moderation" }

// SharedInbox is the IRI of the shared inbox.
func (l *Local) SharedInbox() string { return l.Base() + "/inbox" }

// CommunityIRI is the IRI of a community's Group actor.
func (l *Local) CommunityIRI(name string) string { return l.Base() + "/c/" + name }

// KeyID is the keyId of an actor's key: {actor}#main-key.
func KeyID(actorIRI string) string { return actorIRI + "#main-key" }

// ActorIRIOf returns the actor IRI that signs for a local key owner.
func (l *Local) ActorIRIOf(owner string) (string, error) {
	switch owner {
	case InstanceKeyOwner:
		return l.InstanceIRI(), nil
	case ModerationKeyOwner:
		return l.ModerationIRI(), nil
	}
	if name, ok := strings.CutPrefix(owner, "c/"); ok {
		return l.CommunityIRI(name), nil
	}
	return "", fmt.Errorf("unknown key owner %q", owner)
}

// CommunityName returns the name of the local community whose actor IRI is
// iri, or "" if iri is not one.
func (l *Local) CommunityName(iri string) string {
	rest, ok := strings.CutPrefix(iri, l.Base()+"/c/")
	if !ok || community.ValidateName(rest) != nil {
		return ""
	}
	return rest
}

// IsLocal tells whether iri is on this instance.
func (l *Local) IsLocal(iri string) bool {
	return strings.HasPrefix(iri, l.Base()+"/")
}

// PrivateKey returns an owner's key, making and storing it the first time.
func (l *Local) PrivateKey(ctx context.Context, owner string) (*rsa.PrivateKey, error) {
	l.mu.Lock()
	k, ok := l.keys[owner]
	l.mu.Unlock()
	if ok {
		return k, nil
	}
	pemText, err := l.store.LocalKey(ctx, owner)
	if errors.Is(err, community.ErrNotFound) {
		pemText, err = l.makeKey(ctx, owner)
	}
	if err != nil {
		return nil, fmt.Errorf("key of %s: %w", owner, err)
	}
	k, err = DecodePrivateKey(pemText)
	if err != nil {
		return nil, fmt.Errorf("key of %s: %w", owner, err)
	}
	l.mu.Lock()
	l.keys[owner] = k
	l.mu.Unlock()
	return k, nil
}

func (l *Local) makeKey(ctx context.Context, owner string) (string, error) {
	k, err := GenerateKey()
	if err != nil {
		return "", err
	}
	priv, err := EncodePrivateKey(k)
	if err != nil {
		return "", err
	}
	pub, err := EncodePublicKey(&k.PublicKey)
	if err != nil {
		return "", err
	}
	// Another process (the CLI beside serve) may have won the race: the
	// store keeps the first key and returns it.
	return l.store.AddLocalKey(ctx, owner, priv, pub, l.now().UTC())
}

// SigningKey returns the key that signs requests as owner.
func (l *Local) SigningKey(ctx context.Context, owner string) (SigningKey, error) {
	k, err := l.PrivateKey(ctx, owner)
	if err != nil {
		return SigningKey{}, err
	}
	actor, err := l.ActorIRIOf(owner)
	if err != nil {
		return SigningKey{}, err
	}
	return SigningKey{KeyID: KeyID(actor), Private: k}, nil
}

// PublicKeyPEM returns an owner's public key as PEM.
func (l *Local) PublicKeyPEM(ctx context.Context, owner string) (string, error) {
	k, err := l.PrivateKey(ctx, owner)
	if err != nil {
		return "", err
	}
	return EncodePublicKey(&k.PublicKey)
}
