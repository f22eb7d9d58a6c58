package federation

import (
	"fmt"
	"reflect"
	"slices"
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
// bodies; entries the processor never took make room once stale.
func TestHandOverBound(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	in := &Inbox{parsed: map[string]parsedActivity{}, now: func() time.Time { return now }}
	act := &Object{ID: "https://m.example/a", Type: "Create", Raw: []byte("{}")}
	const size = 1 << 20
	body := make([]byte, size)
	for i := range maxParsedBytes / size {
		if !in.handOver(fmt.Sprint(i), act, body) {
			t.Fatalf("entry %d not kept", i)
		}
	}
	if in.handOver("full", act, body) {
		t.Fatal("handOver says it kept past the bound")
	}
	if _, ok := in.takeParsed("full", body); ok {
		t.Fatal("kept past the bound")
	}
	if _, ok := in.takeParsed("0", body); !ok {
		t.Fatal("entry 0 not kept")
	}
	in.handOver("room", act, body)
	if got, ok := in.takeParsed("room", body); !ok || got.Raw != nil || act.Raw == nil {
		t.Fatalf("room made by a take: kept %v, got %+v", ok, got)
	}
	in.handOver("0", act, body) // full again
	now = now.Add(staleParsed / 2)
	in.handOver("fresh", act, body)
	if _, ok := in.takeParsed("fresh", body); ok {
		t.Fatal("kept past the bound while nothing was stale")
	}
	now = now.Add(staleParsed)
	in.handOver("after", act, body)
	if _, ok := in.takeParsed("after", body); !ok {
		t.Fatal("stale entries not dropped to make room")
	}
	if in.parsedBytes != size*len(in.parsed) {
		t.Fatalf("parsedBytes %d for %d entries", in.parsedBytes, len(in.parsed))
	}
}

// TestHandOverTakesOnlyItsBody: the processor gets a handed-over parse
// only for the very body it read from the queue, and an id already handed
// over keeps its first parse (two deliveries of one activity can race to
// the record; only the first is recorded).
func TestHandOverTakesOnlyItsBody(t *testing.T) {
	first := []byte(`{"id":"https://m.example/a","type":"Create","actor":"https://m.example/u"}`)
	second := []byte(`{"id":"https://m.example/a","type":"Update","actor":"https://m.example/u"}`) // same length
	longer := append(slices.Clone(first), ' ')
	actOf := func(b []byte) *Object {
		act, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return act
	}
	tests := []struct {
		name   string
		handed [][]byte // handed over in this order under one id
		read   []byte   // the body the processor read from the queue
		want   string   // the type it gets, "" for none (it parses again)
	}{
		{"same body", [][]byte{first}, first, "Create"},
		{"another body of the same length", [][]byte{first}, second, ""},
		{"a longer body", [][]byte{first}, longer, ""},
		{"the first of two is kept", [][]byte{first, second}, first, "Create"},
		{"the second of two is not", [][]byte{first, second}, second, ""},
		{"nothing handed over", nil, first, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &Inbox{parsed: map[string]parsedActivity{}, now: time.Now}
			for i, b := range tt.handed {
				if kept := in.handOver("https://m.example/a", actOf(b), b); kept != (i == 0) {
					t.Fatalf("hand-over %d kept = %v", i, kept)
				}
			}
			typ := ""
			if got, ok := in.takeParsed("https://m.example/a", tt.read); ok {
				typ = got.Type
			}
			if typ != tt.want {
				t.Fatalf("took the parse of a %q, want %q", typ, tt.want)
			}
			if len(in.parsed) != 0 || in.parsedBytes != 0 {
				t.Fatalf("the take left %d entries, %d bytes", len(in.parsed), in.parsedBytes)
			}
		})
	}
}
