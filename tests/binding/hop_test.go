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
// and the fault is recovered; the query path is recovered either way.
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

	for _, mode := range []string{"exec-background", "exec-withoutcancel", "query-cancellable"} {
		out, code := run(mode)
		if code != 0 || !strings.Contains(out, "recovered: guard: SIGSEGV") {
			t.Errorf("%s: exit status %d, want 0 and the fault recovered\n%s", mode, code, out)
		}
	}
}
