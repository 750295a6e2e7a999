package binding

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/guardsql"
)

// openGuarded is guardsql.Open over the test driver (the extension's
// functions and the Go ones) on a database file in dir. It is not closed
// for the test.
func openGuarded(t *testing.T, dir, name, params string, opts ...guard.Option) *sql.DB {
	t.Helper()
	dsn := "file:" + filepath.Join(dir, name)
	if params != "" {
		dsn += "?" + params
	}
	db, err := guardsql.Open(driverName, dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// connID is the driver connection under c (guardsql's), to compare.
func connID(t *testing.T, c *sql.Conn) any {
	t.Helper()
	var id any
	if err := c.Raw(func(x any) error { id = x; return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

func closeWithin(t *testing.T, db *sql.DB, d time.Duration) {
	t.Helper()
	var err error
	if !within(d, func() { err = db.Close() }) {
		t.Fatalf("db.Close() did not return within %v", d)
	}
	if err != nil {
		t.Fatalf("db.Close(): %v", err)
	}
}

func healthy(t *testing.T, db *sql.DB) {
	t.Helper()
	var n int
	var err error
	if !within(10*time.Second, func() { err = db.QueryRow("SELECT count(*) FROM t").Scan(&n) }) {
		t.Fatal("a healthy query did not return within 10s")
	}
	if err != nil {
		t.Fatalf("a healthy query: %v", err)
	}
}

// A fault in the driver's C code under each kind of database/sql call
// comes back as the *guard.CrashError, from the call itself; the
// connection is abandoned (closed by database/sql without a call into the
// driver), and the pool goes on. Includes a fault in Rows.Next on the
// third row.
func TestGuardsqlFaults(t *testing.T) {
	for _, tc := range []struct {
		fn  string
		sig syscall.Signal
	}{{"segv", syscall.SIGSEGV}, {"abrt", syscall.SIGABRT}, {"gosegv", syscall.SIGSEGV}, {"goabort", syscall.SIGABRT}} {
		t.Run(tc.fn, func(t *testing.T) {
			// A new database for each operation: a connection abandoned
			// in a write keeps the write lock (TestAbandonedWriterKeepsWriteLock).
			var db *sql.DB
			ctx := context.Background()
			ops := []struct {
				name string
				run  func() error
			}{
				{"QueryRow", func() error {
					var a, b int
					return db.QueryRowContext(ctx, "SELECT x, "+tc.fn+"() FROM t").Scan(&a, &b)
				}},
				{"Exec", func() error {
					_, err := db.ExecContext(ctx, "INSERT INTO t SELECT "+tc.fn+"()")
					return err
				}},
				{"Exec with an argument", func() error {
					_, err := db.ExecContext(ctx, "INSERT INTO t SELECT "+tc.fn+"() + ?", 1)
					return err
				}},
				{"Rows.Next on row 3", func() error {
					rows, err := db.QueryContext(ctx, "SELECT x, CASE WHEN x = 3 THEN "+tc.fn+"() END FROM t ORDER BY x")
					if err != nil {
						return err
					}
					n := 0
					for rows.Next() {
						n++
					}
					if n != 2 {
						t.Errorf("%d rows before the fault, want 2", n)
					}
					if !within(5*time.Second, func() { rows.Close() }) {
						t.Error("rows.Close() after the fault did not return within 5s")
					}
					return rows.Err()
				}},
				{"prepared Stmt.Query", func() error {
					st, err := db.PrepareContext(ctx, "SELECT "+tc.fn+"() FROM t WHERE x = ?")
					if err != nil {
						return err
					}
					defer st.Close()
					var v int
					return st.QueryRowContext(ctx, 1).Scan(&v)
				}},
				{"Tx.Exec", func() error {
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					_, err = tx.ExecContext(ctx, "INSERT INTO t SELECT "+tc.fn+"()")
					if rerr := tx.Rollback(); rerr == nil || !errors.Is(rerr, driver.ErrBadConn) {
						t.Errorf("Rollback after the fault: %v, want driver.ErrBadConn (the connection is poisoned)", rerr)
					}
					return err
				}},
			}
			for _, op := range ops {
				db = openGuarded(t, t.TempDir(), "f.db", "_journal_mode=WAL")
				db.SetMaxOpenConns(2)
				mustExec(t, db, "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3), (4), (5)")
				before := guardsql.Abandoned()
				err := op.run()
				var ce *guard.CrashError
				if !errors.As(err, &ce) || !errors.Is(err, guard.ErrCrash) {
					t.Fatalf("%s: got %v, want a *guard.CrashError", op.name, err)
				}
				if ce.Signal != tc.sig {
					t.Errorf("%s: signal %v, want %v", op.name, ce.Signal, tc.sig)
				}
				if n := guardsql.Abandoned() - before; n != 1 {
					t.Errorf("%s: %d connections abandoned, want 1", op.name, n)
				}
				if s := db.Stats(); s.InUse != 0 || s.OpenConnections > 2 {
					t.Errorf("%s: after the fault %d open, %d in use; want the poisoned one gone", op.name, s.OpenConnections, s.InUse)
				}
				healthy(t, db)
				closeWithin(t, db, 5*time.Second)
			}
		})
	}
}

// A connection a fault poisoned is never handed out again: on its
// dedicated *sql.Conn every later call is driver.ErrBadConn without a call
// into the driver, closing it returns at once, and 100 operations on 4
// goroutines afterwards never get it; with MaxOpenConns(1) the pool still
// serves (the poisoned connection's slot is freed).
func TestGuardsqlNeverHandsOutPoisoned(t *testing.T) {
	db := openGuarded(t, t.TempDir(), "p.db", "_journal_mode=WAL")
	db.SetMaxOpenConns(1)
	mustExec(t, db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)")
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	poisoned := connID(t, c)
	var v int
	wantCrash(t, c.QueryRowContext(ctx, "SELECT segv()").Scan(&v))
	if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&v); !errors.Is(err, driver.ErrBadConn) {
		t.Errorf("the poisoned sql.Conn again: %v, want driver.ErrBadConn", err)
	}
	if !within(5*time.Second, func() { c.Close() }) {
		t.Fatal("closing the poisoned sql.Conn did not return within 5s")
	}
	healthy(t, db) // MaxOpenConns(1): the slot came back
	db.SetMaxOpenConns(4)
	var mu sync.Mutex
	seen := map[any]bool{}
	var errs []error
	ok := within(30*time.Second, func() {
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					err := func() error {
						c, err := db.Conn(ctx)
						if err != nil {
							return err
						}
						defer c.Close()
						id := connID(t, c)
						mu.Lock()
						seen[id] = true
						mu.Unlock()
						if i%5 == 0 {
							_, err := c.ExecContext(ctx, "INSERT INTO t VALUES (?)", i)
							return err
						}
						var n int
						return c.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n)
					}()
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
	})
	if !ok {
		t.Fatal("100 operations on 4 goroutines did not finish within 30s")
	}
	if len(errs) > 0 {
		t.Fatalf("%d operations failed, first: %v", len(errs), errs[0])
	}
	if seen[poisoned] {
		t.Fatal("the poisoned connection was handed out again")
	}
	if len(seen) == 0 || len(seen) > 4 {
		t.Fatalf("%d connections used by 4 goroutines", len(seen))
	}
	closeWithin(t, db, 5*time.Second)
	checkFresh(t)
}

// checkFresh shows the process still works with fresh
// connections: a new database, written, read and closed within 10s.
func checkFresh(t *testing.T) {
	t.Helper()
	db := openGuarded(t, t.TempDir(), "fresh.db", "")
	var n int
	var err error
	ok := within(10*time.Second, func() {
		if _, err = db.Exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3)"); err != nil {
			return
		}
		if err = db.QueryRow("SELECT sum(x) FROM t").Scan(&n); err != nil {
			return
		}
		err = db.Close()
	})
	if !ok || err != nil || n != 6 {
		t.Fatalf("fresh connections afterwards: returned %v, err %v, sum %d (want 6)", ok, err, n)
	}
}

// guardsql hands go-sqlite3 contexts that are never done, so that every
// statement runs on the calling goroutine even when the caller's context
// is cancellable: the SQL function goid() returns the goroutine SQLite
// calls it on (raw go-sqlite3 moves these Exec calls to another goroutine:
// TestGoroutineHopRule).
func TestGuardsqlNoHop(t *testing.T) {
	db := openGuarded(t, t.TempDir(), "hop.db", "")
	defer db.Close()
	mustExec(t, db, "CREATE TABLE g(id)")
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := map[string]func(ctx context.Context) error{
		"DB.ExecContext": func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, "INSERT INTO g VALUES (goid())")
			return err
		},
		"DB.ExecContext with an argument": func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, "INSERT INTO g VALUES (goid() + ?)", 0)
			return err
		},
		"DB.ExecContext with a named argument": func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, "INSERT INTO g VALUES (goid() + :z)", sql.Named("z", 0))
			return err
		},
		"Stmt.ExecContext": func(ctx context.Context) error {
			st, err := db.PrepareContext(ctx, "INSERT INTO g VALUES (goid())")
			if err != nil {
				return err
			}
			defer st.Close()
			_, err = st.ExecContext(ctx)
			return err
		},
		"Tx.ExecContext": func(ctx context.Context) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO g VALUES (goid())"); err != nil {
				tx.Rollback()
				return err
			}
			return tx.Commit()
		},
	}
	for name, run := range calls {
		mustExec(t, db, "DELETE FROM g")
		want := goid()
		if err := run(cctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got int64
		if err := db.QueryRow("SELECT id FROM g").Scan(&got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != want {
			t.Errorf("%s with a cancellable context ran on goroutine %d, the caller is %d", name, got, want)
		}
	}
}

// Deadlines: guard.WithTimeout given to Open is the deadline of an
// operation whose context has none, and only then; a context's deadline
// or cancellation stops the blocked C call; every stop is an
// *guard.InterruptError from the database/sql call, and the connection is
// abandoned; a context already done runs nothing and abandons nothing.
func TestGuardsqlDeadlines(t *testing.T) {
	const timeout = 150 * time.Millisecond
	dir := t.TempDir()
	db := openGuarded(t, dir, "d.db", "_journal_mode=WAL&_busy_timeout=10000", guard.WithTimeout(timeout))
	mustExec(t, db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)")
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	readOn := func(db *sql.DB, ctx context.Context) (time.Duration, error) {
		var v int
		start := time.Now()
		var err error
		if !within(10*time.Second, func() { err = db.QueryRowContext(ctx, "SELECT sleepread(?)", p[0]).Scan(&v) }) {
			t.Fatal("a blocked read did not return within 10s")
		}
		return time.Since(start), err
	}
	read := func(ctx context.Context) (time.Duration, error) { return readOn(db, ctx) }

	before := guardsql.Abandoned()
	took, err := read(context.Background())
	ie := wantInterrupt(t, err)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, guard.ErrTimeout) || !ie.InSyscall || took > 2*time.Second {
		t.Errorf("WithTimeout: %v after %v, want a deadline stop in read()", err, took)
	}
	t.Logf("measured: read() stopped by the WithTimeout(%v) default after %v", timeout, took)

	// A context deadline later than WithTimeout is the one that counts.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	timer := time.AfterFunc(600*time.Millisecond, func() { syscall.Write(p[1], []byte{1}) })
	took, err = read(ctx)
	cancel()
	timer.Stop()
	if err != nil || took < 500*time.Millisecond {
		t.Errorf("a context deadline of 3s and a byte at 600ms: %v after %v; want the read to complete", err, took)
	}

	// WithTimeout applies too (no deadline in ctx): a cancel before it
	// stops the call. The same file through a pool whose WithTimeout is 5s,
	// so that a cancel timer a loaded machine fires late still comes first.
	dbLong := openGuarded(t, dir, "d.db", "_journal_mode=WAL&_busy_timeout=10000", guard.WithTimeout(5*time.Second))
	defer dbLong.Close()
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	took, err = readOn(dbLong, ctx)
	if wantInterrupt(t, err); !errors.Is(err, context.Canceled) || took > 3*time.Second {
		t.Errorf("cancelled: %v after %v, want context.Canceled", err, took)
	}

	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = read(done)
	var ns *guard.NotStartedError
	if !errors.As(err, &ns) && !errors.Is(err, context.Canceled) {
		t.Errorf("a context already done: %v, want it not started", err)
	}
	if n := guardsql.Abandoned() - before; n != 2 {
		t.Errorf("%d connections abandoned, want 2 (the two stopped reads)", n)
	}

	// A write waiting on another connection's lock (SQLite's busy handler
	// sleeps; busy timeout 10s) is stopped at the context's deadline.
	db.SetMaxIdleConns(4)
	if err := db.Ping(); err != nil { // a connection opened before the lock
		t.Fatal(err)
	}
	holder := openDB(t, dir, "d.db", "")
	hc, err := holder.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hc.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	start := time.Now()
	var werr error
	if !within(10*time.Second, func() { _, werr = db.ExecContext(ctx, "INSERT INTO t VALUES (2)") }) {
		t.Fatal("the busy write did not return within 10s")
	}
	cancel()
	took = time.Since(start)
	if ie := wantInterrupt(t, werr); !ie.InSyscall || took > 2*time.Second {
		t.Errorf("busy write: %v after %v, want a stop in the busy handler's sleep", werr, took)
	}
	t.Logf("measured: busy write stopped at a 100ms deadline after %v", took)
	hc.ExecContext(context.Background(), "COMMIT")
	hc.Close()
	holder.Close()
	mustExec(t, db, "INSERT INTO t VALUES (3)")
	healthy(t, db)
	closeWithin(t, db, 5*time.Second)
}

