package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage"
)

func testSignatureSchemes(t *testing.T, db storage.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	steps := []struct {
		host, scheme string
		at           time.Time
	}{
		{"a.example", federation.SchemeRFC9421, t0},
		{"a.example", federation.SchemeCavage, t0.Add(time.Minute)},
		{"a.example", federation.SchemeRFC9421, t0.Add(time.Hour)},
		{"a.example", federation.SchemeRFC9421, t0.Add(time.Second)}, // older: last_at stays
		{"b.example", federation.SchemeCavage, t0},
	}
	for _, s := range steps {
		if err := db.RecordSignatureScheme(ctx, s.host, s.scheme, s.at); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		host string
		want map[string]time.Time
	}{
		{"a.example", map[string]time.Time{federation.SchemeRFC9421: t0.Add(time.Hour), federation.SchemeCavage: t0.Add(time.Minute)}},
		{"b.example", map[string]time.Time{federation.SchemeCavage: t0}},
		{"c.example", map[string]time.Time{}},
	}
	for _, tt := range tests {
		got, err := db.SignatureSchemes(ctx, tt.host)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: %v, want %v", tt.host, got, tt.want)
		}
		for k, v := range tt.want {
			if !got[k].Equal(v) {
				t.Errorf("%s %s: %v, want %v", tt.host, k, got[k], v)
			}
		}
	}
}
