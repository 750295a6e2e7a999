//go:build amd64

package cgoboundary

import (
	"fmt"
	"unsafe"
)

// cgoNoCallback is what cgo's generated code calls around a call of a
// function marked #cgo nocallback: it sets the calling goroutine's
// g.nocgocallback.
//
// Allowed: the runtime pushes it for cgo (runtime/linkname.go, Go 1.25 to
// 1.27).
//
//go:linkname cgoNoCallback runtime.cgoNoCallback
func cgoNoCallback(v bool)

// Where g.nocgocallback may lie: after syscallsp, within g's first 256
// bytes (it sits at 189 in Go 1.25, 1.26 and 1.27; g is larger than 256 bytes,
// so the scan stays inside the object).
const (
	scanFrom = offSyscallSP + 8
	scanTo   = 256
)

// cgoNoCallbackOffset sets and clears g.nocgocallback on the calling
// goroutine and returns the offset of the one byte that followed.
func cgoNoCallbackOffset() (uintptr, error) {
	g := unsafe.Slice((*byte)(gPointer()), scanTo)
	var before, set, after [scanTo]byte
	copy(before[:], g)
	cgoNoCallback(true)
	copy(set[:], g)
	cgoNoCallback(false)
	copy(after[:], g)
	off, n := uintptr(0), 0
	for i := scanFrom; i < scanTo; i++ {
		if before[i] == 0 && set[i] == 1 && after[i] == 0 {
			off = uintptr(i)
			n++
		}
	}
	if n != 1 {
		return 0, fmt.Errorf("%w: g.nocgocallback not found (%d candidates)", ErrUnknownRuntime, n)
	}
	return off, nil
}
