package tests

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A fault in unguarded C called from a Go callback inside a guarded call is
// left to Go: exit status 2 and Go's report, not a recovery.
func TestUnguardedFaultInsideGoCallback(t *testing.T) {
	bin := buildProgram(t, "./callbackcrashprog")
	for i := 0; i < 6; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		arg := []string{"frames", "noframes"}[i%2] // WithMaxFrames(0) for half
		out, err := exec.CommandContext(ctx, bin, arg).CombinedOutput()
		cancel()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Fatalf("want exit status 2, got %v\n%s", err, out)
		}
		for _, want := range []string{"SIGSEGV: segmentation violation", "signal arrived during cgo execution", "pl_null_write"} {
			if !strings.Contains(string(out), want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(string(out), "recovered by the outer guard") {
			t.Fatalf("the outer guard took the fault:\n%s", out)
		}
	}
}
