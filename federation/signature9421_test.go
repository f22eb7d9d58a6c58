package federation_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
)

// sign9421 is an independent RFC 9421 signer for tests: it signs r (whose
// URL is the @target-uri) with components and the given parameters string
// (after the component list), with alg one of rsa-v1_5-sha256,
// rsa-pss-sha512, ed25519. It sets Content-Digest for a body and Date.
func sign9421(t *testing.T, r *http.Request, body []byte, components []string, params string, priv crypto.Signer, alg string) {
	t.Helper()
	if body != nil {
		sum := sha256.Sum256(body)
		r.Header.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
	}
	if r.Header.Get("Date") == "" {
		r.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	var lines []string
	var ids []string
	for _, c := range components {
		var v string
		switch c {
		case "@method":
			v = r.Method
		case "@target-uri":
			v = r.URL.String()
		case "@authority":
			v = r.URL.Host
		case "@path":
			v = r.URL.EscapedPath()
		case "@query":
			v = "?" + r.URL.RawQuery
		case "host":
			v = r.URL.Host
		default:
			v = r.Header.Get(c)
		}
		ids = append(ids, `"`+c+`"`)
		lines = append(lines, fmt.Sprintf("%q: %s", c, v))
	}
	input := "(" + strings.Join(ids, " ") + ")" + params
	base := strings.Join(append(lines, `"@signature-params": `+input), "\n")
	var sig []byte
	var err error
	switch alg {
	case "rsa-v1_5-sha256":
		sum := sha256.Sum256([]byte(base))
		sig, err = priv.Sign(rand.Reader, sum[:], crypto.SHA256)
	case "rsa-pss-sha512":
		sum := sha512.Sum512([]byte(base))
		sig, err = priv.Sign(rand.Reader, sum[:], &rsa.PSSOptions{SaltLength: 64, Hash: crypto.SHA512})
	case "ed25519":
		sig, err = priv.Sign(rand.Reader, []byte(base), crypto.Hash(0))
	}
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Signature-Input", "sig1="+input)
	r.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(sig)+":")
}

// keyResolver answers every keyId with one public key owned by testActor.
type keyResolver struct{ key crypto.PublicKey }

func (k keyResolver) PublicKey(_ context.Context, keyID string, _ bool) (federation.PublicKey, error) {
	return federation.PublicKey{ID: keyID, Owner: testActor, Key: k.key}, nil
}

var std9421 = []string{"@method", "@target-uri", "@authority", "host", "date", "content-digest"}

func params9421(created time.Time, alg string) string {
	p := fmt.Sprintf(`;keyid="%s";created=%d`, testKeyID, created.Unix())
	if alg != "" {
		p = `;alg="` + alg + `"` + p
	}
	return p
}

// post9421 is a POST to testInbox signed with RFC 9421 by testKeys()[0] at
// now, as received; change edits the request before it is signed.
func post9421(t *testing.T, now time.Time, components []string, params string, change func(*http.Request)) *http.Request {
	t.Helper()
	r := newRequest(t, http.MethodPost, testInbox, []byte(testBody))
	if change != nil {
		change(r)
	}
	sign9421(t, r, []byte(testBody), components, params, testKeys()[0], "rsa-v1_5-sha256")
	return onWire(t, r)
}

