package web

import (
	"context"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
)

// The interfaces below are what the pages and the admin console need from
// storage; storage/sqlite implements them. A missing row is
// community.ErrNotFound.

// AdminStore keeps admin accounts, their sessions, the one-time setup
// links, uploaded images and instance settings. Tokens are stored as hashes.
type AdminStore interface {
	CountAdmins(ctx context.Context) (int, error)
	AdminByName(ctx context.Context, name string) (id int64, passwordHash string, err error)
	// CreateFirstAdmin uses a setup token up and creates an account: ErrNotFound
	// when the token is unknown, used or expired.
	CreateFirstAdmin(ctx context.Context, tokenHash, name, passwordHash string, now time.Time) (int64, error)
	AddSetupToken(ctx context.Context, tokenHash string, at, expires time.Time) error
	SetupTokenValid(ctx context.Context, tokenHash string, now time.Time) (bool, error)

	AddSession(ctx context.Context, tokenHash string, adminID int64, at, expires time.Time) error
	SessionAdmin(ctx context.Context, tokenHash string, now time.Time) (id int64, name string, err error)
	DeleteSession(ctx context.Context, tokenHash string) error
	// ChangePassword replaces an admin's password hash and ends every
	// session of theirs except keepTokenHash (the one that asked).
	ChangePassword(ctx context.Context, adminID int64, passwordHash, keepTokenHash string) error

	PutMedia(ctx context.Context, id, contentType string, body []byte, at time.Time) error
	Media(ctx context.Context, id string) (contentType string, body []byte, err error)

	Settings(ctx context.Context) (map[string]string, error)
	SetSetting(ctx context.Context, key, value string) error
}

// PageStore is the read model of the public pages.
type PageStore interface {
	MemberCounts(ctx context.Context) (map[int64]int, error)
	AnnouncedCountsSince(ctx context.Context, since time.Time) (map[int64]int, error)
	ThreadPosts(ctx context.Context, communityID int64, root string, limit int) ([]community.Post, error)
	ReplyCounts(ctx context.Context, communityID int64, objectIDs []string) (map[string]int, error)
	CountPosts(ctx context.Context, communityID int64, announcedOnly bool) (int, error)
}

// ActorReader reads the cached documents of remote actors (post authors).
type ActorReader interface {
	RemoteActor(ctx context.Context, iri string) (federation.RemoteActor, error)
}

// DeliveryStatus is what the delivery status page shows and clears.
type DeliveryStatus interface {
	QueueDepth(ctx context.Context) (int, error)
	// HostStatuses lists the hosts that fail, are unavailable or have
	// queued deliveries (all: every host), unavailable ones first, with
	// each one's last error.
	HostStatuses(ctx context.Context, all bool) ([]federation.HostStatus, error)
}

// HostClearer makes a failing or unavailable host available again, as
// `agora host clear` does (federation.Deliverer.ClearHost); known is false
// for a host Agora has never heard of.
type HostClearer interface {
	ClearHost(ctx context.Context, host string) (known bool, err error)
}

// Finger looks a handle up with WebFinger (federation.Fetcher does).
type Finger interface {
	WebFinger(ctx context.Context, handle string, allowHTTP bool) (federation.JRD, error)
}

// ServerSoftware tells what software a visitor's server runs, from its
// NodeInfo (federation.Dialects does).
type ServerSoftware interface {
	Software(ctx context.Context, baseURL string) (string, error)
}

// JSONGetter reads a public JSON API of a visitor's server, such as
// Lemmy's community lookup (federation.Fetcher does).
type JSONGetter interface {
	GetJSON(ctx context.Context, url string, v any) error
}
