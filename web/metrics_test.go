package web_test

import (
	"net/http"
	"testing"

	"github.com/agorafed/agora/web"
)

// TestMetricsNotPublic (issue 15, item 9): /metrics on the main listener
// answers only with the configured bearer token, and not at all without
// one (it was public). cmd/agora's TestBlackBox covers metrics.listen.
func TestMetricsNotPublic(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("agora_up 1\n")) })
	const token = "0123456789abcdef"
	tests := []struct {
		name, token, auth string
		want              int
	}{
		{"no token configured", "", "", http.StatusNotFound},
		{"no token configured, one sent", "", "Bearer " + token, http.StatusNotFound},
		{"no Authorization", token, "", http.StatusUnauthorized},
		{"another token", token, "Bearer fedcba9876543210", http.StatusUnauthorized},
		{"the token without Bearer", token, token, http.StatusUnauthorized},
		{"a prefix of the token", token, "Bearer 0123", http.StatusUnauthorized},
		{"the token", token, "Bearer " + token, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConsole(t, func(d *web.Deps) { d.Metrics, d.MetricsToken = metrics, tt.token })
			req, _ := http.NewRequest(http.MethodGet, c.url+"/metrics", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET /metrics: %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
