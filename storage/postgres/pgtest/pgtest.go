// Package pgtest starts a throwaway PostgreSQL cluster for tests: initdb
// and pg_ctl in a temporary directory, listening on a loopback port only,
// stopped at the end. PostgreSQL refuses to run as root, so as root the
// cluster belongs to the `postgres` system user (Debian's package creates
// it). Without the binaries, tests that need the cluster skip with a
// message, except under CI=true, where they fail: CI installs them
// (.ci/run).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a running throwaway cluster.
type Cluster struct {
	dir  string // data and socket directory
	bin  string // where pg_ctl is
	port int
	cred *syscall.Credential // the postgres user's, when run as root
	n    atomic.Int64        // databases made
	mu   sync.Mutex
	done bool
}

// ErrNoBinaries: PostgreSQL's server binaries were not found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install -y postgresql")

// binDir finds initdb and pg_ctl: on PATH, else Debian's
// /usr/lib/postgresql/VERSION/bin, the newest version.
func binDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises and starts a cluster in a new temporary directory.
func Start() (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin}
	dir, err := os.MkdirTemp("", "agora-pgtest-")
	if err != nil {
		return nil, err
	}
	c.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres system user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := c.run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	// A free loopback port: taken from the kernel, released, given to
	// the server (another process could take it meanwhile: then the
	// start fails and is tried on another).
	for try := 0; ; try++ {
		c.port, err = freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		// fsync off: a test cluster need not survive a power cut, and
		// it is much faster. Unix sockets in the cluster's directory,
		// TCP on loopback only.
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB", c.port, dir)
		out, err := c.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "60", "start")
		if err == nil {
			return c, nil
		}
		if try == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pg_ctl start: %w: %s\n%s", err, out, log)
		}
	}
}

func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd.CombinedOutput()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL is the connection string of a database of the cluster.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// NewDatabase creates a database, a copy of template (template0: empty),
// and returns its URL.
func (c *Cluster) NewDatabase(ctx context.Context, template string) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), c.n.Add(1))
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE `+pgx.Identifier{template}.Sanitize()); err != nil {
		return "", err
	}
	return c.URL(name), nil
}

// Stop stops the cluster and deletes its directory.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return nil
	}
	c.done = true
	out, err := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop")
	os.RemoveAll(c.dir)
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, out)
	}
	return nil
}

// The cluster of a test package, started by the first test that asks
// for a database, stopped by Main (or Run) at the end.
var (
	startOnce sync.Once
	shared    *Cluster
	startErr  error
	inMain    bool
)

func start() {
	startOnce.Do(func() { shared, startErr = Start() })
}

// Main runs a package's tests and stops the cluster they started, if
// any (TestMain: `func TestMain(m *testing.M) { pgtest.Main(m) }`).
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain that does more: it returns the exit code.
func Run(m *testing.M) int {
	inMain = true
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	return code
}

// Database returns the URL of a new empty database of the package's
// cluster. Without PostgreSQL it skips t with a message, or fails it
// under CI=true, where PostgreSQL must be there.
func Database(t testing.TB) string {
	t.Helper()
	return database(t, "template0")
}

// templates are the databases Prepared made, by name.
var (
	templatesMu sync.Mutex
	templates   = map[string]error{}
)

// Prepared is Database, made from a template that prepare filled once
// for the package (a migrated schema: copying it is much faster than
// migrating each test's database). name names the template.
func Prepared(t testing.TB, name string, prepare func(ctx context.Context, url string) error) string {
	t.Helper()
	if start(); shared == nil {
		return Database(t) // skips or fails
	}
	templatesMu.Lock()
	err, done := templates[name]
	if !done {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = func() error {
			conn, err := pgx.Connect(ctx, shared.URL("postgres"))
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+` TEMPLATE template0`); err != nil {
				return err
			}
			return prepare(ctx, shared.URL(name))
		}()
		cancel()
		templates[name] = err
	}
	templatesMu.Unlock()
	if err != nil {
		t.Fatalf("PostgreSQL: template %s: %v", name, err)
	}
	return database(t, name)
}

func database(t testing.TB, template string) string {
	t.Helper()
	if !inMain {
		t.Fatal("pgtest: the package's TestMain must call pgtest.Main or pgtest.Run, which stop the cluster")
	}
	if start(); shared == nil {
		err := startErr
		if os.Getenv("CI") == "true" || !errors.Is(err, ErrNoBinaries) {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skipf("PostgreSQL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, err := shared.NewDatabase(ctx, template)
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	return url
}
