package binding

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/guardsql"
)

// A loadable extension's SQL function faults (SIGSEGV, SIGABRT) under
// Exec, Query and QueryRow through guardsql: each time the database/sql
// call returns the CrashError, the connection is abandoned, and the next
// call gets a new one that works.
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
			db := newGuarded(t, t.TempDir(), "ext.db", "")
			ctx := context.Background()
			ops := []func() error{
				func() error { _, err := db.ExecContext(ctx, "SELECT x, "+tc.fn+"() FROM t"); return err },
				func() error {
					rows, err := db.QueryContext(ctx, "SELECT x, "+tc.fn+"() FROM t WHERE x = ?", 1)
					if err != nil {
						return err
					}
					defer rows.Close()
					for rows.Next() {
					}
					return rows.Err()
				},
				func() error {
					var a, b int
					return db.QueryRowContext(ctx, "SELECT x, "+tc.fn+"() FROM t").Scan(&a, &b)
				},
			}
			before := guardsql.Abandoned()
			for i := 0; i < 30; i++ {
				ce := wantCrash(t, ops[i%len(ops)]())
				if ce.Signal != tc.sig {
					t.Fatalf("round %d: signal %v, want %v", i, ce.Signal, tc.sig)
				}
				if n := guardsql.Abandoned() - before; n != int64(i+1) {
					t.Fatalf("round %d: %d connections abandoned, want %d", i, n, i+1)
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
				if err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
					t.Fatalf("round %d: a fresh connection: %v, %d rows", i, err, n)
				}
			}
			closeWithin(t, db, 5*time.Second)
			checkFresh(t)
		})
	}
}

// The same faults under plain guard.Do around a database/sql call (no
// guardsql): recovered likewise. Each poisoned *sql.DB is left unclosed.
func TestDoAroundDatabaseSQL(t *testing.T) {
	dir := t.TempDir()
	for _, q := range []string{"SELECT segv()", "SELECT abrt()", "SELECT gosegv()", "SELECT goabort()"} {
		db := openDB(t, dir, "do.db", "")
		err := guard.Do(func() { db.Exec(q) })
		wantCrash(t, err)
	}
	checkFresh(t)
}
