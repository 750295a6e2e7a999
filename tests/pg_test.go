//go:build linux && amd64

package tests

// A real client library against a real server: libpq talking to a
// PostgreSQL server each test starts for itself (tests/internal/pgserver:
// initdb into a temporary directory, the postgres binary run as the
// 'postgres' user when the test runs as root, listening on 127.0.0.1
// only). The libpq calls are wrapped in tests/internal/pgclient.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/pgclient"
	"github.com/cgoguard/cgoguard/tests/internal/pgserver"
)

// Bounds on the guarded libpq calls the tests expect to finish (the
// server's startup and shutdown have theirs in tests/internal/pgserver).
const (
	pgConnectTimeout = 10 * time.Second // a guarded connect to the test server
	pgCallTimeout    = 10 * time.Second // a guarded query expected to finish
)

// startPostgres starts a server for the test (tests/internal/pgserver) and
// registers its shutdown with t.Cleanup. Without the server's binaries the
// test is skipped, or fails under CI=true: there .ci/deps.sh must have
// installed them.
func startPostgres(t *testing.T) *pgserver.Server {
	t.Helper()
	s, err := pgserver.Start(pgserver.Options{})
	if errors.Is(err, pgserver.ErrNoServer) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// pgConnect opens a connection through the guard (PQconnectdb) and fails
// the test if it does not succeed. Close it with pgFinish.
func pgConnect(t *testing.T, conninfo string) *pgclient.Conn {
	t.Helper()
	c := pgclient.NewConn(conninfo)
	err := guard.Call(pgclient.ConnectDB, c.Arg(), guard.WithTimeout(pgConnectTimeout))
	if err != nil || !c.OK() {
		msg := c.Err()
		if c.HasPGconn() {
			pgFinish(t, c)
		} else {
			c.Free()
		}
		t.Fatalf("connect %q: %v %s", conninfo, err, msg)
	}
	return c
}

// pgFinish discards a connection with PQfinish, through the guard, and
// frees its block.
func pgFinish(t *testing.T, c *pgclient.Conn) {
	t.Helper()
	defer c.Free()
	if err := guard.Call(pgclient.Finish, c.Arg(), guard.WithTimeout(pgCallTimeout)); err != nil {
		t.Fatalf("PQfinish: %v", err)
	}
}

// pgQuery runs sql through the guard with opts and returns the first value
// of the first row. An error is the guard's; a failed query fails the test.
func pgQuery(t *testing.T, c *pgclient.Conn, sql string, opts ...guard.Option) (string, error) {
	t.Helper()
	q := pgclient.NewQuery(c, sql)
	defer q.Free()
	if err := guard.Call(pgclient.Exec, q.Arg(), opts...); err != nil {
		if q.Status() != -1 {
			t.Errorf("%s: interrupted, yet PQexec returned %s", sql, q.StatusName())
		}
		return "", err
	}
	if !q.OK() {
		t.Fatalf("%s: %s: %s", sql, q.StatusName(), q.Err())
	}
	return q.Value(), nil
}

// pgCheckHealthy opens a fresh connection, runs SELECT 1+1 and closes it.
func pgCheckHealthy(t *testing.T, s *pgserver.Server) {
	t.Helper()
	c := pgConnect(t, s.ConnInfo())
	defer pgFinish(t, c)
	v, err := pgQuery(t, c, "SELECT 1+1", guard.WithTimeout(pgCallTimeout))
	if err != nil || v != "2" {
		t.Fatalf("SELECT 1+1 on a fresh connection: %q, %v", v, err)
	}
}

// wantInterrupt checks that err is an *InterruptError matching want,
// stopped in a system call (libpq waits in poll), returned in time.
func wantInterrupt(t *testing.T, what string, err, want error, took, min, max time.Duration) {
	t.Helper()
	var ie *guard.InterruptError
	if !errors.Is(err, want) || !errors.As(err, &ie) {
		t.Fatalf("%s: got %v (%T), want an *InterruptError matching %v", what, err, err, want)
	}
	if !ie.InSyscall || ie.Forced {
		t.Errorf("%s: InSyscall=%v Forced=%v, want it stopped in a blocking system call: %v", what, ie.InSyscall, ie.Forced, err)
	}
	if took < min || took > max {
		t.Errorf("%s: returned after %v, want between %v and %v", what, took, min, max)
	}
}

// A query that would sleep 30 s is interrupted at its 100 ms deadline,
// inside libpq's wait for the server's answer; the connection is discarded
// and a fresh one works.
func TestPostgresSleepTimeout(t *testing.T) {
	s := startPostgres(t)
	c := pgConnect(t, s.ConnInfo())
	if v := c.ServerVersion(); v == 0 {
		t.Fatal("no server version on a live connection")
	}

	start := time.Now()
	_, err := pgQuery(t, c, "SELECT pg_sleep(30)", guard.WithTimeout(100*time.Millisecond))
	took := time.Since(start)
	wantInterrupt(t, "SELECT pg_sleep(30)", err, guard.ErrTimeout, took, 100*time.Millisecond, 2*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not match context.DeadlineExceeded", err)
	}
	t.Logf("interrupted after %v: %v", took, err)

	// libpq was abandoned mid-query: the connection's protocol state is
	// unknown, so it is only closed.
	pgFinish(t, c)
	pgCheckHealthy(t, s)
}

// Many timed-out queries, each on a connection of its own that is then
// discarded, leave no file descriptor behind: PQfinish closes the socket
// of a connection abandoned mid-query, and the guard itself opens none.
func TestPostgresTimeoutsNoFdLeak(t *testing.T) {
	s := startPostgres(t)
	n := 200
	if testing.Short() {
		n = 20
	}
	round := func(i int) {
		t.Helper()
		c := pgConnect(t, s.ConnInfo())
		_, err := pgQuery(t, c, "SELECT pg_sleep(30)", guard.WithTimeout(50*time.Millisecond), guard.WithMaxFrames(0))
		if !errors.Is(err, guard.ErrTimeout) {
			pgFinish(t, c)
			t.Fatalf("round %d: got %v, want a timeout", i, err)
		}
		pgFinish(t, c)
	}
	// Warm-up: whatever is opened once per process (the guard's state,
	// libpq's, the runtime's) is open before counting.
	for i := 0; i < 5; i++ {
		round(i)
	}
	fds0 := countDir(t, "/proc/self/fd")
	start := time.Now()
	for i := 0; i < n; i++ {
		round(i)
	}
	fds1 := countDir(t, "/proc/self/fd")
	t.Logf("%d timed-out queries on fresh connections in %v; fds %d -> %d", n, time.Since(start), fds0, fds1)
	// Each round that leaked would leak its socket: n of them. The slack
	// of 2 is for descriptors the Go runtime or the testing package may
	// open lazily in the meantime (the netpoller's epoll and eventfd, say)
	// that have nothing to do with the calls.
	if fds1 > fds0+2 {
		t.Fatalf("after %d timed-out queries: open fds %d -> %d", n, fds0, fds1)
	}

	// The server saw every client go: no backend is left running a query
	// for a connection that was discarded.
	c := pgConnect(t, s.ConnInfo())
	defer pgFinish(t, c)
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := pgQuery(t, c, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
			guard.WithTimeout(pgCallTimeout))
		if err != nil {
			t.Fatal(err)
		}
		if v == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s backends of discarded connections still running after 10 s", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// silentPeer is a TCP server that accepts connections and never writes.
type silentPeer struct {
	ln    net.Listener
	conns chan net.Conn // accepted, in order
	mu    sync.Mutex
	all   []net.Conn
}

func newSilentPeer(t *testing.T) *silentPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silentPeer{ln: ln, conns: make(chan net.Conn, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.all = append(p.all, c)
			p.mu.Unlock()
			select {
			case p.conns <- c:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.all {
			c.Close()
		}
	})
	return p
}

func (p *silentPeer) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// next is the next accepted connection.
func (p *silentPeer) next(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-p.conns:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("the silent peer accepted no connection within 5 s")
		return nil
	}
}

// A server that accepts and never answers holds PQconnectdb forever
// (connect_timeout=0); the deadline interrupts it. A query interrupted by
// cancelling its context reports context.Canceled. Afterwards the process
// still connects to the real server and queries it.
func TestPostgresSilentPeer(t *testing.T) {
	s := startPostgres(t)
	peer := newSilentPeer(t)
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d connect_timeout=0", peer.port())

	// PQconnectdb: abandoned, the PGconn it was building (and its socket)
	// is lost with the call, since PQconnectdb never returned it. One
	// leaked connection, on purpose: this is what PQconnectdb allows.
	c := pgclient.NewConn(conninfo)
	start := time.Now()
	err := guard.Call(pgclient.ConnectDB, c.Arg(), guard.WithTimeout(200*time.Millisecond))
	took := time.Since(start)
	wantInterrupt(t, "PQconnectdb to a silent peer", err, guard.ErrTimeout, took, 200*time.Millisecond, 2*time.Second)
	t.Logf("PQconnectdb interrupted after %v: %v", took, err)
	if c.HasPGconn() || c.Status() != -1 {
		t.Errorf("interrupted PQconnectdb stored a connection (status %d)", c.Status())
	}
	c.Free()
	peer.next(t) // PQconnectdb's, left open

	// PQconnectStart/PQconnectPoll, which hands over the PGconn before it
	// waits: the abandoned connect is closed with PQfinish, and the peer
	// sees its connection end.
	c = pgclient.NewConn(conninfo)
	start = time.Now()
	err = guard.Call(pgclient.ConnectPoll, c.Arg(), guard.WithTimeout(200*time.Millisecond))
	took = time.Since(start)
	wantInterrupt(t, "PQconnectPoll loop to a silent peer", err, guard.ErrTimeout, took, 200*time.Millisecond, 2*time.Second)
	if !c.HasPGconn() {
		c.Free()
		t.Fatal("the interrupted connect did not hand over its PGconn")
	}
	pgFinish(t, c)
	pc := peer.next(t)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, pc); err != nil { // nil: EOF
		t.Errorf("the peer's connection did not end after PQfinish: %v", err)
	}

	// The real server: connect and query.
	pgCheckHealthy(t, s)

	// A query cancelled through its context after 100 ms.
	c = pgConnect(t, s.ConnInfo())
	q := pgclient.NewQuery(c, "SELECT pg_sleep(30)")
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	err = guard.CallContext(ctx, pgclient.Exec, q.Arg())
	took = time.Since(start)
	timer.Stop()
	cancel()
	if q.Status() != -1 {
		t.Errorf("cancelled, yet PQexec returned %s", q.StatusName())
	}
	q.Free()
	wantInterrupt(t, "SELECT pg_sleep(30) with its context cancelled", err, context.Canceled, took, 100*time.Millisecond, 2*time.Second)
	if errors.Is(err, guard.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a cancellation matches a deadline: %v", err)
	}
	t.Logf("cancelled after %v: %v", took, err)
	pgFinish(t, c)
	pgCheckHealthy(t, s)
}

