package sqlite

import (
	"context"
	"database/sql"
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
	st, err := db.rs.get(ctx, query)
	if err != nil {
		return db.r.QueryRowContext(ctx, query, args...) // carries the error
	}
	return st.QueryRowContext(ctx, args...)
}

func (db *DB) read(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := db.rs.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (db *DB) write(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := db.ws.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (db *DB) writeRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := db.ws.get(ctx, query)
	if err != nil {
		return db.w.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (db *DB) writeRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := db.ws.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}
