package main

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/federation/fedtest"
)

// TestMetricsListed: every metric README's table lists is exported by a
// running Agora once a member joined (an inbox activity processed, an
// Accept delivered), and every agora_* metric it exports is in the table.
func TestMetricsListed(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(agora_[a-z_]+)` \\|").FindAllStringSubmatch(string(readme), -1) {
		listed[m[1]] = true
	}
	if len(listed) < 8 {
		t.Fatalf("README lists %d metrics: %v", len(listed), listed)
	}
	const token = "a-metrics-token-for-tests"
	a := startAgora(t, t.TempDir(), "", func(c *agora.Config) { c.Metrics.Token = token })
	a.mustCLI("community", "create", "gardening")
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}})
	body, _ := follow(remote, "alice", a.base()+"/c/gardening")
	post(t, remote, a.base()+"/inbox", "alice", body)
	waitUntil(t, "member", func() bool { return followersCount(t, a, "gardening") == 1 })
	scrape := func() string {
		req, _ := http.NewRequest(http.MethodGet, a.base()+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitUntil(t, "Accept delivered", func() bool { return strings.Contains(scrape(), `agora_deliveries_total{result="delivered"}`) })
	text := scrape()
	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (agora_[a-z_]+) `).FindAllStringSubmatch(text, -1) {
		exported[m[1]] = true
	}
	for name := range listed {
		// Refusals appear with the first 4xx answer to a delivery
		// (federation's refusal tests count them).
		if !exported[name] && name != "agora_delivery_refusals_total" {
			t.Errorf("README lists %s; /metrics does not export it", name)
		}
	}
	for name := range exported {
		if !listed[name] {
			t.Errorf("/metrics exports %s; README's table does not list it", name)
		}
	}
	for _, want := range []string{`agora_http_requests_total{method="POST",route="/inbox",status="202"} 1`, "agora_inbox_queue_depth 0",
		`agora_http_request_duration_seconds_bucket{method="POST",route="/inbox",le="+Inf"} 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
