package federation_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage/sqlite"
)

// TestDeliveryRefused: which refused deliveries make a host origin-strict.
// Only a refusal (400, 422, 424) of an Announce that embeds an activity of
// another origin than the community's does, and only once.
func TestDeliveryRefused(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "agora.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dialects := federation.NewDialects(db, nil, nil)
	p := federation.NewPublisher(federation.PublisherDeps{Dialects: dialects})

	const group = "https://agora.test/c/garden"
	embedded := `{"type":"Announce","actor":"` + group + `","object":{"id":"https://lemmy.test/activities/create/1","type":"Create"}}`
	tests := []struct {
		name   string
		host   string
		status int
		body   string
		want   bool
	}{
		{"424 to Announce{Create of another origin}", "nodebb.test", 424, embedded, true},
		{"the same host again", "nodebb.test", 424, embedded, false},
		{"400", "forum.test", 400, embedded, true},
		{"422", "forum2.test", 422, embedded, true},
		{"403 is a block, not the form", "blocks.test", 403, embedded, false},
		{"401 is the signature", "sig.test", 401, embedded, false},
		{"410 is the inbox", "gone.test", 410, embedded, false},
		{"an Announce by id", "iri.test", 424, `{"type":"Announce","actor":"` + group + `","object":"https://lemmy.test/post/1"}`, false},
		{"the community's own activity", "own.test", 424, `{"type":"Announce","actor":"` + group + `","object":{"id":"https://agora.test/c/garden/delete/3","type":"Delete"}}`, false},
		{"not an Announce", "accept.test", 424, `{"type":"Accept","actor":"` + group + `","object":{"id":"https://lemmy.test/follow/1","type":"Follow"}}`, false},
		{"not JSON", "junk.test", 424, `<html>`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.DeliveryRefused(ctx, federation.Delivery{Host: tt.host, Body: []byte(tt.body)}, tt.status)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("switched = %v, want %v", got, tt.want)
			}
			form, _, err := db.HostAnnounceForm(ctx, tt.host)
			if err != nil {
				t.Fatal(err)
			}
			want := federation.Threadiverse
			if form == federation.FormByID {
				want = federation.OriginStrict
			}
			if d := dialects.Of(ctx, tt.host); d != want && !(want == federation.Threadiverse && d == federation.UnknownPeer) {
				t.Errorf("dialect %q with form %q", d, form)
			}
			if tt.want && form != federation.FormByID {
				t.Errorf("form %q, want %q", form, federation.FormByID)
			}
		})
	}
	// A host whose software is known keeps it: the form is stored beside it.
	if err := db.SetHostSoftware(ctx, "forum.test", "discourse", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := dialects.OfHosts(ctx, []string{"forum.test", "blocks.test"}); got["forum.test"] != federation.OriginStrict || got["blocks.test"] != federation.UnknownPeer {
		t.Errorf("OfHosts = %v", got)
	}
}
