package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrBadHandle is a handle that is not @user@host.
var ErrBadHandle = errors.New("not a handle of the form @user@host")

// JRD is a WebFinger answer (RFC 7033).
type JRD struct {
	Subject string    `json:"subject"`
	Aliases []string  `json:"aliases"`
	Links   []JRDLink `json:"links"`
}

// JRDLink is one link of a JRD.
type JRDLink struct {
	Rel      string `json:"rel"`
	Type     string `json:"type,omitempty"`
	Href     string `json:"href,omitempty"`
	Template string `json:"template,omitempty"`
}

// ActorIRI is the ActivityPub actor the JRD points to ("self" with an AS2
// type), or "".
func (j JRD) ActorIRI() string {
	for _, l := range j.Links {
		if l.Rel == "self" && (strings.HasPrefix(l.Type, "application/activity+json") ||
			strings.HasPrefix(l.Type, "application/ld+json")) {
			return l.Href
		}
	}
	return ""
}

// SubscribeTemplate is the remote-follow URL template
// (http://ostatus.org/schema/1.0/subscribe, "{uri}" to fill), or "".
func (j JRD) SubscribeTemplate() string {
	for _, l := range j.Links {
		if l.Rel == "http://ostatus.org/schema/1.0/subscribe" && l.Template != "" {
			return l.Template
		}
	}
	return ""
}

// SplitHandle reads "@user@host", "user@host" or "acct:user@host" (host
// may carry a port). A user part never holds a colon (RFC 7565's userpart
// is unreserved characters, sub-delims and percent-escapes), so a second
// "acct:" is refused rather than taken for the user.
func SplitHandle(handle string) (user, host string, err error) {
	h := strings.TrimPrefix(strings.TrimSpace(handle), "@")
	h = strings.TrimPrefix(h, "acct:")
	user, host, ok := strings.Cut(h, "@")
	if !ok || user == "" || host == "" || strings.ContainsAny(user, "/?#@ :") || strings.ContainsAny(host, "/?#@ ") {
		return "", "", fmt.Errorf("%q: %w", handle, ErrBadHandle)
	}
	return user, strings.ToLower(host), nil
}

// maxJRD bounds a WebFinger answer.
const maxJRD = 256 << 10

// WebFinger looks a handle up (docs/protocol.md, "Fetching"): over https, as RFC
// 7033 asks; with allowHTTP (allow_private_addresses test setups, whose
// peers serve plain http with ports) it falls back to http after an https
// failure, so tests and production share the code path.
func (f *Fetcher) WebFinger(ctx context.Context, handle string, allowHTTP bool) (JRD, error) {
	user, host, err := SplitHandle(handle)
	if err != nil {
		return JRD{}, err
	}
	resource := "acct:" + user + "@" + host
	jrd, err := f.webfinger(ctx, "https", host, resource)
	if err != nil && allowHTTP {
		var herr error
		if jrd, herr = f.webfinger(ctx, "http", host, resource); herr == nil {
			return jrd, nil
		}
		// Both reasons: the http one may be a refusal (a forbidden address).
		return JRD{}, fmt.Errorf("%w; then over http: %w", err, herr)
	}
	return jrd, err
}

func (f *Fetcher) webfinger(ctx context.Context, scheme, host, resource string) (JRD, error) {
	u := scheme + "://" + host + "/.well-known/webfinger?resource=" + url.QueryEscape(resource)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return JRD{}, fmt.Errorf("webfinger %s: %w", resource, err)
	}
	req.Header.Set("Accept", "application/jrd+json, application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return JRD{}, fmt.Errorf("webfinger %s: %w", resource, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return JRD{}, fmt.Errorf("webfinger %s: %w", resource, &StatusError{Code: resp.StatusCode, URL: u})
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJRD+1))
	if err != nil {
		return JRD{}, fmt.Errorf("webfinger %s: %w", resource, err)
	}
	if len(body) > maxJRD {
		return JRD{}, fmt.Errorf("webfinger %s: %w: over %d bytes", resource, ErrTooLarge, maxJRD)
	}
	jrd, err := ParseJRD(body)
	if err != nil {
		return JRD{}, fmt.Errorf("webfinger %s: %w", resource, err)
	}
	return jrd, nil
}

// ParseJRD reads a WebFinger answer. Errors wrap ErrMalformed.
func ParseJRD(body []byte) (JRD, error) {
	var jrd JRD
	if err := json.Unmarshal(body, &jrd); err != nil {
		return JRD{}, fmt.Errorf("%w: JRD: %v", ErrMalformed, err)
	}
	return jrd, nil
}