// A Go panic in a Go function the driver calls (registered with
// go-sqlite3's RegisterFunc) propagates out of the database/sql call as a
// panic; the connection it unwound through is abandoned.
func TestGuardsqlPanicPassesThrough(t *testing.T) {
	db := openGuarded(t, t.TempDir(), "panic.db", "")
	mustExec(t, db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)")
	for _, op := range []func(){
		func() { var v int; db.QueryRow("SELECT gopanic()").Scan(&v) },
		func() { db.Exec("SELECT gopanic()") },
	} {
		before := guardsql.Abandoned()
		var got any
		within(10*time.Second, func() {
			defer func() { got = recover() }()
			op()
		})
		if got != goPanicValue {
			t.Fatalf("recovered %v, want the callback's panic %q", got, goPanicValue)
		}
		if n := guardsql.Abandoned() - before; n != 1 {
			t.Errorf("%d connections abandoned after the panic, want 1", n)
		}
		healthy(t, db)
	}
	closeWithin(t, db, 5*time.Second)
}

// Every abandoned connection of a fault or an interrupt has reached
// guard's hooks (which supervise.RestartOnTaint listens to) by the time
// the database/sql call returns, with its taint.
func TestGuardsqlTaintHooks(t *testing.T) {
	var crashes, interrupts atomic.Int64
	var lib atomic.Int64
	r1 := guard.OnCrash(func(e *guard.CrashError) {
		crashes.Add(1)
		if e.Taint.Level == guard.TaintLibrary {
			lib.Add(1)
		}
	})
	r2 := guard.OnInterrupt(func(e *guard.InterruptError) { interrupts.Add(1) })
	defer r1()
	defer r2()
	db := openGuarded(t, t.TempDir(), "h.db", "", guard.WithTimeout(50*time.Millisecond))
	mustExec(t, db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)")
	before := guardsql.Abandoned()
	for i := 0; i < 3; i++ {
		var v int
		wantCrash(t, db.QueryRow("SELECT segv()").Scan(&v))
		wantInterrupt(t, db.QueryRow("SELECT spin(-1)").Scan(&v))
	}
	if c, i, a := crashes.Load(), interrupts.Load(), guardsql.Abandoned()-before; c != 3 || i != 3 || a != 6 {
		t.Errorf("hooks saw %d crashes and %d interrupts; %d connections abandoned; want 3, 3, 6", c, i, a)
	}
	if lib.Load() != 3 {
		t.Errorf("%d crashes with taint library, want 3", lib.Load())
	}
	closeWithin(t, db, 5*time.Second)
}

