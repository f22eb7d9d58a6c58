package federation

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// TestScanFactsMatchesParse: the keys the dispatcher reads from a body
// without parsing it are those of its parse, for every activity among the
// real payloads and a few forms of the object.
func TestScanFactsMatchesParse(t *testing.T) {
	bodies := map[string][]byte{
		"object by id":      []byte(`{"id":"https://a.example/1","type":"Like","actor":"https://a.example/u","object":"https://b.example/p/1"}`),
		"object array":      []byte(`{"id":"https://a.example/2","type":"Delete","actor":"https://a.example/u","object":["https://a.example/p/1","https://a.example/p/2"]}`),
		"undo of a like":    []byte(`{"id":"https://a.example/3","type":"Undo","actor":"https://a.example/u","object":{"id":"https://a.example/l","type":"Like","actor":"https://a.example/u","object":{"id":"https://b.example/p/1","type":"Note"}}}`),
		"reply by object":   []byte(`{"id":"https://a.example/4","type":"Create","actor":"https://a.example/u","object":{"id":"https://a.example/p/4","type":"Note","inReplyTo":{"id":"https://b.example/p/1","type":"Note"}}}`),
		"type array":        []byte(`{"id":"https://a.example/5","type":"Create","actor":"https://a.example/u","object":{"id":"https://a.example/p/5","type":["Note"]}}`),
		"no object":         []byte(`{"id":"https://a.example/6","type":"Follow","actor":"https://a.example/u"}`),
		"Create of a reply": []byte(`{"id":"https://a.example/7","type":"Create","actor":"https://a.example/u","object":{"id":"https://a.example/p/7","type":"Note","inReplyTo":"https://b.example/p/1"}}`),
	}
	const dir = "../../shared/fixtures/fediverse"
	if _, err := os.Stat(dir); err != nil {
		t.Logf("fediverse fixtures not found (%s): only the inline bodies", dir)
	} else {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(path, "/activities/") && strings.HasSuffix(path, ".json") {
				if b, err := os.ReadFile(path); err == nil {
					bodies[path] = b
				}
			}
			return nil
		})
	}
	compared := 0
	for name, body := range bodies {
		act, err := Parse(body)
		if err != nil {
			continue // the processor never sees what did not parse before its 202
		}
		got, ok := scanFacts(body)
		want := factsOf(act)
		if !ok || orderKeys("https://a.example/u", got) == nil || !slices.Equal(orderKeys(act.Actor, got), orderKeys(act.Actor, want)) {
			t.Errorf("%s: scanned %+v, parsed %+v", name, got, want)
		}
		compared++
	}
	if compared < len(bodies)/2 {
		t.Errorf("only %d of %d bodies parsed", compared, len(bodies))
	}
	t.Logf("%d activities compared", compared)
}

// TestFlagTargetsCapped: a Flag naming 30,000 objects is looked at for
// its first maxFlagObjects distinct ones only.
func TestFlagTargetsCapped(t *testing.T) {
	tests := []struct {
		objects, distinct, want int
	}{
		{3, 3, 3},
		{30000, 30000, maxFlagObjects},
		{200, 2, 2}, // duplicates count towards the cap: what is read is bounded
	}
	for _, tt := range tests {
		act := &Object{Type: "Flag"}
		for i := range tt.objects {
			act.Objects = append(act.Objects, &Object{ID: fmt.Sprintf("https://a.example/%d", i%tt.distinct)})
		}
		if got := len(flagTargets(act)); got != tt.want {
			t.Errorf("%d objects (%d distinct): %d targets, want %d", tt.objects, tt.distinct, got, tt.want)
		}
	}
}

// TestKeptOf: of a processed activity, only what superseded asks
// ReceivedLater about is kept: an Undo's or a Delete's object id.
func TestKeptOf(t *testing.T) {
	tests := []struct {
		name string
		act  *Object
		want string
	}{
		{"not parsed", nil, ""},
		{"a Create", &Object{Type: "Create", Object: &Object{ID: "https://m.example/n/1", Content: "long text"}}, ""},
		{"an Accept", &Object{Type: "Accept", Object: &Object{ID: "https://m.example/f/1"}}, ""},
		{"a Delete", &Object{Type: "Delete", Object: &Object{ID: "https://m.example/n/1"}}, `{"object":"https://m.example/n/1"}`},
		{"an Undo of an embedded Follow", &Object{Type: "Undo", Object: &Object{ID: "https://m.example/f/1", Type: "Follow"}}, `{"object":"https://m.example/f/1"}`},
		{"an Undo of nothing", &Object{Type: "Undo"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(keptOf(tt.act)); got != tt.want {
				t.Errorf("keptOf = %q, want %q", got, tt.want)
			}
		})
	}
}
