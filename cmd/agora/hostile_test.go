package main

// The hostile input corpus: what anyone on the internet can send to a
// running Agora. Each request must get its status and leave the database
// exactly as it was.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/federation/fedtest"
)

// dbDigest hashes every row of every table of the database in dataDir, so
// that a test can tell whether anything at all was written. Key fetch times
// are left out: refetching a known key after a bad signature is allowed.
func dbDigest(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "agora.db")+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	out := map[string]string{}
	for _, table := range tables {
		q := `SELECT * FROM "` + table + `"`
		if table == "remote_keys" {
			q = `SELECT key_id, owner, public_pem FROM remote_keys`
		}
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%q", vals))
		}
		rows.Close()
		slices.Sort(lines)
		h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
		out[table] = fmt.Sprintf("%d rows %s", len(lines), hex.EncodeToString(h[:8]))
	}
	return out
}

func diffDigest(before, after map[string]string) []string {
	var d []string
	for table, b := range before {
		if after[table] != b {
			d = append(d, fmt.Sprintf("%s: %s -> %s", table, b, after[table]))
		}
	}
	for table := range after {
		if _, ok := before[table]; !ok {
			d = append(d, "new table "+table)
		}
	}
	return d
}

// quiesce waits until every recorded activity is processed and every
// delivery made, so that a digest taken afterwards is stable.
func quiesce(t *testing.T, a *testAgora) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(a.cfg.DataDir, "agora.db")+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitUntil(t, "inbox processed and queue empty", func() bool {
		var pending, queued int
		db.QueryRowContext(ctx, `SELECT count(*) FROM inbox WHERE processed_at IS NULL`).Scan(&pending)
		db.QueryRowContext(ctx, `SELECT count(*) FROM deliveries`).Scan(&queued)
		return pending == 0 && queued == 0
	})
}

// lazyBody is n bytes of JSON-ish filler, made as it is read: a 100 MB
// body without 100 MB of memory.
type lazyBody struct{ left int64 }

func (b *lazyBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > b.left {
		n = b.left
	}
	for i := range p[:n] {
		p[i] = '['
	}
	b.left -= n
	return int(n), nil
}

func (b *lazyBody) Close() error { return nil }

