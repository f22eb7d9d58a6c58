package federation

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// jrdSeeds are WebFinger answers as servers write them, and as they
// should not.
var jrdSeeds = []string{
	// Mastodon.
	`{"subject":"acct:alice@mastodon.example","aliases":["https://mastodon.example/@alice","https://mastodon.example/users/alice"],"links":[{"rel":"http://webfinger.net/rel/profile-page","type":"text/html","href":"https://mastodon.example/@alice"},{"rel":"self","type":"application/activity+json","href":"https://mastodon.example/users/alice"},{"rel":"http://ostatus.org/schema/1.0/subscribe","template":"https://mastodon.example/authorize_interaction?uri={uri}"}]}`,
	// GoToSocial: ld+json with the profile.
	`{"subject":"acct:bob@gts.example","aliases":["https://gts.example/users/bob"],"links":[{"rel":"self","type":"application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"","href":"https://gts.example/users/bob"}]}`,
	// Lemmy: a group and a person under one name.
	`{"subject":"acct:rust@lemmy.example","links":[{"rel":"http://webfinger.net/rel/profile-page","type":"text/html","href":"https://lemmy.example/c/rust"},{"rel":"self","type":"application/activity+json","href":"https://lemmy.example/c/rust","properties":{"https://www.w3.org/ns/activitystreams#type":"Group"}}]}`,
	// Agora's own.
	`{"subject":"acct:gardening@127.0.0.1:8080","aliases":["http://127.0.0.1:8080/c/gardening"],"links":[{"rel":"self","type":"application/activity+json","href":"http://127.0.0.1:8080/c/gardening"}]}`,
	// Hostile and broken.
	``, `null`, `[]`, `"acct:x@y"`, `{`, `{"links":null}`, `{"links":{}}`, `{"links":[null,1,"x",[]]}`,
	`{"subject":1,"aliases":"https://a.example/u","links":[{"rel":["self"],"href":{"x":1}}]}`,
	`{"links":[{"rel":"self","type":"application/activity+json","href":"javascript:alert(1)"}]}`,
	`{"links":[{"rel":"self","type":"application/activity+json","href":"http://169.254.169.254/latest/meta-data/"}]}`,
	`{"subject":"acct:a@b","links":[]}trailing`,
	`{"subject":"\u202egnidrag\u200b@evil.example"}`,
	`{"links":[` + strings.Repeat(`{"rel":"self","type":"application/activity+json","href":"https://a.example/u"},`, 100) + `{}]}`,
	strings.Repeat(`{"links":`, 200) + strings.Repeat(`}`, 200),
	"{\"subject\":\"\xff\xfe\"}",
}

// FuzzParseJRD: ParseJRD never panics, fails only with ErrMalformed, and
// what it returns survives a round trip; the links Agora reads are among
// those given.
func FuzzParseJRD(f *testing.F) {
	for _, s := range jrdSeeds {
		f.Add([]byte(s))
	}
	// Actor documents from the fixtures are JSON that is almost, but not,
	// a JRD: good mutation material.
	if _, err := os.Stat(fixturesDir); err == nil {
		for i, name := range fixtureFiles(f) {
			if i%4 == 0 {
				f.Add(readFixture(f, name))
			}
		}
	} else {
		f.Logf("fediverse fixtures not found (../shared/fixtures/fediverse from the repository root): seeding with inline inputs only")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		jrd, err := ParseJRD(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			if !reflect.DeepEqual(jrd, JRD{}) {
				t.Fatal("a JRD returned with an error")
			}
			return
		}
		hrefs := map[string]bool{"": true}
		templates := map[string]bool{"": true}
		for _, l := range jrd.Links {
			hrefs[l.Href] = true
			templates[l.Template] = true
		}
		if !hrefs[jrd.ActorIRI()] {
			t.Fatalf("ActorIRI %q is not a link's href", jrd.ActorIRI())
		}
		if !templates[jrd.SubscribeTemplate()] {
			t.Fatalf("SubscribeTemplate %q is not a link's template", jrd.SubscribeTemplate())
		}
		again, err := json.Marshal(jrd)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseJRD(again)
		if err != nil || back.ActorIRI() != jrd.ActorIRI() || back.Subject != jrd.Subject || len(back.Links) != len(jrd.Links) {
			t.Fatalf("round trip: %+v -> %+v (%v)", jrd, back, err)
		}
	})
}

// FuzzSplitHandle: a handle that splits has a user and a host with none
// of the characters that would change the WebFinger URL built from them,
// and splitting it again gives the same parts.
func FuzzSplitHandle(f *testing.F) {
	for _, s := range []string{"@alice@mastodon.example", "alice@127.0.0.21:40123", "acct:bob@gts.example", "@@", "a@b@c",
		"@alice@evil.example/../x", "@alice@evil.example?x=1#y", "@alice@[::1]:80", " @a@b ", "@garden\u202eing@x.example",
		"@a@exa mple.org", "@a@169.254.169.254", "@a@EXAMPLE.ORG", "acct:@x", "\x00@\x00", "acct:acct:@0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, handle string) {
		user, host, err := SplitHandle(handle)
		if err != nil {
			if !errors.Is(err, ErrBadHandle) {
				t.Fatalf("error does not wrap ErrBadHandle: %v", err)
			}
			return
		}
		if user == "" || host == "" || strings.ContainsAny(user, "/?#@ :") || strings.ContainsAny(host, "/?#@ ") {
			t.Fatalf("SplitHandle(%q) = %q, %q", handle, user, host)
		}
		if host != strings.ToLower(host) {
			t.Fatalf("host %q not in lower case", host)
		}
		u2, h2, err := SplitHandle("@" + user + "@" + host)
		if err != nil || u2 != user || h2 != host {
			t.Fatalf("split again: %q %q %v, want %q %q", u2, h2, err, user, host)
		}
	})
}
