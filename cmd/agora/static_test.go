package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/agorafed/agora/storage/postgres/pgtest"
)

var built struct {
	once sync.Once
	bin  string
	out  []byte
	err  error
}

// makeBuild builds the binary as `make build` does, once for the tests
// that need it (the black-box test, the static check), and returns its
// path.
func makeBuild(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make is needed: apt-get install make")
		}
		t.Skip("no make: apt-get install make")
	}
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "agora-build-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "agora")
		built.out, built.err = exec.Command("make", "-C", "../..", "build", "BIN="+built.bin).CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("make build: %v\n%s", built.err, built.out)
	}
	return built.bin
}

// TestStaticBinary: `make build` makes a static binary, as README says:
// no ELF interpreter (PT_INTERP) and no shared library it needs.
func TestStaticBinary(t *testing.T) {
	f, err := elf.Open(makeBuild(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has an ELF interpreter: it is linked dynamically (CGO_ENABLED=0 missing?)")
		}
		if p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a dynamic section")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}
}

// TestMain removes the binary makeBuild built, and stops the PostgreSQL
// cluster the tests on PostgreSQL started (pgtest).
func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	if built.bin != "" {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}
