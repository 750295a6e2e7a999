//go:build linux && amd64

package tests

// How C frames are named (the symbolizer): the test binary's own symbols
// (haveSymbols), an object loaded late, a program's own cgo symbolizer, dladdr
// when there is none (tests/crashprog built with -tags
// cgoguard_nosymbolizer), and what symbolizing costs in C memory, once and
// over 100,000 faults (tests/symbolizerprog).

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

var symbolsOnce = sync.OnceValue(func() bool {
	exe, err := os.Executable()
	if err != nil {
		return false
	}
	f, err := elf.Open(exe)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Section(".symtab") != nil && f.Section(".debug_info") != nil
})

// haveSymbols reports whether this test binary kept its symbol table and
// DWARF, which the C symbolizer needs. go test strips them unless given
// -ldflags='-s=false -w=false' (make test does).
func haveSymbols(t testing.TB) bool {
	t.Helper()
	if !symbolsOnce() {
		t.Log("test binary has no symbols (go test strips it): C frame names not checked; run with -ldflags='-s=false -w=false'")
		return false
	}
	return true
}

// A shared object loaded after the symbolizer read the list of loaded
// objects (after the first symbolized error) is named from its own symbol
// table: a static function in it, which dladdr alone cannot name.
func TestLateObjectStaticFunctionNamed(t *testing.T) {
	if !haveSymbols(t) {
		t.Skip("needs -ldflags='-s=false -w=false'")
	}
	if err := guard.Call(payload.NullWrite, nil); !errors.Is(err, guard.ErrCrash) {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "late.c")
	so := filepath.Join(dir, "late.so")
	code := "__attribute__((noinline)) static void late_inner(int *p) { *(volatile int *)p = 1; }\n" +
		"void late_fault(void *arg) { (void)arg; late_inner(0); __asm__ volatile(\"\"); }\n"
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-O1", "-shared", "-fPIC", "-o", so, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	fn := payload.Dlsym(so, "late_fault")
	if fn == nil {
		t.Fatal("dlopen/dlsym failed")
	}
	for _, run := range []func() error{
		func() error { return guard.Call(fn, nil) },
		func() error { return guard.Do(func() { payload.RawCall(fn, nil) }) },
	} {
		var ce *guard.CrashError
		if err := run(); !errors.As(err, &ce) {
			t.Fatalf("got %v, want a crash", err)
		}
		if len(ce.Frames) < 2 || ce.Frames[0].Function != "late_inner" || ce.Frames[1].Function != "late_fault" ||
			ce.Frames[0].File != so || !strings.Contains(ce.Error(), " in late_inner ") {
			t.Fatalf("frames %v; error %q", ce.Frames, ce)
		}
	}
}

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

// TestConcurrentFirstSymbolization: goroutines that take the process's first
// guarded faults at the same moment must not each build a copy of the C
// symbolizer's tables (cgosymbolizer's first use is unlocked, and every
// racing thread's copy but one leaks, about 20 MiB each for this small
// program). The 16-goroutine run may grow by a little more than the
// 1-goroutine run (15 more frames recorded, Go's own bookkeeping), not by
// another copy.
func TestConcurrentFirstSymbolization(t *testing.T) {
	bin := buildProgram(t, "./symbolizerprog")
	growth := func(n int) int { return symbolizerprogGrowth(t, bin, "-n", strconv.Itoa(n)) }
	one := growth(1)
	if one < 1024 {
		t.Fatalf("first symbolization grew RSS by only %d KiB: the program was built without debug information?", one)
	}
	for round := 0; round < 3; round++ {
		if many := growth(16); many > one+4096 {
			t.Fatalf("16 concurrent first faults grew RSS by %d KiB, one fault by %d KiB: the symbolizer's tables were built more than once", many, one)
		} else {
			t.Logf("RssAnon growth: 1 goroutine %d KiB, 16 goroutines %d KiB", one, many)
		}
	}
}

// TestRepeatedSymbolizationNoLeak: 100,000 faults at a PC that symbolizes
// to two frames (an inlined function) must not grow C memory: cgosymbolizer
// allocates the extra frame's record at every lookup and never frees it
// (3.1-3.4 MiB for this run without cgoguard's cache of symbolized PCs).
func TestRepeatedSymbolizationNoLeak(t *testing.T) {
	if !haveSymbols(t) {
		t.Skip("needs the C symbolizer's debug information")
	}
	bin := buildProgram(t, "./symbolizerprog")
	if kib := symbolizerprogGrowth(t, bin, "-repeat", "100000"); kib > 1024 {
		t.Fatalf("100,000 faults at one inlined PC grew C memory by %d KiB", kib)
	} else {
		t.Logf("100,000 faults at one inlined PC: C memory grew by %d KiB", kib)
	}
}

// symbolizerprogGrowth runs tests/symbolizerprog with args and returns the growth it
// reports.
func symbolizerprogGrowth(t *testing.T, bin string, args ...string) int {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("symbolizerprog %v: %v\n%s", args, err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] != "growth-kib" {
		t.Fatalf("symbolizerprog %v: unexpected output %q", args, out)
	}
	kib, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return kib
}
