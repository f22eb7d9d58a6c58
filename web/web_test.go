package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
)

func TestWantsAS2(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"application/activity+json", true},
		{`application/ld+json; profile="https://www.w3.org/ns/activitystreams"`, true},
		{"application/ld+json", true},
		{`application/ld+json; profile="https://example.com/other"`, false},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false}, // Firefox
		{"*/*", false},
		{"", false},
		{"application/json", false},
		{"text/html, application/activity+json;q=0.9", true},
		{"APPLICATION/ACTIVITY+JSON", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/c/x", nil)
		r.Header.Set("Accept", tt.accept)
		if got := wantsAS2(r); got != tt.want {
			t.Errorf("wantsAS2(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func TestStatusOf(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("op: %w", err) }
	tests := []struct {
		err  error
		want int
	}{
		{wrap(federation.ErrNotVerified), 401},
		{wrap(federation.ErrNoSignature), 401},
		{wrap(federation.ErrMalformed), 400},
		{wrap(community.ErrInvalid), 400},
		{wrap(community.ErrNotFound), 404},
		{wrap(community.ErrGone), 410},
		{wrap(community.ErrExists), 409},
		{wrap(errTooLarge), 413},
		{&http.MaxBytesError{Limit: 1}, 413},
		{wrap(errContentType), 415},
		{wrap(errRateLimited), 429},
		{wrap(federation.ErrOverBudget), 429},
		{fmt.Errorf("verify: %w: %w", federation.ErrKeyUnavailable, federation.ErrBusy), 503},
		{errors.New("disk on fire"), 500},
	}
	for _, tt := range tests {
		if got := statusOf(tt.err); got != tt.want {
			t.Errorf("statusOf(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestIsJSONType(t *testing.T) {
	for v, want := range map[string]bool{
		"application/activity+json": true,
		`application/ld+json; profile="https://www.w3.org/ns/activitystreams"`: true,
		"application/json; charset=utf-8":                                      true,
		"text/plain":                                                           false,
		"":                                                                     false,
		"multipart/form-data; boundary=x":                                      false,
	} {
		if got := isJSONType(v); got != want {
			t.Errorf("isJSONType(%q) = %v", v, got)
		}
	}
}
