package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/agorafed/agora/cmd/internal/agora"
	"github.com/agorafed/agora/federation"
	"github.com/agorafed/agora/storage"
	"github.com/agorafed/agora/storage/sqlite"
)

// Clock skew limits of `agora doctor`. Receivers check the Date of a
// signed request (Mastodon allows one hour ahead, 12 hours behind:
// mastodon/mastodon app/controllers/concerns/signature_verification.rb,
// CLOCK_SKEW_MARGIN and EXPIRATION_WINDOW_LIMIT); a clock minutes off is
// already a sign that time sync is not running.
const (
	skewWarn = 30 * time.Second
	skewFail = 5 * time.Minute
)

// doctorLookup resolves base_url's host (tests replace it: they send no
// query off the machine).
var doctorLookup = net.DefaultResolver.LookupHost

// doctorRoots, when set, replaces the system's certificate authorities
// (tests).
var doctorRoots *x509.CertPool

// checklist prints the doctor's findings, one line each, with the fix
// under a failure.
type checklist struct {
	w            io.Writer
	fails, warns int
}

func (c *checklist) ok(what string, args ...any) {
	fmt.Fprintf(c.w, "[ok]   %s\n", fmt.Sprintf(what, args...))
}

func (c *checklist) fail(what, fix string) {
	c.fails++
	fmt.Fprintf(c.w, "[FAIL] %s\n       fix: %s\n", what, fix)
}

func (c *checklist) warn(what, fix string) {
	c.warns++
	fmt.Fprintf(c.w, "[warn] %s\n       fix: %s\n", what, fix)
}

// errDoctor is what doctor returns when a check failed (exit status 1).
var errDoctor = errors.New("doctor found problems")

// cmdDoctor checks a setup the way a remote server will meet it: the
// config, data_dir and database, the keys, then base_url through the
// public URL (WebFinger, the instance actor with this data_dir's key), its
// TLS certificate and the clock. It prints a checklist with the fix of
// each failure.
func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	configPath := configFlag(fs, env)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{Msg: fmt.Sprintf("doctor: unexpected argument %q", pos[0])}
	}
	c := &checklist{w: stdout}
	defer func() {
		switch {
		case c.fails > 0:
			fmt.Fprintf(stdout, "\n%d problem(s), %d warning(s).\n", c.fails, c.warns)
		case c.warns > 0:
			fmt.Fprintf(stdout, "\nNo problem; %d warning(s).\n", c.warns)
		default:
			fmt.Fprintln(stdout, "\nEverything checked is fine.")
		}
	}()
	cfg, src, err := loadCLIConfig(*configPath, env)
	if err != nil {
		c.fail("config: "+err.Error(), "correct the file (config.example.toml documents every key) or name the right one with --config")
		return errDoctor
	}
	c.ok("config: %s", src)
	// base_url's port may differ from listen's: a proxy in front. What
	// matters is whether base_url reaches this Agora, checked below.
	if note, _ := reconcileListen(&cfg); note != "" {
		c.ok("listen: %s", note)
	}
	pubPEM := doctorLocal(ctx, c, cfg)
	doctorPublic(ctx, c, cfg, pubPEM)
	if c.fails > 0 {
		return errDoctor
	}
	return nil
}

// doctorLocal checks data_dir, the database and the keys, and returns the
// instance actor's public key ("" when there is none).
func doctorLocal(ctx context.Context, c *checklist, cfg agora.Config) string {
	db, path := doctorOpen(ctx, c, cfg)
	if db == nil {
		return ""
	}
	defer db.Close()
	communities, err1 := db.Communities(ctx)
	admins, err2 := db.CountAdmins(ctx)
	depth, err3 := db.QueueDepth(ctx)
	if err := errors.Join(err1, err2, err3); err != nil {
		c.fail(fmt.Sprintf("database %s cannot be read: %v", path, err), "restore it from a backup (README: Backups and restoring)")
		return ""
	}
	c.ok("database %s: %d communities, %d admin account(s), %d deliveries queued", path, len(communities), admins, depth)
	if admins == 0 {
		c.warn("no admin account: nobody can log in to /admin", "agora admin create NAME, or open the setup link agora serve prints")
	}

	pemText, err := db.LocalKey(ctx, federation.InstanceKeyOwner)
	if err != nil {
		c.fail(fmt.Sprintf("the instance actor has no key: %v", err), "start agora serve once: it makes the key")
		return ""
	}
	k, err := federation.DecodePrivateKey(pemText)
	if err != nil {
		c.fail(fmt.Sprintf("the instance actor's key is damaged: %v", err), "restore the database from a backup: peers know the old key")
		return ""
	}
	bad := 0
	for _, cm := range communities {
		if p, err := db.LocalKey(ctx, federation.CommunityKeyOwner(cm.Name)); err == nil {
			if _, err := federation.DecodePrivateKey(p); err != nil {
				bad++
				c.fail(fmt.Sprintf("the key of community %s is damaged: %v", cm.Name, err), "restore the database from a backup: peers know the old key")
			}
		}
	}
	if bad == 0 {
		c.ok("keys: the instance actor's (RSA %d) and the communities' keys read well", k.N.BitLen())
	}
	pub, _ := federation.EncodePublicKey(&k.PublicKey)
	return pub
}

