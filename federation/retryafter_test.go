package federation

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{now.Add(90 * time.Minute).Format(http.TimeFormat), 90 * time.Minute},
		{now.Add(2 * time.Hour).Format(time.RFC850), 2 * time.Hour}, // obsolete forms are HTTP dates too
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},            // in the past
		{"864000", 24 * time.Hour},                                  // ten days: capped at a day
		{now.Add(30 * 24 * time.Hour).Format(http.TimeFormat), 24 * time.Hour},
		{"soon", 0},
		{"1.5", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.value, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}
