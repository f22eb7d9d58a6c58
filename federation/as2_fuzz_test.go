package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
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

// FuzzCheckShape holds CheckShape, which runs before a signature is
// verified (issue 15, item 1), to what it promises: it never panics, and
// a valid JSON document it accepts is no deeper than maxDepth, has no
// array past maxArrayItems and no more than maxValues values, counted on
// the decoded document.
func FuzzCheckShape(f *testing.F) {
	for _, tt := range malformedInputs {
		f.Add([]byte(tt.doc))
	}
	f.Add([]byte(testFollow))
	f.Add([]byte(nested(maxDepth)))
	f.Add([]byte(`{"to":[` + strings.Repeat(`"a",`, maxArrayItems) + `"b"]}`))
	f.Add([]byte(`{"a":"\"[[[[","b":[1,2e5,true,null,{"c":"\\"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := CheckShape(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		var doc any
		if json.Unmarshal(data, &doc) != nil {
			return // refused later by the decoder
		}
		values := 0
		var walk func(v any, depth int)
		walk = func(v any, depth int) {
			values++
			switch v := v.(type) {
			case []any:
				if depth+1 > maxDepth {
					t.Fatalf("accepted nesting past %d", maxDepth)
				}
				if len(v) > maxArrayItems {
					t.Fatalf("accepted an array of %d items", len(v))
				}
				for _, e := range v {
					walk(e, depth+1)
				}
			case map[string]any:
				if depth+1 > maxDepth {
					t.Fatalf("accepted nesting past %d", maxDepth)
				}
				for _, e := range v {
					values++ // its key
					walk(e, depth+1)
				}
			}
		}
		walk(doc, 0)
		if values > maxValues {
			t.Fatalf("accepted %d values", values)
		}
	})
}

// FuzzParseActor: an actor document never makes Agora keep a name,
// username or link past its cap, or a name cut inside a rune.
func FuzzParseActor(f *testing.F) {
	f.Add([]byte(`{"id":"https://a.example/u/1","type":"Person","inbox":"https://a.example/u/1/inbox","name":"Alice","preferredUsername":"alice","icon":{"url":"https://a.example/i.png"},"url":["https://a.example/@alice"]}`))
	f.Add([]byte(`{"id":"https://a.example/u/1","type":["Person"],"inbox":"https://a.example/i","name":"` + strings.Repeat("é\u0301", 300) + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseActor(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if utf8.RuneCountInString(a.Name) > MaxActorName || utf8.RuneCountInString(a.PreferredUsername) > MaxActorUsername {
			t.Fatalf("name of %d runes, username of %d kept", utf8.RuneCountInString(a.Name), utf8.RuneCountInString(a.PreferredUsername))
		}
		if len(a.URL) > MaxActorURL || len(a.Icon) > MaxActorURL || len(a.Followers) > MaxActorURL {
			t.Fatal("a link past the cap kept")
		}
		if utf8.ValidString(string(data)) && (!utf8.ValidString(a.Name) || !utf8.ValidString(a.PreferredUsername)) {
			t.Fatalf("cut inside a rune: %q", a.Name)
		}
	})
}
