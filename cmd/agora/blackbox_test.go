package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestBlackBox runs Agora as a newcomer would: build the binary, serve with
// a config file, create a community with the CLI, then look at it from
// outside over HTTP.
func TestBlackBox(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	dir := t.TempDir()
	bin := makeBuild(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := mln.Addr().String()
	mln.Close()
	base := "http://" + addr
	config := filepath.Join(dir, "agora.toml")
	const metricsToken = "0123456789abcdef-metrics"
	os.WriteFile(config, []byte(fmt.Sprintf(`base_url = %q
listen = %q
data_dir = %q
allow_private_addresses = true
log_format = "json"

[metrics]
listen = %q
token = %q
`, base, addr, filepath.Join(dir, "data"), metricsAddr, metricsToken)), 0o600)

	// A config with a mistake stops with one line naming the key.
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("base_url = \"http://x\"\nlisten_on = \"1\"\n"), 0o600)
	out, err := exec.Command(bin, "serve", "--config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "listen_on") || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Fatalf("bad config: err=%v output=%q; want one line naming listen_on", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve := exec.CommandContext(ctx, bin, "serve", "--config", config)
	stderr, _ := serve.StderrPipe()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	// The log is read as it comes (a full pipe would block the server);
	// logsDone closes at its end, when the server exits.
	var sawStopped atomic.Bool
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"msg":"stopped"`) {
				sawStopped.Store(true)
			}
		}
	}()
	t.Cleanup(func() {
		serve.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- serve.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			serve.Process.Kill()
			t.Error("agora serve did not stop within 20s of SIGTERM")
		}
	})
	waitHTTP(t, base+"/healthz")

	create := exec.Command(bin, "community", "create", "gardening", "--title", "Gardening", "--summary", "Seeds <b>and</b> soil", "--config", config)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("community create: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "community", "create", "Bad-Name", "--config", config).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "a-z") {
		t.Fatalf("bad name accepted or unclear: %v %s", err, out)
	}

	// WebFinger finds the community.
	var jrd struct {
		Subject string
		Links   []struct{ Rel, Type, Href string }
	}
	code, body := get(t, base+"/.well-known/webfinger?resource="+url.QueryEscape("acct:gardening@"+addr), "")
	if code != 200 {
		t.Fatalf("webfinger: %d %s", code, body)
	}
	json.Unmarshal(body, &jrd)
	self := ""
	for _, l := range jrd.Links {
		if l.Rel == "self" && l.Type == "application/activity+json" {
			self = l.Href
		}
	}
	if jrd.Subject != "acct:gardening@"+addr || self != base+"/c/gardening" {
		t.Fatalf("webfinger: %s", body)
	}
	if code, _ := get(t, base+"/.well-known/webfinger?resource="+url.QueryEscape("acct:nosuch@"+addr), ""); code != 404 {
		t.Fatalf("webfinger of unknown name: %d, want 404", code)
	}

	// The actor as AS2 JSON.
	code, body = get(t, self, "application/activity+json")
	if code != 200 {
		t.Fatalf("actor: %d", code)
	}
	var actor struct {
		Type      string
		Inbox     string
		Followers string
		PublicKey struct {
			ID, Owner, PublicKeyPem string
		}
		Endpoints struct{ SharedInbox string }
	}
	if err := json.Unmarshal(body, &actor); err != nil {
		t.Fatal(err)
	}
	if actor.Type != "Group" || actor.Inbox != self+"/inbox" || actor.Followers != self+"/followers" ||
		actor.Endpoints.SharedInbox != base+"/inbox" || actor.PublicKey.Owner != self ||
		!strings.Contains(actor.PublicKey.PublicKeyPem, "BEGIN PUBLIC KEY") {
		t.Fatalf("actor: %s", body)
	}

	// The same URL as HTML, with the summary escaped.
	code, body = get(t, self, "text/html,application/xhtml+xml")
	if code != 200 || !strings.Contains(string(body), "<h1>Gardening</h1>") || !strings.Contains(string(body), "&lt;b&gt;") {
		t.Fatalf("HTML page: %d %s", code, body)
	}

	// An unsigned POST to the inbox is refused.
	resp, err := http.Post(self+"/inbox", "application/activity+json",
		strings.NewReader(`{"type":"Follow","actor":"http://127.0.0.1:1/u","object":"`+self+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("unsigned POST: %d, want 401", resp.StatusCode)
	}

	// NodeInfo and metrics answer.
	if code, body := get(t, base+"/nodeinfo/2.1", ""); code != 200 || !strings.Contains(string(body), `"agora"`) {
		t.Fatalf("nodeinfo: %d %s", code, body)
	}
	// Metrics: on their own listener, and on the main one with the token
	// only (issue 15, item 9: they were public).
	for _, tt := range []struct {
		url, auth string
		want      int
	}{
		{"http://" + metricsAddr + "/metrics", "", 200},
		{base + "/metrics", "Bearer " + metricsToken, 200},
		{base + "/metrics", "", 401},
		{base + "/metrics", "Bearer not-the-token-at-all", 401},
		{base + "/metrics", metricsToken, 401},
	} {
		req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || (tt.want == 200) != strings.Contains(string(body), "agora_inbox_activities_total") {
			t.Fatalf("GET %s with %q: %d; want %d", tt.url, tt.auth, resp.StatusCode, tt.want)
		}
	}

	// A second server on the same data dir is refused.
	if out, err := exec.Command(bin, "serve", "--config", config).CombinedOutput(); err == nil || !strings.Contains(string(out), "in use") {
		t.Fatalf("second serve on the same data dir: %v %s", err, out)
	}

	// SIGTERM stops it cleanly. Its log is read to the end (the pipe
	// closes when it exits) before Wait, which closes the pipe: reading
	// after Wait could lose the last lines.
	serve.Process.Signal(syscall.SIGTERM)
	<-logsDone
	if err := serve.Wait(); err != nil {
		t.Fatalf("agora serve exit after SIGTERM: %v", err)
	}
	if !sawStopped.Load() {
		t.Error("no 'stopped' log line after SIGTERM")
	}
}

func get(t *testing.T, url, accept string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	if !pollUntil(30*time.Second, func() bool { return answersOK(url) }) {
		t.Fatalf("%s did not answer within 30s", url)
	}
}

// answersOK tells whether a GET of url answers 200.
func answersOK(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
