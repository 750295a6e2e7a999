// Tests of guard/guardsql over github.com/alexbrainman/odbc, unixODBC and
// psqlODBC, against a real PostgreSQL server: a driver whose queries block
// in C network I/O. The driver's own QueryContext runs every query on a
// goroutine of its own (and calls SQLCancel when the context ends);
// guardsql never calls it, and uses Prepare and Stmt.Query instead, which
// run on the caller's goroutine.
package odbc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/alexbrainman/odbc" // registers "odbc"
	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/guardsql"
	"github.com/cgoguard/cgoguard/tests/internal/pgserver"
)

// server is the PostgreSQL server TestMain starts (tests/internal/pgserver).
var server *pgserver.Server

func TestMain(m *testing.M) {
	s, err := pgserver.Start(pgserver.Options{MaxConnections: 150, DirPrefix: "cgoguard-odbc-pg-"})
	if err != nil {
		if errors.Is(err, pgserver.ErrNoServer) && os.Getenv("CI") == "" {
			fmt.Println("skipping the ODBC tests:", err)
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = s
	// The process's first guard error with frames pays the symbolizer's
	// first use: take it here, not in a timed test.
	db, err := guardsql.Open("odbc", dsn(s.Port), guard.WithTimeout(200*time.Millisecond))
	if err == nil {
		var v string
		err = db.QueryRow("SELECT pg_sleep(5)").Scan(&v)
		if errors.Is(err, guard.ErrTimeout) {
			err = nil
		}
		db.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "warm-up:", err)
		stopServer(s)
		os.Exit(1)
	}
	code := m.Run()
	if !stopServer(s) && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// stopServer stops the server and says whether it stopped in time.
func stopServer(s *pgserver.Server) bool {
	err := s.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return err == nil
}

func dsn(port int) string {
	return fmt.Sprintf("Driver={PostgreSQL Unicode};Servername=127.0.0.1;Port=%d;Database=postgres;Username=postgres;Password=;SSLmode=disable", port)
}

func within(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func open(t *testing.T, port int, opts ...guard.Option) *sql.DB {
	t.Helper()
	db, err := guardsql.Open("odbc", dsn(port), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func closeWithin(t *testing.T, db *sql.DB, d time.Duration) {
	t.Helper()
	start := time.Now()
	if !within(d, func() { db.Close() }) {
		t.Fatalf("db.Close() did not return within %v", d)
	}
	t.Logf("measured: db.Close() took %v", time.Since(start).Round(time.Microsecond))
}

func backendPID(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var pid int
	err := q.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid)
	return pid, err
}

// clientBackends counts the server's client backends, from a connection
// of its own (not guarded, not pooled).
func clientBackends(t *testing.T) int {
	t.Helper()
	db, err := sql.Open("odbc", dsn(server.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n - 1
}

// backendPss is the proportional set size of a server backend process
// (this machine's; readable as root).
func backendPss(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Pss:" {
			n, err := strconv.Atoi(f[1])
			return n, err == nil
		}
	}
	return 0, false
}

func rssKB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func wantInterrupt(t *testing.T, err error, inSyscall bool) *guard.InterruptError {
	t.Helper()
	var ie *guard.InterruptError
	if !errors.As(err, &ie) {
		t.Fatalf("got %v, want a *guard.InterruptError", err)
	}
	if inSyscall && !ie.InSyscall {
		t.Errorf("%v: want the stop in a system call", err)
	}
	return ie
}

// checkNeverSeen runs 40 healthy queries over db's pool and fails if one
// runs on a backend of poisoned.
func checkNeverSeen(t *testing.T, db *sql.DB, poisoned map[int]bool) {
	t.Helper()
	for i := 0; i < 40; i++ {
		pid, err := backendPID(context.Background(), db)
		if err != nil {
			t.Fatalf("healthy query %d: %v", i, err)
		}
		if poisoned[pid] {
			t.Fatalf("healthy query %d ran on backend %d, a poisoned connection's", i, pid)
		}
	}
}

// pg_sleep past a deadline: the C call blocked in the socket read is
// stopped at once, the connection is abandoned, healthy queries go on,
// and its backend is never seen again.
func TestODBCSleepPastDeadline(t *testing.T) {
	db := open(t, server.Port)
	ctx := context.Background()
	poisoned := map[int]bool{}
	before := guardsql.Abandoned()
	backends0 := clientBackends(t)
	for i := 0; i < 3; i++ {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := backendPID(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		start := time.Now()
		var v string
		err = c.QueryRowContext(tctx, "SELECT pg_sleep(30)").Scan(&v)
		took := time.Since(start)
		cancel()
		wantInterrupt(t, err, true)
		if !errors.Is(err, context.DeadlineExceeded) || took > 2*time.Second {
			t.Errorf("%v after %v: want context.DeadlineExceeded at 200ms", err, took)
		}
		t.Logf("measured: pg_sleep(30) stopped at a 200ms deadline after %v", took.Round(time.Millisecond))
		poisoned[pid] = true
		if kb, ok := backendPss(pid); ok {
			t.Logf("measured: the abandoned connection's server backend %d: %d KiB proportional set size", pid, kb)
		}
		if !within(5*time.Second, func() { c.Close() }) {
			t.Fatal("closing the poisoned sql.Conn did not return within 5s")
		}
	}
	if n := guardsql.Abandoned() - before; n != 3 {
		t.Errorf("%d connections abandoned, want 3", n)
	}
	checkNeverSeen(t, db, poisoned)
	t.Logf("measured: client backends %d before, %d after 3 abandoned connections", backends0, clientBackends(t))
	closeWithin(t, db, 2*time.Second)
}

// freezer is a TCP proxy to the server that can freeze every connection
// it carries, both directions, mid-session: a dead network, against which
// neither the socket read nor SQLCancel (a new connection to the server,
// answered, but the frozen one never hears back) returns.
type freezer struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen []chan struct{}
	conns  []net.Conn
}

func newFreezer(t *testing.T, to int) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
	})
	go func() {
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", to))
			if err != nil {
				a.Close()
				continue
			}
			stop := make(chan struct{})
			f.mu.Lock()
			f.frozen = append(f.frozen, stop)
			f.conns = append(f.conns, a, b)
			f.mu.Unlock()
			go pump(a, b, stop)
			go pump(b, a, stop)
		}
	}()
	return f
}

