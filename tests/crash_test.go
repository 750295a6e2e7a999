//go:build linux && amd64

package tests

// A C fault outside any guard kills the process as in a Go program
// without cgoguard: tests/crashprog faults unguarded, with and without the
// guard installed (and with guarded faults recovered first), and the tests
// compare how it died and Go's report of the crashing goroutine. The report
// parser here also serves kill_test.go.

import (
	"fmt"
	"go/version"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

var (
	reHex       = regexp.MustCompile(`0x[0-9a-fA-F]+`)
	reMID       = regexp.MustCompile(`\bm=[0-9]+`)
	reGoroutine = regexp.MustCompile(`goroutine [0-9]+`)
)

// crashReport is the part of Go's fatal signal report that describes the
// crashing thread: the lines from the signal name up to the end of the
// first goroutine block (the goroutine the signal interrupted).
type crashReport struct {
	header []string // "SIGSEGV: ...", "PC=...", "signal arrived ...", goroutine header, normalised
	frames []string // "function @ file:line", innermost first
	funcs  []string // function names only
}

func parseCrashReport(t *testing.T, out, signalLine string) crashReport {
	t.Helper()
	lines := strings.Split(out, "\n")
	start := -1
	for i, l := range lines {
		if l == signalLine {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("no %q line in the output:\n%s", signalLine, out)
	}
	var r crashReport
	i := start
	for ; i < len(lines) && !strings.HasPrefix(lines[i], "goroutine "); i++ {
		if l := strings.TrimSpace(lines[i]); l != "" {
			r.header = append(r.header, normalise(l))
		}
	}
	if i == len(lines) {
		t.Fatalf("no goroutine block after %q:\n%s", signalLine, out)
	}
	r.header = append(r.header, goroutineState(lines[i]))
	for i++; i < len(lines) && lines[i] != ""; i++ {
		l := lines[i]
		if strings.HasPrefix(l, "\t") {
			// "\tfile.go:123 +0x4b fp=... sp=... pc=...": keep file:line.
			loc, _, _ := strings.Cut(strings.TrimPrefix(l, "\t"), " ")
			if n := len(r.frames); n > 0 {
				r.frames[n-1] += " @ " + loc
			}
			continue
		}
		fn := normalise(l)
		if strings.HasSuffix(fn, ")") {
			if k := strings.LastIndex(fn, "("); k > 0 {
				fn = fn[:k] // drop the arguments
			}
		}
		r.funcs = append(r.funcs, fn)
		r.frames = append(r.frames, fn)
	}
	return r
}

// goroutineState reduces a goroutine header to its state:
// "goroutine 1 gp=0x... m=0 mp=0x... [syscall]:" to "goroutine [syscall]:".
// With GODEBUG=tracebacklabels=1 (the default from Go 1.27 for a main
// module whose go.mod says go 1.27) the goroutine's pprof labels follow the
// state: Go 1.26 prints "[syscall labels:{"k": "v"}]:", Go 1.27
// "[syscall] {k: v}:". They go too.
func goroutineState(h string) string {
	k := strings.Index(h, " [")
	if k < 0 {
		return h
	}
	state := h[k+1:]
	if i := strings.Index(state, " labels:{"); i >= 0 {
		state = state[:i]
	} else if i := strings.Index(state, "]"); i >= 0 {
		state = state[:i]
	} else {
		return h
	}
	return "goroutine " + state + "]:"
}

func normalise(s string) string {
	s = reHex.ReplaceAllString(s, "0x?")
	s = reMID.ReplaceAllString(s, "m=?")
	return reGoroutine.ReplaceAllString(s, "goroutine ?")
}

// TestUnguardedCrashTraceback: a C fault with no guard open kills the
// process exactly as in a Go program without cgoguard (exit status 2, Go's
// report with the C frames), whether or not the guard is installed and has
// recovered faults before; the crashing goroutine's traceback is the same
// function by function, which shows that chaining to Go's handler by a tail
// jump is invisible to Go and to its cgo traceback unwinder.
func TestUnguardedCrashTraceback(t *testing.T) {
	bins := crashprog(t)
	reports := map[bool]crashReport{}
	for _, install := range []bool{false, true} {
		args := []string{"unguarded"}
		if install {
			args = []string{"-install", "unguarded"}
		}
		out, ws := runChild(t, childEnv(""), bins.std, args...)
		what := fmt.Sprintf("crashprog %s", strings.Join(args, " "))
		wantExit2(t, what, ws, out)
		wantContains(t, what, out,
			"SIGSEGV: segmentation violation",
			"signal arrived during cgo execution",
			"pl_null_write",
		)
		if install {
			wantContains(t, what, out, "guarded faults recovered")
		}
		r := parseCrashReport(t, out, "SIGSEGV: segmentation violation")
		if len(r.funcs) < 3 || r.funcs[0] != "pl_null_write" || r.funcs[1] != "pl_deep_middle" || r.funcs[2] != "pl_deep_outer" {
			t.Errorf("%s: the crashing goroutine does not start with the three C frames pl_null_write, pl_deep_middle, pl_deep_outer: %q\n%s", what, r.funcs, out)
		}
		reports[install] = r
		if t.Failed() {
			return
		}
	}
	plain, guarded := reports[false], reports[true]
	t.Logf("crashing goroutine without the guard:\n\t%s", strings.Join(plain.frames, "\n\t"))
	if !equalStrings(plain.funcs, guarded.funcs) {
		t.Fatalf("function sequence differs with the guard installed:\nwithout: %q\nwith:    %q", plain.funcs, guarded.funcs)
	}
	if !equalStrings(plain.frames, guarded.frames) {
		t.Errorf("frames (file:line) differ with the guard installed:\nwithout: %q\nwith:    %q", plain.frames, guarded.frames)
	}
	if !equalStrings(plain.header, guarded.header) {
		t.Errorf("report header differs with the guard installed:\nwithout: %q\nwith:    %q", plain.header, guarded.header)
	}
}

// The same crash on a goroutine with pprof labels, printed in the
// goroutine's header with GODEBUG=tracebacklabels=1 (Go 1.26 on; the
// default from Go 1.27 for a main module whose go.mod says go 1.27) and
// not with tracebacklabels=0: the report parses the same either way, and
// with the guard installed is Go's own.
func TestUnguardedCrashWithLabels(t *testing.T) {
	bins := crashprog(t)
	for _, setting := range []string{"0", "1"} {
		what := "GODEBUG=tracebacklabels=" + setting
		out, ws := runChild(t, append(childEnv(""), what), bins.std, "-install", "-labels", "unguarded")
		wantExit2(t, what, ws, out)
		wantContains(t, what, out, "guarded faults recovered", "SIGSEGV: segmentation violation",
			"signal arrived during cgo execution")
		r := parseCrashReport(t, out, "SIGSEGV: segmentation violation")
		if len(r.funcs) < 3 || r.funcs[0] != "pl_null_write" || r.funcs[2] != "pl_deep_outer" {
			t.Errorf("%s: the crashing goroutine does not start with the C frames: %q\n%s", what, r.funcs, out)
		}
		if g := r.header[len(r.header)-1]; g != "goroutine [syscall, locked to thread]:" {
			t.Errorf("%s: goroutine header reduced to %q, want %q", what, g, "goroutine [syscall, locked to thread]:")
		}
		labelled := strings.Contains(out, `locked to thread] {"peer addr": "10.0.0.1:5", request: r1}:`) || // 1.27
			strings.Contains(out, `locked to thread labels:{"peer addr": "10.0.0.1:5", "request": "r1"}]:`) // 1.26
		want := setting == "1" && version.Compare(runtime.Version(), "go1.26") >= 0
		if labelled != want {
			t.Errorf("%s, %s: labels in the goroutine header: %v, want %v\n%s", what, runtime.Version(), labelled, want, out)
		}
	}
}

func TestGoroutineState(t *testing.T) {
	for h, want := range map[string]string{
		"goroutine 1 gp=0xc000002380 m=0 mp=0x5a1e20 [syscall]:":                         "goroutine [syscall]:",
		"goroutine 7 gp=0xc000102fc0 m=3 mp=0xc000100008 [syscall] {request: r1}:":       "goroutine [syscall]:",
		`goroutine 7 [running, locked to thread] {"a b": "[c]"}:`:                        "goroutine [running, locked to thread]:",
		`goroutine 7 gp=0xc000102fc0 m=3 [syscall, locked to thread labels:{"a": "]"}]:`: "goroutine [syscall, locked to thread]:",
		"goroutine 1 [syscall]:": "goroutine [syscall]:",
	} {
		if got := goroutineState(h); got != want {
			t.Errorf("goroutineState(%q) = %q, want %q", h, got, want)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestUnguardedCrashGotracebackCrash: with GOTRACEBACK=crash Go's fatal path
// ends by raising SIGABRT with the default action; the guard, which then has
// SIGABRT's handler, must let the process die by that signal.
func TestUnguardedCrashGotracebackCrash(t *testing.T) {
	bins := crashprog(t)
	for _, install := range []bool{false, true} {
		args := []string{"unguarded"}
		if install {
			args = []string{"-install", "unguarded"}
		}
		what := fmt.Sprintf("GOTRACEBACK=crash crashprog %s", strings.Join(args, " "))
		out, ws := runChild(t, childEnv("crash"), bins.std, args...)
		if !ws.Signaled() || ws.Signal() != syscall.SIGABRT {
			t.Fatalf("%s: %s, want killed by SIGABRT\n%s", what, describe(ws), out)
		}
		wantContains(t, what, out,
			"SIGSEGV: segmentation violation",
			"signal arrived during cgo execution",
			"pl_null_write",
		)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
