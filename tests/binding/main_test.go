// Tests of guard.Do and guard.DoContext around a real binding,
// github.com/mattn/go-sqlite3, through database/sql: faults in a loadable
// extension's SQL functions and in C called by a Go function the driver
// calls, a busy wait on another connection's lock, a spin in C, a read()
// that blocks; what database/sql then does with the connection; the
// package that retires it (guard/guardsql); and go-sqlite3's goroutine
// hop. Run with -ldflags='-s=false -w=false' (make test-binding)
// so that C frames are named.
package binding

import (
	"database/sql"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/binding/internal/faulty"
	"github.com/mattn/go-sqlite3"
)

// driverName is go-sqlite3 with the test extension (testdata/guardext.c:
// segv(), abrt(), spin(ms), sleepread(fd)) loaded into every connection,
// two Go functions that call faulting C: gosegv(), goabort(); one that
// panics in Go: gopanic(); and goid().
const driverName = "sqlite3_guardtest"

// goPanicValue is what the SQL function gopanic() panics with, in Go.
const goPanicValue = "gopanic: a Go panic in a driver callback"

var extPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cgoguard-binding")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	extPath = filepath.Join(dir, "guardext.so")
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	// Against the system's sqlite3ext.h (libsqlite3-dev): the API table
	// only grows, so it loads into go-sqlite3's newer amalgamation.
	out, err := exec.Command(cc, "-shared", "-fPIC", "-g", "-O1", "-Wall", "-Werror",
		"-o", extPath, "testdata/guardext.c").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the extension: %v\n%s", err, out)
		os.Exit(1)
	}
	sql.Register(driverName, &sqlite3.SQLiteDriver{
		Extensions: []string{extPath},
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			if err := c.RegisterFunc("gosegv", func() int64 { faulty.Segv(); return 0 }, false); err != nil {
				return err
			}
			if err := c.RegisterFunc("goabort", func() int64 { faulty.Abort(); return 0 }, false); err != nil {
				return err
			}
			if err := c.RegisterFunc("gopanic", func() int64 { panic(goPanicValue) }, false); err != nil {
				return err
			}
			return c.RegisterFunc("goid", goid, false)
		},
	})
	// Two things before the timed tests. A connection stays open for the
	// whole run, so that the extension stays mapped where it was first
	// loaded. Then one fault: the first guard error of a process with C
	// frames pays the symbolizer's first use (reading debug information:
	// 0.3–1s here, paid by that Do's caller); objects loaded later are
	// named from their symbol tables only (TestLateObjectNamed).
	flag.Parse()
	pin, err := sql.Open(driverName, "file:"+filepath.Join(dir, "pin.db"))
	if err == nil {
		pin.SetConnMaxIdleTime(0)
		err = pin.Ping()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "opening a connection with the extension: %v\n", err)
		os.Exit(1)
	}
	warm, err := sql.Open(driverName, "file:"+filepath.Join(dir, "warm.db"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	// Frames through SQLite's virtual machine: the large compilation unit
	// of SQLite's amalgamation is read on its first lookup. warm is
	// poisoned and never closed.
	if err := guard.Do(func() { warm.Exec("SELECT segv()") }); !errors.Is(err, guard.ErrCrash) {
		fmt.Fprintf(os.Stderr, "warm-up fault: %v, want a CrashError\n", err)
		os.Exit(1)
	}
	if testing.Verbose() {
		fmt.Printf("measured: the process's first guard error (frames symbolized) took %v\n", time.Since(start))
	}
	code := m.Run()
	pin.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goid is the calling goroutine's id, from its stack header (also the SQL
// function goid(): the goroutine SQLite's statement runs on).
func goid() int64 {
	var buf [64]byte
	f := strings.Fields(string(buf[:runtime.Stack(buf[:], false)]))
	if len(f) < 2 || f[0] != "goroutine" {
		return -1
	}
	id, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return -1
	}
	return id
}

// openDB opens a database file in a directory of the test's; params are
// go-sqlite3's DSN parameters. It is not closed for the test: a poisoned
// one must not be.
func openDB(t *testing.T, dir, name, params string) *sql.DB {
	t.Helper()
	dsn := "file:" + filepath.Join(dir, name)
	if params != "" {
		dsn += "?" + params
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func mustExec(t *testing.T, db *sql.DB, query string) {
	t.Helper()
	if _, err := db.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// within runs f on a goroutine of its own and reports whether it returned
// within d. If not, f is left running (a goroutine blocked in C for good
// is the finding, not something a test can undo).
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

// newGuarded is a guardsql database over a new database file in WAL mode
// (a poisoned reader then does not block writers) with table t holding
// one row; params are more of go-sqlite3's DSN parameters.
func newGuarded(t *testing.T, dir, name, params string, opts ...guard.Option) *sql.DB {
	t.Helper()
	if params != "" {
		params = "&" + params
	}
	db := openGuarded(t, dir, name, "_journal_mode=WAL"+params, opts...)
	mustExec(t, db, "CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES (1)")
	return db
}

// driverConn is the go-sqlite3 connection under c.
func driverConn(t *testing.T, c *sql.Conn) *sqlite3.SQLiteConn {
	t.Helper()
	var dc *sqlite3.SQLiteConn
	if err := c.Raw(func(x any) error { dc = x.(*sqlite3.SQLiteConn); return nil }); err != nil {
		t.Fatal(err)
	}
	return dc
}

var (
	symbolsOnce sync.Once
	symbols     bool
)

// haveSymbols reports whether the test binary has a symbol table (go test
// strips it unless given -ldflags='-s=false -w=false'); without it C
// frames are not named and the name checks are skipped.
func haveSymbols(t *testing.T) bool {
	t.Helper()
	symbolsOnce.Do(func() {
		exe, err := os.Executable()
		if err == nil {
			if f, err := elf.Open(exe); err == nil {
				symbols = f.Section(".symtab") != nil
				f.Close()
			}
		}
	})
	if !symbols {
		t.Log("test binary has no symbol table: C frame names not checked")
	}
	return symbols
}

func frameNames(fs []runtime.Frame) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s (%s)\n", f.Function, filepath.Base(f.File))
	}
	return b.String()
}

func wantCrash(t *testing.T, err error) *guard.CrashError {
	t.Helper()
	var ce *guard.CrashError
	if !errors.As(err, &ce) || !errors.Is(err, guard.ErrCrash) {
		t.Fatalf("got %v, want a *guard.CrashError", err)
	}
	return ce
}

func wantInterrupt(t *testing.T, err error) *guard.InterruptError {
	t.Helper()
	var ie *guard.InterruptError
	if !errors.As(err, &ie) {
		t.Fatalf("got %v, want a *guard.InterruptError", err)
	}
	return ie
}
