package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"golang.org/x/crypto/bcrypt"
)

// isolateConfigSearch points the default config places at files that do
// not exist, so that the machine's /etc/agora/agora.toml or ./agora.toml
// cannot leak into a test.
func isolateConfigSearch(t *testing.T) (system, local string) {
	t.Helper()
	dir := t.TempDir()
	oldS, oldL := systemConfig, localConfig
	systemConfig, localConfig = filepath.Join(dir, "etc-agora.toml"), filepath.Join(dir, "local-agora.toml")
	t.Cleanup(func() { systemConfig, localConfig = oldS, oldL })
	return systemConfig, localConfig
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeConfig(t *testing.T, path, dataDir string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("data_dir = \""+dataDir+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Commands that only read never create a database (or its directory):
// they fail naming the database path and every place a config was looked
// for.
func TestReadCommandsCreateNoDatabase(t *testing.T) {
	isolateConfigSearch(t)
	dir := filepath.Join(t.TempDir(), "agora-data")
	env := envOf(map[string]string{"AGORA_DATA_DIR": dir})
	for _, args := range [][]string{
		{"community", "list"}, {"community", "show", "x"}, {"community", "members", "x"}, {"community", "posts", "x"},
		{"community", "edit", "x", "--title", "X"}, {"community", "delete", "x"}, {"community", "approve", "x", "@a@b.example"},
		{"mod", "list", "x"}, {"mod", "log", "x"}, {"mod", "reports", "x"}, {"domain", "list"}, {"domain", "block", "spam.example"},
		{"host", "list"}, {"host", "clear", "a.example"}, {"admin", "list"}, {"admin", "passwd", "root"}, {"admin", "delete", "root"},
		{"backup", filepath.Join(t.TempDir(), "b.db")},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut, env)
		if !errors.Is(err, errNoDatabase) {
			t.Errorf("%v: %v, want no database", args, err)
			continue
		}
		for _, want := range []string{filepath.Join(dir, "agora.db"), "--config, AGORA_CONFIG, " + systemConfig + ", " + localConfig, "--config FILE or AGORA_CONFIG"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: %q does not say %q", args, err, want)
			}
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v created %s", args, dir)
		}
	}
	// Creating a community may create the database, and says so.
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"community", "create", "first"}, &out, &errOut, env); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "no database at "+filepath.Join(dir, "agora.db")+" yet: creating it") {
		t.Errorf("community create on a new data_dir says %q", errOut.String())
	}
	if err := run(context.Background(), []string{"community", "list"}, &out, &errOut, env); err != nil || !strings.Contains(out.String(), "first") {
		t.Errorf("community list after create: %v\n%s", err, out.String())
	}
}

