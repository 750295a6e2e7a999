//go:build linux && amd64 && cgo

package guard

import "C"

import "github.com/cgoguard/cgoguard/guard/internal/cgoboundary"

// cgoguardUnwindRegion is called back from C by the land function
// (do_land_linux_amd64.c) on the goroutine whose C call faulted or was
// interrupted inside a guard region, with the fault record's pool result.
// It builds the error and panics with it; Do recovers it, unless Go code
// in f recovers it first. The panic leaves the callback through the
// runtime's own unwinding (unwindm), which abandons the C frames.
//
// While the error is built the region takes no fault (the handler set
// unwinding: a fault in the symbolizer's C code must not come back here),
// and a timeout signal is dropped; the handler left a DoContext's deadline
// armed, so that it still holds if f recovers the panic and goes on.
// Then the region is reopened before the panic, so that a fault after a
// recover() in f, or in a deferred call the panic runs, is taken again;
// pending tells the Do at that depth to look for the panic, and the error
// waits there for that Do to close, which gives it to the hooks.
//
//export cgoguardUnwindRegion
func cgoguardUnwindRegion(r int64) {
	g := cgoboundary.G()
	err := regionError(g, r)
	e := regionOf(g)
	d := e.unwinding
	// Observed (an interrupt completed with its context first) by the Do
	// at depth d when it closes, whoever recovers it: not here, where a
	// DoContext's deadline is still armed and would cut a hook short.
	setPending(g, d, err)
	e.pending = d
	e.unwinding = 0
	panic(err)
}
