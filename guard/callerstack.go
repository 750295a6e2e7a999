package guard

import (
	"runtime"
	"strings"
	"sync/atomic"
)

// callerStack returns the calling goroutine's stack, from the first frame
// outside this package outward. Under Do it is called in the cgo callback
// that turns a fault into a panic: the callback's own frames
// (runtime.cgocallback*, the export wrapper) are skipped too, so the stack
// starts at the cgo call that faulted (runtime.cgocall). On the fault path: which PCs belong to this
// package is remembered (pkgPCs), so a repeated fault site costs no
// function lookup; one allocation.
func callerStack() []uintptr {
	var buf [64]uintptr
	pcs := buf[:runtime.Callers(3, buf[:])]
	for len(pcs) > 0 && inPackage(pcs[0]) {
		pcs = pcs[1:]
	}
	return append([]uintptr(nil), pcs...)
}

// pkgPCs caches inPackage's verdicts: entry pc<<1 | verdict, direct-mapped.
var pkgPCs [256]atomic.Uintptr

// inPackage reports whether the return address pc is in a function of this
// package (or of the runtime's cgo callback path). The call is the instruction before it; a function of this
// package inlined into the caller's code counts as the caller's.
func inPackage(pc uintptr) bool {
	e := &pkgPCs[(pc^pc>>8)%uintptr(len(pkgPCs))]
	if v := e.Load(); v>>1 == pc {
		return v&1 != 0
	}
	f := runtime.FuncForPC(pc - 1)
	in := f != nil && (strings.HasPrefix(f.Name(), packagePath+".") ||
		strings.HasPrefix(f.Name(), "runtime.cgocallback") || strings.HasPrefix(f.Name(), "_cgoexp_"))
	v := pc << 1
	if in {
		v |= 1
	}
	e.Store(v)
	return in
}

const packagePath = "github.com/cgoguard/cgoguard/guard"