// The config is --config, else AGORA_CONFIG, else /etc/agora/agora.toml,
// else ./agora.toml, else none; one that is named must exist.
func TestConfigSearchOrder(t *testing.T) {
	dir := t.TempDir()
	flagFile, envFile := filepath.Join(dir, "flag.toml"), filepath.Join(dir, "env.toml")
	tests := []struct {
		name               string
		flag, env          string
		system, local      bool // whether those files exist
		wantPath, wantFrom string
		wantErr            string
	}{
		{"flag first", flagFile, envFile, true, true, flagFile, "--config", ""},
		{"then AGORA_CONFIG", "", envFile, true, true, envFile, "AGORA_CONFIG", ""},
		{"then /etc/agora", "", "", true, true, "system", "found", ""},
		{"then ./agora.toml", "", "", false, true, "local", "found", ""},
		{"else none", "", "", false, false, "", "none", ""},
		{"a named file must exist", filepath.Join(dir, "missing.toml"), envFile, true, true, "", "", "missing.toml (from --config)"},
		{"AGORA_CONFIG too", "", filepath.Join(dir, "gone.toml"), true, true, "", "", "gone.toml (from AGORA_CONFIG)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			system, local := isolateConfigSearch(t)
			for _, f := range []struct {
				path string
				make bool
			}{{flagFile, true}, {envFile, true}, {system, tt.system}, {local, tt.local}} {
				if f.make {
					writeConfig(t, f.path, filepath.Join(dir, "data"))
				}
			}
			src, err := locateConfig(tt.flag, envOf(map[string]string{"AGORA_CONFIG": tt.env}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			want := map[string]string{"system": system, "local": local}[tt.wantPath]
			if want == "" {
				want = tt.wantPath
			}
			if err != nil || src.Path != want || src.From != tt.wantFrom {
				t.Fatalf("got %+v %v, want %s from %s", src, err, want, tt.wantFrom)
			}
			if tt.wantFrom == "none" && !strings.Contains(src.String(), system+", "+local) {
				t.Errorf("%q does not say where it looked", src)
			}
		})
	}
}

// Every command and subcommand answers --help with its usage and flags,
// exit status 0, and writes nothing anywhere.
func TestHelpEverywhere(t *testing.T) {
	isolateConfigSearch(t)
	dir := t.TempDir()
	env := envOf(map[string]string{"AGORA_DATA_DIR": filepath.Join(dir, "data")})
	for _, c := range commands {
		if c.name == "bench" || c.name == "version" {
			continue // bench has its own flags (cmd/agora-bench); version has none
		}
		for _, flagArg := range []string{"--help", "-h"} {
			args := append(strings.Fields(c.name), flagArg)
			var out, errOut bytes.Buffer
			if err := run(context.Background(), args, &out, &errOut, env); err != nil {
				t.Errorf("%v: %v", args, err)
				continue
			}
			if !strings.Contains(out.String(), "Usage: agora "+c.name) || !strings.Contains(out.String(), "-config") {
				t.Errorf("%v printed %q", args, out.String())
			}
		}
	}
	for _, group := range []string{"community", "admin", "mod", "domain", "host"} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{group, "--help"}, &out, &errOut, env); err != nil || !strings.Contains(out.String(), "agora "+group+" ") {
			t.Errorf("%s --help: %v %q", group, err, out.String())
		}
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--help"}, &out, &errOut, env); err != nil || !strings.Contains(out.String(), "-listen") {
		t.Errorf("serve --help lacks --listen: %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Error("--help created the data dir")
	}
}

// base_url and listen on a loopback setup: left at its default, base_url
// follows listen; set to another port, a warning says what to do.
func TestReconcileListen(t *testing.T) {
	tests := []struct {
		base, listen     string
		wantBase         string
		wantNote, wantOK bool
		wantWarn         string
	}{
		{"http://localhost:8080", "127.0.0.1:9090", "http://localhost:9090", true, false, ""},
		{"http://localhost:8080", "127.0.0.1:8080", "http://localhost:8080", false, true, ""},
		{"http://127.0.0.1:8080", "127.0.0.1:9090", "http://127.0.0.1:8080", false, false, "Set base_url to http://127.0.0.1:9090"},
		{"http://localhost:3000", ":9090", "http://localhost:3000", false, false, "Agora listens on :9090"},
		{"http://localhost", "127.0.0.1:80", "http://localhost", false, true, ""},
		{"https://groups.example.org", "127.0.0.1:9090", "https://groups.example.org", false, true, ""},
		{"http://127.0.0.1:8080", "192.0.2.7:9090", "http://127.0.0.1:8080", false, true, ""},
	}
	for _, tt := range tests {
		cfg := agora.DefaultConfig()
		cfg.BaseURL, cfg.Listen = tt.base, tt.listen
		note, warn := reconcileListen(&cfg)
		if cfg.BaseURL != tt.wantBase || (note != "") != tt.wantNote || (tt.wantWarn == "" && warn != "") || !strings.Contains(warn, tt.wantWarn) {
			t.Errorf("%s with %s: base %s, note %q, warn %q", tt.base, tt.listen, cfg.BaseURL, note, warn)
		}
	}
}

