package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/agorafed/agora/web"
)

// TestHTTPMetrics: every request is counted by its route's pattern (never
// the raw path), method and status, and timed.
func TestHTTPMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := newConsole(t, func(d *web.Deps) { d.HTTPMetrics = web.NewHTTPMetrics(reg) })
	c.community("garden")
	get := func(path string) {
		req, _ := http.NewRequest(http.MethodGet, c.url+path, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get("/c/garden")
	get("/c/garden")
	get("/c/nothing")
	get("/no/such/path/1")
	get("/no/such/path/2")
	get("/.well-known/webfinger?resource=acct:garden@" + strings.TrimPrefix(c.url, "http://"))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	observed := map[string]uint64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := labelsOf(m)
			switch f.GetName() {
			case "agora_http_requests_total":
				counts[labels["route"]+" "+labels["method"]+" "+labels["status"]] = m.GetCounter().GetValue()
			case "agora_http_request_duration_seconds":
				observed[labels["route"]+" "+labels["method"]] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	for key, want := range map[string]float64{
		"/c/{name} GET 200":              2,
		"/c/{name} GET 404":              1,
		"unmatched GET 404":              2,
		"/.well-known/webfinger GET 200": 1,
	} {
		if counts[key] != want {
			t.Errorf("requests %q: %v, want %v (all: %v)", key, counts[key], want, counts)
		}
	}
	if observed["/c/{name} GET"] != 3 || observed["unmatched GET"] != 2 {
		t.Errorf("durations observed: %v", observed)
	}
	for key := range counts {
		if strings.Contains(key, "/no/such") || strings.Contains(key, "garden") {
			t.Errorf("a raw path became a label: %q", key)
		}
	}
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