func TestHostileInput(t *testing.T) {
	dir := t.TempDir()
	a := startAgora(t, dir, "", nil)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	a.mustCLI("community", "create", "club", "--title", "Club")
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice", "bob"}, Software: "mastodon"})
	evil := fedtest.NewServer(t, fedtest.Options{Users: []string{"mallory", "trent"}, Software: "mastodon"})
	base := a.base()
	group := base + "/c/gardening"
	inbox := base + "/inbox"
	alice, bob, mallory, trent := mastodon.SigningKey("alice"), mastodon.SigningKey("bob"), evil.SigningKey("mallory"), evil.SigningKey("trent")

	// Known peers: alice is a member, bob and mallory have been heard
	// from, so their keys are cached and a case's key fetch writes nothing.
	for _, f := range []struct {
		remote *fedtest.Server
		user   string
		object string
	}{{mastodon, "alice", group}, {mastodon, "bob", base + "/c/club"}, {evil, "mallory", base + "/c/club"}} {
		body, _ := follow(f.remote, f.user, f.object)
		post(t, f.remote, inbox, f.user, body)
	}
	// trent is a stranger whose key is cached: what he sends that concerns
	// no community is dropped without a trace.
	strangerFollow := func() []byte {
		b, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
			"id": fmt.Sprintf("%s/follows/%d", evil.ActorIRI("trent"), activitySeq.Add(1)), "type": "Follow",
			"actor": evil.ActorIRI("trent"), "object": "https://lemmy.example/c/x"})
		return b
	}
	post(t, evil, inbox, "trent", strangerFollow())
	acceptedBody, _ := follow(mastodon, "alice", group)
	acceptedReq := newPost(inbox, acceptedBody, "application/activity+json")
	federation.SignRequest(acceptedReq, alice, acceptedBody, time.Now())
	replay := acceptedReq.Clone(context.Background())
	if resp, err := http.DefaultClient.Do(acceptedReq); err != nil || resp.StatusCode != 202 {
		t.Fatalf("the valid Follow: %v %v", resp, err)
	}
	quiesce(t, a)

	// Documents the evil server serves to make its keys look like others'.
	malloryPEM, _ := federation.EncodePublicKey(&mallory.Private.PublicKey)
	keyDoc := func(id, owner string) []byte {
		b, _ := json.Marshal(map[string]any{"@context": "https://w3id.org/security/v1", "id": id, "owner": owner, "publicKeyPem": malloryPEM})
		return b
	}
	evil.PutDocument("/keys/foreign-id", keyDoc(mastodon.URL()+"/keys/foreign-id", evil.ActorIRI("mallory")))
	evil.PutDocument("/keys/alice", keyDoc(evil.URL()+"/keys/alice", mastodon.ActorIRI("alice")))
	// An upload on alice's own server, a key document naming her as owner
	// that her actor does not list (issue 15, item 2).
	mastodon.PutDocument("/uploads/key.json", keyDoc(mastodon.URL()+"/uploads/key.json", mastodon.ActorIRI("alice")))

	now := time.Now()
	all := []string{"(request-target)", "host", "date", "digest"}
	followOf := func(remote *fedtest.Server, user string) []byte {
		b, _ := follow(remote, user, group)
		return b
	}
	// activity is a JSON activity with the given fields and a fresh id.
	activity := func(fields map[string]any) []byte {
		doc := map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
			"id": fmt.Sprintf("%s/hostile/%d", mastodon.ActorIRI("alice"), activitySeq.Add(1))}
		for k, v := range fields {
			doc[k] = v
		}
		b, _ := json.Marshal(doc)
		return b
	}
	// signed is a POST of body to url, signed with key.
	signed := func(url string, body []byte, key federation.SigningKey) *http.Request {
		r := newPost(url, body, "application/activity+json")
		federation.SignRequest(r, key, body, now)
		return r
	}
	get := func(path string) func() *http.Request {
		return func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, base+path, nil)
			return r
		}
	}
	getAS2 := func(path string) func() *http.Request {
		return func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, base+path, nil)
			r.Header.Set("Accept", "application/activity+json")
			return r
		}
	}
	webfinger := func(resource string) func() *http.Request {
		return get("/.well-known/webfinger?resource=" + url.QueryEscape(resource))
	}
	deep := func(n int, open, close string) []byte {
		return []byte(`{"@context":"https://www.w3.org/ns/activitystreams","type":"Create","actor":"` + mastodon.ActorIRI("alice") +
			`","object":` + strings.Repeat(open, n) + strings.Repeat(close, n) + `}`)
	}
	huge := strings.Repeat("x", 1<<20)
	host := strings.TrimPrefix(base, "http://")

	tests := []struct {
		name string
		make func() *http.Request
		want int
	}{
		// Bodies.
		{"malformed JSON", func() *http.Request { return signed(inbox, []byte(`{"type": "Follow", "actor": `), alice) }, 400},
		{"truncated Follow", func() *http.Request { b := followOf(mastodon, "alice"); return signed(inbox, b[:len(b)/2], alice) }, 400},
		{"empty body", func() *http.Request { return signed(inbox, []byte{}, alice) }, 400},
		{"JSON null", func() *http.Request { return signed(inbox, []byte(`null`), alice) }, 400},
		{"JSON array", func() *http.Request { return signed(inbox, []byte(`[`+string(followOf(mastodon, "alice"))+`]`), alice) }, 400},
		{"JSON string", func() *http.Request { return signed(inbox, []byte(`"Follow"`), alice) }, 400},
		{"not JSON at all", func() *http.Request { return signed(inbox, []byte("<html><body>hi</body></html>"), alice) }, 400},
		{"no type", func() *http.Request {
			return signed(inbox, activity(map[string]any{"actor": mastodon.ActorIRI("alice"), "object": group}), alice)
		}, 400},
		{"no actor", func() *http.Request {
			return signed(inbox, activity(map[string]any{"type": "Follow", "object": group}), alice)
		}, 400},
		{"actor is an object without id", func() *http.Request {
			return signed(inbox, activity(map[string]any{"type": "Follow", "actor": map[string]any{"type": "Person"}, "object": group}), alice)
		}, 400},
		{"JSON nested 10,000 deep (arrays)", func() *http.Request { return signed(inbox, deep(10000, "[", "]"), alice) }, 400},
		{"JSON nested 10,000 deep (objects)", func() *http.Request { return signed(inbox, deep(10000, `{"object":`, "}"), alice) }, 400},
		{"invalid UTF-8 in the actor", func() *http.Request {
			return signed(inbox, []byte("{\"type\":\"Follow\",\"actor\":\"\xff\xfe\",\"object\":\""+group+"\"}"), alice)
		}, 401},
		{"100 MB body", func() *http.Request {
			r := newPost(inbox, nil, "application/activity+json")
			r.Body, r.ContentLength = &lazyBody{left: 100 << 20}, 100<<20
			return r
		}, 413},
		{"100 MB body, chunked", func() *http.Request {
			r := newPost(inbox, nil, "application/activity+json")
			r.Body, r.ContentLength = &lazyBody{left: 100 << 20}, -1
			r.Header.Set("Signature", `keyId="`+alice.KeyID+`",headers="(request-target) host date digest",signature="AAAA"`)
			return r
		}, 413},
		{"1 MiB + 1, signed", func() *http.Request { return signed(inbox, bytes.Repeat([]byte(" "), 1<<20+1), alice) }, 413},
		// Content types.
		{"text/plain", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, 415},
		{"no content type", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Del("Content-Type")
			return r
		}, 415},
		{"text/html", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Set("Content-Type", "text/html")
			return r
		}, 415},
		{"form", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 415},
		{"multipart", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Set("Content-Type", "multipart/form-data; boundary=x")
			return r
		}, 415},
		{"malformed media type", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Set("Content-Type", "application/activity+json; ===")
			return r
		}, 415},
		// Signatures (docs/protocol.md, "What Agora accepts").
		{"no signature", func() *http.Request { return newPost(inbox, followOf(mastodon, "alice"), "application/activity+json") }, 401},
		{"RFC 9421 with a bogus signature", func() *http.Request {
			r := newPost(inbox, followOf(mastodon, "alice"), "application/activity+json")
			r.Header.Set("Signature-Input", `sig1=("@method" "@target-uri");created=1;keyid="`+alice.KeyID+`"`)
			r.Header.Set("Signature", "sig1=:AAAA:")
			return r
		}, 401},
		{"signature altered", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), `signature="`, `signature="AAAA`, 1))
			return r
		}, 401},
		{"signature not base64", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), `signature="`, `signature="!!`, 1))
			return r
		}, 401},
		{"signature without keyId", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), `keyId="`, `kid="`, 1))
			return r
		}, 401},
		{"two Signature headers", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Add("Signature", r.Header.Get("Signature"))
			return r
		}, 401},
		{"algorithm hmac-sha256", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), `algorithm="rsa-sha256"`, `algorithm="hmac-sha256"`, 1))
			if !strings.Contains(r.Header.Get("Signature"), "hmac") {
				r.Header.Set("Signature", `algorithm="hmac-sha256",`+r.Header.Get("Signature"))
			}
			return r
		}, 401},
		{"signed with bob's key under alice's keyId", func() *http.Request {
			k := bob
			k.KeyID = alice.KeyID
			return signed(inbox, followOf(mastodon, "alice"), k)
		}, 401},
		{"digest of another body", func() *http.Request {
			r := newPost(inbox, followOf(mastodon, "alice"), "application/activity+json")
			federation.SignRequest(r, alice, followOf(mastodon, "alice"), now)
			return r
		}, 401},
		{"digest missing", func() *http.Request {
			body := followOf(mastodon, "alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, all, now)
			r.Header.Del("Digest")
			return r
		}, 401},
		{"digest SHA-512 only", func() *http.Request {
			body := followOf(mastodon, "alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, all, now)
			r.Header.Set("Digest", "SHA-512=z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==")
			return r
		}, 401},
		{"digest not signed", func() *http.Request {
			body := followOf(mastodon, "alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, []string{"(request-target)", "host", "date"}, now)
			return r
		}, 401},
		{"date not signed", func() *http.Request {
			body := followOf(mastodon, "alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, []string{"(request-target)", "host", "digest"}, now)
			return r
		}, 401},
		{"host not signed", func() *http.Request {
			body := followOf(mastodon, "alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, []string{"(request-target)", "date", "digest"}, now)
			return r
		}, 401},
		{"request-target not signed", func() *http.Request {
			body := followOf(mastodon, "alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, []string{"host", "date", "digest"}, now)
			return r
		}, 401},
		{"date 13 hours old", func() *http.Request {
			body := followOf(mastodon, "alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, all, now.Add(-13*time.Hour))
			return r
		}, 401},
		{"date 2 hours ahead", func() *http.Request {
			body := followOf(mastodon, "alice")
			r := newPost(inbox, body, "application/activity+json")
			signWith(t, r, alice, body, all, now.Add(2*time.Hour))
			return r
		}, 401},
		{"date not a date", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Set("Date", "yesterday")
			return r
		}, 401},
		{"signed for another path", func() *http.Request {
			r := signed(base+"/c/club/inbox", followOf(mastodon, "alice"), alice)
			r.URL, _ = url.Parse(inbox)
			return r
		}, 401},
		{"signed for another server (Host)", func() *http.Request {
			body := followOf(mastodon, "alice")
			r := newPost(inbox, body, "application/activity+json")
			r.Host = "groups.example.org"
			federation.SignRequest(r, alice, body, now)
			return r
		}, 401},
		{"keyId on an unreachable host", func() *http.Request {
			k := alice
			k.KeyID = "http://127.0.0.1:1/users/x#main-key"
			return signed(inbox, activity(map[string]any{"type": "Follow", "actor": "http://127.0.0.1:1/users/x", "object": group}), k)
		}, 401},
		{"keyId with a file: URL", func() *http.Request {
			k := alice
			k.KeyID = "file:///etc/passwd"
			return signed(inbox, followOf(mastodon, "alice"), k)
		}, 401},
		{"keyId document with an id on another host", func() *http.Request {
			k := mallory
			k.KeyID = evil.URL() + "/keys/foreign-id"
			return signed(inbox, followOf(evil, "mallory"), k)
		}, 401},
		{"key on one host owned by an actor on another", func() *http.Request {
			k := mallory
			k.KeyID = evil.URL() + "/keys/alice"
			return signed(inbox, followOf(mastodon, "alice"), k)
		}, 401},
		{"key uploaded on the actor's host, not listed by the actor", func() *http.Request {
			k := mallory
			k.KeyID = mastodon.URL() + "/uploads/key.json"
			return signed(inbox, followOf(mastodon, "alice"), k)
		}, 401},
		{"a Create to 100,000 recipients", func() *http.Request {
			to := make([]string, 100000)
			for i := range to {
				to[i] = fmt.Sprintf("%x", i)
			}
			return signed(inbox, activity(map[string]any{"type": "Create", "actor": mastodon.ActorIRI("alice"), "to": to,
				"object": map[string]any{"type": "Note", "content": "hi"}}), alice)
		}, 400},
		// Identities.
		{"bob signs alice's Follow", func() *http.Request { return signed(inbox, followOf(mastodon, "alice"), bob) }, 401},
		{"an actor on one host signs for an actor on another", func() *http.Request {
			return signed(inbox, followOf(mastodon, "alice"), mallory)
		}, 401},
		{"Announce claiming to be from a community on another server", func() *http.Request {
			return signed(inbox, activity(map[string]any{"type": "Announce", "actor": mastodon.URL() + "/c/lemmygroup",
				"to": []string{"https://www.w3.org/ns/activitystreams#Public"}, "cc": []string{group},
				"object": mastodon.ActorIRI("alice") + "/statuses/1"}), mallory)
		}, 401},
		{"Announce claiming to be from our own community", func() *http.Request {
			return signed(inbox, activity(map[string]any{"type": "Announce", "actor": group,
				"to": []string{"https://www.w3.org/ns/activitystreams#Public"}, "object": evil.ActorIRI("mallory") + "/statuses/1"}), mallory)
		}, 401},
		{"Create signed by another host, object on the signer's host", func() *http.Request {
			return signed(inbox, activity(map[string]any{"type": "Create", "actor": mastodon.ActorIRI("alice"),
				"object": map[string]any{"id": evil.URL() + "/notes/1", "type": "Note", "attributedTo": mastodon.ActorIRI("alice"),
					"content": "hi", "to": []string{"https://www.w3.org/ns/activitystreams#Public", group}}}), mallory)
		}, 401},
		{"Delete of an actor never seen: 202, no fetch", func() *http.Request {
			ghost := evil.URL() + "/users/ghost"
			k := mallory
			k.KeyID = ghost + "#main-key"
			return signed(inbox, activity(map[string]any{"type": "Delete", "actor": ghost, "object": ghost}), k)
		}, 202},
		{"Follow of a community on another server: 202, dropped", func() *http.Request {
			return signed(inbox, strangerFollow(), trent)
		}, 202},
		// Replays.
		{"the same request replayed", func() *http.Request { return replay }, 202},
		{"an activity id replayed, freshly signed", func() *http.Request { return signed(inbox, acceptedBody, alice) }, 202},
		{"an activity id replayed with other content", func() *http.Request {
			var doc map[string]any
			json.Unmarshal(acceptedBody, &doc)
			doc["object"] = base + "/c/club"
			b, _ := json.Marshal(doc)
			return signed(inbox, b, alice)
		}, 202},
		// Oversize fields.
		{"1 MB community name in the path", get("/c/" + huge), 431},
		{"1 MB WebFinger resource", webfinger("acct:" + huge + "@" + host), 431},
		{"1 MB header", func() *http.Request {
			r := signed(inbox, followOf(mastodon, "alice"), alice)
			r.Header.Set("X-Pad", huge)
			return r
		}, 431},
		{"2 KB WebFinger resource", webfinger("acct:" + strings.Repeat("g", 2000) + "@" + host), 400},
		{"65-character community name", getAS2("/c/" + strings.Repeat("g", 65)), 404},
		// WebFinger.
		{"WebFinger without resource", get("/.well-known/webfinger"), 400},
		{"WebFinger resource without @", webfinger("acct:gardening"), 400},
		{"WebFinger resource without user", webfinger("acct:@" + host), 400},
		{"WebFinger resource of another host", webfinger("acct:gardening@evil.example"), 404},
		{"WebFinger resource with two @", webfinger("acct:gardening@" + host + "@evil.example"), 400},
		{"WebFinger resource with a javascript: URL", webfinger("javascript:alert(1)"), 400},
		{"WebFinger resource with a file: URL", webfinger("file:///etc/passwd"), 400},
		{"WebFinger unknown community", webfinger("acct:nosuch@" + host), 404},
		{"WebFinger name with an RTL override", webfinger("acct:garden\u202eing@" + host), 404},
		{"WebFinger name with a zero-width space", webfinger("acct:garden\u200bing@" + host), 404},
		{"WebFinger name with a NUL", webfinger("acct:gardening\x00@" + host), 404},
		// Path parameters.
		{"path traversal in the community name", get("/c/..%2f..%2fetc%2fpasswd"), 404},
		{"path traversal, dot segments", get("/c/../../../etc/passwd"), 404},
		{"path traversal in a community inbox", func() *http.Request {
			return signed(base+"/c/..%2fgardening/inbox", followOf(mastodon, "alice"), alice)
		}, 404},
		{"community name with an RTL override", getAS2("/c/garden%E2%80%AEing"), 404},
		{"community name with a zero-width space", getAS2("/c/gardening%E2%80%8B"), 404},
		{"community name in upper case", getAS2("/c/GARDENING"), 404},
		{"community name with a NUL", getAS2("/c/gardening%00"), 404},
		{"community name with HTML", get("/c/%3Cscript%3Ealert(1)%3C%2Fscript%3E"), 404},
		{"post id not a number", get("/c/gardening/p/..%2f1"), 404},
		{"post id out of range", get("/c/gardening/p/99999999999999999999999"), 404},
		{"post id negative", get("/c/gardening/p/-1"), 404},
		{"activity path traversal", get("/c/gardening/announce/..%2f..%2f1"), 404},
		{"activity of another kind", get("/c/gardening/secret/1"), 404},
		{"NodeInfo version traversal", get("/nodeinfo/..%2f2.0"), 404},
		{"NodeInfo unknown version", get("/nodeinfo/2.2"), 404},
		{"metrics without a token configured", get("/metrics"), 404},
		// A page that is not a number is the first page.
		{"followers page with SQL", getAS2("/c/gardening/followers?page=-1%27%20OR%201=1"), 200},
		{"outbox page with SQL", getAS2("/c/gardening/outbox?page=1;DROP%20TABLE%20posts"), 200},
	}
	if len(tests) < 60 {
		t.Fatalf("the corpus has %d cases, want at least 60", len(tests))
	}
	before := dbDigest(t, dir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.make()
			hitsBefore := len(evil.Received()) + len(mastodon.Received())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			quiesce(t, a)
			if d := diffDigest(before, dbDigest(t, dir)); len(d) > 0 {
				t.Errorf("the request changed the database: %v", d)
				before = dbDigest(t, dir)
			}
			if n := len(evil.Received()) + len(mastodon.Received()) - hitsBefore; n != 0 {
				t.Errorf("the request made Agora send %d activities", n)
			}
		})
	}
	// The server still works: a fresh Follow from bob is accepted.
	body, _ := follow(mastodon, "bob", group)
	post(t, mastodon, inbox, "bob", body)
	waitUntil(t, "bob's Accept", func() bool { return len(received(mastodon, "Accept")) == 4 })
}

// TestHostileContent: what a member may post is accepted (202), but no
// script, event handler or javascript: URL reaches a page, whichever field
// carries it; a post whose object lives on another host is fetched from
// there and not announced as the sender's.
func TestHostileContent(t *testing.T) {
	a := startAgora(t, t.TempDir(), "", nil)
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	mastodon := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}, Software: "mastodon"})
	evil := fedtest.NewServer(t, fedtest.Options{Users: []string{"mallory"}})
	group := a.base() + "/c/gardening"
	body, _ := follow(mastodon, "alice", group)
	post(t, mastodon, a.base()+"/inbox", "alice", body)
	waitUntil(t, "alice a member", func() bool { return followersCount(t, a, "gardening") == 1 })

	public := "https://www.w3.org/ns/activitystreams#Public"
	xss := `<script>alert(1)</script><img src=x onerror=alert(1)><a href="javascript:alert(1)">x</a>` +
		`<svg onload=alert(1)></svg><iframe src="https://evil.example"></iframe><style>*{display:none}</style>` +
		"<p>ok \u202eevil\u202c \u200b</p>"
	tests := []struct {
		name   string
		fields map[string]any
	}{
		{"content", map[string]any{"content": xss}},
		{"name (title)", map[string]any{"name": xss, "content": "hi"}},
		{"summary (content warning)", map[string]any{"summary": xss, "content": "hi"}},
		{"url", map[string]any{"url": "javascript:alert(1)", "content": "hi"}},
		{"contentMap", map[string]any{"contentMap": map[string]string{"en": xss}}},
		{"tag names", map[string]any{"content": "hi", "tag": []map[string]string{{"type": "Hashtag", "name": xss, "href": "javascript:alert(1)"}}}},
		{"attachment", map[string]any{"content": "hi", "attachment": []map[string]string{{"type": "Document", "name": xss, "url": "javascript:alert(1)"}}}},
		{"a name of 900 KB", map[string]any{"name": "<script>alert(1)</script>" + strings.Repeat("x", 900_000), "content": "hi"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("%s/statuses/h%d", mastodon.ActorIRI("alice"), i)
			obj := map[string]any{"id": id, "type": "Note", "attributedTo": mastodon.ActorIRI("alice"),
				"to": []string{public, group}, "published": time.Now().UTC().Format(time.RFC3339)}
			for k, v := range tt.fields {
				obj[k] = v
			}
			body, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
				"id": id + "/activity", "type": "Create", "actor": mastodon.ActorIRI("alice"), "object": obj,
				"to": []string{public, group}})
			post(t, mastodon, a.base()+"/inbox", "alice", body)
			p := postOf(t, a, "gardening", id)
			for _, page := range []string{fmt.Sprintf("%s/p/%d", group, p.ID), group, a.base() + "/"} {
				resp, err := http.Get(page)
				if err != nil {
					t.Fatal(err)
				}
				html, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("%s: status %d", page, resp.StatusCode)
				}
				lower := strings.ToLower(string(html))
				for _, bad := range []string{"<script>alert", "onerror=", "onload=", "javascript:", "<iframe", "<svg", "<style>*"} {
					if strings.Contains(lower, bad) {
						i := strings.Index(lower, bad)
						t.Errorf("%s serves %q: ...%s...", page, bad, lower[max(0, i-60):min(len(lower), i+60)])
					}
				}
			}
		})
	}

	// A Create signed by alice whose object lives on the evil host: it is
	// fetched from there, and the copy that host serves (attributed to its
	// own user) is not alice's post, so it is not announced.
	objID := evil.URL() + "/notes/planted"
	planted, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams", "id": objID, "type": "Note",
		"attributedTo": evil.ActorIRI("mallory"), "content": "buy now", "to": []string{public, group}})
	evil.PutDocument("/notes/planted", planted)
	body, _ = json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": mastodon.ActorIRI("alice") + "/statuses/planted/activity", "type": "Create", "actor": mastodon.ActorIRI("alice"),
		"object": map[string]any{"id": objID, "type": "Note", "attributedTo": mastodon.ActorIRI("alice"), "content": "buy now",
			"to": []string{public, group}}, "to": []string{public, group}})
	post(t, mastodon, a.base()+"/inbox", "alice", body)
	p := postOf(t, a, "gardening", objID)
	if p.Author == mastodon.ActorIRI("alice") || p.Decision == "announce" {
		t.Fatalf("a post planted on another host was taken as alice's: author %s, decision %s (%s)", p.Author, p.Decision, p.Reason)
	}
	if evil.Hits("/notes/planted") == 0 {
		t.Error("the object was not fetched from its origin")
	}
}

