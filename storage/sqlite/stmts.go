package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmts keeps prepared statements by SQL text. database/sql with this
// driver otherwise prepares every query anew, which profiled at about a
// sixth of the inbox's CPU. The set of texts is the SQL in this package,
// so the cache is bounded by the code.
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

// peek returns the statement prepared for query, or nil: it never
// prepares (a batch holding the writer's one connection cannot wait for
// the pool to prepare one).
func (s *stmts) peek(query string) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[query]
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
// cached statement on the reader pool or the writer connection, or in the
// batch ctx carries (see batch.go).
func (db *DB) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	if row, ok := db.inBatchRow(ctx, query, args); ok {
		return row
	}
	st, err := db.rs.get(ctx, query)
	if err != nil {
		return db.r.QueryRowContext(ctx, query, args...) // carries the error
	}
	return st.QueryRowContext(ctx, args...)
}

func (db *DB) read(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if rows, err, ok := db.inBatchRows(ctx, query, args); ok {
		return rows, err
	}
	st, err := db.rs.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (db *DB) write(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if b := db.batchOf(ctx); b != nil {
		b.mu.Lock()
		st, err := b.stmt(ctx, query)
		if err == nil {
			res, err := st.ExecContext(ctx, args...)
			b.mu.Unlock()
			return res, err
		}
		b.mu.Unlock()
		if !errors.Is(err, errBatchClosed) {
			return nil, err
		}
	}
	st, err := db.ws.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (db *DB) writeRow(ctx context.Context, query string, args ...any) *sql.Row {
	if row, ok := db.inBatchRow(ctx, query, args); ok {
		return row
	}
	st, err := db.ws.get(ctx, query)
	if err != nil {
		return db.w.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (db *DB) writeRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if rows, err, ok := db.inBatchRows(ctx, query, args); ok {
		return rows, err
	}
	st, err := db.ws.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// inBatchRow runs a one-row query in ctx's batch; ok is false when there
// is none (or it has ended). The row is read after b.mu is released: a
// flush meanwhile waits for it (database/sql holds a transaction open
// while a query of it is being read).
func (db *DB) inBatchRow(ctx context.Context, query string, args []any) (*sql.Row, bool) {
	b := db.batchOf(ctx)
	if b == nil {
		return nil, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.stmt(ctx, query)
	if errors.Is(err, errBatchClosed) {
		return nil, false
	}
	if err != nil {
		// A *sql.Row carrying the error: the transaction's own attempt
		// fails the same way; without a transaction, the reader pool's
		// (query_only: a write fails there too).
		if b.tx != nil {
			return b.tx.QueryRowContext(ctx, query, args...), true
		}
		return db.r.QueryRowContext(ctx, query, args...), true
	}
	return st.QueryRowContext(ctx, args...), true
}

func (db *DB) inBatchRows(ctx context.Context, query string, args []any) (*sql.Rows, error, bool) {
	b := db.batchOf(ctx)
	if b == nil {
		return nil, nil, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.stmt(ctx, query)
	if errors.Is(err, errBatchClosed) {
		return nil, nil, false
	}
	if err != nil {
		return nil, err, true
	}
	rows, err := st.QueryContext(ctx, args...)
	return rows, err, true
}
