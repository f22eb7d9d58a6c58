package federation

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestHandOverKeepsTheParse: what the processor gets from the hand-over
// (a parse kept without its Raw, the activity's Raw put back from the
// queue) is the parse of the body in everything but embedded objects'
// Raw, which nothing after Receive reads, for every fixture.
func TestHandOverKeepsTheParse(t *testing.T) {
	for _, name := range fixtureFiles(t) {
		body := readFixture(t, name)
		act, err := Parse(body)
		if err != nil {
			continue // refused input is never handed over
		}
		kept := withoutRaw(act)
		kept.Raw = body

		want, _ := Parse(body)
		for _, o := range want.Objects {
			if o != nil {
				o.Raw = nil
			}
		}
		if !reflect.DeepEqual(kept, want) {
			t.Errorf("%s: handed over\n%+v\nparsed\n%+v", name, kept, want)
		}
		if kept.Object != nil && kept.Object != kept.Objects[0] {
			t.Errorf("%s: Object is not Objects[0]", name)
		}
		if orig, _ := Parse(body); !reflect.DeepEqual(act, orig) {
			t.Errorf("%s: withoutRaw changed the parse it copied", name)
		}
	}
}

// TestHandOverBound: the hand-over holds at most maxParsedBytes of
// bodies; entries the processor never took (it read their rows before
// they were handed over) make room once stale.
func TestHandOverBound(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	in := &Inbox{parsed: map[string]parsedActivity{}, now: func() time.Time { return now }}
	act := &Object{ID: "https://m.example/a", Type: "Create", Raw: []byte("{}")}
	const size = 1 << 20
	for i := range maxParsedBytes / size {
		in.handOver(fmt.Sprint(i), act, size)
	}
	in.handOver("full", act, size)
	if _, ok := in.takeParsed("full"); ok {
		t.Fatal("kept past the bound")
	}
	if _, ok := in.takeParsed("0"); !ok {
		t.Fatal("entry 0 not kept")
	}
	in.handOver("room", act, size)
	if got, ok := in.takeParsed("room"); !ok || got.Raw != nil || act.Raw == nil {
		t.Fatalf("room made by a take: kept %v, got %+v", ok, got)
	}
	in.handOver("0", act, size) // full again
	now = now.Add(staleParsed / 2)
	in.handOver("fresh", act, size)
	if _, ok := in.takeParsed("fresh"); ok {
		t.Fatal("kept past the bound while nothing was stale")
	}
	now = now.Add(staleParsed)
	in.handOver("after", act, size)
	if _, ok := in.takeParsed("after"); !ok {
		t.Fatal("stale entries not dropped to make room")
	}
	if in.parsedBytes != size*len(in.parsed) {
		t.Fatalf("parsedBytes %d for %d entries", in.parsedBytes, len(in.parsed))
	}
}
