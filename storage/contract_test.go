package storage_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/agorafed/agora/storage"
	"github.com/agorafed/agora/storage/postgres"
	"github.com/agorafed/agora/storage/postgres/pgtest"
	"github.com/agorafed/agora/storage/sqlite"
)

// The storage contract: one suite of behaviour tests, run on every
// backend, each test on a fresh, empty database. A backend is a
// storage.Store; what a test asks of it is what community, federation,
// web and the CLI rely on, whichever database keeps the data.
// Tests of one backend's internals (SQLite's query plans, group commits
// and WAL sync) stay in its package.

// TestMain starts one throwaway PostgreSQL cluster for the package
// (pgtest: skipped without the binaries, failed under CI=true).
func TestMain(m *testing.M) { pgtest.Main(m) }

// backends opens a fresh store of each kind.
var backends = []struct {
	name string
	open func(t *testing.T) storage.Store
}{
	{"sqlite", func(t *testing.T) storage.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "agora.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}},
	{"postgres", func(t *testing.T) storage.Store {
		db, err := postgres.Open(context.Background(), migratedPostgres(t), postgres.Options{Node: "test"})
		if err != nil {
			t.Fatal(err)
		}
		// Listening, as agora serve does: its reads of communities and
		// domain blocks go through the cache (storage/postgres/cache.go).
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); db.Listen(ctx, func(string) {}) }()
		t.Cleanup(func() { stop(); <-done; db.Close() })
		for deadline := time.Now().Add(10 * time.Second); !db.Listening(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the store never listened")
			}
		}
		return db
	}},
}

// contract lists the behaviour tests; each takes a fresh store.
var contract = []struct {
	name string
	test func(t *testing.T, db storage.Store)
}{
	{"CommunitiesAndMembers", testCommunitiesAndMembers},
	{"LocalKeyFirstWins", testLocalKeyFirstWins},
	{"InboxDedup", testInboxDedup},
	{"InboxRetry", testInboxRetry},
	{"InboxConcurrentRecords", testInboxGroupCommit},
	{"InboxReceivedLaterAndPrune", testInboxReceivedLaterAndPrune},
	{"InboxMarkKeeps", testInboxMarkKeeps},
	{"PruneInboxChunks", testPruneInboxChunks},
	{"QueueClaimLeaseRetry", testQueueClaimLeaseRetry},
	{"ClaimFailingHostOneAtATime", testClaimFailingHostOneAtATime},
	{"DeliveryDoneConcurrent", testDeliveryDoneGroupCommit},
	{"EnqueueRecordsAnnounces", testEnqueueRecordsAnnounces},
	{"Busy", testBusy},
	{"HostsSoftware", testHostsSoftware},
	{"HostSoftware", testHostSoftware},
	{"AddPostAndRoundTrip", testAddPostAndRoundTrip},
	{"UpdatePost", testUpdatePost},
	{"PostsPagingAndCounts", testPostsPagingAndCounts},
	{"CountAnnouncedSince", testCountAnnouncedSince},
	{"PostsByAuthorSkipsDeleted", testPostsByAuthorSkipsDeleted},
	{"PostsByURL", testPostsByURL},
	{"SetReaction", testSetReaction},
	{"AnnouncesAndOutbox", testAnnouncesAndOutbox},
	{"AuthorFactsEqualsOneByOne", testAuthorFactsEqualsOneByOne},
	{"ModeratorsStore", testModeratorsStore},
	{"DomainBlocksStore", testDomainBlocksStore},
	{"ReportsLogPinsRefusals", testReportsLogPinsRefusals},
	{"SignatureSchemes", testSignatureSchemes},
	{"AdminsSessionsAndSetupTokens", testAdminsSessionsAndSetupTokens},
	{"MediaSettingsAndPageCounts", testMediaSettingsAndPageCounts},
	{"KeysAndActors", testKeysAndActors},
	{"PendingBytes", testPendingBytes},
	{"RecordWithinBudget", testRecordWithinBudget},
	{"HostStatusesAndClear", testHostStatusesAndClear},
	{"AnnounceForms", testAnnounceForms},
	{"MembershipsAndGone", testMembershipsAndGone},
	{"AdminAccounts", testAdminAccounts},
	{"ModLogPublicAndSchema", testModLogPublicAndSchema},
}

// TestContract runs every contract test on every backend.
func TestContract(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range contract {
				t.Run(c.name, func(t *testing.T) { c.test(t, b.open(t)) })
			}
		})
	}
}

// migratedPostgres is a new database of the test cluster with Agora's
// schema, copied from one migrated once.
func migratedPostgres(t *testing.T) string {
	return pgtest.Prepared(t, "agora_migrated", func(ctx context.Context, url string) error {
		db, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			return err
		}
		return db.Close()
	})
}
