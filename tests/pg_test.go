//go:build linux && amd64

package tests

// A real client library against a real server: libpq talking to a
// PostgreSQL server each test starts for itself (initdb into a temporary
// directory, the postgres binary run as the 'postgres' user when the test
// runs as root, listening on 127.0.0.1 only). The libpq calls are wrapped
// in tests/internal/pgclient.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/pgclient"
)

// Bounds on everything the PostgreSQL tests wait for: a hang fails.
const (
	pgInitdbTimeout  = 60 * time.Second
	pgReadyTimeout   = 30 * time.Second
	pgStopTimeout    = 10 * time.Second
	pgConnectTimeout = 10 * time.Second // a guarded connect to the test server
	pgCallTimeout    = 10 * time.Second // a guarded query expected to finish
)

// pgServer is a PostgreSQL server started for one test.
type pgServer struct {
	dir  string // temporary: data/, sock/, server.log
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the postmaster has exited
	log  string
}

// ConnInfo is the libpq connection string of the server.
func (s *pgServer) ConnInfo() string {
	return fmt.Sprintf("host=127.0.0.1 port=%d dbname=postgres user=postgres sslmode=disable gssencmode=disable connect_timeout=10", s.port)
}

// pgBinDir is the newest /usr/lib/postgresql/*/bin holding initdb, postgres
// and pg_isready. Without one the test is skipped, or fails under CI=true:
// there .ci/deps.sh must have installed the server.
func pgBinDir(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		ok := true
		for _, b := range []string{"initdb", "postgres", "pg_isready"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				ok = false
			}
		}
		if ok {
			return d
		}
	}
	msg := "no PostgreSQL server binaries (initdb, postgres, pg_isready) under /usr/lib/postgresql/*/bin: install the Debian package 'postgresql' (make deps does)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: failing instead of skipping)")
	}
	t.Skip(msg)
	return ""
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// pgCredential is who the server runs as: the 'postgres' system user when
// the test runs as root (the server refuses to run as root), else nil (the
// test's own user).
func pgCredential(t *testing.T) (*syscall.Credential, int, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil, os.Geteuid(), os.Getegid()
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root, and there is no 'postgres' user to run the server as (the Debian package 'postgresql' creates it): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, uid, gid
}

// startPostgres starts a server for the test and registers its shutdown
// and the removal of its directory with t.Cleanup.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	bin := pgBinDir(t)
	cred, uid, gid := pgCredential(t)

	// Not t.TempDir: that is mode 0700 under a directory of the same mode,
	// which the postgres user cannot enter.
	dir, err := os.MkdirTemp("", "cgoguard-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &pgServer{dir: dir, log: filepath.Join(dir, "server.log")}
	t.Cleanup(func() {
		s.stop(t)
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"PATH=" + bin + ":/usr/bin:/bin", "LC_ALL=C", "HOME=" + dir}

	ctx, cancel := context.WithTimeout(context.Background(), pgInitdbTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "--auth=trust", "-U", "postgres",
		"--no-sync", "--no-instructions", "--locale=C", "-E", "UTF8")
	initdb.Dir, initdb.Env = dir, env
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}

	// A port found free may be taken before the server binds it: try a
	// few.
	for try := 1; ; try++ {
		err := s.start(bin, data, sock, env, cred)
		if err == nil {
			return s
		}
		if try == 3 || !strings.Contains(s.logText(), "could not bind") {
			t.Fatalf("starting postgres: %v\nserver log:\n%s", err, s.logText())
		}
		t.Logf("starting postgres, try %d: %v; trying another port", try, err)
	}
}

func (s *pgServer) start(bin, data, sock string, env []string, cred *syscall.Credential) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logf, err := os.Create(s.log)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.port), "-k", sock,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		// A backend whose client went away while it runs a query (the
		// interrupted pg_sleep calls) notices within 50 ms and exits,
		// rather than sleeping on with its connection slot.
		"-c", "client_connection_check_interval=50ms",
		"-c", "max_connections=100")
	s.cmd.Dir, s.cmd.Env = s.dir, env
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		Setpgid:    true, // its own process group: stop can kill every process of it
		// If the test binary dies without running its cleanups (a panic, a
		// go test -timeout), the server shuts down at once (SIGQUIT is
		// postgres's immediate shutdown) instead of outliving it.
		Pdeathsig: syscall.SIGQUIT,
	}
	done := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits,
		// not the process: keep this goroutine, and so its thread, until
		// the server has exited.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(done)
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.cmd.Wait()
	}()
	if err := <-started; err != nil {
		<-done
		return err
	}
	s.done = done

	// Ready when pg_isready says so (it does not need to log in).
	deadline := time.Now().Add(pgReadyTimeout)
	for {
		select {
		case <-done:
			return fmt.Errorf("postgres exited: %v", s.cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := exec.CommandContext(ctx, filepath.Join(bin, "pg_isready"), "-q", "-h", "127.0.0.1",
			"-p", strconv.Itoa(s.port), "-t", "2").Run()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("postgres not ready after %v (pg_isready: %v)", pgReadyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop shuts the server down the way pg_ctl stop -m immediate does
// (SIGQUIT), then SIGKILLs its process group if it has not exited in time.
func (s *pgServer) stop(t *testing.T) {
	if s.done == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
		return
	case <-time.After(pgStopTimeout):
	}
	t.Errorf("postgres did not stop within %v of SIGQUIT: killing it\nserver log:\n%s", pgStopTimeout, s.logText())
	s.kill()
}

func (s *pgServer) kill() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(pgStopTimeout):
	}
}

func (s *pgServer) logText() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
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
func pgCheckHealthy(t *testing.T, s *pgServer) {
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
	wantInterrupt(t, "SELECT pg_sleep(30)", err, guard.ErrTimeout, took, 100*time.Millisecond, time.Second)
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
	// pg_sleep(5) was not waited for.
	if took > 4*time.Second {
		t.Errorf("the example took %v: the 200 ms timeout did not cut the 5 s query short", took)
	}
}
