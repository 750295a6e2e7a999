//go:build linux && amd64 && cgo

package guard

import (
	"runtime"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard/internal/cgoboundary"
)

// Regions are found by g's address at a 256-byte grain: two live
// goroutines must never share a grain (a g is larger than that).
func TestLiveGoroutinesHaveDistinctGrains(t *testing.T) {
	const n = 5000
	gs := make(chan uintptr, n)
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() {
			gs <- cgoboundary.G()
			<-release
		}()
	}
	seen := make(map[uintptr]bool, n)
	for i := 0; i < n; i++ {
		grain := <-gs >> grainShift
		if seen[grain] {
			t.Fatalf("two live goroutines in grain %#x", grain<<grainShift)
		}
		seen[grain] = true
	}
	close(release)
}

// The call site is found at run time, from inside a real cgo call, and is
// the one the instructions say: in runtime.asmcgocall, right after its call
// of the landing pad. Addresses next to it are refused.
func TestBoundaryCallSiteFoundAtRunTime(t *testing.T) {
	ret := boundaryCallSite()
	if f := runtime.FuncForPC(ret); f == nil || f.Name() != "runtime.asmcgocall" {
		t.Fatalf("call site %#x is not in runtime.asmcgocall (%v)", ret, f)
	}
	l, err := cgoboundary.Check(ret)
	if err != nil {
		t.Fatal(err)
	}
	if l.Ret != ret || l.OffSyscallSP != 104 || l.OffNoCallback <= l.OffSyscallSP {
		t.Fatalf("layout %+v for call site %#x", l, ret)
	}
	for _, pc := range []uintptr{ret - 5, ret - 1, ret + 1, ret + 5} {
		if _, err := cgoboundary.Check(pc); err == nil {
			t.Errorf("Check(%#x), %d bytes from the call site, accepted", pc, int(pc)-int(ret))
		}
	}
	// Another goroutine's cgo call returns to the same place.
	other := make(chan uintptr, 1)
	go func() { other <- boundaryCallSite() }()
	select {
	case o := <-other:
		if o != ret {
			t.Fatalf("another goroutine's call site %#x, this one's %#x", o, ret)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer from the other goroutine in 10s")
	}
}