func countDir(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func rssKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// 200 faulted or timed-out operations leave goroutines and threads flat
// and, on in-memory databases (no file descriptor per connection), file
// descriptors too.
func TestGuardsqlLeaks(t *testing.T) {
	db, err := guardsql.Open(driverName, ":memory:", guard.WithTimeout(20*time.Millisecond), guard.WithMaxFrames(0))
	if err != nil {
		t.Fatal(err)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	op := func(i int) error {
		var v int
		if i%2 == 0 {
			return db.QueryRow("SELECT segv()").Scan(&v)
		}
		return db.QueryRow("SELECT sleepread(?)", p[0]).Scan(&v)
	}
	for i := 0; i < 4; i++ { // warm up: the watchdog thread, the pool's opener
		op(i)
	}
	time.Sleep(100 * time.Millisecond)
	g0, th0, fd0 := runtime.NumGoroutine(), countDir(t, "/proc/self/task"), countDir(t, "/proc/self/fd")
	before := guardsql.Abandoned()
	if !within(60*time.Second, func() {
		for i := 0; i < 200; i++ {
			if err := op(i); !errors.Is(err, guard.ErrCrash) && !errors.Is(err, guard.ErrTimeout) {
				t.Errorf("op %d: %v, want a crash or a timeout", i, err)
				return
			}
		}
	}) {
		t.Fatal("200 operations did not finish within 60s")
	}
	var g1, th1, fd1 int
	deadline := time.Now().Add(5 * time.Second)
	for {
		g1, th1, fd1 = runtime.NumGoroutine(), countDir(t, "/proc/self/task"), countDir(t, "/proc/self/fd")
		if g1 <= g0+2 && th1 <= th0+2 && fd1 <= fd0+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("measured: 200 faults and timeouts: goroutines %d -> %d, threads %d -> %d, fds %d -> %d, %d connections abandoned",
		g0, g1, th0, th1, fd0, fd1, guardsql.Abandoned()-before)
	if g1 > g0+2 || th1 > th0+2 || fd1 > fd0+2 {
		t.Errorf("not flat: goroutines %d -> %d, threads %d -> %d, fds %d -> %d", g0, g1, th0, th1, fd0, fd1)
	}
	if n := guardsql.Abandoned() - before; n != 200 {
		t.Errorf("%d connections abandoned, want 200", n)
	}
	closeWithin(t, db, 5*time.Second)
}

// What one abandoned go-sqlite3 connection costs, on a database file in
// WAL mode whose connections have read 4 MiB of data (a full page cache:
// 2 MB at the default cache_size): file descriptors and resident memory,
// per connection, over 20.
func TestGuardsqlAbandonedCost(t *testing.T) {
	dir := t.TempDir()
	db := openGuarded(t, dir, "cost.db", "_journal_mode=WAL")
	mustExec(t, db, "CREATE TABLE t(x); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 4096) INSERT INTO t SELECT randomblob(1000) FROM c")
	db.SetMaxIdleConns(0)
	healthy(t, db)
	runtime.GC()
	fd0, rss0 := countDir(t, "/proc/self/fd"), rssKB(t)
	const n = 20
	for i := 0; i < n; i++ {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var s int
		if err := c.QueryRowContext(context.Background(), "SELECT sum(length(x)) FROM t").Scan(&s); err != nil {
			t.Fatal(err)
		}
		wantCrash(t, c.QueryRowContext(context.Background(), "SELECT segv()").Scan(&s))
		c.Close()
	}
	runtime.GC()
	fd1, rss1 := countDir(t, "/proc/self/fd"), rssKB(t)
	fdPer := float64(fd1-fd0) / n
	t.Logf("measured: one abandoned go-sqlite3 connection (WAL, full page cache): %.1f fds, %d KiB resident", fdPer, (rss1-rss0)/n)
	if fdPer < 1 {
		t.Errorf("%.1f fds per abandoned connection: want at least the database file's", fdPer)
	}
	if s := db.Stats(); s.OpenConnections != 0 {
		t.Errorf("%d connections open in the pool; want the abandoned ones out of it", s.OpenConnections)
	}
	closeWithin(t, db, 5*time.Second)
}

var _ = fmt.Sprint
