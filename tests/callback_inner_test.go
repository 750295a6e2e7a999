package tests

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A guard.Call made inside a Go callback (C -> Go -> guard.Call -> C that
// breaks RSP, or RIP and RSP, and faults) is taken by the callback's own
// guard: the callback goes on (a healthy guarded call), returns to the C
// that called it, and that C returns normally, under an outer guard.Call,
// a plain cgo call, or a plain cgo call inside guard.Do. Exit status 0 and "ok <mode>" last; no Go report.
func TestGuardInsideGoCallbackBrokenState(t *testing.T) {
	bin := buildProgram(t, "./callbackguardprog")
	for _, outer := range []string{"guarded", "raw", "do"} {
		for _, what := range []string{"badrsp", "badriprsp"} {
			for _, suffix := range []string{"", "-noframes"} {
				mode := "inner-" + outer + "-" + what + suffix
				t.Run(mode, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					out, err := exec.CommandContext(ctx, bin, mode).CombinedOutput()
					if err != nil {
						t.Fatalf("want exit status 0, got %v\n%s", err, out)
					}
					lines := strings.Split(strings.TrimSpace(string(out)), "\n")
					if last := lines[len(lines)-1]; last != "ok "+mode {
						t.Fatalf("last line %q, want %q:\n%s", last, "ok "+mode, out)
					}
					if n := strings.Count(string(out), "inner recovered: "); n != 3 {
						t.Fatalf("%d recoveries, want 3:\n%s", n, out)
					}
					for _, bad := range []string{"signal arrived during cgo execution", "fatal error", "panic:"} {
						if strings.Contains(string(out), bad) {
							t.Fatalf("output has %q:\n%s", bad, out)
						}
					}
				})
			}
		}
	}
}
