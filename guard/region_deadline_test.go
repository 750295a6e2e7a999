//go:build linux && amd64 && cgo

package guard

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard/internal/cgoboundary"
)

// A fault converted to a panic inside DoContext leaves the thread's
// deadline slot as DoContext armed it: the same call (gen), the same
// absolute deadline, the same goroutine, whether f recovers the panic
// itself or an inner Do returns it. DoContext's return disarms it.
func TestRegionDeadlineKeptAcrossFault(t *testing.T) {
	if err := initRegions(); err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread() // the slot read after DoContext is the one it armed
	defer runtime.UnlockOSThread()
	g := cgoboundary.G()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var armed, afterRecover, afterInner slotView
	var recovered any
	var inner error
	err := DoContext(ctx, func() {
		armed = threadSlotView()
		recovered = func() (v any) {
			defer func() { v = recover() }()
			testNullWrite()
			return nil
		}()
		afterRecover = threadSlotView()
		inner = Do(testNullWrite)
		afterInner = threadSlotView()
	}, WithTimeout(time.Hour))
	if err != nil {
		t.Fatalf("DoContext: %v, want nil (f recovered its fault)", err)
	}
	if _, ok := recovered.(*CrashError); !ok {
		t.Fatalf("f recovered %v, want a *CrashError", recovered)
	}
	if !errors.Is(inner, ErrCrash) {
		t.Fatalf("inner Do: %v, want a CrashError", inner)
	}
	if armed.deadline == 0 || armed.deadline == dlNone || armed.regionG != g || armed.armedDepth != 0 {
		t.Fatalf("armed: deadline %#x region_g %#x (g %#x) armed_depth %d", armed.deadline, armed.regionG, g, armed.armedDepth)
	}
	for _, v := range []struct {
		when string
		v    slotView
	}{{"after f recovered a fault", afterRecover}, {"after an inner Do returned a fault", afterInner}} {
		if v.v.deadline != armed.deadline || v.v.gen != armed.gen || v.v.regionG != g || v.v.armedDepth != 0 ||
			v.v.lazyAt != armed.lazyAt || v.v.ctx != armed.ctx {
			t.Errorf("%s: deadline %#x gen %d region_g %#x lazy_at %#x; armed: deadline %#x gen %d lazy_at %#x",
				v.when, v.v.deadline, v.v.gen, v.v.regionG, v.v.lazyAt, armed.deadline, armed.gen, armed.lazyAt)
		}
	}
	if after := threadSlotView(); after.deadline != 0 || after.regionG != 0 {
		t.Errorf("after DoContext returned: deadline %#x region_g %#x, want 0", after.deadline, after.regionG)
	}
	// A fault that DoContext itself recovers: disarmed on return too.
	if err := DoContext(ctx, testNullWrite, WithTimeout(time.Hour)); !errors.Is(err, ErrCrash) {
		t.Fatalf("DoContext: %v, want a CrashError", err)
	}
	if after := threadSlotView(); after.deadline != 0 || after.regionG != 0 {
		t.Errorf("after DoContext returned a fault: deadline %#x region_g %#x, want 0", after.deadline, after.regionG)
	}
}
