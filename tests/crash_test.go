//go:build linux && amd64

package tests

// Subprocess tests: "Go stays Go" for crashes. tests/crashprog is built once
// per test binary run (normally and with -tags cgoguard_nosymbolizer) and run
// in modes that crash, or wait to be crashed by a signal from this process;
// the tests check how it died and what Go printed, with and without the
// guard installed.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/version"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childTimeout bounds every crashprog run: a hang fails the test.
const childTimeout = 60 * time.Second

// crashprogDir holds the crashprog binaries; TestMain removes it.
var crashprogDir string

func TestMain(m *testing.M) {
	code := m.Run()
	removeSuperviseBins()
	if badstateprogDir != "" {
		os.RemoveAll(badstateprogDir)
	}
	if crashprogDir != "" {
		os.RemoveAll(crashprogDir)
	}
	os.Exit(code)
}

type crashprogBins struct {
	std   string // default build: the guard package imports cgosymbolizer
	nosym string // -tags cgoguard_nosymbolizer, with the program's own cgoTraceback/cgoSymbolizer
}

var buildCrashprog = sync.OnceValues(func() (crashprogBins, error) {
	dir, err := os.MkdirTemp("", "crashprog-")
	if err != nil {
		return crashprogBins{}, err
	}
	crashprogDir = dir
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bins := crashprogBins{std: filepath.Join(dir, "crashprog"), nosym: filepath.Join(dir, "crashprog-nosym")}
	const pkg = "github.com/cgoguard/cgoguard/tests/crashprog"
	builds := [][]string{
		{"build", "-o", bins.std, pkg},
		// Also the test that the tag avoids the clash of the program's C
		// functions cgoTraceback/cgoSymbolizer with cgosymbolizer's.
		{"build", "-tags", "cgoguard_nosymbolizer", "-o", bins.nosym, pkg},
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, args := range builds {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*childTimeout)
			defer cancel()
			out, err := exec.CommandContext(ctx, goTool, args...).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
	wg.Wait()
	return bins, errors.Join(errs...)
})

func crashprog(t *testing.T) crashprogBins {
	t.Helper()
	bins, err := buildCrashprog()
	if err != nil {
		t.Fatalf("building crashprog: %v", err)
	}
	return bins
}

// childEnv is this process's environment with GOTRACEBACK set to
// gotraceback ("" for Go's default).
func childEnv(gotraceback string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOTRACEBACK=") {
			env = append(env, kv)
		}
	}
	if gotraceback != "" {
		env = append(env, "GOTRACEBACK="+gotraceback)
	}
	return env
}

// runChild runs bin with args to completion and returns its combined output
// and wait status. The run must end by itself (exit or signal) in time.
func runChild(t *testing.T, env []string, bin string, args ...string) (string, syscall.WaitStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: timed out after %v\n%s", filepath.Base(bin), args, childTimeout, out)
	}
	return string(out), waitStatus(t, cmd, err, out)
}

func waitStatus(t *testing.T, cmd *exec.Cmd, err error, out []byte) syscall.WaitStatus {
	t.Helper()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus)
}

func describe(ws syscall.WaitStatus) string {
	switch {
	case ws.Signaled():
		return "killed by " + ws.Signal().String()
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// wantExit2 asserts the child exited (not by a signal) with status 2, Go's
// status for a fatal signal or throw.
func wantExit2(t *testing.T, what string, ws syscall.WaitStatus, out string) {
	t.Helper()
	if !ws.Exited() || ws.ExitStatus() != 2 {
		t.Fatalf("%s: %s, want exit status 2\n%s", what, describe(ws), out)
	}
}

func wantContains(t *testing.T, what, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("%s: output lacks %q\n%s", what, s, out)
		}
	}
}

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

