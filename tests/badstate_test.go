//go:build linux && amd64

package tests

// Subprocess tests: faults that leave the machine state broken, and a
// foreign SIGSEGV handler that siglongjmps out (tests/badstateprog). A
// process may recover or die as Go would; dying silently is a failure.

import (
	"fmt"
	"strings"
	"testing"
)

// badstateprog builds tests/badstateprog (once per test binary run).
func badstateprog(t *testing.T) string {
	t.Helper()
	return sharedProgram(t, "github.com/cgoguard/cgoguard/tests/badstateprog")
}

// wantRecovered runs a mode that must recover every fault and carry on.
func wantRecovered(t *testing.T, args ...string) string {
	t.Helper()
	out, ws := runChild(t, childEnv(""), badstateprog(t), args...)
	mode := args[len(args)-1]
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("badstateprog %v: %s, want exit status 0\n%s", args, describe(ws), out)
	}
	if !strings.Contains("\n"+out, "\nok "+mode+"\n") {
		t.Fatalf("badstateprog %v: no %q line\n%s", args, "ok "+mode, out)
	}
	return out
}

// wantGoReport runs a mode that faults in C unguarded: Go's fatal report
// for a SIGSEGV in C and exit status 2, exactly as without cgoguard.
func wantGoReport(t *testing.T, pc string, args ...string) {
	t.Helper()
	out, ws := runChild(t, childEnv(""), badstateprog(t), args...)
	what := "badstateprog " + strings.Join(args, " ")
	wantExit2(t, what, ws, out)
	wantContains(t, what, out, "unguarded fault next\n")
	r := parseCrashReport(t, out, "SIGSEGV: segmentation violation")
	if len(r.header) < 3 || r.header[1] != pc || r.header[2] != "signal arrived during cgo execution" {
		t.Fatalf("%s: report header %q, want %q then %q\n%s", what, r.header, pc, "signal arrived during cgo execution", out)
	}
	if !containsString(r.funcs, "runtime.cgocall") {
		t.Errorf("%s: the crashing goroutine's frames %q lack runtime.cgocall\n%s", what, r.funcs, out)
	}
	if strings.Contains(out, "survived") {
		t.Errorf("%s: the program carried on after the fault\n%s", what, out)
	}
}

// The three broken states, under guard.Call, under guard.Do, and
// unguarded (with and without the guard installed and used before).
var badStates = []struct {
	name string
	pc   string // Go's PC line, normalised
}{
	{"badrsp", "PC=0x? m=? sigcode=1 addr=0x?"},
	{"badriprsp", "PC=0x? m=? sigcode=1 addr=0x?"},
	{"unmapped", "PC=0x? m=? sigcode=1 addr=0x?"},
}

func TestBadStateCall(t *testing.T) {
	for _, c := range badStates {
		t.Run(c.name, func(t *testing.T) {
			out := wantRecovered(t, "call-"+c.name)
			if n := strings.Count(out, "recovered: guard: SIGSEGV"); n != 3 {
				t.Errorf("%d recovered faults, want 3\n%s", n, out)
			}
		})
	}
}

func TestBadStateDo(t *testing.T) {
	for _, c := range badStates {
		t.Run(c.name, func(t *testing.T) {
			out := wantRecovered(t, "do-"+c.name)
			if n := strings.Count(out, "recovered: guard: SIGSEGV"); n != 3 {
				t.Errorf("%d recovered faults, want 3\n%s", n, out)
			}
		})
	}
}

func TestBadStateUnguarded(t *testing.T) {
	for _, c := range badStates {
		for _, install := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/install=%v", c.name, install), func(t *testing.T) {
				args := []string{"unguarded-" + c.name}
				if install {
					args = append([]string{"-install"}, args...)
				}
				wantGoReport(t, c.pc, args...)
			})
		}
	}
}

// TestBadStateCallFrames: the frames of a call through an unmapped
// pointer name the caller (the return address at SP), and a bad RSP
// still names the faulting function.
func TestBadStateCallFrames(t *testing.T) {
	out := wantRecovered(t, "call-unmapped")
	wantContains(t, "call-unmapped", out, "pc=0x8 in pl_call_unmapped")
	out = wantRecovered(t, "do-badrsp")
	wantContains(t, "do-badrsp", out, "in pl_bad_rsp")
}

// TestForeignProbingHandler: a library installs its own SIGSEGV handler
// after cgoguard, and probes memory with it, leaving the handler by
// siglongjmp; guarded faults (Call and Do) keep being recovered between
// probes, and an unguarded fault afterwards still gets Go's report.
func TestForeignProbingHandler(t *testing.T) {
	for _, how := range []string{"0", "1"} {
		t.Run("how="+how, func(t *testing.T) {
			out := wantRecovered(t, "-how", how, "probe")
			wantContains(t, "probe", out, "probe faults: 3")
			wantGoReport(t, "PC=0x? m=? sigcode=1 addr=0x?", "-how", how, "-then-unguarded", "probe")
		})
	}
}

// TestBadStateProfileTraceback: under a 2 kHz CPU profile, C code spins
// with RSP at an unmapped page; each SIGPROF that lands there runs the cgo
// traceback (Go's signal entry calls it for any signal in C code), which
// must not fault (with cgosymbolizer's own unwinder, the process died).
func TestBadStateProfileTraceback(t *testing.T) {
	for _, install := range []bool{false, true} {
		t.Run(fmt.Sprintf("install=%v", install), func(t *testing.T) {
			args := []string{"profile-spin"}
			if install {
				args = append([]string{"-install"}, args...)
			}
			wantRecovered(t, args...)
		})
	}
}