func TestRFC9421RoundTrip(t *testing.T) {
	now := time.Now()
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey := testKeys()[0]
	tests := []struct {
		name, method, url string
		body              []byte
		components        []string
		alg, algParam     string
		priv              crypto.Signer
		pub               crypto.PublicKey
		forwardedProto    string
	}{
		{"POST rsa-v1_5-sha256", "POST", "http://127.0.0.1:8080/inbox", []byte(testBody), std9421, "rsa-v1_5-sha256", "rsa-v1_5-sha256", rsaKey, &rsaKey.PublicKey, ""},
		{"no alg parameter, RSA key", "POST", testInbox, []byte(testBody), std9421, "rsa-v1_5-sha256", "", rsaKey, &rsaKey.PublicKey, ""},
		{"https behind a proxy", "POST", testInbox, []byte(testBody), std9421, "rsa-v1_5-sha256", "rsa-v1_5-sha256", rsaKey, &rsaKey.PublicKey, "https"},
		{"https target, no proxy header", "POST", testInbox, []byte(testBody), std9421, "rsa-v1_5-sha256", "rsa-v1_5-sha256", rsaKey, &rsaKey.PublicKey, ""},
		{"minimal components", "POST", testInbox, []byte(testBody), []string{"@method", "@target-uri", "content-digest"}, "rsa-v1_5-sha256", "rsa-v1_5-sha256", rsaKey, &rsaKey.PublicKey, ""},
		{"rsa-pss-sha512", "POST", testInbox, []byte(testBody), std9421, "rsa-pss-sha512", "rsa-pss-sha512", rsaKey, &rsaKey.PublicKey, ""},
		{"ed25519", "POST", testInbox, []byte(testBody), std9421, "ed25519", "ed25519", edPriv, edPub, ""},
		{"ed25519, no alg parameter", "POST", testInbox, []byte(testBody), std9421, "ed25519", "", edPriv, edPub, ""},
		{"GET with query", "GET", "https://agora.example/c/cats/outbox?page=2", nil, []string{"@method", "@target-uri", "@path", "@query", "date"}, "rsa-v1_5-sha256", "rsa-v1_5-sha256", rsaKey, &rsaKey.PublicKey, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(t, tt.method, tt.url, tt.body)
			if tt.forwardedProto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.forwardedProto)
			}
			sign9421(t, r, tt.body, tt.components, params9421(now, tt.algParam), tt.priv, tt.alg)
			r = onWire(t, r)
			sig, err := federation.ParseSignature(r, tt.body, now)
			if err != nil {
				t.Fatalf("ParseSignature: %v", err)
			}
			if sig.Scheme != federation.SchemeRFC9421 || sig.KeyID != testKeyID || sig.Date.Unix() != now.Unix() {
				t.Errorf("scheme %q keyId %q date %v", sig.Scheme, sig.KeyID, sig.Date)
			}
			if _, err := sig.Verify(context.Background(), keyResolver{tt.pub}); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

// TestRFC9421Fedify verifies requests that Fedify 2.3.6 itself signed
// (testdata/fedify_rfc9421.json, made by its signRequest).
func TestRFC9421Fedify(t *testing.T) {
	raw, err := os.ReadFile("testdata/fedify_rfc9421.json")
	if err != nil {
		t.Fatal(err)
	}
	var vec struct {
		PublicKeyPem string
		Post, Get    struct {
			Method, URL, Body string
			Headers           map[string]string
		}
	}
	if err := json.Unmarshal(raw, &vec); err != nil {
		t.Fatal(err)
	}
	pub, err := federation.ParsePublicKeyPEM(vec.PublicKeyPem)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		method string
		url    string
		body   string
		hdr    map[string]string
		tamper func(r *http.Request, body []byte) []byte
		want   error
	}{
		{"POST", vec.Post.Method, vec.Post.URL, vec.Post.Body, vec.Post.Headers, nil, nil},
		{"GET", vec.Get.Method, vec.Get.URL, "", vec.Get.Headers, nil, nil},
		{"POST, other path", vec.Post.Method, strings.Replace(vec.Post.URL, "/c/gardening/inbox", "/inbox", 1), vec.Post.Body, vec.Post.Headers, nil, federation.ErrBadSignature},
		{"POST, body and digest replaced", vec.Post.Method, vec.Post.URL, vec.Post.Body, vec.Post.Headers, func(r *http.Request, _ []byte) []byte {
			b := []byte(strings.Replace(vec.Post.Body, "Follow", "Block", 1))
			sum := sha256.Sum256(b)
			r.Header.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
			return b
		}, federation.ErrBadSignature},
		{"POST, body replaced", vec.Post.Method, vec.Post.URL, vec.Post.Body, vec.Post.Headers, func(r *http.Request, _ []byte) []byte {
			return []byte(strings.Replace(vec.Post.Body, "Follow", "Block", 1))
		}, federation.ErrDigest},
		{"POST, date replaced", vec.Post.Method, vec.Post.URL, vec.Post.Body, vec.Post.Headers, func(r *http.Request, b []byte) []byte {
			r.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
			return b
		}, federation.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r *http.Request
			if tc.body != "" {
				r, _ = http.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			} else {
				r, _ = http.NewRequest(tc.method, tc.url, nil)
			}
			for k, v := range tc.hdr {
				if k != "host" {
					r.Header.Set(k, v)
				}
			}
			r.Host = tc.hdr["host"]
			r = onWire(t, r)
			body := []byte(tc.body)
			if tc.tamper != nil {
				body = tc.tamper(r, body)
			}
			created, _ := time.Parse(http.TimeFormat, tc.hdr["date"])
			sig, err := federation.ParseSignature(r, body, created.Add(time.Minute))
			if err == nil {
				_, err = sig.Verify(context.Background(), keyResolver{pub})
			}
			if tc.want == nil && err != nil {
				t.Fatalf("Fedify's signature refused: %v", err)
			}
			if tc.want != nil && (!errors.Is(err, tc.want) || !errors.Is(err, federation.ErrNotVerified)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRFC9421Rejects(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(testBody)
	ok := params9421(now, "rsa-v1_5-sha256")
	without := func(c string) []string {
		var out []string
		for _, v := range std9421 {
			if v != c {
				out = append(out, v)
			}
		}
		return out
	}
	header := func(k, v string) func(*testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			r := post9421(t, now, std9421, ok, nil)
			r.Header.Set(k, v)
			return r
		}
	}
	tests := []struct {
		name    string
		request func(*testing.T) *http.Request
		body    []byte
		want    error
	}{
		{"Signature-Input unparsable", header("Signature-Input", `sig1=("@method" "@target-uri"`), nil, federation.ErrMalformedSignature},
		{"Signature-Input not a list", header("Signature-Input", `sig1="@method";keyid="k";created=1`), nil, federation.ErrMalformedSignature},
		{"no Signature header", func(t *testing.T) *http.Request {
			r := post9421(t, now, std9421, ok, nil)
			r.Header.Del("Signature")
			return r
		}, nil, federation.ErrMalformedSignature},
		{"labels do not match", header("Signature", "sig2=:AAAA:"), nil, federation.ErrMalformedSignature},
		{"signature not bytes", header("Signature", `sig1="AAAA"`), nil, federation.ErrMalformedSignature},
		{"no keyid", func(t *testing.T) *http.Request {
			return post9421(t, now, std9421, fmt.Sprintf(";created=%d", now.Unix()), nil)
		}, nil, federation.ErrMalformedSignature},
		{"unknown alg", func(t *testing.T) *http.Request {
			return post9421(t, now, std9421, params9421(now, "hmac-sha256"), nil)
		}, nil, federation.ErrMalformedSignature},
		{"component with parameters", func(t *testing.T) *http.Request {
			r := post9421(t, now, std9421, ok, nil)
			r.Header.Set("Signature-Input", strings.Replace(r.Header.Get("Signature-Input"), `"date"`, `"date";sf`, 1))
			return r
		}, nil, federation.ErrMalformedSignature},
		{"@method not covered", func(t *testing.T) *http.Request { return post9421(t, now, without("@method"), ok, nil) }, nil, federation.ErrMissingSignedHeader},
		{"@target-uri not covered", func(t *testing.T) *http.Request { return post9421(t, now, without("@target-uri"), ok, nil) }, nil, federation.ErrMissingSignedHeader},
		{"content-digest not covered", func(t *testing.T) *http.Request { return post9421(t, now, without("content-digest"), ok, nil) }, nil, federation.ErrMissingSignedHeader},
		{"covered header absent", func(t *testing.T) *http.Request {
			r := post9421(t, now, append(std9421, "x-extra"), ok, func(r *http.Request) { r.Header.Set("X-Extra", "1") })
			r.Header.Del("X-Extra")
			return r
		}, nil, federation.ErrMissingSignedHeader},
		{"no created", func(t *testing.T) *http.Request {
			return post9421(t, now, std9421, `;keyid="`+testKeyID+`"`, nil)
		}, nil, federation.ErrDateWindow},
		{"created 2 h ahead", func(t *testing.T) *http.Request {
			return post9421(t, now, std9421, params9421(now.Add(2*time.Hour), ""), nil)
		}, nil, federation.ErrDateWindow},
		{"created 13 h behind", func(t *testing.T) *http.Request {
			return post9421(t, now, std9421, params9421(now.Add(-13*time.Hour), ""), nil)
		}, nil, federation.ErrDateWindow},
		{"expired", func(t *testing.T) *http.Request {
			return post9421(t, now, std9421, params9421(now, "")+fmt.Sprintf(";expires=%d", now.Add(-time.Minute).Unix()), nil)
		}, nil, federation.ErrDateWindow},
		{"Content-Digest missing", func(t *testing.T) *http.Request {
			r := post9421(t, now, without("content-digest"), ok, nil)
			r.Header.Set("Signature-Input", strings.Replace(r.Header.Get("Signature-Input"), `"date"`, `"date" "content-digest"`, 1))
			r.Header.Del("Content-Digest")
			return r
		}, nil, federation.ErrDigest},
		{"Content-Digest mismatch", post9421Func(now, ok), []byte(`{"type":"Delete"}`), federation.ErrDigest},
		{"Content-Digest sha-1 only", header("Content-Digest", "sha=:AAAA:"), nil, federation.ErrDigest},
		{"Content-Digest not bytes", header("Content-Digest", `sha-256="x"`), nil, federation.ErrDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.body
			if b == nil {
				b = body
			}
			_, err := federation.ParseSignature(tt.request(t), b, now)
			if !errors.Is(err, tt.want) || !errors.Is(err, federation.ErrNotVerified) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func post9421Func(now time.Time, params string) func(*testing.T) *http.Request {
	return func(t *testing.T) *http.Request { return post9421(t, now, std9421, params, nil) }
}

// TestRFC9421Tampered: requests that parse but whose signature must not
// verify.
func TestRFC9421Tampered(t *testing.T) {
	now := time.Now()
	ok := params9421(now, "rsa-v1_5-sha256")
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name   string
		tamper func(*http.Request)
		key    crypto.PublicKey
	}{
		{"other key", nil, &testKeys()[1].PublicKey},
		{"Ed25519 key, RSA signature", nil, edPub},
		{"path changed", func(r *http.Request) { r.URL.Path = "/c/other/inbox"; r.RequestURI = "/c/other/inbox" }, nil},
		{"host changed", func(r *http.Request) { r.Host = "evil.example" }, nil},
		{"method changed", func(r *http.Request) { r.Method = "PUT" }, nil},
		{"signed date changed", func(r *http.Request) { r.Header.Set("Date", "Mon, 01 Jan 2024 00:00:00 GMT") }, nil},
		{"created changed", func(r *http.Request) {
			r.Header.Set("Signature-Input", strings.Replace(r.Header.Get("Signature-Input"), fmt.Sprint(now.Unix()), fmt.Sprint(now.Unix()-1), 1))
		}, nil},
		{"signature bytes changed", func(r *http.Request) {
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), "sig1=:", "sig1=:AAAA", 1))
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post9421(t, now, std9421, ok, nil)
			if tt.tamper != nil {
				tt.tamper(r)
			}
			key := tt.key
			if key == nil {
				key = &testKeys()[0].PublicKey
			}
			sig, err := federation.ParseSignature(r, []byte(testBody), now)
			if err != nil {
				t.Fatalf("ParseSignature: %v", err)
			}
			if _, err := sig.Verify(context.Background(), keyResolver{key}); !errors.Is(err, federation.ErrBadSignature) {
				t.Fatalf("Verify: %v, want ErrBadSignature", err)
			}
		})
	}
}

// A request with both headers is RFC 9421: the cavage Signature header of
// such a request is not consulted (Fedify sends one scheme at a time).
func TestSchemeChoice(t *testing.T) {
	now := time.Now()
	r := signed(t, http.MethodPost, testInbox, []byte(testBody), aliceKey(), now)
	sig, err := federation.ParseSignature(r, []byte(testBody), now)
	if err != nil || sig.Scheme != federation.SchemeCavage {
		t.Fatalf("cavage: %v %+v", err, sig)
	}
	r = post9421(t, now, std9421, params9421(now, ""), nil)
	sig, err = federation.ParseSignature(r, []byte(testBody), now)
	if err != nil || sig.Scheme != federation.SchemeRFC9421 {
		t.Fatalf("rfc9421: %v %+v", err, sig)
	}
}

func FuzzParseRFC9421(f *testing.F) {
	f.Add(`sig1=("@method" "@target-uri" "content-digest");alg="rsa-v1_5-sha256";keyid="k";created=1`, "sig1=:AAAA:", "sha-256=:AAAA:")
	f.Add(`a=(), b=?0;x, c=:/w==:;y=-12`, `a=1`, `sha-512=:x:`)
	f.Fuzz(func(t *testing.T, input, signature, digest string) {
		raw := "POST /inbox HTTP/1.1\r\nHost: a.example\r\nContent-Length: 2\r\n\r\n{}"
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewBufferString(raw)))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Signature-Input", input)
		r.Header.Set("Signature", signature)
		r.Header.Set("Content-Digest", digest)
		sig, err := federation.ParseSignature(r, []byte("{}"), time.Unix(1, 0))
		if err != nil {
			if !errors.Is(err, federation.ErrNotVerified) {
				t.Fatalf("error not ErrNotVerified: %v", err)
			}
			return
		}
		if _, err := sig.Verify(context.Background(), keyResolver{&testKeys()[0].PublicKey}); err == nil {
			t.Fatal("random input verified")
		}
	})
}

// BenchmarkVerify compares parsing and verifying one inbox POST signed
// with each scheme (RSA-2048, key at hand). The rfc9421 case signs
// https://agora.example/inbox but arrives without TLS or
// X-Forwarded-Proto, so the http base is tried first and fails: two RSA
// verifications, the cost of a proxy that does not say it terminated TLS.
func BenchmarkVerify(b *testing.B) {
	t := &testing.T{} // the request helpers take a *testing.T; they do not fail here
	now := time.Now()
	keys := keyResolver{&testKeys()[0].PublicKey}
	for _, bc := range []struct {
		name string
		r    *http.Request
	}{
		{"draft-cavage", signed(t, http.MethodPost, testInbox, []byte(testBody), aliceKey(), now)},
		{"rfc9421", post9421(t, now, std9421, params9421(now, "rsa-v1_5-sha256"), nil)},
		{"rfc9421 behind a proxy saying https", post9421(t, now, std9421, params9421(now, "rsa-v1_5-sha256"), func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https") })},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				sig, err := federation.ParseSignature(bc.r, []byte(testBody), now)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := sig.Verify(context.Background(), keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
