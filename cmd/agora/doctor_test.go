package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
)

// doctorConfig writes the config the doctor reads: a running test
// Agora's data_dir and listen, with the base_url given.
func doctorConfig(t *testing.T, a *testAgora, baseURL string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agora.toml")
	body := fmt.Sprintf("base_url = %q\nlisten = %q\ndata_dir = %q\n", baseURL, a.addr, a.cfg.DataDir)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// proxyTo is a reverse proxy to a test Agora that keeps the Host header,
// as README's nginx example does; change may alter its answers.
func proxyTo(a *testAgora, change func(*http.Response) error) http.Handler {
	target, _ := url.Parse("http://" + a.addr)
	p := httputil.NewSingleHostReverseProxy(target)
	p.ModifyResponse = change
	return p
}

func runDoctor(t *testing.T, config string) (string, error) {
	t.Helper()
	isolateConfigSearch(t)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"doctor", "--config", config}, &out, &errOut, envOf(nil))
	return out.String(), err
}

// agora doctor: a good local setup passes; behind a proxy with a
// self-signed certificate, with a base_url that reaches nothing or another
// Agora, with a clock hours off, or with a data_dir others can read, it
// names the problem and its fix, and exits with an error.
func TestDoctor(t *testing.T) {
	newAgora := func(t *testing.T, change func(*agora.Config)) *testAgora {
		a := startAgora(t, filepath.Join(t.TempDir(), "data"), "", change)
		a.mustCLI("community", "create", "gardening")
		stdin = strings.NewReader("correct horse battery\n")
		a.mustCLI("admin", "create", "root")
		return a
	}
	tests := []struct {
		name  string
		setup func(t *testing.T) string // the config file
		fails []string                  // "" none: the setup is good
		oks   []string
	}{
		{"good local setup", func(t *testing.T) string {
			a := newAgora(t, nil)
			return doctorConfig(t, a, a.base())
		}, nil, []string{"[ok]   config:", "[ok]   data_dir", "[ok]   database", "1 communities, 1 admin", "[ok]   keys:",
			"plain http on this machine", "[ok]   WebFinger through", "serves this data_dir's key", "[ok]   clock:", "Everything checked is fine."}},

		{"self-signed TLS proxy", func(t *testing.T) string {
			var handler http.Handler
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
			base := "https://" + ts.Listener.Addr().String()
			a := newAgora(t, func(c *agora.Config) { c.BaseURL = base })
			handler = proxyTo(a, nil)
			ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the doctor's refused handshake
			ts.StartTLS()
			t.Cleanup(ts.Close)
			return doctorConfig(t, a, base)
		}, []string{"self-signed or from an unknown authority", "fix: serve a certificate from a public authority for 127.0.0.1"},
			// Checked without verification, the rest is fine.
			[]string{"[ok]   WebFinger through https://127.0.0.1:", "serves this data_dir's key"}},

		{"base_url reaches nothing", func(t *testing.T) string {
			a := newAgora(t, nil)
			return doctorConfig(t, a, "http://"+freeAddr(t))
		}, []string{"WebFinger http://127.0.0.1:", "connection refused", "fix: base_url must reach this Agora", "proxy_set_header Host $host"}, nil},

		{"base_url reaches another Agora", func(t *testing.T) string {
			a, other := newAgora(t, nil), newAgora(t, nil)
			return doctorConfig(t, a, other.base())
		}, []string{"has another key than this data_dir's: base_url reaches another Agora"}, []string{"[ok]   WebFinger through"}},

		{"clock two hours off", func(t *testing.T) string {
			var handler http.Handler
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
			base := "http://" + ts.Listener.Addr().String()
			a := newAgora(t, func(c *agora.Config) { c.BaseURL = base })
			handler = proxyTo(a, func(resp *http.Response) error {
				resp.Header.Set("Date", time.Now().Add(-2*time.Hour).UTC().Format(http.TimeFormat))
				return nil
			})
			ts.Start()
			t.Cleanup(ts.Close)
			return doctorConfig(t, a, base)
		}, []string{"clock: this machine and the server at base_url differ by 2h0m", "timedatectl set-ntp true"}, nil},

		{"data_dir readable by others", func(t *testing.T) string {
			a := newAgora(t, nil)
			if err := os.Chmod(a.cfg.DataDir, 0o755); err != nil {
				t.Fatal(err)
			}
			return doctorConfig(t, a, a.base())
		}, []string{"has mode 0755: other users can reach the database", "fix: chmod 700 "}, []string{"[ok]   WebFinger through"}},

		{"public base_url on http", func(t *testing.T) string {
			a := newAgora(t, nil)
			return doctorConfig(t, a, "http://groups.invalid")
		}, []string{"base_url http://groups.invalid is http: fediverse servers only talk to https", "does not resolve", "create a DNS A"}, nil},

		{"a broken config", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "agora.toml")
			os.WriteFile(path, []byte("base_url = \"groups.example.org\"\n"), 0o600)
			return path
		}, []string{"config base_url: want the public URL with scheme and host only"}, nil},
	}
	oldIn, oldLookup := stdin, doctorLookup
	t.Cleanup(func() { stdin, doctorLookup = oldIn, oldLookup })
	doctorLookup = func(_ context.Context, host string) ([]string, error) {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runDoctor(t, tt.setup(t))
			if len(tt.fails) == 0 {
				if err != nil || strings.Contains(out, "[FAIL]") {
					t.Fatalf("doctor on a good setup: %v\n%s", err, out)
				}
			} else if !errors.Is(err, errDoctor) || !strings.Contains(out, "[FAIL]") {
				t.Fatalf("doctor: %v, want problems found\n%s", err, out)
			}
			for _, want := range append(tt.fails, tt.oks...) {
				if !strings.Contains(out, want) {
					t.Errorf("doctor output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
