package federation

import (
	"context"
	"errors"
	"testing"
)

type fakeSlot struct {
	release    bool  // what Release answers
	reacquire  error // what Reacquire answers
	released   int
	reacquired int
}

func (s *fakeSlot) Release() bool { s.released++; return s.release }
func (s *fakeSlot) Reacquire(context.Context) error {
	s.reacquired++
	return s.reacquire
}

// TestWaitReleasing: a request waiting on another server gives its slot
// back and takes it again after; when no slot comes back it fails with
// ErrBusy (503); when it may not give the slot back it waits holding it.
func TestWaitReleasing(t *testing.T) {
	done := make(chan struct{})
	close(done)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name                     string
		ctx                      context.Context
		done                     chan struct{}
		slot                     *fakeSlot
		want                     error
		wantReleased, wantRetook int
	}{
		{"no slot", context.Background(), done, nil, nil, 0, 0},
		{"given back and taken again", context.Background(), done, &fakeSlot{release: true}, nil, 1, 1},
		{"kept: too many wait already", context.Background(), done, &fakeSlot{release: false}, nil, 1, 0},
		{"none free again", context.Background(), done, &fakeSlot{release: true, reacquire: context.DeadlineExceeded}, ErrBusy, 1, 1},
		{"the request ended", ended, make(chan struct{}), &fakeSlot{release: true, reacquire: context.Canceled}, context.Canceled, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if tt.slot != nil {
				ctx = WithSlot(ctx, tt.slot)
			}
			if err := waitReleasing(ctx, tt.done); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if tt.slot != nil && (tt.slot.released != tt.wantReleased || tt.slot.reacquired != tt.wantRetook) {
				t.Errorf("released %d, taken again %d; want %d and %d", tt.slot.released, tt.slot.reacquired, tt.wantReleased, tt.wantRetook)
			}
		})
	}
}
