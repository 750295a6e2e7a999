package binding

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// go-sqlite3 v1.14.53 executes a statement through Exec/ExecContext on a
// new goroutine when the context is cancellable (SQLiteStmt.exec:
// go execSync, then sqlite3_interrupt on ctx.Done()); queries step on the
// calling goroutine whatever the context (cancellation by
// context.AfterFunc). So DoContext(ctx, func() { db.ExecContext(ctx, …) })
// does not cover the statement: its fault is in a goroutine outside any
// region and kills the process as an unguarded C fault does. Given a
// context that cannot be cancelled the binding stays on f's goroutine,
// and the fault is recovered; the query path is recovered either way; and
// guardsql's ExecContext with the cancellable context is recovered (it
// gives the binding a context that is never done).
// Each case runs cmd/hop in a process of its own.
func TestGoroutineHop(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "hop")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/hop").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/hop: %v\n%s", err, out)
	}
	run := func(mode string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, "-ext", extPath, mode)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return out.String(), 0
		case errors.As(err, &ee) && ee.Exited():
			return out.String(), ee.ExitCode()
		default:
			t.Fatalf("hop %s: %v\n%s", mode, err, out.String())
			return "", -1
		}
	}

	out, code := run("exec-cancellable")
	if code != 2 {
		t.Fatalf("exec with the cancellable context: exit status %d, want 2 (Go's crash)\n%s", code, out)
	}
	for _, want := range []string{
		"SIGSEGV: segmentation violation",
		"signal arrived during cgo execution",
		"github.com/mattn/go-sqlite3.(*SQLiteStmt).execSync",
		"created by github.com/mattn/go-sqlite3.(*SQLiteStmt).exec",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exec with the cancellable context: output lacks %q\n%s", want, out)
		}
	}
	if strings.Contains(out, "recovered:") {
		t.Errorf("exec with the cancellable context: recovered\n%s", out)
	}

	for _, mode := range []string{"exec-background", "exec-withoutcancel", "query-cancellable", "guardsql-exec-cancellable"} {
		out, code := run(mode)
		if code != 0 || !strings.Contains(out, "recovered: guard: SIGSEGV") {
			t.Errorf("%s: exit status %d, want 0 and the fault recovered\n%s", mode, code, out)
		}
	}
}

// Which database/sql calls run the statement on the caller's goroutine,
// found without a fault: the SQL function goid() returns the id of the
// goroutine SQLite calls it on. With a context that is never done every
// call stays; with a cancellable one, go-sqlite3 hops for every statement
// executed through Exec (DB, Conn, Tx, prepared Stmt) and for none run
// through Query.
func TestGoroutineHopRule(t *testing.T) {
	db := openDB(t, t.TempDir(), "rule.db", "")
	defer db.Close()
	mustExec(t, db, "CREATE TABLE g(id)")
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type call struct {
		name string
		run  func(ctx context.Context) error
	}
	calls := []call{
		{"DB.ExecContext", func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, "INSERT INTO g VALUES (goid())")
			return err
		}},
		{"DB.ExecContext with an argument", func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, "INSERT INTO g VALUES (goid() + ?)", 0)
			return err
		}},
		{"Stmt.ExecContext", func(ctx context.Context) error {
			st, err := db.PrepareContext(ctx, "INSERT INTO g VALUES (goid())")
			if err != nil {
				return err
			}
			defer st.Close()
			_, err = st.ExecContext(ctx)
			return err
		}},
		{"Tx.ExecContext", func(ctx context.Context) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO g VALUES (goid())"); err != nil {
				tx.Rollback()
				return err
			}
			return tx.Commit()
		}},
		{"DB.QueryRowContext", func(ctx context.Context) error {
			var id int64
			if err := db.QueryRowContext(ctx, "SELECT goid()").Scan(&id); err != nil {
				return err
			}
			_, err := db.ExecContext(context.Background(), "INSERT INTO g VALUES (?)", id)
			return err
		}},
		{"DB.QueryContext, second row", func(ctx context.Context) error {
			rows, err := db.QueryContext(ctx, "SELECT goid() FROM (SELECT 1 UNION ALL SELECT 2)")
			if err != nil {
				return err
			}
			var id int64
			for rows.Next() {
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
			}
			rows.Close()
			_, err = db.ExecContext(context.Background(), "INSERT INTO g VALUES (?)", id)
			return err
		}},
	}
	for _, c := range calls {
		for _, cancellable := range []bool{false, true} {
			ctx := context.WithoutCancel(cctx)
			if cancellable {
				ctx = cctx
			}
			mustExec(t, db, "DELETE FROM g")
			if err := c.run(ctx); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			var id int64
			if err := db.QueryRow("SELECT id FROM g").Scan(&id); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			hops := id != goid()
			want := cancellable && strings.Contains(c.name, "Exec")
			t.Logf("%s, cancellable %v: runs on the caller's goroutine: %v", c.name, cancellable, !hops)
			if hops != want {
				t.Errorf("%s with a cancellable context %v: hops %v, want %v", c.name, cancellable, hops, want)
			}
		}
	}
}
