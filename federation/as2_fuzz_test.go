package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// FuzzParse feeds Parse what peers send (the fixtures, when present) and
// what they should not (the malformed inputs). Parse must never panic, must
// fail only with ErrMalformed, and must keep each object's bytes.
func FuzzParse(f *testing.F) {
	if _, err := os.Stat(fixturesDir); err == nil {
		for _, name := range fixtureFiles(f) {
			f.Add(readFixture(f, name))
		}
	} else {
		f.Logf("fediverse fixtures not found (../shared/fixtures/fediverse from the repository root): seeding with inline inputs only")
	}
	for _, tt := range malformedInputs {
		f.Add([]byte(tt.doc))
	}
	f.Add([]byte(testFollow))
	f.Add([]byte(nested(3)))
	f.Add([]byte(`{"type":["Foo","Note"],"to":"as:Public","tag":{"type":"Hashtag","name":"#x"},"attributedTo":[{"type":"Person","id":"https://a.example/u"}],"url":[{"type":"Link","href":"https://a.example/1","mediaType":"text/html"}],"contentMap":{"en":"x"}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			if o != nil {
				t.Fatal("an object returned with an error")
			}
			return
		}
		if o == nil || o.Type == "" {
			t.Fatalf("Parse = %+v without an error", o)
		}
		if !bytes.Equal(o.Raw, data) {
			t.Fatal("Raw is not the input")
		}
		var walk func(o *Object, depth int)
		walk = func(o *Object, depth int) {
			if depth > maxEmbedded+1 {
				t.Fatalf("objects embedded %d deep", depth)
			}
			for _, c := range o.Objects {
				if c == nil {
					t.Fatal("nil object")
				}
				if len(c.Raw) > 0 && (!json.Valid(c.Raw) || !bytes.Contains(data, c.Raw)) {
					t.Fatalf("embedded Raw %q is not from the input", c.Raw)
				}
				walk(c, depth+1)
			}
			if len(o.Objects) > 0 && o.Object != o.Objects[0] {
				t.Fatal("Object is not Objects[0]")
			}
		}
		walk(o, 0)
	})
}
