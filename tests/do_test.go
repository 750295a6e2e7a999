package tests

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/internal/testwait"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// Every fault class, reached through a plain cgo call (no guard.Call)
// inside Do, comes back as the CrashError Call would give.
func TestDoFaultMatrix(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 20
	}
	for _, f := range payload.Faults() {
		t.Run(f.Name, func(t *testing.T) {
			setup(t, f)
			if f.Prints {
				payload.QuietStderr(true)
				defer payload.QuietStderr(false)
			}
			r := payload.NewResult(1)
			defer payload.Free(r)
			for i := 0; i < n; i++ {
				ran := false
				err := guard.Do(func() {
					payload.RawCall(f.Fn, unsafe.Pointer(r))
					ran = true
				})
				if ran {
					t.Fatalf("%s: code after the faulting cgo call ran", f.Name)
				}
				ce := checkCrash(t, f, err, i == 0)
				if ce.Depth != 1 {
					t.Fatalf("depth %d, want 1", ce.Depth)
				}
			}
			if err := guard.Do(func() { payload.RawCall(payload.Healthy, unsafe.Pointer(r)) }); err != nil || r.Out() != 3 {
				t.Fatalf("healthy call after faults: %v, out %d", err, r.Out())
			}
		})
	}
}

func TestDoGoPanicPropagates(t *testing.T) {
	defer func() {
		if v := recover(); v != "boom" {
			t.Fatalf("recovered %v, want boom", v)
		}
	}()
	_ = guard.Do(func() { panic("boom") })
	t.Fatal("Do returned after a Go panic")
}

func TestDoNil(t *testing.T) {
	if err := guard.Do(nil); !errors.Is(err, guard.ErrNilFunction) {
		t.Fatalf("Do(nil): %v", err)
	}
}

// Do inside Do: the inner one takes the fault, the outer goes on; the
// error reports the depth the fault was taken at.
func TestDoNested(t *testing.T) {
	for i := 0; i < 200; i++ {
		var inner error
		after := false
		err := guard.Do(func() {
			inner = guard.Do(func() { payload.RawCall(payload.NullWrite, nil) })
			after = true
		})
		if err != nil || !after {
			t.Fatalf("outer Do: %v (carried on: %v)", err, after)
		}
		var ce *guard.CrashError
		if !errors.As(inner, &ce) || ce.Depth != 2 {
			t.Fatalf("inner Do: %v, want a crash at depth 2", inner)
		}
	}
	// The outer one takes a fault after the inner one returned.
	err := guard.Do(func() {
		_ = guard.Do(func() {})
		payload.RawCall(payload.NullWrite, nil)
	})
	var ce *guard.CrashError
	if !errors.As(err, &ce) || ce.Depth != 1 {
		t.Fatalf("outer fault: %v, want a crash at depth 1", err)
	}
}

// Call inside Do: Call's guard is the innermost and takes the fault; f
// goes on.
func TestCallInsideDo(t *testing.T) {
	var inner error
	after := false
	err := guard.Do(func() {
		inner = guard.Call(payload.NullWrite, nil)
		after = true
		payload.RawCall(payload.Abort, nil)
	})
	if !errors.Is(inner, guard.ErrCrash) || !after {
		t.Fatalf("Call inside Do: %v (carried on: %v)", inner, after)
	}
	var ce *guard.CrashError
	if !errors.As(err, &ce) || ce.Signal != syscall.SIGABRT {
		t.Fatalf("Do after the Call: %v, want SIGABRT", err)
	}
}

// Do inside a Go callback made from C that Call guards: the Do takes the
// fault of its own cgo call; the outer C function returns normally.
func TestDoInsideGoCallbackFromCall(t *testing.T) {
	payload.SetCallback(func(in int) int {
		err := guard.Do(func() { payload.RawCall(payload.NullWrite, nil) })
		if !errors.Is(err, guard.ErrCrash) {
			return -1
		}
		return in + 1000
	})
	defer payload.SetCallback(nil)
	for i := 0; i < 100; i++ {
		r := payload.NewResult(i)
		err := guard.Call(payload.CallGo, unsafe.Pointer(r))
		out, after := r.Out(), r.After()
		payload.Free(r)
		if err != nil || out != i+1000 || after != 1 {
			t.Fatalf("outer call: %v, out %d after %d", err, out, after)
		}
	}
}