// TestInboxSSRF: with allow_private_addresses = false (the default), a
// signature whose keyId is on a loopback or private address is refused
// without the key ever being fetched.
func TestInboxSSRF(t *testing.T) {
	dir := t.TempDir()
	a := startAgora(t, dir, "", func(c *agora.Config) { c.AllowPrivateAddresses = false })
	a.mustCLI("community", "create", "gardening", "--title", "Gardening")
	remote := fedtest.NewServer(t, fedtest.Options{Users: []string{"alice"}})
	alice := remote.SigningKey("alice")
	before := dbDigest(t, dir)
	for _, keyHost := range []string{strings.TrimPrefix(remote.URL(), "http://"), "10.0.0.1", "169.254.169.254", "192.168.1.1", "172.16.0.1", "0.0.0.0", "[::1]"} {
		actor := "http://" + keyHost + "/users/alice"
		body, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
			"id": actor + "/follows/1", "type": "Follow", "actor": actor, "object": a.base() + "/c/gardening"})
		r := newPost(a.base()+"/inbox", body, "application/activity+json")
		k := alice
		k.KeyID = actor + "#main-key"
		federation.SignRequest(r, k, body, time.Now())
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("keyId on %s: status %d, want 401", keyHost, resp.StatusCode)
		}
	}
	if n := remote.Hits("/users/alice"); n != 0 {
		t.Fatalf("the key was fetched from loopback %d times", n)
	}
	if d := diffDigest(before, dbDigest(t, dir)); len(d) > 0 {
		t.Fatalf("refused requests changed the database: %v", d)
	}
}
