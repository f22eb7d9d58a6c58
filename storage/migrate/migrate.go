// Package migrate copies an Agora instance from SQLite to PostgreSQL
// (`agora db migrate`): every table, keys, communities, members, posts,
// moderation and the queues, in one PostgreSQL transaction, checked by
// row counts before it commits. It refuses a database that holds
// anything already.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage/postgres"
	"github.com/agorafed/agora/storage/sqlite"
)

// Tables are the tables copied, parents before children (foreign keys),
// with the schema both backends have at the same migration number.
// sequences is copied by value (it has its row in both from the start);
// inbox_actor_bytes after the inbox, whose triggers fill it on the way.
var Tables = []string{
	"communities", "members", "local_keys", "remote_keys", "remote_actors",
	"inbox", "out_activities", "deliveries", "hosts", "posts", "reactions", "announces",
	"moderators", "domain_blocks", "reports", "mod_log", "pins", "mod_refusals", "public_mod_logs",
	"admins", "sessions", "setup_tokens", "media", "settings", "host_signature_schemes",
	"inbox_actor_bytes", "sequences",
}

// ErrNotEmpty is a target database that holds data already.
var ErrNotEmpty = errors.New("the target database is not empty")

// Count is one table's rows in the source and, once copied, the target.
type Count struct {
	Table          string
	Source, Target int64
}

// SQLiteToPostgres copies the SQLite database at path into the PostgreSQL
// database at pgURL, which it migrates first and which must be empty. The
// source must not be written meanwhile (stop agora serve). It returns the
// row counts, equal in both, or an error and nothing written.
func SQLiteToPostgres(ctx context.Context, path, pgURL string) ([]Count, error) {
	// Both schemas up to date first: the same migration number, the same
	// tables and columns.
	src, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	srcVersion, err := src.SchemaVersion(ctx)
	src.Close()
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	dst, err := postgres.Open(ctx, pgURL, postgres.Options{Node: "agora db migrate"})
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	dstVersion, err := dst.SchemaVersion(ctx)
	dst.Close()
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if srcVersion != dstVersion {
		return nil, fmt.Errorf("the source is at migration %d and the target at %d: use one agora version for both", srcVersion, dstVersion)
	}

	r, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer r.Close()
	r.SetMaxOpenConns(1)
	// One read transaction: a consistent snapshot of the source.
	rtx, err := r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer rtx.Rollback()

	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Nothing else may write it meanwhile.
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(Tables, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if err := checkEmpty(ctx, tx); err != nil {
		return nil, err
	}
	var counts []Count
	for _, table := range Tables {
		c, err := copyTable(ctx, rtx, tx, table)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", table, err)
		}
		counts = append(counts, c)
	}
	if err := orderKeys(ctx, tx); err != nil {
		return nil, err
	}
	// Ids given by the target from now on follow the copied ones.
	for _, table := range []string{"communities", "inbox", "deliveries", "posts", "reports", "mod_log", "admins"} {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), coalesce((SELECT max(id) FROM %s), 0) + 1, false)`, table, table)); err != nil {
			return nil, fmt.Errorf("ids of %s: %w", table, err)
		}
	}
	for i, c := range counts {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+c.Table).Scan(&counts[i].Target); err != nil {
			return nil, fmt.Errorf("count %s: %w", c.Table, err)
		}
		if counts[i].Target != c.Source {
			return nil, fmt.Errorf("%s: %d rows in the source, %d copied: nothing was written", c.Table, c.Source, counts[i].Target)
		}
	}
	// Statistics for the planner now, not at autovacuum's first pass: the
	// nodes that start next plan on full tables, not on empty ones
	// (docs/architecture.md, "Plans on young tables").
	if _, err := tx.Exec(ctx, `ANALYZE `+strings.Join(Tables, ", ")); err != nil {
		return nil, fmt.Errorf("target: statistics: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	return counts, nil
}

// orderKeys fills the ordering keys (storage/postgres's order_keys) of
// the copied activities not processed yet: SQLite has no such column.
func orderKeys(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT id, actor, body FROM inbox WHERE processed_at IS NULL`)
	if err != nil {
		return fmt.Errorf("ordering keys: %w", err)
	}
	type item struct {
		id    int64
		actor string
		body  []byte
	}
	var items []item
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.id, &it.actor, &it.body); err != nil {
			rows.Close()
			return fmt.Errorf("ordering keys: %w", err)
		}
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ordering keys: %w", err)
	}
	for _, it := range items {
		if _, err := tx.Exec(ctx, `UPDATE inbox SET order_keys = $1 WHERE id = $2`,
			federation.OrderKeys(it.actor, it.body), it.id); err != nil {
			return fmt.Errorf("ordering keys: %w", err)
		}
	}
	return nil
}

