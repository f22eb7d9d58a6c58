package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// Transactions. No transaction travels in a context, and none is handed
// to code outside this package: whoever begins one (a method of DB, or a
// group commit's leader) commits or rolls it back before returning, and
// nothing in this package waits on the network meanwhile (it does not
// import net/http). So no outgoing request can be made while a write
// transaction is open; tests check it with TrackWriters and HoldsWrite
// (cmd/agora's test transport fails any request made by a goroutine that
// holds one).

// writeTx is a write transaction begun by begin; ending it, by Commit or
// Rollback, tells the writers tracker.
type writeTx struct {
	*sql.Tx
	release func()
	once    sync.Once
}

func (t *writeTx) Commit() error {
	t.once.Do(t.release)
	return t.Tx.Commit()
}

func (t *writeTx) Rollback() error {
	t.once.Do(t.release)
	return t.Tx.Rollback()
}

// begin starts a write transaction on the writer connection.
func (db *DB) begin(ctx context.Context) (*writeTx, error) {
	release := db.writers.hold()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		release()
		return nil, err
	}
	return &writeTx{Tx: tx, release: release}, nil
}

// writers records, when tracking is on, which goroutines hold a write
// transaction (or run a write statement). Off, it costs an atomic load.
type writers struct {
	on   atomic.Bool
	mu   sync.Mutex
	held map[uint64]int
}

// TrackWriters turns on the tracking that HoldsWrite reads (tests: it
// costs a stack read per write).
func (db *DB) TrackWriters() {
	db.writers.mu.Lock()
	if db.writers.held == nil {
		db.writers.held = map[uint64]int{}
	}
	db.writers.mu.Unlock()
	db.writers.on.Store(true)
}

// HoldsWrite tells whether the calling goroutine holds a write
// transaction of db; always false unless TrackWriters was called.
func (db *DB) HoldsWrite() bool {
	if !db.writers.on.Load() {
		return false
	}
	id := goroutineID()
	db.writers.mu.Lock()
	defer db.writers.mu.Unlock()
	return db.writers.held[id] > 0
}

// hold records that the calling goroutine holds a write until the
// returned func is called.
func (w *writers) hold() func() {
	if !w.on.Load() {
		return func() {}
	}
	id := goroutineID()
	w.mu.Lock()
	w.held[id]++
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		if w.held[id]--; w.held[id] <= 0 {
			delete(w.held, id)
		}
		w.mu.Unlock()
	}
}

// goroutineID reads the calling goroutine's id from its stack header
// ("goroutine 123 [running]:"); only for the tracking above.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
