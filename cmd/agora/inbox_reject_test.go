package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
	"github.com/go-fed/httpsig"
)

// signWith signs r with exactly the given headers, to build requests that
// leave one out.
func signWith(t *testing.T, r *http.Request, key federation.SigningKey, body []byte, headers []string, date time.Time) {
	t.Helper()
	r.Header.Set("Date", date.UTC().Format(http.TimeFormat))
	r.Header.Set("Host", r.URL.Host)
	sum := sha256.Sum256(body)
	r.Header.Set("Digest", "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]))
	signer, _, err := httpsig.NewSigner([]httpsig.Algorithm{httpsig.RSA_SHA256}, httpsig.DigestSha256, headers, httpsig.Signature, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.SignRequest(key.Private, key.KeyID, r, nil); err != nil {
		t.Fatal(err)
	}
}

func TestInboxRejections(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob"}})
	group := a.base() + "/c/gardening"
	inbox := a.base() + "/inbox"
	alice := remote.SigningKey("alice")

	// A closed port: the key host is unreachable.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadHost := ln.Addr().String()
	ln.Close()

	fresh := func(user string) []byte {
		b, _ := follow(remote, user, group)
		return b
	}
	all := []string{"(request-target)", "host", "date", "digest"}
	now := time.Now()
	tests := []struct {
		name string
		make func() *http.Request
		want int
	}{
		{"no signature", func() *http.Request {
			return newPost(inbox, fresh("alice"), "application/activity+json")
		}, 401},
		{"RFC 9421 only", func() *http.Request {
			r := newPost(inbox, fresh("alice"), "application/activity+json")
			r.Header.Set("Signature-Input", `sig1=("@method" "@target-uri" "content-digest");created=`+
				strings.TrimSpace(time.Now().Format("20060102"))+`;keyid="`+alice.KeyID+`"`)
			r.Header.Set("Signature", "sig1=:AAAA:")
			return r
		}, 401},
		{"bad signature", func() *http.Request {
			body := fresh("alice")
			r := newPost(inbox, body, "application/activity+json")
			federation.SignRequest(r, alice, body, now)
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), `signature="`, `signature="AAAA`, 1))
			return r
		}, 401},
		{"signed by another key", func() *http.Request {
			body := fresh("alice")
			r := newPost(inbox, body, "application/activity+json")
			wrong := remote.SigningKey("bob")
			wrong.KeyID = alice.KeyID // claims alice's key, signs with bob's
			federation.SignRequest(r, wrong, body, now)
			return r
		}, 401},
		{"digest mismatch", func() *http.Request {
			body := fresh("alice")
			r := newPost(inbox, fresh("alice"), "application/activity+json") // another body
			federation.SignRequest(r, alice, body, now)
			return r
		}, 401},
		{"digest header missing", func() *http.Request {
			body := fresh("alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, all, now)
			r.Header.Del("Digest")
			return r
		}, 401},
		{"digest not signed", func() *http.Request {
			body := fresh("alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, []string{"(request-target)", "host", "date"}, now)
			return r
		}, 401},
		{"date not signed", func() *http.Request {
			body := fresh("alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, []string{"(request-target)", "host", "digest"}, now)
			return r
		}, 401},
		{"host not signed", func() *http.Request {
			body := fresh("alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, []string{"(request-target)", "date", "digest"}, now)
			return r
		}, 401},
		{"request-target not signed", func() *http.Request {
			body := fresh("alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, []string{"host", "date", "digest"}, now)
			return r
		}, 401},
		{"date 13 hours old", func() *http.Request {
			body := fresh("alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, all, now.Add(-13*time.Hour))
			return r
		}, 401},
		{"date 2 hours ahead", func() *http.Request {
			body := fresh("alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, all, now.Add(2*time.Hour))
			return r
		}, 401},
		{"key owner is not the actor", func() *http.Request {
			body := fresh("bob") // bob's Follow, signed by alice
			r := newPost(inbox, body, "application/activity+json")
			federation.SignRequest(r, alice, body, now)
			return r
		}, 401},
		{"key host unreachable", func() *http.Request {
			body := []byte(`{"@context":"https://www.w3.org/ns/activitystreams","id":"http://` + deadHost +
				`/f/1","type":"Follow","actor":"http://` + deadHost + `/users/x","object":"` + group + `"}`)
			r := newPost(inbox, body, "application/activity+json")
			k := alice
			k.KeyID = "http://" + deadHost + "/users/x#main-key"
			federation.SignRequest(r, k, body, now)
			return r
		}, 401},
		{"oversize body", func() *http.Request {
			body := bytes.Repeat([]byte(" "), 1<<20+1)
			r := newPost(inbox, body, "application/activity+json")
			federation.SignRequest(r, alice, body, now)
			return r
		}, 413},
		{"oversize body, chunked", func() *http.Request {
			body := bytes.Repeat([]byte(" "), 1<<20+1)
			r := newPost(inbox, body, "application/activity+json")
			r.ContentLength = -1 // no Content-Length: the limit holds while reading
			r.Body = readerOnly{bytes.NewReader(body)}
			federation.SignRequest(r, alice, body, now)
			return r
		}, 413},
		{"wrong content type", func() *http.Request {
			body := fresh("alice")
			r := newPost(inbox, body, "text/plain")
			federation.SignRequest(r, alice, body, now)
			return r
		}, 415},
		{"form content type", func() *http.Request {
			body := fresh("alice")
			r := newPost(inbox, body, "application/x-www-form-urlencoded")
			federation.SignRequest(r, alice, body, now)
			return r
		}, 415},
		{"malformed JSON, validly signed", func() *http.Request {
			body := []byte(`{"type": "Follow", "actor": `)
			r := newPost(inbox, body, "application/activity+json")
			federation.SignRequest(r, alice, body, now)
			return r
		}, 400},
		{"unknown community inbox", func() *http.Request {
			body := fresh("alice")
			r := newPost(a.base()+"/c/nosuch/inbox", body, "application/activity+json")
			federation.SignRequest(r, alice, body, now)
			return r
		}, 404},
	}
	ctx := context.Background()
	db := a.srv.App.DB
	c, _ := a.srv.App.Svc.Get(ctx, "gardening")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := db.InboxCount(ctx)
			resp, err := http.DefaultClient.Do(tt.make())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			after, _ := db.InboxCount(ctx)
			if after != before {
				t.Fatalf("inbox rows %d -> %d: a rejected request left a row", before, after)
			}
		})
	}
	a.quiet()
	if n, _ := a.srv.App.Svc.CountMembers(ctx, c, community.Joined); n != 0 {
		t.Fatalf("a rejected Follow made %d members", n)
	}
	if n := len(remote.Received()); n != 0 {
		t.Fatalf("rejected requests were answered with %d activities", n)
	}
	// The control: the same Follow, properly signed, is accepted.
	body := fresh("alice")
	r := newPost(inbox, body, "application/activity+json")
	federation.SignRequest(r, alice, body, time.Now())
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("valid request: status %d", resp.StatusCode)
	}
}

type readerOnly struct{ r *bytes.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r readerOnly) Close() error               { return nil }

func newPost(url string, body []byte, contentType string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	return r
}