// doctorOpen opens the database the config names, after checking
// data_dir and the database file when it is SQLite; nil when it cannot.
func doctorOpen(ctx context.Context, c *checklist, cfg agora.Config) (storage.Store, string) {
	if cfg.Database != "" {
		where := agora.DataWhere(cfg)
		db, err := agora.OpenDB(ctx, cfg)
		if err != nil {
			c.fail(fmt.Sprintf("database %s does not open: %v", where, err), "check database (the URL, the password, pg_hba.conf) and that PostgreSQL runs")
			return nil, ""
		}
		return db, where
	}
	dir := cfg.DataDir
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		c.fail(fmt.Sprintf("data_dir %s does not exist", dir), "start agora serve once (it creates it), or set data_dir to where the data is")
		return nil, ""
	case err != nil:
		c.fail(fmt.Sprintf("data_dir %s: %v", dir, err), "make it readable by the user agora runs as")
		return nil, ""
	case !st.IsDir():
		c.fail(fmt.Sprintf("data_dir %s is not a directory", dir), "set data_dir to a directory")
		return nil, ""
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		c.fail(fmt.Sprintf("data_dir %s has mode %04o: other users can reach the database and its private keys", dir, perm),
			"chmod 700 "+dir)
	} else if f, err := os.CreateTemp(dir, ".doctor-*"); err != nil {
		c.fail(fmt.Sprintf("data_dir %s is not writable: %v", dir, err), "chown it to the user agora runs as (or let systemd's StateDirectory= make it)")
	} else {
		f.Close()
		os.Remove(f.Name())
		c.ok("data_dir %s: a directory, mode %04o, writable", dir, st.Mode().Perm())
	}

	path := dbPath(cfg)
	dst, err := os.Stat(path)
	if err != nil {
		c.fail(fmt.Sprintf("database %s: %v", path, err), "start agora serve once (it creates the database), or point data_dir at the existing one")
		return nil, ""
	}
	if perm := dst.Mode().Perm(); perm&0o077 != 0 {
		c.fail(fmt.Sprintf("database %s has mode %04o: it holds private keys", path, perm), "chmod 600 "+path)
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		c.fail(fmt.Sprintf("database %s does not open: %v", path, err), "restore it from a backup (README: Backups and restoring)")
		return nil, ""
	}
	return db, path
}

