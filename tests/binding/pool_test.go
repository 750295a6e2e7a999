package binding

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/guardsql"
	"github.com/mattn/go-sqlite3"
)

// faultOnLockedThread runs "SELECT segv()" through db under guard.Do on a
// goroutine locked to its thread, then same(), on that goroutine and
// thread, then waits for release before it ends (the thread keeps its
// identity until then).
func faultOnLockedThread(t *testing.T, db *sql.DB, same func(), release <-chan struct{}) <-chan error {
	t.Helper()
	res := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := guard.Do(func() { db.ExecContext(context.Background(), "SELECT segv()") })
		if same != nil {
			same()
		}
		res <- err
		<-release
	}()
	return res
}

func goroutinesWith(s string) bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), s)
}

// What database/sql does with a connection whose call was recovered by Do:
// it takes it back into its pool as healthy (execDC's deferred release
// runs with a nil error during the panic); used again from the thread
// that faulted it "works" (SQLite's connection mutex is recursive and
// that thread holds it, so a new statement runs beside the half-run one);
// used from another thread it hangs on that mutex; and db.Close() hangs
// in the driver's Close (sqlite3_close_v2, same mutex). Each hang is
// observed for a bounded time; the goroutines stay blocked in C.
func TestPoolTakesBackPoisonedConn(t *testing.T) {
	dir := t.TempDir()
	t.Run("reuse", func(t *testing.T) {
		db := openDB(t, dir, "reuse.db", "")
		db.SetMaxOpenConns(1)
		mustExec(t, db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)")
		release := make(chan struct{})
		defer close(release)
		var stats sql.DBStats
		var sameV int
		var sameErr error
		res := faultOnLockedThread(t, db, func() {
			stats = db.Stats()
			sameErr = db.QueryRow("SELECT 6*7").Scan(&sameV)
		}, release)
		var err error
		select {
		case err = <-res:
		case <-time.After(10 * time.Second):
			t.Fatal("the fault and the same-thread query did not return within 10s")
		}
		wantCrash(t, err)
		if stats.OpenConnections != 1 || stats.Idle != 1 || stats.InUse != 0 {
			t.Errorf("after the fault: %d open, %d idle, %d in use; want the connection back in the pool, idle", stats.OpenConnections, stats.Idle, stats.InUse)
		}
		if sameErr != nil || sameV != 42 {
			t.Errorf("same thread: %v, %d; want it to work (42)", sameErr, sameV)
		}
		// The faulting goroutine is still locked to its thread: this one
		// runs on another.
		var n int
		if within(time.Second, func() { db.QueryRow("SELECT count(*) FROM t").Scan(&n) }) {
			t.Errorf("from another thread the poisoned connection answered (%d): want it to hang on the mutex", n)
		}
		if !goroutinesWith("(*SQLiteConn).prepare") {
			buf := make([]byte, 1<<20)
			t.Errorf("no goroutine blocked in go-sqlite3's prepare:\n%s", buf[:runtime.Stack(buf, true)])
		}
	})
	t.Run("close", func(t *testing.T) {
		db := openDB(t, dir, "close.db", "")
		mustExec(t, db, "CREATE TABLE t(x)")
		release := make(chan struct{})
		defer close(release)
		res := faultOnLockedThread(t, db, nil, release)
		select {
		case err := <-res:
			wantCrash(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the fault did not return within 10s")
		}
		if s := db.Stats(); s.Idle != 1 {
			t.Fatalf("idle connections: %d, want the poisoned one", s.Idle)
		}
		if within(time.Second, func() { db.Close() }) {
			t.Fatal("db.Close() returned: want it to hang on the poisoned connection")
		}
		if !goroutinesWith("(*SQLiteConn).Close") {
			t.Error("no goroutine in go-sqlite3's (*SQLiteConn).Close")
		}
	})
	// A fault under a query is different: queryDC releases the connection
	// only on a returned error, so after the panic it stays in use, for
	// good (nor do the rows of a fault in rows.Next release it); with
	// MaxOpenConns 1 the next caller waits for a connection that never
	// comes back.
	t.Run("query", func(t *testing.T) {
		db := openDB(t, dir, "query.db", "")
		db.SetMaxOpenConns(1)
		var v int
		wantCrash(t, guard.Do(func() { db.QueryRow("SELECT segv()").Scan(&v) }))
		if s := db.Stats(); s.InUse != 1 || s.Idle != 0 {
			t.Fatalf("after a fault in QueryRow: %d in use, %d idle; want 1, 0", s.InUse, s.Idle)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&v); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("next query: %v, want it to wait for a connection until its deadline", err)
		}
		if !within(5*time.Second, func() { db.Close() }) {
			t.Fatal("db.Close() with the connection in use did not return within 5s")
		}
	})
	// An interrupt leaves the connection as a fault does: DoContext stops
	// SQLite's busy-handler sleep inside sqlite3_step, which holds the
	// connection's mutex, and the connection goes back to the pool.
	t.Run("interrupt", func(t *testing.T) {
		holder := openDB(t, dir, "intr.db", "")
		mustExec(t, holder, "CREATE TABLE t(x)")
		db := openDB(t, dir, "intr.db", "_busy_timeout=60000")
		db.SetMaxOpenConns(1)
		mustExec(t, db, "SELECT 1") // opened before the lock
		hc, err := holder.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hc.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
			t.Fatal(err)
		}
		res := make(chan error, 1)
		release := make(chan struct{})
		defer close(release)
		go func() {
			runtime.LockOSThread()
			res <- guard.DoContext(context.Background(), func() {
				db.ExecContext(context.Background(), "INSERT INTO t VALUES (1)")
			}, guard.WithTimeout(100*time.Millisecond))
			<-release
		}()
		select {
		case err := <-res:
			if ie := wantInterrupt(t, err); !ie.InSyscall {
				t.Fatalf("want the stop in the busy handler's sleep: %+v", ie)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("DoContext did not return within 10s")
		}
		hc.ExecContext(context.Background(), "COMMIT")
		hc.Close()
		if s := db.Stats(); s.Idle != 1 {
			t.Fatalf("idle connections: %d, want the interrupted one", s.Idle)
		}
		if within(time.Second, func() { db.Exec("SELECT 1") }) {
			t.Fatal("the interrupted connection answered from another thread: want it to hang on the mutex")
		}
	})
	checkFresh(t)
}

