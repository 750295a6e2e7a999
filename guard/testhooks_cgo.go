//go:build linux && amd64 && cgo

package guard

/*
#include "../csrc/internal.h"
*/
import "C"

import (
	"unsafe"

	"github.com/cgoguard/cgoguard/guard/internal/cgoboundary"
)

// Test hooks: what the package's tests need from C (a _test.go file cannot
// use cgo).

// threadSlots returns the calling thread's deadline slot as Go code
// reaches it (through the thread pointer) and as C sees it, for a test.
// The caller locks the goroutine to its thread.
func threadSlots() (goView, cView unsafe.Pointer) {
	return *(*unsafe.Pointer)(unsafe.Add(cgoboundary.ThreadPointer(), slotTLSOffset)),
		unsafe.Pointer(C.cgoguard_thread_slot())
}
