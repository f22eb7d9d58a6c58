package federation

import "context"

// InboxBatcher is an optional InboxStore method: a context whose reads and
// writes run in one write transaction (storage/sqlite/batch.go), with flush
// (commit what was done, release the writer, go on) and end (commit and
// stop). The processor handles a page of activities in one batch: a commit
// per page instead of several per activity.
//
// The batch holds the database's one writer connection from its first use
// to its flush. Whoever holds one must not wait on anything that may need
// that connection: flushBatch is called before every outgoing request (the
// HTTP client does it) and before waiting for a key another request is
// fetching.
type InboxBatcher interface {
	Batch(ctx context.Context) (bctx context.Context, flush, end func() error)
}

type flushKey struct{}

// withFlush records in ctx how to flush its batch.
func withFlush(ctx context.Context, flush func() error) context.Context {
	return context.WithValue(ctx, flushKey{}, flush)
}

// flushBatch commits and releases ctx's batch, if it carries one, before a
// wait. A failed commit is the processor's to see: its next use of the
// batch begins a new transaction, and the activities are processed again.
func flushBatch(ctx context.Context) {
	if f, ok := ctx.Value(flushKey{}).(func() error); ok {
		f()
	}
}
