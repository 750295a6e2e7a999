package tests

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
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