// examples/pgtimeout builds, is interrupted in its query, discards the
// connection and reconnects.
func TestPostgresExamplePgtimeout(t *testing.T) {
	s := startPostgres(t)
	bin := buildProgram(t, "../examples/pgtimeout")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-url", s.ConnInfo(), "-query", "SELECT pg_sleep(5)", "-timeout", "200ms")
	cmd.Env = append(os.Environ(), "DATABASE_URL=")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	t.Logf("ran in %v:\n%s", took, out)
	for _, want := range []string{
		"connected (server version ",
		`running "SELECT pg_sleep(5)" with a 200ms timeout`,
		"interrupted after ",
		"guard: C call interrupted: guard: deadline exceeded, C call interrupted, in a system call",
		"discarding the connection",
		"reconnecting",
		"SELECT 1 on a fresh connection returned 1: the process is healthy",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// pg_sleep(5) was not waited for: the example's own measure of the
	// query (the process's time also holds its start and two connects).
	if m := regexp.MustCompile(`interrupted after (\S+):`).FindSubmatch(out); m == nil {
		t.Errorf("no interrupted-after line:\n%s", out)
	} else if d, err := time.ParseDuration(string(m[1])); err != nil || d > 2*time.Second {
		t.Errorf("the query was interrupted after %s (%v): the 200 ms timeout did not cut the 5 s query short", m[1], err)
	}
}
