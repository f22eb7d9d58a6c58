package federation

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-fed/httpsig"
)

// Verification failures. Every one wraps ErrNotVerified, which the web
// layer maps to 401; the finer sentinels are for logs and tests.
var (
	// ErrNotVerified is wrapped by every signature verification failure.
	ErrNotVerified = errors.New("request not verified")

	// ErrNoSignature: neither an RFC 9421 Signature-Input nor a
	// draft-cavage Signature header.
	ErrNoSignature = fmt.Errorf("%w: no signature", ErrNotVerified)

	// ErrMalformedSignature: the Signature header cannot be parsed, lacks
	// keyId or signature, or names an algorithm other than rsa-sha256/hs2019.
	ErrMalformedSignature = fmt.Errorf("%w: malformed signature", ErrNotVerified)

	// ErrMissingSignedHeader: the signature does not cover (request-target),
	// host, date, and digest when the request has a body.
	ErrMissingSignedHeader = fmt.Errorf("%w: required header not signed", ErrNotVerified)

	// ErrDateWindow: the Date header is missing, unparsable, more than
	// 1 hour ahead or more than 12 hours behind.
	ErrDateWindow = fmt.Errorf("%w: date outside the accepted window", ErrNotVerified)

	// ErrDigest: the Digest header is missing, has no SHA-256 value, or
	// does not match the body.
	ErrDigest = fmt.Errorf("%w: digest missing or wrong", ErrNotVerified)

	// ErrKeyUnavailable: the signer's public key could not be obtained.
	ErrKeyUnavailable = fmt.Errorf("%w: key unavailable", ErrNotVerified)

	// ErrBadSignature: the signature does not verify with the signer's key.
	ErrBadSignature = fmt.Errorf("%w: bad signature", ErrNotVerified)
)

// The accepted Date window, docs/protocol.md, "What Agora accepts", from Mastodon's bounds
// (signature_verification.rb): CLOCK_SKEW_MARGIN ahead, and
// EXPIRATION_WINDOW_LIMIT behind, the longest life Mastodon grants a
// signature (one signed with a Date alone it already refuses after
// 1 h 5 min). Agora signs afresh on every attempt, so the leniency only
// concerns peers.
const (
	maxDateAhead  = time.Hour
	maxDateBehind = 12 * time.Hour
)

// SigningKey is an actor's private key with the keyId that names its
// public half ("{actor}#main-key").
type SigningKey struct {
	KeyID   string
	Private *rsa.PrivateKey
}

// PublicKey is a remote actor's public key. Owner is the actor the key
// belongs to; the caller compares it with the activity's actor.
type PublicKey struct {
	ID    string
	Owner string
	Key   crypto.PublicKey
}

// KeyResolver finds the public key named by a keyId. With refresh, it must
// not answer from a cache: Verify asks so once, after a failure, to pick up
// a rotated key.
type KeyResolver interface {
	PublicKey(ctx context.Context, keyID string, refresh bool) (PublicKey, error)
}

