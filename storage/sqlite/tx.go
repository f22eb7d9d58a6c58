package sqlite

import (
	"context"
	"database/sql"
)

// begin starts a write transaction on the writer connection. No
// transaction travels in a context: whoever begins one commits or rolls it
// back before returning, and never waits on the network meanwhile.
func (db *DB) begin(ctx context.Context) (*sql.Tx, error) {
	return db.w.BeginTx(ctx, nil)
}