// serve --listen listens there, and the setup link it prints names that
// port.
func TestServeListenFlag(t *testing.T) {
	isolateConfigSearch(t)
	addr := freeAddr(t)
	env := envOf(map[string]string{"AGORA_DATA_DIR": t.TempDir(), "AGORA_LOG_LEVEL": "warn"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--listen", addr}, out, errOut, env) }()
	_, port, _ := strings.Cut(addr, ":")
	if !pollUntil(20*time.Second, func() bool { return strings.Contains(out.String(), "/admin/setup?token=") }) {
		t.Fatalf("no setup link: %q %q", out.String(), errOut.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "http://localhost:"+port+"/admin/setup") || !strings.Contains(out.String(), "on http://"+addr) {
		t.Errorf("serve --listen %s printed %q", addr, out.String())
	}
	if !strings.Contains(errOut.String(), "base_url is not set: it follows listen") {
		t.Errorf("no note on stderr: %q", errOut.String())
	}
	if err := run(context.Background(), []string{"serve", "--listen", "8080"}, out, errOut, env); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Errorf("--listen 8080: %v", err)
	}
}

// admin passwd, list and delete; create on a taken name says how to reset.
// On a terminal the password is read without echo, twice.
func TestAdminAccountsCommands(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	oldIn, oldTerm, oldRead := stdin, stdinTerminal, readPassword
	t.Cleanup(func() { stdin, stdinTerminal, readPassword = oldIn, oldTerm, oldRead })
	stdin = strings.NewReader("correct horse battery\n")
	a.mustCLI("admin", "create", "root")

	stdin = strings.NewReader("correct horse battery\n")
	if _, err := a.cli("admin", "create", "root"); err == nil || !strings.Contains(err.Error(), "agora admin passwd root") {
		t.Errorf("create on a taken name: %v", err)
	}

	// A terminal: no echo (term.ReadPassword), asked twice.
	var typed []string
	stdinTerminal = func() (int, bool) { return 0, true }
	readPassword = func(int) ([]byte, error) {
		if len(typed) == 0 {
			return nil, errors.New("no more input")
		}
		pw := typed[0]
		typed = typed[1:]
		return []byte(pw), nil
	}
	tests := []struct {
		name    string
		typed   []string
		wantErr string
		wantPW  string
	}{
		{"differ", []string{"a new long secret", "a new long secreT"}, "differ", "correct horse battery"},
		{"too short", []string{"short"}, "at least 10", "correct horse battery"},
		{"ok", []string{"a new long secret", "a new long secret"}, "", "a new long secret"},
	}
	for _, tt := range tests {
		typed = tt.typed
		_, err := a.cli("admin", "passwd", "root")
		if (tt.wantErr == "" && err != nil) || (tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr))) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.wantErr)
		}
		_, hash, _ := a.srv.App.DB.AdminByName(context.Background(), "root")
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte(tt.wantPW)) != nil {
			t.Errorf("%s: the password is not %q", tt.name, tt.wantPW)
		}
	}
	stdinTerminal = oldTerm
	if _, err := a.cli("admin", "passwd", "nobody"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("passwd of an unknown admin: %v", err)
	}
	stdin = strings.NewReader("another good password\n")
	a.mustCLI("admin", "create", "second")
	if list := a.mustCLI("admin", "list"); !strings.Contains(list, "root") || !strings.Contains(list, "second") {
		t.Errorf("admin list:\n%s", list)
	}
	if out := a.mustCLI("admin", "delete", "second"); !strings.Contains(out, "deleted") {
		t.Errorf("delete: %q", out)
	}
	if _, err := a.cli("admin", "delete", "second"); err == nil {
		t.Error("deleting twice works")
	}
	if out := a.mustCLI("admin", "delete", "root"); !strings.Contains(out, "no admin account is left") {
		t.Errorf("deleting the last admin: %q", out)
	}
}

// freeAddr is a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer that a command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