// A fault in C called from a Go callback inside a plain cgo call under Do
// is taken at the inner boundary: the panic unwinds the callback, the C
// frames around it and the Go code down to Do.
func TestDoFaultInsideCallback(t *testing.T) {
	deferred := 0
	payload.SetCallback(func(in int) int {
		defer func() { deferred++ }()
		payload.RawCall(payload.NullWrite, nil)
		return in
	})
	defer payload.SetCallback(nil)
	for i := 0; i < 100; i++ {
		after := false
		err := guard.Do(func() {
			payload.RawCallGo(i)
			after = true
		})
		if !errors.Is(err, guard.ErrCrash) || after {
			t.Fatalf("Do: %v (carried on: %v)", err, after)
		}
	}
	if deferred != 100 {
		t.Fatalf("the callback's deferred call ran %d times, want 100", deferred)
	}
	if err := guard.Do(func() { payload.RawCall(payload.Empty, nil) }); err != nil {
		t.Fatal(err)
	}
}

// Deferred calls between Do and the fault run; a recover in f sees the
// *CrashError and Do then returns nil.
func TestDoUnwindsGoFrames(t *testing.T) {
	var order []string
	err := guard.Do(func() {
		defer func() { order = append(order, "f") }()
		func() {
			defer func() { order = append(order, "inner") }()
			payload.RawCall(payload.NullWrite, nil)
		}()
	})
	if !errors.Is(err, guard.ErrCrash) || len(order) != 2 || order[0] != "inner" || order[1] != "f" {
		t.Fatalf("err %v, deferred calls %v", err, order)
	}
	var got any
	err = guard.Do(func() {
		defer func() { got = recover() }()
		payload.RawCall(payload.NullWrite, nil)
	})
	if err != nil {
		t.Fatalf("Do after f recovered its fault: %v", err)
	}
	if ce, ok := got.(*guard.CrashError); !ok || ce.Signal != syscall.SIGSEGV {
		t.Fatalf("f recovered %T %v, want the *CrashError", got, got)
	}
	// And the region is closed: the next Do is at depth 1.
	err = guard.Do(func() { payload.RawCall(payload.NullWrite, nil) })
	var ce *guard.CrashError
	if !errors.As(err, &ce) || ce.Depth != 1 {
		t.Fatalf("next Do: %v", err)
	}
}

// Go's own runtime errors and runtime.Goexit inside f behave as without Do.
func TestDoGoRuntimeErrorAndGoexit(t *testing.T) {
	func() {
		defer func() {
			re, ok := recover().(runtime.Error)
			if !ok || !strings.Contains(re.Error(), "nil pointer dereference") {
				t.Fatalf("recovered %v, want a nil pointer runtime.Error", re)
			}
		}()
		var p *int
		_ = guard.Do(func() { *p = 1 })
		t.Fatal("Do returned")
	}()
	done := make(chan bool)
	go func() {
		defer func() { done <- true }()
		_ = guard.Do(func() { runtime.Goexit() })
		done <- false
	}()
	if !<-done {
		t.Fatal("Goexit in f did not end the goroutine")
	}
	if err := guard.Do(func() { payload.RawCall(payload.Empty, nil) }); err != nil {
		t.Fatal(err)
	}
}

