package federation

import (
	"fmt"
	"testing"
	"time"
)

// The followers cache answers within its TTL, forgets a dropped actor,
// never answers for a time before the entry (a clock set back), and
// stays bounded.
func TestFollowersCache(t *testing.T) {
	var c followersCache
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	const a = "https://m.example/users/ann"
	if _, ok := c.get(a, t0); ok {
		t.Fatal("empty cache answered")
	}
	c.put(a, a+"/followers", t0)
	tests := []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"now", t0, true},
		{"within the TTL", t0.Add(followersTTL), true},
		{"after the TTL", t0.Add(followersTTL + time.Second), false},
		{"clock set back", t0.Add(-time.Second), false},
	}
	for _, tt := range tests {
		f, ok := c.get(a, tt.at)
		if ok != tt.ok || (ok && f != a+"/followers") {
			t.Errorf("%s: %q %v, want %v", tt.name, f, ok, tt.ok)
		}
	}
	c.drop(a)
	if _, ok := c.get(a, t0); ok {
		t.Error("dropped actor still answered")
	}
	for i := range followersSize + 10 {
		c.put(fmt.Sprintf("https://m.example/users/%d", i), "f", t0)
	}
	if n := len(c.m); n > followersSize {
		t.Errorf("%d entries, want at most %d", n, followersSize)
	}
}
