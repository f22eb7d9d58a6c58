package migrate

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agorafed/agora/storage/postgres"
	"github.com/agorafed/agora/storage/postgres/pgtest"
	"github.com/agorafed/agora/storage/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestTablesCoverSchema: Tables names every table of SQLite's schema (a
// migration that adds one must add it here, or migrate would leave it
// behind), and PostgreSQL's schema has every column SQLite's has, of a
// type convert takes.
func TestTablesCoverSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agora.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	r, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rows, err := r.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	want := slices.Clone(Tables)
	slices.Sort(want)
	if !slices.Equal(tables, want) {
		t.Fatalf("SQLite's tables %v, Tables %v", tables, want)
	}

	url := pgtest.Database(t)
	pg, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pg.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	samples := map[string]any{"INTEGER": int64(1), "TEXT": "x", "BLOB": []byte("x")}
	for _, table := range Tables {
		types, err := columnTypes(ctx, tx, table)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := r.Query(`SELECT name, type FROM pragma_table_info(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		for cols.Next() {
			var name, typ string
			cols.Scan(&name, &typ)
			if types[name] == "" {
				t.Errorf("%s.%s is not in PostgreSQL's schema", table, name)
				continue
			}
			if _, err := convert(samples[typ], types[name]); err != nil {
				t.Errorf("%s.%s: SQLite %s into PostgreSQL %s: %v", table, name, typ, types[name], err)
			}
		}
		cols.Close()
	}
}
