package tests

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/sqliteclient"
)

// Faults and a blocked call inside a real C library, SQLite (the
// distribution's libsqlite3, stripped, with its own locking and a virtual
// machine between the guard point and the faulting code). After each, the
// abandoned connection is left alone, as the README's policy says, and a
// new one must work.

func sqliteOpen(t *testing.T, path string, busyMs int) sqliteclient.DB {
	t.Helper()
	db := sqliteclient.NewDB(path, busyMs)
	if err := guard.Call(sqliteclient.Open, db.Arg()); err != nil || db.RC() != sqliteclient.OK {
		t.Fatalf("open %s: %v, rc %d", path, err, db.RC())
	}
	return db
}

func sqliteExec(t *testing.T, db sqliteclient.DB, sql string) int64 {
	t.Helper()
	e := sqliteclient.NewExec(db, 0, sql)
	defer e.Free()
	if err := guard.Call(sqliteclient.Exec, e.Arg()); err != nil || e.RC() != sqliteclient.OK {
		t.Fatalf("%s: %v, rc %d", sql, err, e.RC())
	}
	return e.Value()
}

func sqliteClose(t *testing.T, db sqliteclient.DB) {
	t.Helper()
	if err := guard.Call(sqliteclient.Close, db.Arg()); err != nil || db.RC() != sqliteclient.OK {
		t.Fatalf("close: %v, rc %d", err, db.RC())
	}
	db.Free()
}

// inObject reports whether some frame is in a file whose name holds name
// (a stripped shared object's frames are named by dladdr: its path and the
// nearest exported symbol).
func inObject(frames []runtime.Frame, name string) bool {
	for _, f := range frames {
		if strings.Contains(f.File, name) {
			return true
		}
	}
	return false
}

// A bogus connection handle: SQLite's own code reads through it and faults
// inside libsqlite3.
func TestSQLiteFaultInLibrary(t *testing.T) {
	for i := 0; i < 100; i++ {
		e := sqliteclient.NewExec(sqliteclient.DB{}, 0x10, "SELECT 1")
		err := guard.Call(sqliteclient.Exec, e.Arg())
		e.Free()
		var ce *guard.CrashError
		if !errors.As(err, &ce) || ce.Signal != syscall.SIGSEGV {
			t.Fatalf("call %d: want a SIGSEGV CrashError, got %v", i, err)
		}
		if i > 0 {
			continue
		}
		t.Logf("%v; taint %+v", ce, ce.Taint)
		if !strings.Contains(ce.Taint.Object, "libsqlite3") || ce.Taint.Level != guard.TaintLibrary || ce.Taint.HeapSuspect {
			t.Errorf("taint: want level library, object libsqlite3, heap not suspect; got %+v", ce.Taint)
		}
		if !inObject(ce.Frames, "libsqlite3") {
			t.Errorf("no frame in libsqlite3: %v", ce.Frames)
		}
	}
	db := sqliteOpen(t, filepath.Join(t.TempDir(), "after.db"), 0)
	if v := sqliteExec(t, db, "SELECT 6*7"); v != 42 {
		t.Errorf("SELECT 6*7 after the faults = %d", v)
	}
	sqliteClose(t, db)
}

