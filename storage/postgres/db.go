// Package postgres stores Agora's data in PostgreSQL (pgx, pgxpool), for
// an instance that outgrows one machine: several `agora serve` nodes share
// one database. It implements storage.Store with the semantics of
// storage/sqlite, the reference (the contract suite in storage's tests
// runs on both), and what several nodes need beyond them: the inbox's
// activities and the deliveries are claimed by one node at a time (FOR
// UPDATE SKIP LOCKED, with leases that run out when a node dies), per-host
// delivery limits count what every node has in hand, and nodes wake each
// other with LISTEN/NOTIFY (polling stays the fallback).
package postgres

import (
	"context"
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
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var _ storage.Store = (*DB)(nil)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune a node's use of the database; the zero value is fine.
type Options struct {
	// Node names this node in its claims. Two nodes must have different
	// names, and a node keeps its name across restarts so that it takes
	// its own claims back at start (ReleaseLeases). Default: the host
	// name and the process id.
	Node string
	// InboxLease is how long a node's claim on an inbox activity lasts
	// before another node may take it (the node died). A node renews the
	// claims of what it still has in hand each time it reads the queue
	// from the start. Default 2 minutes.
	InboxLease time.Duration
	// MaxDeliveryLease caps the lease a delivery claim asks for (the
	// deliverer asks 5 minutes): how long the deliveries of a node that
	// died wait before another node takes them. It must exceed the
	// delivery request timeout, or a slow delivery may be made twice.
	// Default: no cap.
	MaxDeliveryLease time.Duration
	// MaxConns is the size of the connection pool (default: pgxpool's,
	// the larger of 4 and the number of CPUs).
	MaxConns int32
}

// DB is Agora's PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
	opts Options

	// Group commits (groupcommit.go) of the writes that come many at a
	// time from concurrent callers, as storage/sqlite has them.
	inboxRecords   *groupCommit[federation.InboxItem, recorded]
	inboxMarks     *groupCommit[[]federation.InboxResult, struct{}]
	postInserts    *groupCommit[postInsert, postInserted]
	deliveriesDone *groupCommit[int64, struct{}]

	// cache keeps communities and domain blocks while this node listens
	// (cache.go).
	cache rowCache
	// closing ends with Close: a listener (Listen) gives its connection
	// back, which the pool's Close waits for.
	closing context.Context
	close   context.CancelFunc
}

// Open connects to the database at url (postgres://user@host/db) and
// applies pending migrations.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.Node == "" {
		host, _ := os.Hostname()
		opts.Node = host + ":" + strconv.Itoa(os.Getpid())
	}
	if opts.InboxLease <= 0 {
		opts.InboxLease = 2 * time.Minute
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db := &DB{pool: pool, opts: opts}
	db.closing, db.close = context.WithCancel(context.Background())
	db.groupCommits()
	if err := db.migrate(ctx); err != nil {
		db.close()
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Node is the name this node claims work under.
func (db *DB) Node() string { return db.opts.Node }

// Close stops the listeners and closes the pool.
func (db *DB) Close() error {
	db.close()
	db.pool.Close()
	return nil
}

// SchemaVersion returns the number of the last applied migration.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v *int64
	err := db.pool.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	if v == nil {
		return 0, err
	}
	return int(*v), err
}

// migrateLock is the advisory lock that makes nodes starting together
// apply the migrations one at a time: the second finds them applied.
const migrateLock = 7_240_001

func (db *DB) migrate(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLock); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
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
		if err := apply(ctx, conn.Conn(), version, base, string(body)); err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
	}
	return nil
}

func apply(ctx context.Context, conn *pgx.Conn, version int, name, body string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	// Several statements in one: the simple protocol.
	if _, err := tx.Exec(ctx, body, pgx.QueryExecModeSimpleProtocol); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		version, name, ms(time.Now())); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// ms and fromMS convert times to the Unix milliseconds stored in every
// table, as storage/sqlite does.
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

// nullMS is NULL for the zero time.
func nullMS(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

// fromNullMS reads a nullable time.
func fromNullMS(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return fromMS(*v)
}

// notFound turns pgx.ErrNoRows into the domain's ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return community.ErrNotFound
	}
	return err
}

// expectOne is ErrNotFound when a write changed no row.
func expectOne(tag interface{ RowsAffected() int64 }, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return community.ErrNotFound
	}
	return nil
}

// blob keeps a nil body from being bound as NULL in a NOT NULL column.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// collect reads every row with scan.
func collect[T any](rows pgx.Rows, err error, scan func(pgx.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