// syncBuffer collects a child's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sleeperRun starts crashprog sleepers (guarded with install), waits for
// "ready", lets send deliver a signal, and returns how the child ended and
// what it printed.
func sleeperRun(t *testing.T, bin string, install bool, send func(pid int, tids []int) error) (string, syscall.WaitStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	args := []string{"-n", "4", "sleepers"}
	if install {
		args = append([]string{"-install"}, args...)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv("")
	var out syncBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var tids []int
	for tids == nil {
		select {
		case err := <-done:
			t.Fatalf("crashprog %v ended before it was ready: %v\n%s", args, err, out.String())
		case <-ctx.Done():
			<-done
			t.Fatalf("crashprog %v: not ready within %v\n%s", args, childTimeout, out.String())
		case <-time.After(5 * time.Millisecond):
		}
		s := out.String()
		if !strings.Contains(s, "\nready\n") {
			continue
		}
		for _, l := range strings.Split(s, "\n") {
			if f, ok := strings.CutPrefix(l, "tids: "); ok {
				for _, w := range strings.Fields(f) {
					n, err := strconv.Atoi(w)
					if err != nil {
						t.Fatalf("bad tids line %q", l)
					}
					tids = append(tids, n)
				}
			}
		}
		if len(tids) != 4 {
			t.Fatalf("want 4 thread ids, got %v\n%s", tids, s)
		}
	}
	if tids[0] != cmd.Process.Pid {
		t.Errorf("sleeper 0 runs on thread %d, want the main thread %d", tids[0], cmd.Process.Pid)
	}
	if err := send(cmd.Process.Pid, tids); err != nil {
		cmd.Process.Kill()
		<-done
		t.Fatalf("sending the signal: %v", err)
	}
	err := <-done
	if ctx.Err() != nil {
		t.Fatalf("crashprog %v: still running %v after the signal\n%s", args, childTimeout, out.String())
	}
	s := out.String()
	return s, waitStatus(t, cmd, err, []byte(s))
}

// checkSentSignal runs the sleepers with and without the guard, sends the
// signal, and checks that both die the same way: Go's fatal report for a
// signal sent by another process, never a recovered guard error.
func checkSentSignal(t *testing.T, sig syscall.Signal, toThread bool) {
	bins := crashprog(t)
	send := func(pid int, tids []int) error {
		if toThread {
			return unix.Tgkill(pid, tids[1], sig) // a sleeper on a thread Go created
		}
		return syscall.Kill(pid, sig)
	}
	name := map[syscall.Signal]string{syscall.SIGSEGV: "SIGSEGV: segmentation violation", syscall.SIGABRT: "SIGABRT: abort"}[sig]
	for _, install := range []bool{true, false} {
		t.Run(fmt.Sprintf("install=%v", install), func(t *testing.T) {
			out, ws := sleeperRun(t, bins.std, install, send)
			what := fmt.Sprintf("%v sent to crashprog sleepers (install=%v)", sig, install)
			if strings.Contains(out, "recovered") {
				t.Fatalf("%s: a guarded call took the sent signal as its own fault (%s)\n%s", what, describe(ws), out)
			}
			wantExit2(t, what, ws, out)
			wantContains(t, what, out, name, "PC=")
			// The thread that got the signal is the one Go reports. tgkill
			// picks it: a sleeper blocked in C, inside guard.Call when
			// installed. kill leaves the choice to the kernel, which gives
			// the signal to the main thread (sleeper 0) unless that thread
			// cannot take it just then (it has another signal pending); it
			// may then land on a thread running Go or the runtime, so there
			// a miss is only logged.
			if !strings.Contains(out, "signal arrived during cgo execution") {
				if toThread {
					t.Fatalf("%s: output lacks %q\n%s", what, "signal arrived during cgo execution", out)
				}
				t.Logf("%s: the signal did not land in C code:\n%s", what, firstLines(out, 12))
				return
			}
			r := parseCrashReport(t, out, name)
			want := []string{"pl_sleep_until"}
			if install {
				want = append(want, "github.com/cgoguard/cgoguard/guard.Call")
			}
			for _, fn := range want {
				if containsString(r.funcs, fn) {
					continue
				}
				if toThread {
					t.Errorf("%s: %s not in the crashing goroutine's frames %q\n%s", what, fn, r.funcs, out)
				} else {
					t.Logf("%s: the signal did not land in a sleeper (%s not in %q)", what, fn, r.funcs)
				}
			}
		})
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

// TestKillSIGSEGVTgkill: SIGSEGV sent with tgkill by another process to a
// thread inside a guarded call (si_code SI_TKILL, foreign si_pid) is not a
// fault of that call: Go gets it and dies as it would without cgoguard.
func TestKillSIGSEGVTgkill(t *testing.T) { checkSentSignal(t, syscall.SIGSEGV, true) }

// TestKillSIGSEGVProcess: the same for SIGSEGV sent to the process with
// kill (si_code SI_USER), which the kernel normally gives to the main
// thread, there blocked in a guarded call.
func TestKillSIGSEGVProcess(t *testing.T) { checkSentSignal(t, syscall.SIGSEGV, false) }

// TestKillSIGABRTTgkill: SIGABRT sent with tgkill by another process to a
// guarded thread is not the guarded code's abort(): "SIGABRT: abort" and
// exit status 2, as without cgoguard.
func TestKillSIGABRTTgkill(t *testing.T) { checkSentSignal(t, syscall.SIGABRT, true) }

// frameLines parses crashprog's "frame: <function>\t<file>:<line>" lines.
func frameLines(out string) []runtime.Frame {
	var frames []runtime.Frame
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(l, "frame: ")
		if !ok {
			continue
		}
		fn, loc, _ := strings.Cut(rest, "\t")
		var f runtime.Frame
		f.Function = fn
		if k := strings.LastIndex(loc, ":"); k >= 0 {
			f.File = loc[:k]
			f.Line, _ = strconv.Atoi(loc[k+1:])
		}
		frames = append(frames, f)
	}
	return frames
}

// TestOwnCgoTracebackSymbolizer: built with -tags cgoguard_nosymbolizer, a
// program may define C functions named cgoTraceback and cgoSymbolizer and
// register them with runtime.SetCgoTraceback (the build succeeding is part
// of the test); the guard then names frames with that symbolizer.
func TestOwnCgoTracebackSymbolizer(t *testing.T) {
	bins := crashprog(t)
	out, ws := runChild(t, childEnv(""), bins.nosym, "ownsymbolizer")
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("crashprog ownsymbolizer: %s\n%s", describe(ws), out)
	}
	wantContains(t, "ownsymbolizer", out, "recovered: guard: SIGSEGV", "in mysymbolizer_fn (my.c:1)")
	frames := frameLines(out)
	found := false
	for _, f := range frames {
		if f.Function == "mysymbolizer_fn" {
			found = true
			if f.File != "my.c" || f.Line != 1 {
				t.Errorf("mysymbolizer_fn frame at %s:%d, want my.c:1", f.File, f.Line)
			}
		}
	}
	if !found {
		t.Fatalf("no frame named mysymbolizer_fn: %+v\n%s", frames, out)
	}
}

// TestNoSymbolizerDladdrFrames: built with -tags cgoguard_nosymbolizer and
// no cgo symbolizer registered, frames are named by dladdr: exported
// symbols such as libc's abort, and no file:line.
func TestNoSymbolizerDladdrFrames(t *testing.T) {
	bins := crashprog(t)
	out, ws := runChild(t, childEnv(""), bins.nosym, "dladdr")
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("crashprog dladdr: %s\n%s", describe(ws), out)
	}
	wantContains(t, "dladdr", out, "recovered: guard: SIGABRT")
	frames := frameLines(out)
	found := false
	for _, f := range frames {
		if f.Function == "abort" {
			found = true
		}
		if f.Line != 0 {
			t.Errorf("frame %q has line %d: something other than dladdr named it", f.Function, f.Line)
		}
	}
	if !found {
		t.Fatalf("no frame named abort: %+v\n%s", frames, out)
	}
}
