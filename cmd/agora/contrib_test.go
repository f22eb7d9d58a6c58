package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit: contrib/agora.service passes `systemd-analyze verify`
// where systemd is installed. verify wants ExecStart's binary to exist, so
// the unit is checked with its path pointed at an executable of this
// test; nothing else changes.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze: systemd is not installed here")
	}
	unit, err := os.ReadFile("../../contrib/agora.service")
	if err != nil {
		t.Fatal(err)
	}
	const bin = "ExecStart=/usr/local/bin/agora "
	if !strings.Contains(string(unit), "\n"+bin) {
		t.Fatalf("the unit does not start %s", bin)
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=agora", "ProtectSystem=strict", "NoNewPrivileges=yes", "serve --config /etc/agora/agora.toml"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agora.service")
	os.WriteFile(path, []byte(strings.Replace(string(unit), bin, "ExecStart="+self+" ", 1)), 0o644)
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify contrib/agora.service: %v\n%s", err, out)
	}
}

// TestContainerfile: the container recipe builds with the Go of go.mod,
// with `make build` (static), onto a base without a C library, as an
// unprivileged user, with the data in a volume. (Building the image needs
// a container engine and the network, which the tests do not have.)
func TestContainerfile(t *testing.T) {
	recipe, err := os.ReadFile("../../Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := ""
	for _, line := range strings.Split(string(gomod), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			parts := strings.Split(strings.TrimSpace(v), ".")
			goVersion = parts[0] + "." + parts[1]
		}
	}
	for _, want := range []string{"FROM docker.io/library/golang:" + goVersion + " AS build", "RUN make build BIN=",
		"FROM gcr.io/distroless/static", "USER 65532:65532", `VOLUME ["/var/lib/agora"]`, "AGORA_DATA_DIR=/var/lib/agora",
		`ENTRYPOINT ["/usr/local/bin/agora"]`, `CMD ["serve"]`} {
		if !strings.Contains(string(recipe), want) {
			t.Errorf("Containerfile lacks %q", want)
		}
	}
}
