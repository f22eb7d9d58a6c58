package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// A batch runs the reads and writes made with its context in one write
// transaction on the writer connection, begun at the first and committed
// by flush: the inbox processor makes one batch of many activities, so
// their writes share one commit (a commit costs more here than a small
// insert: a benchmark of AddPost gave 92 us alone, 28 us in a transaction
// of 100). The batch holds the one writer connection from its first use to
// its flush, so whoever holds one must flush before waiting on anything
// that may need the writer: the network (federation flushes before every
// request), or another goroutine's fetch. Methods that make their own
// transaction make a savepoint in the batch's instead.
type batch struct {
	db     *DB
	mu     sync.Mutex // held for each statement, and for a savepoint's life
	conn   *sql.Conn
	tx     *sql.Tx
	stmts  map[string]*sql.Stmt // bound to tx
	missed []string             // prepared in tx only: the writer's cache has them not
	sp     int
	closed bool
}

type batchKey struct{}

// errBatchClosed makes a use after the batch ended go the usual way.
var errBatchClosed = errors.New("batch ended")

// Batch returns a context carrying a new batch, a flush that commits what
// was done so far and releases the writer (the batch goes on at its next
// use), and an end that flushes and ends it (later uses go the usual way,
// one transaction each).
func (db *DB) Batch(ctx context.Context) (bctx context.Context, flush, end func() error) {
	b := &batch{db: db}
	return context.WithValue(ctx, batchKey{}, b), b.flush, b.end
}

func (db *DB) batchOf(ctx context.Context) *batch {
	if b, ok := ctx.Value(batchKey{}).(*batch); ok && b.db == db {
		return b
	}
	return nil
}

// ensure begins the transaction; b.mu is held.
func (b *batch) ensure(ctx context.Context) error {
	if b.closed {
		return errBatchClosed
	}
	if b.tx != nil {
		return nil
	}
	// Not the caller's cancellation: database/sql rolls a transaction back
	// when the context of its BeginTx ends, and the batch outlives calls.
	bg := context.WithoutCancel(ctx)
	conn, err := b.db.w.Conn(bg)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTx(bg, nil)
	if err != nil {
		conn.Close()
		return err
	}
	b.conn, b.tx, b.stmts = conn, tx, map[string]*sql.Stmt{}
	return nil
}

// stmt returns query prepared in the transaction; b.mu is held.
func (b *batch) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if err := b.ensure(ctx); err != nil {
		return nil, err
	}
	if st, ok := b.stmts[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if cached := b.db.ws.peek(query); cached != nil {
		st = b.tx.StmtContext(ctx, cached) // prepared on this connection already
	} else {
		var err error
		// Not b.db.ws.get: it would prepare on the pool, whose one
		// connection this batch holds. The commit puts it in the cache,
		// for the next batches (the reads, prepared for the reader pool
		// else, were prepared again in every batch: 21 us per activity).
		if st, err = b.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		b.missed = append(b.missed, query)
	}
	b.stmts[query] = st
	return st, nil
}

func (b *batch) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.commitLocked()
}

func (b *batch) end() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.commitLocked()
}

func (b *batch) commitLocked() error {
	if b.tx == nil {
		return nil
	}
	err := b.tx.Commit()
	b.conn.Close()
	missed := b.missed
	b.conn, b.tx, b.stmts, b.missed, b.sp = nil, nil, nil, nil, 0
	if err != nil {
		return fmt.Errorf("commit batch: %w", err)
	}
	for _, q := range missed {
		// The writer is free again; a failure here only means the next
		// batch prepares it again.
		_, _ = b.db.ws.get(context.Background(), q)
	}
	return nil
}

// txLike is what the methods that make their own transaction use of it:
// a *sql.Tx, or a savepoint in a batch's.
type txLike interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
	StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt
	Commit() error
	Rollback() error
}

// begin starts a transaction: a savepoint when ctx carries a batch (held
// until its Commit or Rollback: inside it use the returned txLike only).
func (db *DB) begin(ctx context.Context) (txLike, error) {
	if b := db.batchOf(ctx); b != nil {
		b.mu.Lock()
		switch err := b.ensure(ctx); {
		case errors.Is(err, errBatchClosed):
			b.mu.Unlock()
		case err != nil:
			b.mu.Unlock()
			return nil, err
		default:
			b.sp++
			name := fmt.Sprintf("sp%d", b.sp)
			if _, err := b.tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
				b.mu.Unlock()
				return nil, err
			}
			return &savepoint{Tx: b.tx, b: b, name: name}, nil
		}
	}
	return db.w.BeginTx(ctx, nil)
}

type savepoint struct {
	*sql.Tx
	b    *batch
	name string
	done bool
}

func (s *savepoint) Commit() error { return s.end("RELEASE") }

// Rollback undoes the savepoint's writes, then releases it (ROLLBACK TO
// leaves it open).
func (s *savepoint) Rollback() error { return s.end("ROLLBACK TO", "RELEASE") }

// end runs each statement on the savepoint, all of them whatever fails,
// returns the first error, and gives the batch back.
func (s *savepoint) end(verbs ...string) error {
	if s.done {
		return sql.ErrTxDone
	}
	s.done = true
	defer s.b.mu.Unlock()
	var first error
	for _, v := range verbs {
		if _, err := s.Tx.ExecContext(context.Background(), v+" "+s.name); err != nil && first == nil {
			first = err
		}
	}
	return first
}