// SELECT crash(): the fault is in our SQL function, called by SQLite's
// virtual machine; the walk must get through libsqlite3's frames (eh_frame,
// no symbols) to the guard point. The abandoned connection keeps what it
// held at the fault, its read lock on the file among them: a new
// connection can read that file but not write it (SQLITE_BUSY), which is
// what "retire the handle; its locks stay held" means for a database.
func TestSQLiteFaultInCallback(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 50; i++ {
		path := filepath.Join(dir, fmt.Sprintf("crash%d.db", i))
		db := sqliteOpen(t, path, 0)
		sqliteExec(t, db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)")
		e := sqliteclient.NewExec(db, 0, "SELECT x, crash() FROM t")
		err := guard.Call(sqliteclient.Exec, e.Arg())
		e.Free()
		var ce *guard.CrashError
		if !errors.As(err, &ce) || ce.Signal != syscall.SIGSEGV || ce.Addr != 0 {
			t.Fatalf("round %d: want a SIGSEGV CrashError at address 0, got %v", i, err)
		}
		// db is abandoned as it is (its statement, its read lock and, in
		// serialized mode, its mutex are held): retired, not closed.
		if i > 0 {
			continue
		}
		t.Logf("%+v", ce)
		fs := ce.Frames
		if haveSymbols(t) {
			if len(fs) == 0 || fs[0].Function != "sqc_crash_func" {
				t.Errorf("innermost frame: want sqc_crash_func, got %v", fs)
			}
			if !hasFunction(fs, "sqc_exec") {
				t.Errorf("no frame of the guarded function sqc_exec: %v", fs)
			}
		}
		if !inObject(fs, "libsqlite3") {
			t.Errorf("no frame in libsqlite3 between the fault and the guard point: %v", fs)
		}
		reader := sqliteOpen(t, path, 0)
		if n := sqliteExec(t, reader, "SELECT count(*) FROM t"); n != 1 {
			t.Errorf("a new connection reads %d rows, want 1", n)
		}
		w := sqliteclient.NewExec(reader, 0, "INSERT INTO t VALUES (2)")
		if err := guard.Call(sqliteclient.Exec, w.Arg()); err != nil || w.RC() != sqliteclient.Busy {
			t.Errorf("a write next to the abandoned reader: %v, rc %d; want SQLITE_BUSY (%d)", err, w.RC(), sqliteclient.Busy)
		}
		w.Free()
		sqliteClose(t, reader)
	}
	db := sqliteOpen(t, filepath.Join(dir, "fresh.db"), 0)
	if n := sqliteExec(t, db, "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2); SELECT count(*) FROM t"); n != 2 {
		t.Errorf("a fresh database after 50 crashes: %d rows, want 2", n)
	}
	sqliteClose(t, db)
}

// A writer waiting for a lock that another connection holds sleeps in
// SQLite's busy handler (an hour, here). The deadline stops it in the
// system call; once the lock is released, a new connection writes.
func TestSQLiteBusyWaitInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	holder := sqliteOpen(t, path, 0)
	sqliteExec(t, holder, "CREATE TABLE t(x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1)")
	waiter := sqliteOpen(t, path, 3600*1000)
	e := sqliteclient.NewExec(waiter, 0, "INSERT INTO t VALUES (2)")
	start := time.Now()
	err := guard.Call(sqliteclient.Exec, e.Arg(), guard.WithTimeout(100*time.Millisecond))
	took := time.Since(start)
	e.Free()
	var ie *guard.InterruptError
	if !errors.As(err, &ie) || !errors.Is(err, guard.ErrTimeout) {
		t.Fatalf("want an InterruptError matching ErrTimeout, got %v", err)
	}
	t.Logf("%v after %v; taint %+v", ie, took, ie.Taint)
	if !ie.InSyscall || ie.Forced {
		t.Errorf("want the stop in a system call (the busy handler's sleep), not forced: %+v", ie)
	}
	var names []string
	for _, f := range ie.Frames {
		names = append(names, f.Function+" "+f.File)
	}
	all := strings.Join(names, "\n")
	if !strings.Contains(all, "libsqlite3") || !strings.Contains(all, "sleep") {
		t.Errorf("frames should show the sleep inside libsqlite3:\n%s", all)
	}
	if took > 5*time.Second {
		t.Errorf("interrupt took %v", took)
	}
	sqliteExec(t, holder, "COMMIT")
	sqliteClose(t, holder)
	writer := sqliteOpen(t, path, 1000)
	sqliteExec(t, writer, "INSERT INTO t VALUES (3)")
	if n := sqliteExec(t, writer, "SELECT count(*) FROM t"); n != 2 {
		t.Errorf("rows: %d, want 2 (the holder's and the new writer's)", n)
	}
	sqliteClose(t, writer)
}
