// Command sqlite shows guard/guardsql over github.com/mattn/go-sqlite3
// (docs/databases.md): the *sql.DB comes from guardsql.Open, and every
// call database/sql makes into the driver runs under guard.DoContext. A
// fault in C under a query, or a write stuck on another connection's lock
// past its deadline, comes back as an error from that call and costs that
// one connection, which is abandoned; the pool goes on with fresh ones.
//
//	cd examples/sqlite && go build && ./sqlite
package main

/*
static void crash_in_c(void) { *(volatile int *)0 = 1; }
*/
import "C"

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/guardsql"
	"github.com/mattn/go-sqlite3"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sqlite example:", err)
		os.Exit(1)
	}
}

func run() error {
	// guardsql runs every driver call under guard.Do: check that Do can
	// guard here (amd64 Linux, a Go release cgoguard knows).
	if err := guard.Do(func() {}); err != nil {
		return err
	}
	// crash() is a Go function SQLite calls, which calls C that faults:
	// the stand-in for a buggy extension or binding.
	sql.Register("sqlite3_example", &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			return c.RegisterFunc("crash", func() int64 { C.crash_in_c(); return 0 }, false)
		},
	})
	dir, err := os.MkdirTemp("", "cgoguard-sqlite-example")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dsn := "file:" + filepath.Join(dir, "example.db") + "?_busy_timeout=10000&_journal_mode=WAL"
	// Operations without a deadline of their own get 5s.
	db, err := guardsql.Open("sqlite3_example", dsn, guard.WithTimeout(5*time.Second))
	if err != nil {
		return err
	}
	ctx := context.Background()

	if _, err := db.ExecContext(ctx, "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)"); err != nil {
		return err
	}

	// 1. A fault in C under a query.
	var n int
	err = db.QueryRowContext(ctx, "SELECT count(*) + crash() FROM t").Scan(&n)
	var ce *guard.CrashError
	if !errors.As(err, &ce) {
		return fmt.Errorf("want a CrashError, got %v", err)
	}
	fmt.Printf("fault recovered: %v\n  connection abandoned (%d so far)\n", ce, guardsql.Abandoned())

	// 2. A write waits on another connection's write lock; its deadline
	// (300ms) stops SQLite's busy-handler sleep long before the 10s busy
	// timeout. (This first error with frames in SQLite's code also pays
	// for reading its debug information: a few hundred ms more.)
	holder, err := sql.Open("sqlite3_example", dsn)
	if err != nil {
		return err
	}
	hc, err := holder.Conn(ctx)
	if err != nil {
		return err
	}
	if _, err := hc.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	_, err = db.ExecContext(tctx, "INSERT INTO t VALUES (3)")
	cancel()
	var ie *guard.InterruptError
	if !errors.As(err, &ie) || !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("want an InterruptError at the deadline, got %v", err)
	}
	fmt.Printf("busy wait stopped after %v: %v\n  connection abandoned (%d so far)\n",
		time.Since(start).Round(time.Millisecond), ie, guardsql.Abandoned())
	if _, err := hc.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	hc.Close()
	holder.Close()

	// 3. Fresh connections go on: write and read back.
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (4)"); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		return err
	}
	fmt.Printf("fresh connection: %d rows\n", n)

	// Close returns at once: it never calls into the abandoned connections.
	start = time.Now()
	if err := db.Close(); err != nil {
		return err
	}
	fmt.Printf("closed in %v; %d connections abandoned (each counted by guard's hooks: supervise.RestartOnTaint)\n",
		time.Since(start).Round(time.Millisecond), guardsql.Abandoned())
	if guardsql.Abandoned() != 2 {
		return fmt.Errorf("%d connections abandoned, want 2", guardsql.Abandoned())
	}
	if n != 3 {
		return fmt.Errorf("rows: %d, want 3", n)
	}
	fmt.Println("sqlite example: ok")
	return nil
}
