package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// Faults outside the allocator taint the library; a fault the allocator's
// own checks caught (an invalid free) taints the process.
func TestTaintOfFaults(t *testing.T) {
	exe, _ := os.Executable()
	for _, c := range []struct {
		fault      string
		level      guard.TaintLevel
		heap       bool
		object     string // suffix
		reasonPart string
	}{
		{"null_write", guard.TaintLibrary, false, exe, "fault in C code"},
		{"div_zero", guard.TaintLibrary, false, exe, "fault in C code"},
		{"strlen_null", guard.TaintLibrary, false, "/libc.so.6", "fault in C code"},
		{"abort", guard.TaintLibrary, false, "/libc.so.6", "fault in C code"},
		{"bad_free", guard.TaintProcess, true, "/libc.so.6", "heap checks failed"},
	} {
		f := faultNamed(t, c.fault)
		r := payload.NewResult(1)
		payload.QuietStderr(f.Prints)
		err := guard.Call(f.Fn, unsafe.Pointer(r))
		payload.Free(r)
		payload.QuietStderr(false)
		ce := checkCrash(t, f, err, haveSymbols(t))
		tt := ce.Taint
		if tt.Level != c.level || tt.HeapSuspect != c.heap || tt.AllocatorLocked || tt.LibcLocked ||
			!strings.HasSuffix(tt.Object, c.object) || !strings.Contains(tt.Reason, c.reasonPart) || tt.Function == "" {
			t.Errorf("%s: taint %+v\nwant level %v, heap %v, object *%s, reason ~%q", c.fault, tt, c.level, c.heap, c.object, c.reasonPart)
		}
	}
}

// An interrupt in a blocking system call taints the library; one forced
// inside malloc or free taints the process (heap and allocator lock); one
// forced in the program's own loop taints the library.
func TestTaintOfInterrupts(t *testing.T) {
	if err := payload.BlockingSetup(); err != nil {
		t.Fatal(err)
	}
	r := payload.NewResult(0)
	defer payload.Free(r)

	err := guard.Call(payload.ReadPipe, unsafe.Pointer(r), guard.WithTimeout(5*time.Millisecond))
	var ie *guard.InterruptError
	if !errors.As(err, &ie) || !ie.InSyscall {
		t.Fatalf("read: %v", err)
	}
	if tt := ie.Taint; tt.Level != guard.TaintLibrary || tt.HeapSuspect || tt.AllocatorLocked || tt.LibcLocked ||
		!strings.Contains(tt.Reason, "blocking system call") {
		t.Errorf("read: taint %+v", tt)
	}

	err = guard.CallContext(t.Context(), payload.Spin, unsafe.Pointer(r), guard.WithTimeout(2*time.Millisecond), guard.WithGrace(0))
	if !errors.As(err, &ie) || !ie.Forced {
		t.Fatalf("spin: %v", err)
	}
	exe, _ := os.Executable()
	if tt := ie.Taint; tt.Level != guard.TaintLibrary || tt.HeapSuspect || tt.AllocatorLocked || tt.LibcLocked ||
		tt.Object != exe || tt.Function != "pl_spin" {
		t.Errorf("spin: taint %+v", tt)
	}

}

// Forced in an allocate/free loop, the thread is nearly always stopped
// inside malloc or free, which may leave the allocator locked: in a process
// of its own (tests/taintprog), which reports each stop.
// The same holds for a plain cgo call inside guard.Do (taintprog -do): a
// binding that allocates (converting a Go string, say) after its deadline
// passed is stopped there with WithGrace(0).
func TestTaintForcedInAllocator(t *testing.T) {
	bin := buildProgram(t, "./taintprog")
	for _, args := range [][]string{nil, {"-do"}} {
		t.Run(fmt.Sprint("taintprog", args), func(t *testing.T) { checkTaintprog(t, bin, args) })
	}
}

