package gather

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// Concurrent requests are committed in batches of at most Max, one batch
// at a time, each request answered with its own result; a request whose
// context ends first gets the context's error.
func TestGroup(t *testing.T) {
	var mu sync.Mutex
	running, batches, most := 0, 0, 0
	release := make(chan struct{})
	g := Group[int, int]{Max: 4, Commit: func(reqs []int) []Result[int] {
		mu.Lock()
		running++
		batches++
		most = max(most, len(reqs))
		overlap := running > 1
		mu.Unlock()
		<-release
		out := make([]Result[int], len(reqs))
		for i, r := range reqs {
			out[i].Res = r * 10
			if r%7 == 0 {
				out[i].Err = errors.New("seven")
			}
		}
		mu.Lock()
		running--
		mu.Unlock()
		if overlap {
			t.Error("two batches committed at once")
		}
		return out
	}}
	const n = 30
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			res, err := g.Do(context.Background(), i)
			if i%7 == 0 {
				if err == nil {
					t.Errorf("request %d: no error", i)
				}
				return
			}
			if err != nil || res != i*10 {
				t.Errorf("request %d: %d, %v; want %d", i, res, err, i*10)
			}
		})
	}
	close(release)
	wg.Wait()
	if most > 4 || batches < n/4 {
		t.Errorf("%d batches, the largest %d: want at most 4 a batch", batches, most)
	}
	// A caller that stops waiting.
	block, in := make(chan struct{}), make(chan struct{})
	g2 := Group[int, int]{Max: 1, Commit: func(reqs []int) []Result[int] {
		if reqs[0] == 1 {
			close(in)
		}
		<-block
		return nil
	}}
	go g2.Do(context.Background(), 1) // leads, blocked in Commit
	<-in
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g2.Do(ctx, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	close(block)
}
