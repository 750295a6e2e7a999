//go:build !amd64

package cgoboundary

import (
	"errors"
	"unsafe"
)

// Layout is what a handler needs to know about the runtime's cgo boundary.
type Layout struct{ Ret, OffSyscallSP, OffNoCallback uintptr }

// ErrUnknownRuntime says that the runtime's cgo boundary is not known here.
var ErrUnknownRuntime = errors.New("the Go runtime's cgo boundary is only known on amd64")

// G returns 0: no boundary is known on this architecture.
func G() uintptr { return 0 }

// Check reports ErrUnknownRuntime.
func Check(ret uintptr) (Layout, error) { return Layout{}, ErrUnknownRuntime }

// ThreadPointer returns nil: not known on this architecture.
func ThreadPointer() unsafe.Pointer { return nil }

// ReadTSC returns 0: not known on this architecture.
func ReadTSC() uint64 { return 0 }

// TLSGOffset returns 0: not known on this architecture.
func TLSGOffset() uintptr { return 0 }