func checkTaintprog(t *testing.T, bin string, args []string) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("taintprog: %v\n%s", err, out)
	}
	inAlloc := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		kv := map[string]string{}
		for _, w := range f[1:] {
			if k, v, ok := strings.Cut(w, "="); ok {
				kv[k] = v
			}
		}
		switch {
		case f[0] == "stop" && kv["forced"] != "1":
			t.Errorf("not forced: %s", line)
		case f[0] == "stop" && kv["alloc"] == "1":
			inAlloc++
			if kv["level"] != "process" || kv["heap"] != "1" || kv["locked"] != "1" {
				t.Errorf("stop inside the allocator not tainting the process: %s", line)
			}
		case f[0] == "stop" && kv["fn"] == "pl_malloc_spin":
			if kv["level"] != "library" || kv["heap"] != "0" || kv["locked"] != "0" {
				t.Errorf("stop in the loop itself: %s", line)
			}
		case f[0] == "stop":
			// Elsewhere in the C library: its internal locks.
			if kv["level"] != "process" {
				t.Errorf("stop in the C library: %s", line)
			}
		case f[0] == "next":
			// Left locked: the next malloc waits in a futex, interrupted
			// there, still inside the allocator.
			if kv["insyscall"] == "1" && kv["level"] != "process" {
				t.Errorf("lock wait inside the allocator not tainting the process: %s", line)
			}
			t.Logf("after the stop in the allocator: %s", line)
		default:
			t.Errorf("unexpected line %q", line)
		}
	}
	if inAlloc != 1 {
		t.Fatalf("%d stops inside the allocator, want 1:\n%s", inAlloc, out)
	}
}

func TestOnCrashAndStats(t *testing.T) {
	f := faultNamed(t, "null_write")
	var seen []*guard.CrashError
	remove := guard.OnCrash(func(e *guard.CrashError) { seen = append(seen, e) })
	var interrupts []*guard.InterruptError
	removeI := guard.OnInterrupt(func(e *guard.InterruptError) { interrupts = append(interrupts, e) })
	before := guard.ReadStats()

	var returned []error
	for i := 0; i < 3; i++ {
		returned = append(returned, guard.Call(f.Fn, nil))
	}
	if len(seen) != 3 {
		t.Fatalf("hook ran %d times for 3 faults", len(seen))
	}
	for i, e := range seen {
		var ce *guard.CrashError
		if !errors.As(returned[i], &ce) || ce != e {
			t.Errorf("hook %d got %p, call returned %v", i, e, returned[i])
		}
	}
	// Interrupts, retried: the hook sees every attempt.
	if err := payload.BlockingSetup(); err != nil {
		t.Fatal(err)
	}
	r := payload.NewResult(0)
	defer payload.Free(r)
	err := guard.CallContext(t.Context(), payload.ReadPipe, unsafe.Pointer(r), guard.WithTimeout(2*time.Millisecond), guard.WithRetries(1))
	if !errors.Is(err, guard.ErrTimeout) || len(interrupts) != 2 || interrupts[1].Attempts != 2 {
		t.Errorf("interrupt hook: %d calls, err %v", len(interrupts), err)
	}

	s := guard.ReadStats()
	if s.Crashes-before.Crashes != 3 || s.Interrupts-before.Interrupts != 2 {
		t.Errorf("stats before %+v\nafter %+v", before, s)
	}
	if s.LastTaint.Level != guard.TaintLibrary || !strings.Contains(s.LastTaint.Reason, "system call") || s.LastTime.IsZero() {
		t.Errorf("last taint %+v at %v", s.LastTaint, s.LastTime)
	}

	remove()
	removeI()
	guard.Call(f.Fn, nil)
	if len(seen) != 3 {
		t.Error("removed hook still runs")
	}
	remove() // twice is harmless

	// A process-level taint is counted.
	bad := faultNamed(t, "bad_free")
	payload.QuietStderr(true)
	guard.Call(bad.Fn, nil)
	payload.QuietStderr(false)
	if s2 := guard.ReadStats(); s2.ProcessTaints != s.ProcessTaints+1 || s2.LastTaint.Level != guard.TaintProcess {
		t.Errorf("process taint not counted: %+v", s2)
	}
}

// The %+v report has every part the issue asks for.
func TestCrashReport(t *testing.T) {
	if !haveSymbols(t) {
		t.Skip("test binary has no symbols")
	}
	f := faultNamed(t, "null_write")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := guard.Call(f.Fn, nil)
	report := fmt.Sprintf("%+v", err)
	for _, want := range []string{
		err.Error(),
		"signal:  SIGSEGV (11), code SEGV_MAPERR (1), address 0x",
		fmt.Sprintf("thread:  %d, guard depth 1, at ", syscall.Gettid()),
		"taint:   library: fault in C code",
		"object:  ",
		"rip 0x",
		"C frames (innermost first):\n  0x",
		"pl_null_write",
		"faults.c:",
		"Go stack of the caller:\n  github.com/cgoguard/cgoguard/tests.TestCrashReport\n      ",
		"taint_test.go:",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "guard.Call") || strings.Contains(report, "reportFromPool") {
		t.Errorf("report's Go stack starts inside the guard package:\n%s", report)
	}
}
