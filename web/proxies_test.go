package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/agorafed/agora/web"
)

// TestLimitsBehindProxy (issue 15, item 6): behind the reverse proxy
// every request comes from 127.0.0.1; each limit (login, Join) counts the
// client its X-Forwarded-For names, so ten wrong passwords from one
// client lock that client out and nobody else. The header of a peer that
// is not a trusted proxy is ignored: there, one bucket per TCP peer.
func TestLimitsBehindProxy(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string // nil: the default, loopback
		path    string
		form    url.Values
		limit   int
		other   int // the status another client gets once the first is over its limit
	}{
		{"login, proxy on loopback", nil, "/admin/login", url.Values{"name": {"root"}, "password": {"wrong password!"}}, web.LoginAttempts, http.StatusUnauthorized},
		{"join, proxy on loopback", nil, "/c/garden/join", url.Values{"handle": {"not a handle"}}, web.JoinLookups, http.StatusBadRequest},
		{"login, no trusted proxy: the header is ignored", []string{}, "/admin/login", url.Values{"name": {"root"}, "password": {"wrong password!"}}, web.LoginAttempts, http.StatusTooManyRequests},
		{"join, proxy elsewhere: the header is ignored", []string{"10.0.0.0/8"}, "/c/garden/join", url.Values{"handle": {"not a handle"}}, web.JoinLookups, http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConsole(t, func(d *web.Deps) { d.TrustedProxies = tt.trusted })
			c.community("garden")
			b := c.browser()
			csrf := b.csrf()
			send := func(client string) int {
				form := url.Values{"csrf": {csrf}}
				for k, v := range tt.form {
					form[k] = v
				}
				req, _ := http.NewRequest(http.MethodPost, c.url+tt.path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", client)
				resp, _ := b.do(req)
				return resp.StatusCode
			}
			for i := range tt.limit {
				if code := send("198.51.100.1"); code == http.StatusTooManyRequests {
					t.Fatalf("request %d of %d from one client: 429", i+1, tt.limit)
				}
			}
			if code := send("198.51.100.1"); code != http.StatusTooManyRequests {
				t.Errorf("one request over the limit: %d, want 429", code)
			}
			if code := send("198.51.100.2"); code != tt.other {
				t.Errorf("another client then: %d, want %d", code, tt.other)
			}
		})
	}
}
