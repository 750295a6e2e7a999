package tests

import (
	"runtime"
	"strings"
	"testing"
)

// On a runtime whose cgo boundary cgoguard does not know (simulated by a
// test build that sees the call site one byte off), the program still
// builds, links and runs: Do and DoContext refuse with
// ErrRuntimeUnsupported naming the Go version, Call and CallContext work,
// and an unguarded fault is still Go's (exit 2, Go's report).
func TestUnknownRuntime(t *testing.T) {
	bin := buildProgram(t, "./unknownruntimeprog", "-tags", "cgoguard_testunknownruntime")

	out, ws := runChild(t, childEnv(""), bin)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("exit %v, want 0\n%s", ws, out)
	}
	wantContains(t, "unknown runtime", out,
		"Do refused: guard: Do is not supported with this Go runtime ("+runtime.Version()+")",
		"DoContext refused", "Call recovered 6 faults", "CallContext interrupted a blocked call")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != "ok" {
		t.Fatalf("last line is not ok:\n%s", out)
	}

	out, ws = runChild(t, childEnv(""), bin, "unguarded")
	wantExit2(t, "unguarded fault", ws, out)
	wantContains(t, "unguarded fault", out, "ok\n", "SIGSEGV: segmentation violation",
		"signal arrived during cgo execution", "pl_null_write")
	if strings.Contains(out, "survived") {
		t.Fatalf("survived an unguarded fault:\n%s", out)
	}
}
