package federation

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Signature schemes, as recorded per remote host. The values are Fedify's
// names for them, which is what the peers that use both call them.
const (
	SchemeCavage  = "draft-cavage-http-signatures-12"
	SchemeRFC9421 = "rfc9421"
)

// RFC 9421 algorithms Agora verifies (the registry's names). Mastodon 4.5
// verifies the same three; Fedify signs with rsa-v1_5-sha256.
const (
	algRSAv15SHA256 = "rsa-v1_5-sha256"
	algRSAPSSSHA512 = "rsa-pss-sha512"
	algEd25519      = "ed25519"
)

// rfc9421Sig is what verifying an RFC 9421 signature needs once the key is
// known: the signature bases (one per plausible scheme of @target-uri) and
// the signature bytes.
type rfc9421Sig struct {
	alg   string
	bases []string
	sig   []byte
}

// parseRFC9421 is ParseSignature for a request carrying Signature-Input
// (RFC 9421, HTTP Message Signatures). It checks, as Mastodon 4.5 does,
// that @method and @target-uri are covered, and content-digest when there
// is a body; that created is within the Date window and expires (if any)
// has not passed; that Content-Digest matches the body; and it builds the
// signature base. The first signature label that has both an input and a
// value is the one checked.
func parseRFC9421(r *http.Request, body []byte, now time.Time) (*Signature, error) {
	inputs, err := parseSFDictionary(strings.Join(r.Header.Values("Signature-Input"), ", "))
	if err != nil {
		return nil, fmt.Errorf("%w: Signature-Input: %v", ErrMalformedSignature, err)
	}
	sigs, err := parseSFDictionary(strings.Join(r.Header.Values("Signature"), ", "))
	if err != nil {
		return nil, fmt.Errorf("%w: Signature: %v", ErrMalformedSignature, err)
	}
	var in, sv *sfMember
	for i := range inputs {
		for j := range sigs {
			if sigs[j].name == inputs[i].name {
				in, sv = &inputs[i], &sigs[j]
				break
			}
		}
		if in != nil {
			break
		}
	}
	if in == nil {
		return nil, fmt.Errorf("%w: no Signature matches a Signature-Input label", ErrMalformedSignature)
	}
	if !in.isList || sv.isList || sv.item.kind != sfBytes {
		return nil, fmt.Errorf("%w: label %q: input must be an inner list and signature a byte sequence", ErrMalformedSignature, in.name)
	}

	s := &Signature{Scheme: SchemeRFC9421}
	rs := &rfc9421Sig{sig: sv.item.bytes}
	var created, expires int64 = -1, -1
	for _, p := range in.params {
		switch p.key {
		case "keyid":
			s.KeyID = p.val.str
		case "alg":
			rs.alg = strings.ToLower(p.val.str)
		case "created":
			if p.val.kind != sfInteger {
				return nil, fmt.Errorf("%w: created is not an integer", ErrMalformedSignature)
			}
			created = p.val.num
		case "expires":
			if p.val.kind != sfInteger {
				return nil, fmt.Errorf("%w: expires is not an integer", ErrMalformedSignature)
			}
			expires = p.val.num
		}
	}
	s.Algorithm = rs.alg
	if s.KeyID == "" {
		return nil, fmt.Errorf("%w: no keyid", ErrMalformedSignature)
	}
	if len(rs.sig) == 0 {
		return nil, fmt.Errorf("%w: empty signature", ErrMalformedSignature)
	}
	switch rs.alg {
	case "", algRSAv15SHA256, algRSAPSSSHA512, algEd25519:
	default:
		return nil, fmt.Errorf("%w: algorithm %q", ErrMalformedSignature, rs.alg)
	}
	for _, c := range in.inner {
		if c.kind != sfString || len(c.params) > 0 {
			// Parameters (;sf, ;key, ;req, ;bs...) change what is signed;
			// no fediverse software uses them, so they are refused.
			return nil, fmt.Errorf("%w: component %s not supported", ErrMalformedSignature, c.serialize())
		}
		s.Headers = append(s.Headers, c.str)
	}

	hasBody := len(body) > 0 || r.Method == http.MethodPost
	required := []string{"@method", "@target-uri"}
	if hasBody {
		required = append(required, "content-digest")
	}
	for _, h := range required {
		if !slices.Contains(s.Headers, h) {
			return nil, fmt.Errorf("%w: %q", ErrMissingSignedHeader, h)
		}
	}

	if created < 0 {
		return nil, fmt.Errorf("%w: no created parameter", ErrDateWindow)
	}
	date := time.Unix(created, 0).UTC()
	if date.After(now.Add(maxDateAhead)) || date.Before(now.Add(-maxDateBehind)) {
		return nil, fmt.Errorf("%w: created %s, now %s", ErrDateWindow, date.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if expires >= 0 && time.Unix(expires, 0).Before(now) {
		return nil, fmt.Errorf("%w: expired at %s", ErrDateWindow, time.Unix(expires, 0).UTC().Format(time.RFC3339))
	}
	s.Date = date

	if hasBody || len(r.Header.Values("Content-Digest")) > 0 {
		if err := checkContentDigest(r.Header.Values("Content-Digest"), body); err != nil {
			return nil, err
		}
	}

	params := in.serializeList()
	for _, scheme := range targetSchemes(r) {
		base, err := signatureBase(r, scheme, in.inner, params)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(rs.bases, base) {
			rs.bases = append(rs.bases, base)
		}
	}
	s.rfc = rs
	return s, nil
}

// targetSchemes lists the schemes under which the sender may have seen
// this server: the one a TLS-terminating proxy reports (or the connection
// has) first, then the other. Only the scheme is guessed; host, path and
// query are the request's own, and the signature covers them.
func targetSchemes(r *http.Request) []string {
	first := "http"
	if r.TLS != nil {
		first = "https"
	}
	if p := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0])); p == "http" || p == "https" {
		first = p
	}
	if first == "https" {
		return []string{"https", "http"}
	}
	return []string{"http", "https"}
}

