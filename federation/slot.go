package federation

import (
	"context"
	"errors"
)

// ErrBusy: the request gave its inbox slot back while it waited on
// another server, and found none free again in time; the sender is told
// to come back later (503).
var ErrBusy = errors.New("inbox busy")

// A Slot is something scarce a request holds, the inbox's concurrency
// limit, that it can give back while it waits on another server: a
// request waiting for a key fetch (up to KeyCacheConfig.FetchTimeout)
// then holds nothing that a valid activity needs. Both are called from
// the request's own goroutine.
type Slot interface {
	// Release gives the slot back; false when it is kept (too many
	// requests wait already, so this one waits holding it).
	Release() bool
	// Reacquire takes a slot again, waiting until one is free or ctx ends.
	Reacquire(ctx context.Context) error
}

type slotKey struct{}

// WithSlot returns ctx carrying the request's slot. It is the request's
// own capability, not a transaction: nothing is committed through it.
func WithSlot(ctx context.Context, s Slot) context.Context {
	return context.WithValue(ctx, slotKey{}, s)
}

func slotOf(ctx context.Context) Slot {
	s, _ := ctx.Value(slotKey{}).(Slot)
	return s
}

// waitReleasing waits for done, without the request's slot if it has
// one that it may give back, and takes the slot again after.
func waitReleasing(ctx context.Context, done <-chan struct{}) error {
	s := slotOf(ctx)
	released := s != nil && s.Release()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if released {
		if rerr := s.Reacquire(ctx); rerr != nil && err == nil {
			err = ErrBusy
		}
	}
	return err
}
