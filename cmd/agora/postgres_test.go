package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/storage/postgres"
	"github.com/agorafed/agora/storage/postgres/pgtest"
)

// TestDatabaseConfig: database (AGORA_DATABASE) takes a PostgreSQL URL;
// anything else is refused naming the key; without it, SQLite.
func TestDatabaseConfig(t *testing.T) {
	tests := []struct {
		env, node string
		wantErr   bool
	}{
		{"", "", false},
		{"postgres://agora@db.example/agora", "", false},
		{"postgresql://agora:secret@10.0.0.5:5433/agora?sslmode=verify-full", "web-1", false},
		{"mysql://agora@db.example/agora", "", true},
		{"db.example/agora", "", true},
		{"postgres://agora@db.example/agora?sslmode=sometimes", "", true},
	}
	for _, tt := range tests {
		cfg, err := agora.LoadConfig("", func(k string) string {
			return map[string]string{"AGORA_DATABASE": tt.env, "AGORA_NODE": tt.node}[k]
		})
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "config database") {
				t.Errorf("%q: err = %v, want one naming database", tt.env, err)
			}
			continue
		}
		if err != nil || cfg.Database != tt.env || cfg.Node != tt.node {
			t.Errorf("%q: %q %q, %v", tt.env, cfg.Database, cfg.Node, err)
		}
	}
	for _, tt := range []struct {
		lease   string
		wantErr bool
	}{{"", false}, {"1m", false}, {"59s", true}, {"0s", true}} {
		_, err := agora.LoadConfig("", func(k string) string { return map[string]string{"AGORA_NODE_LEASE": tt.lease}[k] })
		if (err != nil) != tt.wantErr || err != nil && !strings.Contains(err.Error(), "node_lease") {
			t.Errorf("node_lease %q: %v", tt.lease, err)
		}
	}
	path := filepath.Join(t.TempDir(), "agora.toml")
	os.WriteFile(path, []byte("database = \"postgres://agora@db.example/agora\"\nnode = \"web-2\"\n"), 0o600)
	cfg, err := agora.LoadConfig(path, func(string) string { return "" })
	if err != nil || cfg.Database != "postgres://agora@db.example/agora" || agora.NodeName(cfg) != "web-2" {
		t.Fatalf("from the file: %q %q, %v", cfg.Database, agora.NodeName(cfg), err)
	}
	cfg.Node = ""
	if host, _ := os.Hostname(); agora.NodeName(cfg) != host+"/"+cfg.Listen {
		t.Fatalf("default node name %q", agora.NodeName(cfg))
	}
	if got := agora.DataWhere(agora.Config{Database: "postgres://agora:secret@db.example:5433/agora?sslmode=require", Node: "n1"}); strings.Contains(got, "secret") || !strings.Contains(got, "db.example:5433/agora") {
		t.Fatalf("dataWhere shows %q", got)
	}
}

// pgConfig points a test server at a PostgreSQL database.
func pgConfig(url string) func(*agora.Config) {
	return func(c *agora.Config) { c.Database = url }
}

// TestServeOnPostgres: two nodes on one PostgreSQL database, even with
// one data_dir, start (no data_dir lock, no SQLite file), share the keys
// kept in the database (the same actor documents from either), and the
// CLI works on the same database; backup says to use pg_dump.
func TestServeOnPostgres(t *testing.T) {
	url := pgtest.Database(t)
	dir := t.TempDir()
	a := startAgora(t, dir, "", pgConfig(url))
	b := startAgora(t, dir, "", func(c *agora.Config) { c.Database, c.BaseURL = url, a.base() })
	a.mustCLI("community", "create", "garden", "--title", "Garden")
	if _, err := os.Stat(filepath.Join(dir, "agora.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a SQLite database in data_dir: %v", err)
	}
	for _, path := range []string{"/actor", "/c/garden"} {
		_, docA := getJSON(t, a.addrURL()+path)
		_, docB := getJSON(t, "http://"+b.addr+path)
		keyA, _ := docA["publicKey"].(map[string]any)
		keyB, _ := docB["publicKey"].(map[string]any)
		if keyA == nil || keyA["publicKeyPem"] == nil || keyA["publicKeyPem"] != keyB["publicKeyPem"] || docA["id"] != docB["id"] {
			t.Fatalf("%s: the nodes serve %v and %v", path, docA, docB)
		}
	}
	db, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if pem, err := db.LocalKey(context.Background(), "actor"); err != nil || !strings.Contains(pem, "PRIVATE KEY") {
		t.Fatalf("the instance key in PostgreSQL: %v", err)
	}
	out, err := a.cli("doctor")
	if err != nil || !strings.Contains(out, "[ok]   database postgres://postgres@") || !strings.Contains(out, "1 communities") {
		t.Fatalf("doctor on PostgreSQL: %v\n%s", err, out)
	}
	if _, err := a.cli("backup", filepath.Join(t.TempDir(), "b.db")); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("backup on PostgreSQL: %v", err)
	}
}

// addrURL is the node's own address (base_url may name another node or
// a proxy).
func (a *testAgora) addrURL() string { return "http://" + a.addr }