// SignRequest signs r as key with a draft-cavage HTTP Signature. It sets
// Host, Date (from now) and, for a POST or a non-nil body, Digest and a
// default Content-Type of application/activity+json. body must be exactly
// what will be sent. A request may be signed again (after a redirect, or on
// a retry): the old Signature and Digest are replaced.
//
// The header says algorithm="rsa-sha256" although go-fed/httpsig writes
// "hs2019": it is what Mastodon sends (app/lib/request.rb) and Mastodon
// accepts both values (signature_verification.rb), GoToSocial ignores the
// parameter (go-fed's parser drops it and tries RSA-SHA256 first), and
// servers built on joyent's node-http-signature (Misskey and forks) learnt
// hs2019 only through later patches.
func SignRequest(r *http.Request, key SigningKey, body []byte, now time.Time) error {
	if key.Private == nil || key.KeyID == "" {
		return fmt.Errorf("sign %s: no signing key", r.URL)
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	r.Host = host
	r.Header.Set("Host", host)
	r.Header.Set("Date", now.UTC().Format(http.TimeFormat))
	r.Header.Del("Signature")
	r.Header.Del("Digest")

	headers := []string{httpsig.RequestTarget, "host", "date"}
	withBody := body != nil || r.Method == http.MethodPost
	if withBody {
		headers = append(headers, "digest")
		if body == nil {
			body = []byte{}
		}
		if r.Header.Get("Content-Type") == "" {
			r.Header.Set("Content-Type", "application/activity+json")
		}
	} else {
		body = nil
	}

	// A signer per call: go-fed signers are not safe for concurrent use,
	// and building one is nothing next to an RSA signature.
	signer, _, err := httpsig.NewSigner([]httpsig.Algorithm{httpsig.RSA_SHA256},
		httpsig.DigestSha256, headers, httpsig.Signature, 0)
	if err != nil {
		return fmt.Errorf("sign %s: %w", r.URL, err)
	}
	// go-fed builds (request-target) from URL.Path, the decoded path; the
	// wire carries the escaped one, which is what receivers hash.
	if err := signer.SignRequest(key.Private, key.KeyID, withEscapedPath(r), body); err != nil {
		return fmt.Errorf("sign %s: %w", r.URL, err)
	}
	sig := r.Header.Get("Signature")
	r.Header.Set("Signature", strings.Replace(sig, `algorithm="hs2019"`, `algorithm="rsa-sha256"`, 1))
	return nil
}

// withEscapedPath returns a shallow copy of r, sharing its Header, whose
// URL.Path is the escaped path as sent on the wire.
func withEscapedPath(r *http.Request) *http.Request {
	c := *r
	u := *r.URL
	u.Path = r.URL.EscapedPath()
	u.RawPath = ""
	c.URL = &u
	return &c
}

// Signature is a parsed signature, draft-cavage or RFC 9421, whose
// covered headers, Date (or created) and Digest (or Content-Digest) have
// been checked, but whose cryptographic signature has not.
type Signature struct {
	Scheme    string // SchemeCavage or SchemeRFC9421
	KeyID     string
	Algorithm string   // as sent, lower-cased; "" when absent
	Headers   []string // signed headers (RFC 9421: components), lower-cased, in signing order
	Date      time.Time

	rfc *rfc9421Sig // set for RFC 9421

	created, expires string
	signature        string
	req              *http.Request // the request as go-fed must see it
}

// ParseSignature reads r's signature and checks everything that needs no
// key. A request with a Signature-Input header is RFC 9421 (see
// parseRFC9421); any other is draft-cavage: (request-target), host, date
// (and digest when there is a body) must be signed, Date within the window
// around now, and Digest must match body. The inbox looks at the returned
// KeyID (whose host, whether it is known) before anything is fetched.
// Errors wrap ErrNotVerified.
func ParseSignature(r *http.Request, body []byte, now time.Time) (*Signature, error) {
	if len(r.Header.Values("Signature-Input")) > 0 {
		return parseRFC9421(r, body, now)
	}
	values := r.Header.Values("Signature")
	if len(values) == 0 || strings.TrimSpace(values[0]) == "" {
		return nil, ErrNoSignature
	}
	if len(values) > 1 {
		return nil, fmt.Errorf("%w: %d Signature headers", ErrMalformedSignature, len(values))
	}
	params, err := parseSignatureParams(values[0])
	if err != nil {
		return nil, err
	}
	s := &Signature{
		Scheme:    SchemeCavage,
		KeyID:     params["keyid"],
		Algorithm: strings.ToLower(params["algorithm"]),
		created:   params["created"],
		expires:   params["expires"],
		signature: params["signature"],
	}
	if err := s.checkParams(params); err != nil {
		return nil, err
	}

	hasBody := len(body) > 0 || r.Method == http.MethodPost
	required := []string{httpsig.RequestTarget, "host", "date"}
	if hasBody {
		required = append(required, "digest")
	}
	for _, h := range required {
		if !slices.Contains(s.Headers, h) {
			return nil, fmt.Errorf("%w: %q", ErrMissingSignedHeader, h)
		}
	}

	date, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return nil, fmt.Errorf("%w: Date %q: %v", ErrDateWindow, r.Header.Get("Date"), err)
	}
	if date.After(now.Add(maxDateAhead)) || date.Before(now.Add(-maxDateBehind)) {
		return nil, fmt.Errorf("%w: Date %s, now %s", ErrDateWindow, date.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	s.Date = date

	if hasBody || len(r.Header.Values("Digest")) > 0 {
		if err := checkDigest(r.Header.Values("Digest"), body); err != nil {
			return nil, err
		}
	}

	s.req = s.verifiableRequest(r)
	return s, nil
}

// checkParams validates the parsed parameters and fills Headers.
func (s *Signature) checkParams(params map[string]string) error {
	if s.KeyID == "" {
		return fmt.Errorf("%w: no keyId", ErrMalformedSignature)
	}
	if s.signature == "" {
		return fmt.Errorf("%w: no signature", ErrMalformedSignature)
	}
	if _, err := base64.StdEncoding.DecodeString(s.signature); err != nil {
		return fmt.Errorf("%w: signature is not base64", ErrMalformedSignature)
	}
	switch s.Algorithm {
	case "", "rsa-sha256", "hs2019":
	default:
		// Mastodon's set; anything else is a peer we cannot interoperate with.
		return fmt.Errorf("%w: algorithm %q", ErrMalformedSignature, s.Algorithm)
	}
	for _, v := range []string{s.created, s.expires} {
		if strings.Trim(v, "0123456789") != "" {
			return fmt.Errorf("%w: created/expires %q", ErrMalformedSignature, v)
		}
	}
	h, ok := params["headers"]
	if !ok {
		h = "date" // the draft's default; it never passes the checks below
	}
	s.Headers = strings.Fields(strings.ToLower(h))
	for _, name := range s.Headers {
		if !isSigToken(name) && name != httpsig.RequestTarget && name != "(created)" && name != "(expires)" {
			return fmt.Errorf("%w: header name %q", ErrMalformedSignature, name)
		}
	}
	return nil
}

// verifiableRequest is what go-fed's verifier is given: a copy of r with
// a Signature header rebuilt from our own parse, so that go-fed (whose
// parser splits on every comma, even inside quotes) verifies exactly the
// header list we checked; Host from r.Host, as servers see it; and the
// escaped path, as the sender signed it.
func (s *Signature) verifiableRequest(r *http.Request) *http.Request {
	c := withEscapedPath(r)
	c.Header = r.Header.Clone()
	c.Header.Del("Authorization") // go-fed refuses a request signed in both
	if r.Host != "" {
		c.Header.Set("Host", r.Host)
	}
	var b strings.Builder
	b.WriteString(`keyId="k",`) // the keyId is not part of the signed string
	if s.created != "" {
		fmt.Fprintf(&b, "created=%s,", s.created)
	}
	if s.expires != "" {
		fmt.Fprintf(&b, "expires=%s,", s.expires)
	}
	fmt.Fprintf(&b, `headers="%s",signature="%s"`, strings.Join(s.Headers, " "), s.signature)
	c.Header.Set("Signature", b.String())
	return c
}

// Verify checks the signature with the key named by KeyID, fetched through
// keys. When the key at hand does not verify, it asks keys once more with
// refresh, for the owner may have rotated its key. It returns the key that
// verified; the caller checks Owner against the activity's actor.
func (s *Signature) Verify(ctx context.Context, keys KeyResolver) (PublicKey, error) {
	key, err := keys.PublicKey(ctx, s.KeyID, false)
	if err != nil {
		return PublicKey{}, fmt.Errorf("verify %s: %w: %w", s.KeyID, ErrKeyUnavailable, err)
	}
	if s.verifyWith(key) == nil {
		return key, nil
	}
	key, err = keys.PublicKey(ctx, s.KeyID, true)
	if err != nil {
		return PublicKey{}, fmt.Errorf("verify %s: %w: refresh: %w", s.KeyID, ErrKeyUnavailable, err)
	}
	if err := s.verifyWith(key); err != nil {
		return PublicKey{}, fmt.Errorf("verify %s: %w", s.KeyID, err)
	}
	return key, nil
}

func (s *Signature) verifyWith(key PublicKey) error {
	if s.rfc != nil {
		return s.rfc.verify(key.Key)
	}
	var algo httpsig.Algorithm
	switch key.Key.(type) {
	case *rsa.PublicKey:
		algo = httpsig.RSA_SHA256
	case ed25519.PublicKey:
		if s.Algorithm == "rsa-sha256" {
			return fmt.Errorf("%w: rsa-sha256 signature, Ed25519 key", ErrBadSignature)
		}
		algo = httpsig.ED25519
	default:
		return fmt.Errorf("%w: unsupported key type %T", ErrBadSignature, key.Key)
	}
	err := verifyRequest(s.req, key.Key, algo)
	if err != nil && s.req.URL.RawQuery != "" {
		// Mastodon before 4.1 signed the path without the query string.
		noQuery := *s.req
		u := *s.req.URL
		u.RawQuery = ""
		noQuery.URL = &u
		err = verifyRequest(&noQuery, key.Key, algo)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return nil
}

func verifyRequest(r *http.Request, key crypto.PublicKey, algo httpsig.Algorithm) error {
	// A verifier per call: go-fed verifiers are not safe for concurrent use.
	v, err := httpsig.NewVerifier(r)
	if err != nil {
		return err
	}
	return v.Verify(key, algo)
}

// checkDigest checks Digest header values ("SHA-256=<base64>", possibly
// several comma-separated algorithms) against body. Only SHA-256 counts.
func checkDigest(values []string, body []byte) error {
	sum := sha256.Sum256(body)
	want := base64.StdEncoding.EncodeToString(sum[:])
	found := false
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			algo, value, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(algo), "SHA-256") {
				continue
			}
			found = true
			if strings.TrimSpace(value) != want {
				return fmt.Errorf("%w: SHA-256 %q, body has %q", ErrDigest, value, want)
			}
		}
	}
	if !found {
		return fmt.Errorf("%w: no SHA-256 digest", ErrDigest)
	}
	return nil
}

