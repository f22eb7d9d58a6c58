package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage"
)

// An Announce and its withdrawal are recorded with the activity and its
// deliveries, in one transaction: all or nothing.
func testEnqueueRecordsAnnounces(t *testing.T, db storage.Store) {
	ctx := context.Background()
	cid := addCommunity(t, db, "garden")
	now := time.Now().UTC().Truncate(time.Millisecond)
	p := testPost(cid, "https://m.example/notes/1", now)
	if err := db.AddPost(ctx, &p); err != nil {
		t.Fatal(err)
	}
	enqueue := func(typ string, announces, withdraws *federation.AnnounceMark, at time.Time) (federation.OutActivity, error) {
		id, err := db.NextOutActivityID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		a := federation.OutActivity{ID: id, IRI: fmt.Sprintf("https://agora.test/c/garden/%d", id), Type: typ,
			CommunityID: cid, Signer: "c/garden", Body: []byte(`{}`), CreatedAt: at, Announces: announces, Withdraws: withdraws}
		return a, db.Enqueue(ctx, a, []string{"https://m.example/inbox"}, at)
	}
	state := func() (live, withdrawn, queued int) {
		refs, err := db.Announces(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			if r.WithdrawnAt.IsZero() {
				live++
			} else {
				withdrawn++
			}
		}
		queued, err = db.QueueDepth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return live, withdrawn, queued
	}

	steps := []struct {
		name                    string
		typ                     string
		announces, withdraws    *federation.AnnounceMark
		wantErr                 error
		live, withdrawn, queued int
	}{
		{"announce", "Announce", &federation.AnnounceMark{PostID: p.ID, Dialect: federation.Microblog}, nil, nil, 1, 0, 1},
		{"bad dialect: nothing at all", "Announce", &federation.AnnounceMark{PostID: p.ID, Dialect: federation.UnknownPeer}, nil, community.ErrInvalid, 1, 0, 1},
		{"withdraw", "Undo", nil, &federation.AnnounceMark{PostID: p.ID, Dialect: federation.Microblog}, nil, 0, 1, 2},
		{"announce again", "Announce", &federation.AnnounceMark{PostID: p.ID, Dialect: federation.Microblog}, nil, nil, 1, 1, 3},
		{"no mark", "Update", nil, nil, nil, 1, 1, 4},
	}
	for _, st := range steps {
		_, err := enqueue(st.typ, st.announces, st.withdraws, now)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.wantErr)
		}
		if live, withdrawn, queued := state(); live != st.live || withdrawn != st.withdrawn || queued != st.queued {
			t.Fatalf("%s: %d live, %d withdrawn, %d queued; want %d, %d, %d", st.name, live, withdrawn, queued, st.live, st.withdrawn, st.queued)
		}
	}
}