// A connection abandoned inside a write keeps the database's write lock
// (WAL mode here): other connections read that database but cannot write
// it (SQLITE_BUSY after their busy timeout) while the process lives;
// other databases are unaffected.
func TestAbandonedWriterKeepsWriteLock(t *testing.T) {
	db := newGuarded(t, t.TempDir(), "writer.db", "_busy_timeout=200")
	ctx := context.Background()
	before := guardsql.Abandoned()
	_, err := db.ExecContext(ctx, "INSERT INTO t SELECT segv()")
	wantCrash(t, err)
	var n int
	var rerr, werr error
	if !within(10*time.Second, func() {
		rerr = db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n)
		_, werr = db.ExecContext(ctx, "INSERT INTO t VALUES (2)")
	}) {
		t.Fatal("a read and a write next to the abandoned writer did not return within 10s")
	}
	var se sqlite3.Error
	if rerr != nil || n != 1 {
		t.Errorf("read: %v, %d rows; want 1", rerr, n)
	}
	if !errors.As(werr, &se) || se.Code != sqlite3.ErrBusy || guardsql.Abandoned()-before != 1 {
		t.Errorf("write: %v (%d abandoned); want SQLITE_BUSY and the connection kept", werr, guardsql.Abandoned()-before)
	}
	closeWithin(t, db, 5*time.Second)
	checkFresh(t)
}

// An operation's own SQL error does not poison its connection; a context
// already done runs nothing and abandons nothing.
func TestGuardsqlKeepsSoundConnections(t *testing.T) {
	db := newGuarded(t, t.TempDir(), "sound.db", "")
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := guardsql.Abandoned()
	if _, err := c.ExecContext(ctx, "SELECT * FROM nosuchtable"); err == nil || errors.Is(err, guard.ErrCrash) {
		t.Errorf("an SQL error: %v, want the driver's error", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	var v int
	if err := c.QueryRowContext(done, "SELECT segv()").Scan(&v); !errors.Is(err, context.Canceled) {
		t.Errorf("a context already done: %v, want context.Canceled", err)
	}
	if err := c.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&v); err != nil || v != 1 {
		t.Errorf("the same connection afterwards: %v, %d", err, v)
	}
	if n := guardsql.Abandoned() - before; n != 0 {
		t.Errorf("%d connections abandoned, want 0", n)
	}
	c.Close()
	closeWithin(t, db, 5*time.Second)
}

// A query given a cancellable context steps on f's goroutine, so a fault
// in rows.Next is recovered; but database/sql watches that context from a
// goroutine of its own (Rows.awaitDone), and when it is cancelled, later,
// that goroutine closes the rows: go-sqlite3's (*SQLiteRows).Close calls
// sqlite3_reset on the poisoned connection, outside any guard, and hangs
// on its mutex (from the faulting thread it would run on the half-run
// statement instead). Hence guardsql gives the binding a context that
// is never done, for queries too, and its Rows.Close never calls into a
// poisoned connection.
func TestCancellableQueryRowsClose(t *testing.T) {
	db := openDB(t, t.TempDir(), "rows.db", "")
	mustExec(t, db, "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runtime.LockOSThread() // keeps the watcher off the faulting thread
	defer runtime.UnlockOSThread()
	rowsRead := 0
	err := guard.DoContext(ctx, func() {
		rows, err := db.QueryContext(ctx, "SELECT x, CASE WHEN x = 2 THEN segv() END FROM t")
		if err != nil {
			return
		}
		for rows.Next() {
			rowsRead++
		}
	})
	wantCrash(t, err)
	if rowsRead != 1 {
		t.Fatalf("%d rows read before the fault, want 1", rowsRead)
	}
	if goroutinesWith("(*SQLiteRows).Close") {
		t.Fatal("rows closed before the cancellation")
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for !goroutinesWith("(*SQLiteRows).Close") {
		if time.Now().After(deadline) {
			t.Fatal("no goroutine in (*SQLiteRows).Close 5s after the cancellation")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if !goroutinesWith("(*SQLiteRows).Close") {
		t.Fatal("(*SQLiteRows).Close returned: want it blocked on the poisoned connection")
	}
}
