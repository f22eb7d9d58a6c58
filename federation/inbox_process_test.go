package federation

import (
	"sync"
	"testing"
	"time"
)

// TestSchedulerOrder: tasks that share a key run one after the other in
// the order they were added; tasks with no key in common run at once.
func TestSchedulerOrder(t *testing.T) {
	tests := []struct {
		name string
		keys [][]string // per task, in arrival order
		// after[i] lists the tasks that must have ended before task i starts
		after map[int][]int
		// together lists pairs that must be able to run at the same time
		together [][2]int
	}{
		{"one actor", [][]string{{"a"}, {"a"}, {"a"}}, map[int][]int{1: {0}, 2: {0, 1}}, nil},
		{"two actors", [][]string{{"a"}, {"b"}}, nil, [][2]int{{0, 1}}},
		{"an object shared by two actors", [][]string{{"a", "o"}, {"b", "o"}, {"b"}}, map[int][]int{1: {0}, 2: {1}}, nil},
		{"chain through keys", [][]string{{"a"}, {"a", "b"}, {"b"}, {"c"}}, map[int][]int{1: {0}, 2: {0, 1}}, [][2]int{{0, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScheduler(100)
			var mu sync.Mutex
			started, ended := map[int]bool{}, map[int]bool{}
			running := map[int]chan struct{}{} // closed when the task starts
			release := map[int]chan struct{}{}
			for i := range tt.keys {
				running[i], release[i] = make(chan struct{}), make(chan struct{})
			}
			var wg sync.WaitGroup
			for range len(tt.keys) {
				wg.Go(func() {
					tk := s.next()
					if tk == nil {
						return
					}
					i := int(tk.it.ID)
					mu.Lock()
					for _, j := range tt.after[i] {
						if !ended[j] {
							t.Errorf("task %d started before task %d ended", i, j)
						}
					}
					started[i] = true
					mu.Unlock()
					close(running[i])
					<-release[i]
					mu.Lock()
					ended[i] = true
					mu.Unlock()
					s.done(tk)
				})
			}
			for i, keys := range tt.keys {
				s.add(&task{it: InboxItem{ID: int64(i)}, keys: keys})
			}
			for _, p := range tt.together {
				for _, i := range p {
					select {
					case <-running[i]:
					case <-time.After(5 * time.Second):
						t.Fatalf("task %d did not start while %v could run together", i, p)
					}
				}
			}
			for i := range tt.keys { // release in order, each once it runs
				<-running[i]
				close(release[i])
			}
			wg.Wait()
			s.waitIdle()
			if len(s.queues) != 0 || len(s.inFlight) != 0 {
				t.Errorf("left: %d queues, %d in flight", len(s.queues), len(s.inFlight))
			}
		})
	}
}
