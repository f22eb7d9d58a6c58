package federation_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage/sqlite"
)

// TestReceiveCostBeforeVerification (issue 15, item 1): bodies signed
// with a keyId nobody serves cost little before they are refused, however
// they are built: 16 at once of 600 KB, with 100,000 recipients or within
// the bounds, allocate less than 64 MB in all and are each answered
// within a second. On a20fa47 one 100,000-recipient body alone cost
// ~290 MB: go-fed parsed it before the signature was checked.
func TestReceiveCostBeforeVerification(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "agora.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The keyId's host answers 404 to everything.
	nobody := httpServer(t, http.NotFoundHandler())
	base, _ := url.Parse("https://agora.example")
	in := federation.NewInbox(federation.InboxDeps{Local: federation.NewLocal(base, db, nil),
		Keys: federation.NewKeyCache(loopbackFetcher(), nil, federation.KeyCacheConfig{}), Store: db, ActorCache: db})
	actor := nobody + "/users/x"
	key := federation.SigningKey{KeyID: actor + "#main-key", Private: testKeys()[0]}

	recipients := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%x"`, i%4096)
		}
		return b.String()
	}
	tests := []struct {
		name    string
		body    string
		wantErr error
	}{
		{"100,000 recipients", `{"id":"` + actor + `/1","type":"Create","actor":"` + actor + `","to":[` + recipients(100000) + `],"object":{"id":"` + actor + `/n/1","type":"Note"}}`, federation.ErrMalformed},
		{"within the bounds", `{"id":"` + actor + `/2","type":"Create","actor":"` + actor + `","to":[` + recipients(400) + `],"object":{"id":"` + actor + `/n/2","type":"Note","content":"` + strings.Repeat("word ", 120000) + `"}}`, federation.ErrNotVerified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			if len(body) < 500<<10 {
				t.Fatalf("body of %d bytes, want about 600 KB", len(body))
			}
			reqs := make([]*http.Request, 16)
			for i := range reqs {
				r := newRequest(t, http.MethodPost, testInbox, body)
				if err := federation.SignRequest(r, key, body, time.Now()); err != nil {
					t.Fatal(err)
				}
				reqs[i] = onWire(t, r)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var wg sync.WaitGroup
			took := make([]time.Duration, len(reqs))
			errs := make([]error, len(reqs))
			for i, r := range reqs {
				wg.Go(func() {
					start := time.Now()
					_, errs[i] = in.Receive(ctx, r, body, nil)
					took[i] = time.Since(start)
				})
			}
			wg.Wait()
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("16 bodies of %d KB: %.1f MB allocated, slowest answered in %v", len(body)>>10, float64(alloc)/(1<<20), maxOf(took))
			if alloc > 64<<20 {
				t.Errorf("%.1f MB allocated for 16 requests, want under 64 MB", float64(alloc)/(1<<20))
			}
			for i, err := range errs {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("request %d: %v, want %v", i, err, tt.wantErr)
				}
				if took[i] > time.Second {
					t.Errorf("request %d answered in %v, want within 1 s", i, took[i])
				}
			}
		})
	}
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