// pump copies src to dst until stop is closed, then holds both open
// without reading or writing.
func pump(dst, src net.Conn, stop <-chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		src.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, err := src.Read(buf)
		select {
		case <-stop:
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil && !isTimeout(err) {
			if err == io.EOF {
				dst.Close()
			}
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (f *freezer) freezeAll() {
	f.mu.Lock()
	for _, c := range f.frozen {
		close(c)
	}
	f.frozen = nil
	f.mu.Unlock()
}

func (f *freezer) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

// A dead network mid-session: the query blocked in the socket read is
// stopped at its deadline (no SQLCancel is involved); new connections
// through the proxy work; db.Close() returns at once.
func TestODBCDeadNetwork(t *testing.T) {
	f := newFreezer(t, server.Port)
	db := open(t, f.port())
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := backendPID(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	f.freezeAll()
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	_, err = backendPID(tctx, c)
	took := time.Since(start)
	cancel()
	wantInterrupt(t, err, true)
	if took > 2*time.Second {
		t.Errorf("stopped after %v, want about 300ms", took)
	}
	t.Logf("measured: a query through a frozen network stopped at a 300ms deadline after %v", took.Round(time.Millisecond))
	if !within(5*time.Second, func() { c.Close() }) {
		t.Fatal("closing the poisoned sql.Conn did not return within 5s")
	}
	checkNeverSeen(t, db, map[int]bool{pid: true})
	closeWithin(t, db, 2*time.Second)
}

// A silent peer at connect: a listener that accepts and never answers.
// The guarded connect is stopped at WithTimeout and counted as an
// abandoned connection; db.Close() returns at once.
func TestODBCSilentPeerConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	db := open(t, ln.Addr().(*net.TCPAddr).Port, guard.WithTimeout(300*time.Millisecond))
	before := guardsql.Abandoned()
	for i := 0; i < 3; i++ {
		start := time.Now()
		err := db.Ping()
		took := time.Since(start)
		wantInterrupt(t, err, true)
		if !errors.Is(err, context.DeadlineExceeded) || took > 2*time.Second {
			t.Errorf("connect to a silent peer: %v after %v, want a deadline stop at 300ms", err, took)
		}
	}
	if n := guardsql.Abandoned() - before; n != 3 {
		t.Errorf("%d connections abandoned, want 3 (the half-open connects)", n)
	}
	closeWithin(t, db, 2*time.Second)
}

// 16 goroutines mixing healthy queries and queries past their deadline,
// each on a connection of its own: every healthy query succeeds, every
// timed-out one is an InterruptError, and no query after a connection
// was poisoned runs on its backend.
func TestODBCMixed(t *testing.T) {
	db := open(t, server.Port)
	db.SetMaxOpenConns(16)
	ctx := context.Background()
	var seq atomic.Int64
	var mu sync.Mutex
	poisonedAt := map[int]int64{}
	type obs struct {
		pid int
		at  int64
	}
	var seen []obs
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var healthy, stopped atomic.Int64
	if !within(60*time.Second, func() {
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 8; i++ {
					c, err := db.Conn(ctx)
					if err != nil {
						fail(err)
						return
					}
					pid, err := backendPID(ctx, c)
					if err != nil {
						fail(err)
						c.Close()
						return
					}
					mu.Lock()
					seen = append(seen, obs{pid, seq.Add(1)})
					mu.Unlock()
					if (g+i)%4 == 0 {
						tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
						var v string
						err = c.QueryRowContext(tctx, "SELECT pg_sleep(10)").Scan(&v)
						cancel()
						var ie *guard.InterruptError
						if !errors.As(err, &ie) {
							fail(fmt.Errorf("a query past its deadline: %v, want an InterruptError", err))
						} else {
							stopped.Add(1)
							mu.Lock()
							poisonedAt[pid] = seq.Add(1)
							mu.Unlock()
						}
					} else {
						var n int
						if err := c.QueryRowContext(ctx, "SELECT count(*) FROM generate_series(1, 1000)").Scan(&n); err != nil || n != 1000 {
							fail(fmt.Errorf("a healthy query: %v, %d", err, n))
						} else {
							healthy.Add(1)
						}
					}
					c.Close()
				}
			}()
		}
		wg.Wait()
	}) {
		t.Fatal("16 goroutines did not finish within 60s")
	}
	if len(errs) > 0 {
		t.Fatalf("%d failures, first: %v", len(errs), errs[0])
	}
	for _, o := range seen {
		if at, ok := poisonedAt[o.pid]; ok && o.at > at {
			t.Fatalf("backend %d seen again after its connection was poisoned", o.pid)
		}
	}
	t.Logf("%d healthy queries, %d stopped, %d backends poisoned", healthy.Load(), stopped.Load(), len(poisonedAt))
	if stopped.Load() != 32 || healthy.Load() != 96 {
		t.Errorf("%d healthy, %d stopped; want 96 and 32", healthy.Load(), stopped.Load())
	}
	poisoned := map[int]bool{}
	for pid := range poisonedAt {
		poisoned[pid] = true
	}
	checkNeverSeen(t, db, poisoned)
	closeWithin(t, db, 2*time.Second)
}

func count(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// Leaks: 200 timed-out connects (to a silent peer) and 20 timed-out
// queries leave goroutines and threads flat; file descriptors grow by
// one socket per abandoned connection (and one for the silent peer's end
// of each connect), and the server keeps one backend per abandoned live
// connection.
func TestODBCLeaks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	silent := open(t, ln.Addr().(*net.TCPAddr).Port, guard.WithTimeout(20*time.Millisecond))
	live := open(t, server.Port, guard.WithTimeout(50*time.Millisecond))
	// Warm up: the watchdog, the pools' openers.
	silent.Ping()
	var v string
	live.QueryRow("SELECT pg_sleep(5)").Scan(&v)
	time.Sleep(100 * time.Millisecond)
	g0, th0, fd0, b0 := runtime.NumGoroutine(), count(t, "/proc/self/task"), count(t, "/proc/self/fd"), clientBackends(t)
	before := guardsql.Abandoned()
	if !within(120*time.Second, func() {
		for i := 0; i < 200; i++ {
			if err := silent.Ping(); !errors.Is(err, guard.ErrTimeout) {
				t.Errorf("connect %d: %v, want a timeout", i, err)
				return
			}
		}
		runtime.GC()
		rss0 := rssKB()
		for i := 0; i < 20; i++ {
			if err := live.QueryRow("SELECT pg_sleep(5)").Scan(&v); !errors.Is(err, guard.ErrTimeout) {
				t.Errorf("query %d: %v, want a timeout", i, err)
				return
			}
		}
		runtime.GC()
		t.Logf("measured: one abandoned live ODBC connection: %d KiB resident in this process", (rssKB()-rss0)/20)
	}) {
		t.Fatal("220 operations did not finish within 120s")
	}
	var g1, th1 int
	deadline := time.Now().Add(5 * time.Second)
	for {
		g1, th1 = runtime.NumGoroutine(), count(t, "/proc/self/task")
		if g1 <= g0+2 && th1 <= th0+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fd1, b1 := count(t, "/proc/self/fd"), clientBackends(t)
	n := guardsql.Abandoned() - before
	t.Logf("measured: 220 timeouts: goroutines %d -> %d, threads %d -> %d, fds %d -> %d, client backends %d -> %d, %d connections abandoned",
		g0, g1, th0, th1, fd0, fd1, b0, b1, n)
	if g1 > g0+2 || th1 > th0+2 {
		t.Errorf("not flat: goroutines %d -> %d, threads %d -> %d", g0, g1, th0, th1)
	}
	if n != 220 {
		t.Errorf("%d connections abandoned, want 220", n)
	}
	// Each abandoned connect holds its socket, and the silent peer (in
	// this process) the other end: two fds; an abandoned query one.
	if d := fd1 - fd0; d < 0 || d > 2*200+20+2 {
		t.Errorf("fds %d -> %d: more than the abandoned connections hold (2*200+20)", fd0, fd1)
	}
	if d := b1 - b0; d < 0 || d > 20+1 {
		t.Errorf("client backends %d -> %d: want at most one per abandoned live connection (20)", b0, b1)
	}
	closeWithin(t, silent, 2*time.Second)
	closeWithin(t, live, 2*time.Second)
}