// checkEmpty fails with ErrNotEmpty when any table has rows (sequences
// with its counter past 0).
func checkEmpty(ctx context.Context, tx pgx.Tx) error {
	var full []string
	for _, table := range Tables {
		q := `SELECT EXISTS (SELECT 1 FROM ` + table + `)`
		if table == "sequences" {
			q = `SELECT EXISTS (SELECT 1 FROM sequences WHERE n <> 0)`
		}
		var any bool
		if err := tx.QueryRow(ctx, q).Scan(&any); err != nil {
			return fmt.Errorf("target: %w", err)
		}
		if any {
			full = append(full, table)
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w (%s hold rows): migrate into a new, empty database", ErrNotEmpty, strings.Join(full, ", "))
	}
	return nil
}

// copyTable copies one table's rows, column by column as the source has
// them, converted to the target column's type.
func copyTable(ctx context.Context, src *sql.Tx, dst pgx.Tx, table string) (Count, error) {
	c := Count{Table: table}
	types, err := columnTypes(ctx, dst, table)
	if err != nil {
		return c, err
	}
	rows, err := src.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return c, err
	}
	for _, col := range cols {
		if types[col] == "" {
			return c, fmt.Errorf("column %s is not in the target", col)
		}
	}
	var data [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return c, err
		}
		for i, col := range cols {
			if vals[i], err = convert(vals[i], types[col]); err != nil {
				return c, fmt.Errorf("column %s: %w", col, err)
			}
		}
		data = append(data, vals)
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	c.Source = int64(len(data))
	switch table {
	case "sequences":
		// Its rows are there from the first migration: set them.
		for _, row := range data {
			if _, err := dst.Exec(ctx, `INSERT INTO sequences (name, n) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET n = excluded.n`, row...); err != nil {
				return c, err
			}
		}
		return c, nil
	case "inbox_actor_bytes":
		// The inbox's triggers counted the copied rows; the source's
		// figures replace theirs.
		if _, err := dst.Exec(ctx, `DELETE FROM inbox_actor_bytes`); err != nil {
			return c, err
		}
	}
	if len(data) == 0 {
		return c, nil
	}
	_, err = dst.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(data))
	return c, err
}

// columnTypes returns the target table's columns and their types.
func columnTypes(ctx context.Context, tx pgx.Tx, table string) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		out[name] = typ
	}
	return out, rows.Err()
}

// convert turns a value SQLite gave into one of the target's type:
// SQLite keeps booleans as integers, and a column may hold text where
// the target has bytes, or the other way round.
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "boolean":
		switch x := v.(type) {
		case int64:
			return x != 0, nil
		case bool:
			return x, nil
		}
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case "text":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case "bigint", "integer":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == float64(int64(x)) {
				return int64(x), nil
			}
		}
	}
	return nil, fmt.Errorf("a %T where the target has %s", v, typ)
}

// Redacted is a database URL without its password, for messages.
func Redacted(pgURL string) string {
	u, err := url.Parse(pgURL)
	if err != nil {
		return "PostgreSQL"
	}
	return u.Redacted()
}