// doctorPublic meets Agora through base_url as a remote server does.
func doctorPublic(ctx context.Context, c *checklist, cfg agora.Config, pubPEM string) {
	base, _ := url.Parse(cfg.BaseURL) // validated
	host := base.Hostname()
	local := isLoopbackHost(host)
	switch {
	case base.Scheme == "http" && !local:
		c.fail(fmt.Sprintf("base_url %s is http: fediverse servers only talk to https on port 443", cfg.BaseURL),
			`put a TLS proxy in front (README: Running in production) and set base_url = "https://`+host+`"`)
	case base.Scheme == "http":
		c.ok("base_url %s: plain http on this machine, fine for a trial (production needs https)", cfg.BaseURL)
	case base.Port() != "" && base.Port() != "443":
		c.warn(fmt.Sprintf("base_url %s has port %s: most fediverse servers reach only 443", cfg.BaseURL, base.Port()),
			"serve https on 443 and drop the port from base_url")
	}
	if net.ParseIP(host) == nil && !local {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		addrs, err := doctorLookup(rctx, host)
		cancel()
		if err != nil || len(addrs) == 0 {
			c.fail(fmt.Sprintf("base_url's host %s does not resolve: %v", host, err),
				"create a DNS A (and AAAA) record for "+host+" pointing at this server")
			return
		}
		c.ok("DNS: %s is %s", host, strings.Join(addrs, ", "))
	}

	tlsConf := &tls.Config{RootCAs: doctorRoots, ServerName: host}
	if base.Scheme == "https" {
		if !doctorTLS(ctx, c, base, tlsConf) {
			// Go on without verification, to find what else is wrong.
			tlsConf = &tls.Config{InsecureSkipVerify: true}
		}
	}
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		TLSClientConfig: tlsConf, Proxy: nil,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}}
	defer client.CloseIdleConnections()

	// WebFinger for the instance actor, as a server resolving a handle.
	actorIRI := cfg.BaseURL + "/actor"
	acct := "acct:" + host + "@" + base.Host
	wf := cfg.BaseURL + "/.well-known/webfinger?resource=" + url.QueryEscape(acct)
	proxyFix := "base_url must reach this Agora: point its DNS here and let the proxy pass every path to " + cfg.Listen +
		" with the original Host header (nginx: proxy_set_header Host $host)"
	resp, body, err := doctorGet(ctx, client, wf, "application/jrd+json")
	if err != nil {
		c.fail(fmt.Sprintf("WebFinger %s: %v", wf, err), proxyFix)
		return
	}
	var jrd struct {
		Subject string `json:"subject"`
		Links   []struct{ Rel, Type, Href string }
	}
	self := ""
	if resp.StatusCode == http.StatusOK && json.Unmarshal(body, &jrd) == nil {
		for _, l := range jrd.Links {
			if l.Rel == "self" {
				self = l.Href
			}
		}
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		c.fail(fmt.Sprintf("WebFinger %s answered %s: %s", wf, resp.Status, firstLine(body)), proxyFix)
	case self != actorIRI:
		c.fail(fmt.Sprintf("WebFinger %s names %q, not %s: base_url reaches another server, or one with another base_url", wf, self, actorIRI), proxyFix)
	default:
		c.ok("WebFinger through %s: %s is %s", cfg.BaseURL, jrd.Subject, self)
	}

	// The instance actor, as a server fetching a key.
	resp, body, err = doctorGet(ctx, client, actorIRI, "application/activity+json")
	if err != nil {
		c.fail(fmt.Sprintf("actor %s: %v", actorIRI, err), proxyFix)
		return
	}
	var actor struct {
		ID        string `json:"id"`
		PublicKey struct {
			PublicKeyPem string `json:"publicKeyPem"`
		} `json:"publicKey"`
	}
	switch {
	case resp.StatusCode != http.StatusOK || json.Unmarshal(body, &actor) != nil:
		c.fail(fmt.Sprintf("actor %s answered %s (%s): %s", actorIRI, resp.Status, resp.Header.Get("Content-Type"), firstLine(body)), proxyFix)
	case actor.ID != actorIRI:
		c.fail(fmt.Sprintf("actor %s has id %q: base_url reaches a server with another base_url", actorIRI, actor.ID), proxyFix)
	case pubPEM != "" && strings.TrimSpace(actor.PublicKey.PublicKeyPem) != strings.TrimSpace(pubPEM):
		c.fail(fmt.Sprintf("actor %s has another key than this data_dir's: base_url reaches another Agora", actorIRI),
			"point base_url (DNS, proxy) at the server that uses data_dir "+cfg.DataDir+", or run doctor with that server's config")
	default:
		c.ok("actor %s serves this data_dir's key", actorIRI)
	}

	// The clock, against the answer's Date.
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		c.warn("the answer from base_url has no Date header: the clock was not compared", "let the proxy pass Date through")
		return
	}
	skew := time.Since(date).Round(time.Second)
	abs := max(skew, -skew)
	fix := "keep the clocks in sync: timedatectl set-ntp true (systemd-timesyncd or chrony), on this machine and the proxy's"
	switch {
	case abs > skewFail:
		c.fail(fmt.Sprintf("clock: this machine and the server at base_url differ by %v: peers refuse signatures dated too far off", skew), fix)
	case abs > skewWarn:
		c.warn(fmt.Sprintf("clock: this machine and the server at base_url differ by %v", skew), fix)
	default:
		c.ok("clock: within %v of the Date base_url answers", skewWarn)
	}
}

// doctorTLS checks base_url's certificate as a remote server would: a
// chain to a known authority, for the host, in date.
func doctorTLS(ctx context.Context, c *checklist, base *url.URL, conf *tls.Config) bool {
	addr := base.Host
	if base.Port() == "" {
		addr = net.JoinHostPort(base.Hostname(), "443")
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: conf}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	fix := "serve a certificate from a public authority for " + base.Hostname() + " (certbot for Let's Encrypt; Caddy gets one by itself), with its intermediate chain"
	if err != nil {
		var unknown x509.UnknownAuthorityError
		var name x509.HostnameError
		var invalid x509.CertificateInvalidError
		switch {
		case errors.As(err, &unknown):
			c.fail(fmt.Sprintf("TLS certificate of %s is self-signed or from an unknown authority: %v", addr, err), fix)
		case errors.As(err, &name):
			c.fail(fmt.Sprintf("TLS certificate of %s is not for %s: %v", addr, base.Hostname(), err), fix)
		case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
			c.fail(fmt.Sprintf("TLS certificate of %s has expired or is not yet valid: %v", addr, err), "renew it (certbot renew) and reload the proxy")
		default:
			c.fail(fmt.Sprintf("TLS to %s: %v", addr, err), fix)
		}
		return false
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	left := time.Until(certs[0].NotAfter)
	if left < 14*24*time.Hour {
		c.warn(fmt.Sprintf("TLS certificate of %s expires in %v (%s)", addr, left.Round(time.Hour), certs[0].NotAfter.UTC().Format(time.RFC3339)),
			"renew it now (certbot renew) and check that renewal runs by itself")
	} else {
		c.ok("TLS certificate of %s: valid for %s until %s", addr, base.Hostname(), certs[0].NotAfter.UTC().Format("2006-01-02"))
	}
	return true
}

func doctorGet(ctx context.Context, client *http.Client, u, accept string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "agora-doctor/"+agora.Version)
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}

// firstLine is the start of an answer, for a message.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
