package tests

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// repeat is how many times each fault class is recovered in a row.
const repeat = 10000

// checkCrash asserts err is the CrashError f describes.
func checkCrash(t testing.TB, f payload.Fault, err error, wantFrames bool) *guard.CrashError {
	t.Helper()
	if !errors.Is(err, guard.ErrCrash) {
		t.Fatalf("%s: got %v, want a crash", f.Name, err)
	}
	var ce *guard.CrashError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: %T is not a *CrashError", f.Name, err)
	}
	if ce.Signal != f.Signal {
		t.Fatalf("%s: signal %v, want %v (%v)", f.Name, ce.Signal, f.Signal, err)
	}
	if f.Code != 0 && ce.Code != f.Code {
		t.Fatalf("%s: code %d (%s), want %d (%v)", f.Name, ce.Code, ce.CodeName(), f.Code, err)
	}
	if ce.PC == 0 {
		t.Fatalf("%s: no PC", f.Name)
	}
	if wantFrames && !hasFunction(ce.Frames, f.Function) {
		t.Fatalf("%s: %s not among the frames:\n%+v", f.Name, f.Function, ce)
	}
	return ce
}

func hasFunction(frames []runtime.Frame, fn string) bool {
	for _, fr := range frames {
		if fr.Function == fn {
			return true
		}
	}
	return false
}

func setup(t testing.TB, f payload.Fault) {
	t.Helper()
	if f.Setup != nil {
		if err := f.Setup(); err != nil {
			t.Fatalf("%s setup: %v", f.Name, err)
		}
	}
}

func healthyCall(t testing.TB, in int) {
	t.Helper()
	r := payload.NewResult(in)
	defer payload.Free(r)
	if err := guard.Call(payload.Healthy, unsafe.Pointer(r)); err != nil {
		t.Fatalf("healthy call: %v", err)
	}
	if r.Out() != 2*in+1 {
		t.Fatalf("healthy call: out %d, want %d", r.Out(), 2*in+1)
	}
}

// TestFaultClasses recovers every fault class many times in a row on one
// goroutine, checking each error, then makes a healthy call.
func TestFaultClasses(t *testing.T) {
	for _, f := range payload.Faults() {
		t.Run(f.Name, func(t *testing.T) {
			setup(t, f)
			n := repeat
			if testing.Short() {
				n = 100
			}
			if f.Prints {
				payload.QuietStderr(true)
				defer payload.QuietStderr(false)
			}
			r := payload.NewResult(7)
			defer payload.Free(r)
			syms := haveSymbols(t)
			before := guard.ReadStats().Crashes
			for i := 0; i < n; i++ {
				// Symbolize the first and last; the rest record no frames
				// (the symbolizer is not what is under test there).
				opts := []guard.Option{guard.WithMaxFrames(0)}
				full := i == 0 || i == n-1
				if full {
					opts = nil
				}
				err := guard.Call(f.Fn, unsafe.Pointer(r), opts...)
				ce := checkCrash(t, f, err, full && syms)
				if full && !strings.Contains(ce.Error(), ce.CodeName()) {
					t.Fatalf("Error() lacks the code name: %q", ce.Error())
				}
			}
			if got := guard.ReadStats().Crashes - before; got < uint64(n) {
				t.Fatalf("Crashes grew by %d, want at least %d", got, n)
			}
			payload.QuietStderr(false)
			healthyCall(t, 21)
		})
	}
}

func TestCrashErrorText(t *testing.T) {
	err := guard.Call(payload.NullWrite, nil)
	var ce *guard.CrashError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	msg := err.Error()
	wants := []string{"SIGSEGV: segmentation violation", "SEGV_MAPERR", "addr=0x0"}
	if haveSymbols(t) {
		wants = append(wants, "in pl_null_write (", "faults.c:")
	}
	for _, want := range wants {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q, missing %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("Error() is not one line: %q", msg)
	}
	if ce.Signal != syscall.SIGSEGV || ce.Registers.RIP != uint64(ce.PC) || ce.ThreadID == 0 || ce.Depth != 1 || ce.Time.IsZero() {
		t.Errorf("fields not filled: %+v", *ce)
	}
	t.Logf("%+v", ce)
}

// Guarded code that blocks signals and then faults must not leave the
// thread (a Go thread) with them blocked.
func TestSignalMaskRestored(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	healthyCall(t, 1) // prepares this thread
	if payload.SigBlocked(syscall.SIGURG) || payload.SigBlocked(syscall.SIGPROF) {
		t.Fatal("SIGURG/SIGPROF blocked before the test")
	}
	if err := guard.Call(payload.BlockThenFault, nil); !errors.Is(err, guard.ErrCrash) {
		t.Fatalf("got %v", err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGURG, syscall.SIGPROF, syscall.SIGSEGV, syscall.SIGUSR1} {
		if payload.SigBlocked(sig) {
			t.Errorf("%v still blocked after the fault", sig)
		}
	}
}

// The recorded frames run from the fault to the guarded function and stop
// there: cgoguard's own guard point and the frames above it are not the
// caller's business.
func TestFramesEndAtGuardedFunction(t *testing.T) {
	if !haveSymbols(t) {
		t.Skip("needs symbols to name the frames")
	}
	var ce *guard.CrashError
	if err := guard.Call(payload.DeepNullWrite, nil); !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	var got []string
	for _, f := range ce.Frames {
		got = append(got, f.Function)
	}
	if want := []string{"pl_null_write", "pl_deep_middle", "pl_deep_outer"}; !slices.Equal(got, want) {
		t.Errorf("frames %v, want %v", got, want)
	}
	blockingSetup(t)
	ctx := context.Background()
	r := payload.NewResult(0)
	defer payload.Free(r)
	err := guard.CallContext(ctx, payload.ReadPipe, unsafe.Pointer(r), guard.WithTimeout(5*time.Millisecond))
	var ie *guard.InterruptError
	if !errors.As(err, &ie) || len(ie.Frames) == 0 {
		t.Fatalf("got %v", err)
	}
	if last := ie.Frames[len(ie.Frames)-1].Function; last != "pl_block_read_pipe" {
		t.Errorf("interrupted read: outermost frame %q, want pl_block_read_pipe (frames %v)", last, ie.Frames)
	}
}
