package main

import (
	"os/exec"
	"slices"
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

// TestPackageWalls: each package imports only the Agora packages
// docs/architecture.md ("The walls") allows it; the rest of the import
// graph, stdlib and modules, is not checked here.
func TestPackageWalls(t *testing.T) {
	const mod = "github.com/agorafed/agora/"
	allowed := map[string][]string{
		"community":               {},
		"federation":              {"community"},
		"federation/fedtest":      {"federation"},
		"storage":                 {"community", "federation"},
		"storage/internal/gather": {},
		"storage/sqlite":          {"community", "federation", "storage", "storage/internal/gather"},
		"storage/postgres":        {"community", "federation", "storage", "storage/internal/gather"},
		"storage/postgres/pgtest": {},
		"storage/migrate":         {"federation", "storage/postgres", "storage/sqlite"},
		"web":                     {"community", "federation"},
		"cmd/internal/agora":      {"community", "federation", "storage", "storage/sqlite", "storage/postgres", "web"},
		"cmd/internal/seed":       {"cmd/internal/agora", "community", "federation", "federation/fedtest"},
		"cmd/agora":               {"cmd/internal/agora", "community", "federation", "storage", "storage/sqlite", "storage/postgres", "storage/migrate", "web"},
		"cmd/agora-bench":         {"cmd/internal/agora", "cmd/internal/seed", "community", "federation", "federation/fedtest", "storage/sqlite"},
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, ok := strings.CutPrefix(f[0], mod)
		if !ok || strings.HasPrefix(pkg, "test/") {
			continue
		}
		may, known := allowed[pkg]
		if !known {
			t.Errorf("package %s has no place in docs/architecture.md: add it there and here", pkg)
			continue
		}
		seen++
		for _, imp := range f[1:] {
			dep, ours := strings.CutPrefix(imp, mod)
			if ours && !slices.Contains(may, dep) {
				t.Errorf("%s imports %s, which its wall does not allow", pkg, dep)
			}
		}
	}
	if seen < len(allowed) {
		t.Errorf("go list showed %d of the %d packages: %s", seen, len(allowed), out)
	}
}
