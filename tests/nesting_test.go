package tests

import (
	"errors"
	"syscall"
	"testing"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/internal/payload"
)

// C result codes (include/cgoguard.h).
const (
	cgoguardFault  = 1
	cgoguardEDepth = -2
)

// A guarded C function opens an inner guard (C API) around a faulting call:
// the inner guard catches it, the outer function carries on.
func TestNestedGuardCAPI(t *testing.T) {
	for i := 0; i < 1000; i++ {
		r := payload.NewResult(0)
		err := guard.Call(payload.NestedOuter, unsafe.Pointer(r))
		inner, after := r.Inner(), r.After()
		payload.Free(r)
		if err != nil {
			t.Fatalf("outer call: %v", err)
		}
		if want := int(syscall.SIGSEGV)*100 + 2; inner != want {
			t.Fatalf("inner guard reported %d, want %d (SIGSEGV at depth 2)", inner, want)
		}
		if after != 1 {
			t.Fatalf("depth after the inner fault = %d, want 1", after)
		}
	}
}

// Nesting past the limit is refused with an error, not a crash.
func TestNestingLimit(t *testing.T) {
	r := payload.NewResult(0)
	defer payload.Free(r)
	if err := guard.Call(payload.NestDeep, unsafe.Pointer(r)); err != nil {
		t.Fatalf("outer call: %v", err)
	}
	if r.DepthReached() != guard.MaxDepth {
		t.Errorf("deepest guard = %d, want %d", r.DepthReached(), guard.MaxDepth)
	}
	if r.Inner() != cgoguardEDepth {
		t.Errorf("refusal code = %d, want CGOGUARD_EDEPTH (%d)", r.Inner(), cgoguardEDepth)
	}
	healthyCall(t, 3)
}

// guard.Call inside a Go callback made from guarded C: the inner guard
// catches the inner fault, the outer C function returns normally.
func TestGuardInsideGoCallback(t *testing.T) {
	payload.SetCallback(func(in int) int {
		err := guard.Call(payload.NullWrite, nil)
		if !errors.Is(err, guard.ErrCrash) {
			return -1
		}
		var ce *guard.CrashError
		errors.As(err, &ce)
		return in*10 + ce.Depth
	})
	defer payload.SetCallback(nil)
	for i := 0; i < 200; i++ {
		r := payload.NewResult(i)
		err := guard.Call(payload.CallGo, unsafe.Pointer(r))
		out, after := r.Out(), r.After()
		payload.Free(r)
		if err != nil {
			t.Fatalf("outer call: %v", err)
		}
		if out != i*10+2 || after != 1 {
			t.Fatalf("callback result %d (after=%d), want %d (after=1)", out, after, i*10+2)
		}
	}
}

// A Go panic inside a Go callback made from guarded C, recovered in the
// callback, leaves the guard intact.
func TestGoPanicInsideGoCallback(t *testing.T) {
	payload.SetCallback(func(in int) (out int) {
		defer func() {
			if recover() != nil {
				out = in + 1
			}
		}()
		var p *int
		return *p
	})
	defer payload.SetCallback(nil)
	r := payload.NewResult(41)
	defer payload.Free(r)
	if err := guard.Call(payload.CallGo, unsafe.Pointer(r)); err != nil {
		t.Fatalf("outer call: %v", err)
	}
	if r.Out() != 42 {
		t.Fatalf("callback returned %d, want 42", r.Out())
	}
	// The guard still works on this thread afterwards.
	if err := guard.Call(payload.NullWrite, nil); !errors.Is(err, guard.ErrCrash) {
		t.Fatalf("after the callback: %v", err)
	}
}

// A Go panic that unwinds out of a Go callback through the guarded C frames
// leaves a stale guard record on that thread; the next guard and the next
// fault must not be confused by it.
func TestPanicThroughGuardedC(t *testing.T) {
	payload.SetCallback(func(int) int { panic("through C") })
	defer payload.SetCallback(nil)
	for i := 0; i < 100; i++ {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("panic did not propagate")
				}
			}()
			r := payload.NewResult(0)
			defer payload.Free(r)
			guard.Call(payload.CallGo, unsafe.Pointer(r))
		}()
		if err := guard.Call(payload.NullWrite, nil); !errors.Is(err, guard.ErrCrash) {
			t.Fatalf("after a panic through C: %v", err)
		}
		healthyCall(t, i)
	}
}