// parseSignatureParams parses `key="value",key=token,...` into a map with
// lower-cased keys. Quoted values may contain commas and backslash escapes
// (Mastodon's grammar). Old node-http-signature versions prefix the header
// with "Signature ", which is skipped. A repeated parameter is an error: a
// second "headers" must not be able to override the first one checked.
func parseSignatureParams(h string) (map[string]string, error) {
	s := strings.TrimSpace(h)
	if rest, ok := strings.CutPrefix(s, "Signature "); ok {
		s = rest
	}
	params := make(map[string]string)
	for {
		s = strings.TrimLeft(s, " \t")
		i := 0
		for i < len(s) && isSigTokenChar(s[i]) {
			i++
		}
		if i == 0 {
			return nil, fmt.Errorf("%w: expected a parameter name at %q", ErrMalformedSignature, s)
		}
		key := strings.ToLower(s[:i])
		s = strings.TrimLeft(s[i:], " \t")
		if !strings.HasPrefix(s, "=") {
			return nil, fmt.Errorf("%w: expected = after %q", ErrMalformedSignature, key)
		}
		s = strings.TrimLeft(s[1:], " \t")
		var value string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			j := 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("%w: unterminated value of %q", ErrMalformedSignature, key)
			}
			value, s = b.String(), s[j+1:]
		} else {
			j := 0
			for j < len(s) && isSigTokenChar(s[j]) {
				j++
			}
			value, s = s[:j], s[j:]
		}
		if _, dup := params[key]; dup {
			return nil, fmt.Errorf("%w: repeated parameter %q", ErrMalformedSignature, key)
		}
		params[key] = value
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return params, nil
		}
		if s[0] != ',' {
			return nil, fmt.Errorf("%w: expected , at %q", ErrMalformedSignature, s)
		}
		s = s[1:]
	}
}

// isSigTokenChar reports whether c is an RFC 9110 tchar.
func isSigTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isSigToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isSigTokenChar(s[i]) {
			return false
		}
	}
	return true
}