// Many goroutines fault inside Do at once, with GC running often.
func TestDoConcurrentFaults(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	per := 400 // a quarter of them overflow the 8 MiB stack: about 8 ms each
	if testing.Short() {
		per = 80
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := payload.NewResult(w)
			defer payload.Free(r)
			fns := []unsafe.Pointer{payload.NullWrite, payload.Abort, payload.StackOverflw, payload.Healthy}
			for i := 0; i < per; i++ {
				fn := fns[(w+i)%len(fns)]
				keep := make([]byte, 64) // Go allocation inside f, live across the fault
				err := guard.Do(func() {
					keep[0] = 1
					payload.RawCall(fn, unsafe.Pointer(r))
				}, guard.WithMaxFrames(4))
				if (fn == payload.Healthy) != (err == nil) || (err != nil && !errors.Is(err, guard.ErrCrash)) {
					errs <- fmt.Errorf("worker %d call %d: %v", w, i, err)
					return
				}
			}
		}(w)
	}
	testwait.AwaitGroup(t, &wg, 2*time.Minute, "the test's goroutines")
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDoBadOptions(t *testing.T) {
	f := func() {}
	for _, o := range []guard.Option{guard.WithRetries(1), guard.WithMaxFrames(-1), guard.WithTimeout(-1)} {
		if err := guard.Do(f, o); err == nil {
			t.Errorf("Do with a bad option returned nil")
		}
	}
	if err := guard.DoContext(nil, f); err == nil { //nolint:staticcheck // a nil context is a bad input
		t.Error("DoContext(nil) returned nil")
	}
}

// A C fault outside any Do kills the process as Go would without cgoguard,
// after Do has recovered faults, and also while another goroutine is
// inside Do; and so does a fault inside Do in a #cgo nocallback call,
// which the runtime would not let Do unwind.
func TestDoLeavesOtherFaultsFatal(t *testing.T) {
	bins := crashprog(t)
	for _, mode := range []string{"do-unguarded", "do-other-goroutine", "do-nocallback"} {
		out, ws := runChild(t, childEnv(""), bins.std, mode)
		wantExit2(t, mode, ws, out)
		wantContains(t, mode, out, "Do faults recovered", "SIGSEGV: segmentation violation",
			"signal arrived during cgo execution", "pl_null_write")
		if strings.Contains(out, "survived") || strings.Contains(out, "panic:") {
			t.Errorf("%s: not killed by Go's fatal signal path:\n%s", mode, out)
		}
	}
}

// WithDumpDir applies to faults inside Do: the dump is written there.
func TestDoDumpDir(t *testing.T) {
	dir := t.TempDir()
	err := guard.Do(func() { payload.RawCall(payload.NullWrite, nil) }, guard.WithDumpDir(dir))
	var ce *guard.CrashError
	if !errors.As(err, &ce) || ce.DumpErr != nil || !strings.HasPrefix(ce.DumpPath, dir+"/") {
		t.Fatalf("got %v, dump %q (%v), want a dump in %s", err, ce.DumpPath, ce.DumpErr, dir)
	}
	// And not to a Do without it, nor after it.
	err = guard.Do(func() { payload.RawCall(payload.NullWrite, nil) })
	if !errors.As(err, &ce) || ce.DumpPath != "" {
		t.Fatalf("Do without WithDumpDir wrote %q", ce.DumpPath)
	}
}

// A fault's GoStack under Do is the faulting goroutine's stack from the
// cgo call that faulted: the Go function that made it, f, Do's caller;
// nothing of the callback that turned the fault into a panic.
func TestDoGoStack(t *testing.T) {
	err := guard.Do(func() { payload.RawCall(payload.NullWrite, nil) })
	var ce *guard.CrashError
	if !errors.As(err, &ce) {
		t.Fatal(err)
	}
	var names []string
	frames := runtime.CallersFrames(ce.GoStack)
	for {
		f, more := frames.Next()
		names = append(names, f.Function)
		if !more {
			break
		}
	}
	joined := strings.Join(names, "\n")
	if strings.Contains(joined, "cgocallback") || strings.Contains(joined, "cgoguardUnwindRegion") ||
		!strings.Contains(joined, "payload.RawCall") || !strings.Contains(joined, "tests.TestDoGoStack") {
		t.Fatalf("GoStack:\n%s", joined)
	}
	t.Logf("GoStack:\n%s", joined)
}
