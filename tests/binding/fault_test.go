package binding

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/cgoguard/cgoguard/examples/sqlite/guardsql"
	"github.com/cgoguard/cgoguard/guard"
)

// A loadable extension's SQL function faults (SIGSEGV, SIGABRT) under
// Exec, Query and QueryRow: each time Run returns the CrashError, the
// connection is abandoned, and the next Run gets a new one that works.
func TestExtensionFaults(t *testing.T) {
	for _, tc := range []struct {
		fn  string
		sig syscall.Signal
		in  string // the C function that faults, among the frames
	}{
		{"segv", syscall.SIGSEGV, "fn_segv"},
		{"abrt", syscall.SIGABRT, "fn_abrt"},
		{"gosegv", syscall.SIGSEGV, "faulty_segv"},
		{"goabort", syscall.SIGABRT, "faulty_abort"},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			r, _ := newRunner(t, t.TempDir(), "ext.db", "", 100)
			ctx := context.Background()
			ops := []func(c *guardsql.Conn) error{
				func(c *guardsql.Conn) error { _, err := c.Exec("SELECT x, " + tc.fn + "() FROM t"); return err },
				func(c *guardsql.Conn) error {
					rows, err := c.Query("SELECT x, "+tc.fn+"() FROM t WHERE x = ?", 1)
					if err != nil {
						return err
					}
					defer rows.Close()
					for rows.Next() {
					}
					return rows.Err()
				},
				func(c *guardsql.Conn) error {
					var a, b int
					return c.QueryRow("SELECT x, "+tc.fn+"() FROM t").Scan(&a, &b)
				},
			}
			for i := 0; i < 30; i++ {
				after := false
				err := r.Run(ctx, func(c *guardsql.Conn) error {
					err := ops[i%len(ops)](c)
					after = true
					return err
				})
				ce := wantCrash(t, err)
				if ce.Signal != tc.sig || after {
					t.Fatalf("round %d: signal %v (want %v), code after the fault ran: %v", i, ce.Signal, tc.sig, after)
				}
				if r.Abandoned() != i+1 {
					t.Fatalf("round %d: %d connections abandoned, want %d", i, r.Abandoned(), i+1)
				}
				if i == 0 {
					t.Logf("%v\nframes:\n%s", ce, frameNames(ce.Frames))
					// An extension function's frames run through SQLite's
					// virtual machine; a Go function's end at its own cgo
					// call, the innermost boundary.
					names := frameNames(ce.Frames)
					if haveSymbols(t) && (!strings.Contains(names, tc.in+" ") ||
						strings.HasPrefix(tc.fn, "go") == strings.Contains(names, "sqlite3VdbeExec")) {
						t.Errorf("frames: want %s, and sqlite3VdbeExec only for an extension function\n%s", tc.in, names)
					}
					if tc.fn == "segv" && !strings.Contains(ce.Taint.Object, "guardext.so") {
						t.Errorf("taint object %q, want the extension", ce.Taint.Object)
					}
				}
				var n int
				if err := r.Run(ctx, func(c *guardsql.Conn) error { return c.QueryRow("SELECT count(*) FROM t").Scan(&n) }); err != nil || n != 1 {
					t.Fatalf("round %d: a fresh connection: %v, %d rows", i, err, n)
				}
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			checkFresh(t)
		})
	}
}

// The same faults under plain guard.Do around a database/sql call (no
// Runner): recovered likewise. Each poisoned *sql.DB is left unclosed.
func TestDoAroundDatabaseSQL(t *testing.T) {
	dir := t.TempDir()
	for _, q := range []string{"SELECT segv()", "SELECT abrt()", "SELECT gosegv()", "SELECT goabort()"} {
		db := openDB(t, dir, "do.db", "")
		err := guard.Do(func() { db.Exec(q) })
		wantCrash(t, err)
	}
	checkFresh(t)
}
