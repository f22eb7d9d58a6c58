package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmts keeps prepared statements by SQL text. database/sql with this
// driver otherwise prepares every query anew, a large part of the inbox's
// CPU in profiles (BENCHMARKS.md, "Figures behind the code"). The set of
// texts is the SQL in this package, so the cache is bounded by the code.
type stmts struct {
	pool *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
}

func (s *stmts) get(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	st, ok := s.m[query]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[query]; ok { // another caller prepared it meanwhile
		st.Close()
		return old, nil
	}
	if s.m == nil {
		s.m = map[string]*sql.Stmt{}
	}
	s.m[query] = st
	return st, nil
}

func (s *stmts) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.m {
		st.Close()
	}
	s.m = nil
}

// readRow, read, write, writeRow and writeRows run a query through a
// cached statement on the reader pool or the writer connection.
func (db *DB) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	return db.queryRow(ctx, &db.rs, query, args)
}

func (db *DB) read(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.query(ctx, &db.rs, query, args)
}

func (db *DB) writeRow(ctx context.Context, query string, args ...any) *sql.Row {
	return db.queryRow(ctx, &db.ws, query, args)
}

func (db *DB) writeRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.query(ctx, &db.ws, query, args)
}

func (db *DB) write(ctx context.Context, query string, args ...any) (sql.Result, error) {
	defer db.writers.hold()()
	st, done, _, err := db.prepared(ctx, &db.ws, query)
	defer done()
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (db *DB) queryRow(ctx context.Context, cache *stmts, query string, args []any) *sql.Row {
	st, done, unprepared, err := db.prepared(ctx, cache, query)
	defer done()
	if err != nil {
		return unprepared.QueryRowContext(ctx, query, args...) // carries the error
	}
	return st.QueryRowContext(ctx, args...)
}

func (db *DB) query(ctx context.Context, cache *stmts, query string, args []any) (*sql.Rows, error) {
	st, done, _, err := db.prepared(ctx, cache, query)
	defer done()
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// prepared returns query's statement from cache, the reader pool's or the
// writer's, and done, to call once the statement has run. unprepared is
// where the query would run unprepared, to return a preparation error in
// a *sql.Row.
func (db *DB) prepared(ctx context.Context, cache *stmts, query string) (st *sql.Stmt, done func(), unprepared rowQuerier, err error) {
	st, err = cache.get(ctx, query)
	return st, func() {}, cache.pool, err
}
