// Package sqlite stores Agora's data in SQLite (modernc.org/sqlite, pure Go).
// It implements the Store, Queue and cache interfaces that community and
// federation declare.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ storage.Store = (*DB)(nil)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is Agora's SQLite database: one writer connection (SQLite allows one
// writer at a time; queueing in Go is cheaper than busy-waiting in SQLite)
// and a pool of readers, all in WAL mode.
type DB struct {
	w *sql.DB
	r *sql.DB

	// Group commits of RecordInbox, MarkInboxProcessed, AddPost and DeliveryDone.
	inboxRecords   *groupCommit[federation.InboxItem, bool]
	inboxMarks     *groupCommit[[]federation.InboxResult, struct{}]
	postInserts    *groupCommit[postInsert, int64]
	deliveriesDone *groupCommit[int64, struct{}]
	rs, ws         stmts // prepared statements of the reader pool and the writer

	wal walSyncer // makes the WAL durable after a durable group commit

	writers writers // who holds a write transaction, when tracked (tx.go)
}

// Open opens (creating if needed, with mode 0600) the database at path and
// applies pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// Create the file ourselves so it gets 0600 rather than the umask's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	f.Close()
	// synchronous=NORMAL in WAL mode survives a process crash (kill -9)
	// without losing committed transactions; a power loss can lose the
	// last ones, except inbox records, whose group commit syncs the WAL (see
	// inboxRecords). busy_timeout covers the CLI writing while serve runs.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db := &DB{w: w, r: r, wal: walSyncer{path: path + "-wal"}}
	// An inbox record is answered 202 once committed, and the sender will
	// not send it again: it is made durable before that (the WAL synced
	// once per group commit, which makes every earlier write durable too).
	db.inboxRecords = newGroupCommit(db, "record inbox", 256, true, insertInbox)
	db.inboxMarks = newGroupCommit(db, "mark inbox processed", 256, false, markInbox)
	db.postInserts = newGroupCommit(db, "add post", 256, false, insertPosts)
	db.deliveriesDone = newGroupCommit(db, "delivery done", 256, false, deleteDeliveries)
	db.rs.pool, db.ws.pool = r, w
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	db.rs.close()
	db.ws.close()
	db.wal.close()
	return errors.Join(db.r.Close(), db.w.Close())
}

// SchemaVersion returns the number of the last applied migration.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

// Backup writes a consistent copy of the database to path (VACUUM INTO),
// safe while the server runs.
func (db *DB) Backup(ctx context.Context, path string) error {
	// Created empty first, so that the copy of the private keys is never
	// readable by others, not even for a moment; VACUUM INTO fills an
	// empty file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	if _, err := db.w.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return fmt.Errorf("backup: %w", err)
	}
	return os.Chmod(path, 0o600)
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migrate: %s: name must start with a number and _", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := db.apply(ctx, version, base, string(body)); err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
	}
	return nil
}

func (db *DB) apply(ctx context.Context, version int, name, body string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		version, name, ms(time.Now())); err != nil {
		return err
	}
	return tx.Commit()
}

// ms and fromMS convert times to the Unix milliseconds stored in every table.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func nullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// notFound turns sql.ErrNoRows into the domain's ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return community.ErrNotFound
	}
	return err
}