// signatureBase builds the RFC 9421 signature base (section 2.5) of r.
func signatureBase(r *http.Request, scheme string, components []sfItem, params string) (string, error) {
	var b strings.Builder
	requestURI := r.RequestURI
	if !strings.HasPrefix(requestURI, "/") {
		requestURI = r.URL.RequestURI()
	}
	for _, c := range components {
		var v string
		switch c.str {
		case "@method":
			v = r.Method
		case "@target-uri":
			v = scheme + "://" + r.Host + requestURI
		case "@authority":
			v = strings.ToLower(r.Host)
		case "@scheme":
			v = scheme
		case "@request-target":
			v = requestURI
		case "@path":
			v, _, _ = strings.Cut(requestURI, "?")
		case "@query":
			_, q, _ := strings.Cut(requestURI, "?")
			v = "?" + q
		case "host":
			v = r.Host
		default:
			if strings.HasPrefix(c.str, "@") {
				return "", fmt.Errorf("%w: component %q not supported", ErrMalformedSignature, c.str)
			}
			values := r.Header.Values(c.str)
			if len(values) == 0 {
				return "", fmt.Errorf("%w: signed header %q absent", ErrMissingSignedHeader, c.str)
			}
			for i := range values {
				values[i] = strings.TrimSpace(values[i])
			}
			v = strings.Join(values, ", ")
		}
		b.WriteString(c.serialize())
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	b.WriteString(`"@signature-params": `)
	b.WriteString(params)
	return b.String(), nil
}

// verify checks the signature with key. Without an alg parameter the key's
// type decides (RSA: rsa-v1_5-sha256), as RFC 9421 section 3.2 allows.
func (rs *rfc9421Sig) verify(key crypto.PublicKey) error {
	alg := rs.alg
	switch key.(type) {
	case *rsa.PublicKey:
		if alg == "" {
			alg = algRSAv15SHA256
		}
		if alg == algEd25519 {
			return fmt.Errorf("%w: %s signature, RSA key", ErrBadSignature, alg)
		}
	case ed25519.PublicKey:
		if alg == "" {
			alg = algEd25519
		}
		if alg != algEd25519 {
			return fmt.Errorf("%w: %s signature, Ed25519 key", ErrBadSignature, alg)
		}
	default:
		return fmt.Errorf("%w: unsupported key type %T", ErrBadSignature, key)
	}
	for _, base := range rs.bases {
		var err error
		switch alg {
		case algRSAv15SHA256:
			sum := sha256.Sum256([]byte(base))
			err = rsa.VerifyPKCS1v15(key.(*rsa.PublicKey), crypto.SHA256, sum[:], rs.sig)
		case algRSAPSSSHA512:
			sum := sha512.Sum512([]byte(base))
			err = rsa.VerifyPSS(key.(*rsa.PublicKey), crypto.SHA512, sum[:], rs.sig, &rsa.PSSOptions{SaltLength: 64})
		case algEd25519:
			if !ed25519.Verify(key.(ed25519.PublicKey), []byte(base), rs.sig) {
				err = fmt.Errorf("ed25519 verification failed")
			}
		}
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: RFC 9421 %s signature does not verify", ErrBadSignature, alg)
}

// checkContentDigest checks Content-Digest (RFC 9530: sha-256=:b64:,
// sha-512=:b64:) against body: at least one known digest, and every known
// one matches.
func checkContentDigest(values []string, body []byte) error {
	dict, err := parseSFDictionary(strings.Join(values, ", "))
	if err != nil {
		return fmt.Errorf("%w: Content-Digest: %v", ErrDigest, err)
	}
	found := false
	for _, m := range dict {
		var sum []byte
		switch strings.ToLower(m.name) {
		case "sha-256":
			s := sha256.Sum256(body)
			sum = s[:]
		case "sha-512":
			s := sha512.Sum512(body)
			sum = s[:]
		default:
			continue
		}
		if m.isList || m.item.kind != sfBytes {
			return fmt.Errorf("%w: Content-Digest %s is not a byte sequence", ErrDigest, m.name)
		}
		found = true
		if subtle.ConstantTimeCompare(sum, m.item.bytes) != 1 {
			return fmt.Errorf("%w: Content-Digest %s does not match the body", ErrDigest, m.name)
		}
	}
	if !found {
		return fmt.Errorf("%w: no sha-256 or sha-512 Content-Digest", ErrDigest)
	}
	return nil
}

// A small reader and writer of RFC 8941 structured fields: dictionaries
// whose members are items or inner lists, with parameters. Decimals are
// not supported (no signature parameter uses them).

type sfKind byte

const (
	sfString sfKind = iota + 1
	sfToken
	sfInteger
	sfBytes
	sfBool
)

type sfItem struct {
	kind    sfKind
	str     string // string or token
	num     int64
	bytes   []byte
	boolean bool
	params  []sfParam
}

type sfParam struct {
	key string
	val sfItem // without parameters
}

type sfMember struct {
	name   string
	isList bool
	inner  []sfItem // when isList
	item   sfItem   // when not
	params []sfParam
}

// serializeList is the canonical form of an inner list member's value:
// what RFC 9421 puts in the @signature-params line.
func (m *sfMember) serializeList() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, it := range m.inner {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(it.serialize())
	}
	b.WriteByte(')')
	writeSFParams(&b, m.params)
	return b.String()
}

func (it sfItem) serialize() string {
	var b strings.Builder
	it.writeBare(&b)
	writeSFParams(&b, it.params)
	return b.String()
}

func (it sfItem) writeBare(b *strings.Builder) {
	switch it.kind {
	case sfString:
		b.WriteByte('"')
		for i := 0; i < len(it.str); i++ {
			if it.str[i] == '"' || it.str[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(it.str[i])
		}
		b.WriteByte('"')
	case sfToken:
		b.WriteString(it.str)
	case sfInteger:
		b.WriteString(strconv.FormatInt(it.num, 10))
	case sfBytes:
		b.WriteByte(':')
		b.WriteString(base64.StdEncoding.EncodeToString(it.bytes))
		b.WriteByte(':')
	case sfBool:
		if it.boolean {
			b.WriteString("?1")
		} else {
			b.WriteString("?0")
		}
	}
}

func writeSFParams(b *strings.Builder, params []sfParam) {
	for _, p := range params {
		b.WriteByte(';')
		b.WriteString(p.key)
		if p.val.kind == sfBool && p.val.boolean {
			continue
		}
		b.WriteByte('=')
		p.val.writeBare(b)
	}
}

// sfParser parses one header value.
type sfParser struct{ s string }

func (p *sfParser) skipSP()  { p.s = strings.TrimLeft(p.s, " ") }
func (p *sfParser) skipOWS() { p.s = strings.TrimLeft(p.s, " \t") }

// parseSFDictionary parses an RFC 8941 dictionary. A repeated key keeps
// its last value, as the RFC says, but in the first one's place.
func parseSFDictionary(s string) ([]sfMember, error) {
	p := &sfParser{s: s}
	p.skipSP()
	var out []sfMember
	if p.s == "" {
		return nil, fmt.Errorf("empty dictionary")
	}
	for p.s != "" {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		m := sfMember{name: key}
		if strings.HasPrefix(p.s, "=") {
			p.s = p.s[1:]
			if strings.HasPrefix(p.s, "(") {
				m.isList = true
				if m.inner, err = p.innerList(); err != nil {
					return nil, err
				}
			} else if m.item, err = p.bareItem(); err != nil {
				return nil, err
			}
		} else {
			m.item = sfItem{kind: sfBool, boolean: true}
		}
		if m.params, err = p.params(); err != nil {
			return nil, err
		}
		if !m.isList {
			m.item.params = m.params
		}
		replaced := false
		for i := range out {
			if out[i].name == key {
				out[i], replaced = m, true
			}
		}
		if !replaced {
			out = append(out, m)
		}
		p.skipOWS()
		if p.s == "" {
			return out, nil
		}
		if p.s[0] != ',' {
			return nil, fmt.Errorf("expected , at %q", trunc(p.s))
		}
		p.s = p.s[1:]
		p.skipOWS()
		if p.s == "" {
			return nil, fmt.Errorf("trailing comma")
		}
	}
	return out, nil
}

func (p *sfParser) key() (string, error) {
	i := 0
	for i < len(p.s) {
		c := p.s[i]
		if 'a' <= c && c <= 'z' || c == '*' || i > 0 && ('0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			i++
			continue
		}
		break
	}
	if i == 0 {
		return "", fmt.Errorf("expected a key at %q", trunc(p.s))
	}
	k := p.s[:i]
	p.s = p.s[i:]
	return k, nil
}

func (p *sfParser) innerList() ([]sfItem, error) {
	p.s = p.s[1:] // (
	var items []sfItem
	for {
		p.skipSP()
		if strings.HasPrefix(p.s, ")") {
			p.s = p.s[1:]
			return items, nil
		}
		it, err := p.bareItem()
		if err != nil {
			return nil, err
		}
		if it.params, err = p.params(); err != nil {
			return nil, err
		}
		items = append(items, it)
		if p.s == "" || p.s[0] != ' ' && p.s[0] != ')' {
			return nil, fmt.Errorf("bad inner list at %q", trunc(p.s))
		}
	}
}

func (p *sfParser) params() ([]sfParam, error) {
	var out []sfParam
	for strings.HasPrefix(p.s, ";") {
		p.s = p.s[1:]
		p.skipSP()
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		val := sfItem{kind: sfBool, boolean: true}
		if strings.HasPrefix(p.s, "=") {
			p.s = p.s[1:]
			if val, err = p.bareItem(); err != nil {
				return nil, err
			}
		}
		replaced := false
		for i := range out {
			if out[i].key == key {
				out[i].val, replaced = val, true
			}
		}
		if !replaced {
			out = append(out, sfParam{key: key, val: val})
		}
	}
	return out, nil
}

func (p *sfParser) bareItem() (sfItem, error) {
	if p.s == "" {
		return sfItem{}, fmt.Errorf("expected an item at the end")
	}
	switch c := p.s[0]; {
	case c == '"':
		var b strings.Builder
		for i := 1; i < len(p.s); i++ {
			switch c := p.s[i]; {
			case c == '\\':
				if i+1 >= len(p.s) || p.s[i+1] != '"' && p.s[i+1] != '\\' {
					return sfItem{}, fmt.Errorf("bad escape in string")
				}
				i++
				b.WriteByte(p.s[i])
			case c == '"':
				p.s = p.s[i+1:]
				return sfItem{kind: sfString, str: b.String()}, nil
			case c < 0x20 || c > 0x7e:
				return sfItem{}, fmt.Errorf("bad character in string")
			default:
				b.WriteByte(c)
			}
		}
		return sfItem{}, fmt.Errorf("unterminated string")
	case c == ':':
		end := strings.IndexByte(p.s[1:], ':')
		if end < 0 {
			return sfItem{}, fmt.Errorf("unterminated byte sequence")
		}
		raw := p.s[1 : 1+end]
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			// Some senders drop the padding.
			if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(raw, "=")); err != nil {
				return sfItem{}, fmt.Errorf("byte sequence is not base64")
			}
		}
		p.s = p.s[2+end:]
		return sfItem{kind: sfBytes, bytes: b}, nil
	case c == '?':
		if len(p.s) < 2 || p.s[1] != '0' && p.s[1] != '1' {
			return sfItem{}, fmt.Errorf("bad boolean")
		}
		v := p.s[1] == '1'
		p.s = p.s[2:]
		return sfItem{kind: sfBool, boolean: v}, nil
	case c == '-' || '0' <= c && c <= '9':
		i := 0
		if c == '-' {
			i++
		}
		start := i
		for i < len(p.s) && '0' <= p.s[i] && p.s[i] <= '9' {
			i++
		}
		if i == start || i-start > 15 {
			return sfItem{}, fmt.Errorf("bad integer")
		}
		if i < len(p.s) && p.s[i] == '.' {
			return sfItem{}, fmt.Errorf("decimals not supported")
		}
		n, err := strconv.ParseInt(p.s[:i], 10, 64)
		if err != nil {
			return sfItem{}, fmt.Errorf("bad integer")
		}
		p.s = p.s[i:]
		return sfItem{kind: sfInteger, num: n}, nil
	case c == '*' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		i := 1
		for i < len(p.s) && (isSigTokenChar(p.s[i]) || p.s[i] == ':' || p.s[i] == '/') {
			i++
		}
		t := p.s[:i]
		p.s = p.s[i:]
		return sfItem{kind: sfToken, str: t}, nil
	}
	return sfItem{}, fmt.Errorf("unexpected %q", trunc(p.s))
}

func trunc(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}
