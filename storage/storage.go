// Package storage names what Agora keeps, whichever database keeps it.
// Store is every method that storage/sqlite (the default, embedded) and
// storage/postgres (several nodes on one database) implement; the
// contract suite in this package's tests runs the same behaviour tests
// on both.
package storage

import (
	"context"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
)

// Store is a database of Agora: every store interface that community,
// federation and web declare, and what the CLI, the console and the
// tests read beside them. A missing row is community.ErrNotFound.
type Store interface {
	community.Store
	community.PostStore
	community.PostURLFinder
	community.ModerationStore
	community.BlockLister

	federation.LocalKeyStore
	federation.KeyStore
	federation.ActorStore
	federation.InboxStore
	federation.Queue
	federation.HostStore
	federation.SoftwareStore
	federation.HostsSoftwareStore
	federation.AnnounceStore
	federation.AnnounceFormStore
	federation.AnnounceRedeliverer
	federation.SchemeStore
	federation.GoneInboxes
	federation.InboxLister
	federation.MemberLister
	federation.Membership

	// What web's AdminStore, PageStore, DeliveryStatus and OutActivities
	// ask (spelled out: storage sits below web, and does not import it).
	CountAdmins(ctx context.Context) (int, error)
	AdminByName(ctx context.Context, name string) (id int64, passwordHash string, err error)
	CreateFirstAdmin(ctx context.Context, tokenHash, name, passwordHash string, now time.Time) (int64, error)
	AddSetupToken(ctx context.Context, tokenHash string, at, expires time.Time) error
	SetupTokenValid(ctx context.Context, tokenHash string, now time.Time) (bool, error)
	AddSession(ctx context.Context, tokenHash string, adminID int64, at, expires time.Time) error
	SessionAdmin(ctx context.Context, tokenHash string, now time.Time) (id int64, name string, err error)
	DeleteSession(ctx context.Context, tokenHash string) error
	ChangePassword(ctx context.Context, adminID int64, passwordHash, keepTokenHash string) error
	PutMedia(ctx context.Context, id, contentType string, body []byte, at time.Time) error
	Media(ctx context.Context, id string) (contentType string, body []byte, err error)
	Settings(ctx context.Context) (map[string]string, error)
	SetSetting(ctx context.Context, key, value string) error
	MemberCounts(ctx context.Context) (map[int64]int, error)
	AnnouncedCountsSince(ctx context.Context, since time.Time) (map[int64]int, error)
	ThreadPosts(ctx context.Context, communityID int64, root string, limit int) ([]community.Post, error)
	ReplyCounts(ctx context.Context, communityID int64, objectIDs []string) (map[string]int, error)
	HostStatuses(ctx context.Context, all bool) ([]federation.HostStatus, error)

	CommunityByID(ctx context.Context, id int64) (community.Community, error)
	// LocalKeyCreated is when the key of one of Agora's own actors was
	// made (the instance's actors are dated by the instance key).
	LocalKeyCreated(ctx context.Context, owner string) (time.Time, error)
	// InboxCount counts recorded incoming activities, processed or not;
	// UnprocessedCount those not processed yet.
	InboxCount(ctx context.Context) (int, error)
	UnprocessedCount(ctx context.Context) (int, error)
	// PendingBytes is the size of the bodies of an actor's activities
	// recorded and not processed yet: what RecordInbox holds to the
	// actor's budget (federation.InboxItem.Budget).
	PendingBytes(ctx context.Context, actor string) (int64, error)
	// Busy tells what work is in hand at now: inbox activities due and not
	// processed, and by host the deliveries claimed or due to a host that
	// is not unavailable. Tests wait for nothing in hand before they
	// assert that something did not happen.
	Busy(ctx context.Context, now time.Time) (inbox int, deliveries map[string]int, err error)
	FailingHosts(ctx context.Context) (map[string]time.Time, error)
	QueueByHost(ctx context.Context) (map[string]int, error)
	HostAnnounceForm(ctx context.Context, host string) (string, time.Time, error)
	// SignatureSchemes returns the schemes a host signed with, and when
	// each was last used.
	SignatureSchemes(ctx context.Context, host string) (map[string]time.Time, error)

	// Admin accounts, as `agora admin` manages them.
	CreateAdmin(ctx context.Context, name, passwordHash string, at time.Time) (int64, error)
	Admins(ctx context.Context, now time.Time) ([]AdminAccount, error)
	DeleteAdmin(ctx context.Context, name string) error

	// SchemaVersion is the number of the last migration applied.
	SchemaVersion(ctx context.Context) (int, error)
	Close() error
}

// AdminAccount is an admin account as `agora admin list` shows it.
type AdminAccount struct {
	Name      string
	CreatedAt time.Time
	Sessions  int       // browsers logged in now
	LastLogin time.Time // the newest live session's start; zero if none
}
