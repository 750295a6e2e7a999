//go:build linux && amd64 && cgo

package guard

import "C"

import "github.com/cgoguard/cgoguard/guard/internal/cgoboundary"

// cgoguardUnwindRegion is called back from C by the land function
// (do_land_linux_amd64.c) on the goroutine whose C call faulted or was
// interrupted inside a guard region, with the fault record's pool result.
// It builds the error and panics with it; Do recovers it. The panic leaves
// the callback through the runtime's own unwinding (unwindm), which
// abandons the C frames.
//
//export cgoguardUnwindRegion
func cgoguardUnwindRegion(r int64) {
	panic(regionError(cgoboundary.G(), r))
}
