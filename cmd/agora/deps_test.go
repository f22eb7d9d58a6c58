package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestServerLinksNoTestCode: the server binary does not carry the
// benchmarks or the test helpers they use (issue 18): fake remote
// servers and the loopback fleet (federation/fedtest, which imports
// testing and httptest) and the member seeding live in cmd/agora-bench
// and cmd/internal/seed, out of `go list -deps ./cmd/agora`.
func TestServerLinksNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	if !deps["github.com/agorafed/agora/cmd/internal/agora"] {
		t.Fatalf("go list -deps . lists %d packages, not the server's wiring: %s", len(deps), out)
	}
	for _, p := range []string{
		"github.com/agorafed/agora/federation/fedtest",
		"github.com/agorafed/agora/cmd/internal/seed",
		"testing",
		"net/http/httptest",
	} {
		if deps[p] {
			t.Errorf("the server binary links %s", p)
		}
	}
}
