//go:build linux && amd64 && cgo

package guard

import (
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

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

// Go's region lookup (regionOf, on Do's path) and C's (cg_region_of, the
// handler's) must find the same entry for every g, and see the same
// fields in it.
func TestRegionFoundAlikeFromGoAndC(t *testing.T) {
	if err := initRegions(); err != nil {
		t.Fatal(err)
	}
	for key := uintptr(1); key < 1<<20; key = key*3 + 1 {
		if h, hc := chunkHash(key), chunkHashC(key); h != hc {
			t.Fatalf("chunk hash of %#x: Go %d, C %d", key, h, hc)
		}
	}
	// Goroutines inside Do, each with its own frame count.
	const n = 64
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		go func() {
			var msg string
			err := Do(func() {
				g := cgoboundary.G()
				e := regionOf(g)
				depth, frames, unwinding, p, ok := regionFieldsC(g)
				switch {
				case e == nil || !ok || unsafe.Pointer(e) != p:
					msg = fmt.Sprintf("g %#x: Go finds %p, C %p", g, e, p)
				case depth != 1 || frames != int32(i) || unwinding != 0 ||
					e.depth != depth || e.maxFrames != frames || e.unwinding != unwinding:
					msg = fmt.Sprintf("g %#x: Go sees %+v, C depth %d max_frames %d unwinding %d (want 1 %d 0)",
						g, *e, depth, frames, unwinding, i)
				}
			}, WithMaxFrames(i))
			if err != nil {
				msg = err.Error()
			}
			errs <- msg
		}()
	}
	for i := 0; i < n; i++ {
		if msg := <-errs; msg != "" {
			t.Error(msg)
		}
	}
	// Any address: in a chunk with entries or not, in any grain.
	g := cgoboundary.G()
	for _, a := range []uintptr{g, g + 1<<grainShift, g &^ (1<<chunkShift - 1), g | (1<<chunkShift - 1),
		g + 1<<chunkShift, g + 1<<40, 1 << 30, 0} {
		_, _, _, p, _ := regionFieldsC(a)
		if e := regionOf(a); unsafe.Pointer(e) != p {
			t.Errorf("address %#x: Go finds %p, C %p", a, e, p)
		}
	}
}
