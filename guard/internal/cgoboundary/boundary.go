//go:build amd64

// Package cgoboundary reports how the Go runtime enters C code on
// linux/amd64, for a signal handler that turns a fault in C into a Go panic
// on the goroutine that made the cgo call.
//
// runtime.asmcgocall, on its user-goroutine path, switches to the thread's
// system stack and calls the C function with the goroutine's stack depth at
// 0(SP) and its g at 8(SP); the C function finds its return address at slot
// S, the depth at S+8 and g at S+16. Layout finds that return address in the
// runtime's machine code and checks the instructions around it, so that a
// runtime laid out differently is refused instead of being corrupted.
//
// This package has no cgo so that it can hold Go assembly.
package cgoboundary

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"
)

// G returns the calling goroutine's g pointer: a key, never dereferenced
// by Go code.
func G() uintptr

// ThreadPointer returns the calling thread's thread pointer (the %fs base
// the C library set up): with it, Go code reaches the thread's
// initial-exec C thread-locals, which lie at fixed offsets from it. The
// goroutine must be locked to its thread for the result to stay its own.
func ThreadPointer() unsafe.Pointer

// ReadTSC returns the CPU's time-stamp counter (RDTSC), the clock the C
// core keeps deadlines in once it has calibrated it.
func ReadTSC() uint64

func asmcgocallCode() (fn, landingpad unsafe.Pointer)

// gPointer is G as a pointer, to read the runtime's g.
func gPointer() unsafe.Pointer

// Layout is what a handler needs to know about the runtime's cgo boundary.
type Layout struct {
	// Ret is the return address of asmcgocall's call on the user-goroutine
	// path: the word at slot S.
	Ret uintptr
	// OffSyscallSP is the offset of g.syscallsp, non-zero while the
	// goroutine is inside runtime.cgocall (entersyscall sets it); the
	// runtime's own uses of asmcgocall leave it zero.
	OffSyscallSP uintptr
	// OffNoCallback is the offset of g.nocgocallback, set during a call
	// of a function marked #cgo nocallback: the runtime then refuses any
	// callback, so such a call must not be converted.
	OffNoCallback uintptr
}

// ErrUnknownRuntime says that the runtime's cgo boundary does not look as
// this package expects.
var ErrUnknownRuntime = errors.New("the Go runtime's cgo boundary is not laid out as expected (asmcgocall changed)")

// The user-g path of asmcgocall (Go 1.25 and 1.26), around the call:
//
//	MOVQ DI, 0(SP)                        48 89 3c 24
//	CALL runtime·asmcgocall_landingpad    e8 rel32
//	MOVQ 8(SP), DI                        48 8b 7c 24 08
//	MOVQ (g_stack+stack_hi)(DI), SI       48 8b 77 08
//	SUBQ 0(SP), SI                        48 2b 34 24
//
// and before it MOVQ DI, 8(SP) (48 89 7c 24 08) saves g. The other call
// site (no user g) stores 0 at 8(SP) and reloads SP alone.
var (
	beforeCall = []byte{0x48, 0x89, 0x3c, 0x24, 0xe8}
	afterCall  = []byte{0x48, 0x8b, 0x7c, 0x24, 0x08, 0x48, 0x8b, 0x77, 0x08, 0x48, 0x2b, 0x34, 0x24}
	saveG      = []byte{0x48, 0x89, 0x7c, 0x24, 0x08}
)

// g's fields up to syscallsp, the same in Go 1.25 and 1.26: stack (lo, hi),
// stackguard0, stackguard1, _panic, _defer, m, sched (a gobuf of six
// words), syscallsp. Checked from inside a real cgo call by the caller.
const offSyscallSP = 2*8 + 5*8 + 6*8

// codeWindow is how far into asmcgocall the call site is looked for.
const codeWindow = 256

// Find locates the boundary in this runtime. cgoNoCallbackOffset finds
// g.nocgocallback by setting it through the runtime and seeing which byte
// changes.
func Find() (Layout, error) {
	fnp, padp := asmcgocallCode()
	ret, err := callSite(unsafe.Slice((*byte)(fnp), codeWindow), uintptr(fnp), uintptr(padp))
	if err != nil {
		return Layout{}, err
	}
	off, err := cgoNoCallbackOffset()
	if err != nil {
		return Layout{}, err
	}
	return Layout{Ret: ret, OffSyscallSP: offSyscallSP, OffNoCallback: off}, nil
}

// callSite finds, in code (asmcgocall's first bytes, at address fn), the
// one call of the landing pad at pad on the user-g path, and returns its
// return address.
func callSite(code []byte, fn, pad uintptr) (uintptr, error) {
	var ret uintptr
	found := 0
	for i := 0; i+len(beforeCall)+4+len(afterCall) <= len(code); i++ {
		if !bytes.Equal(code[i:i+len(beforeCall)], beforeCall) {
			continue
		}
		at := i + len(beforeCall)
		rel := int32(uint32(code[at]) | uint32(code[at+1])<<8 | uint32(code[at+2])<<16 | uint32(code[at+3])<<24)
		next := fn + uintptr(at+4)
		if next+uintptr(int64(rel)) != pad || !bytes.Equal(code[at+4:at+4+len(afterCall)], afterCall) {
			continue
		}
		if !bytes.Contains(code[:i], saveG) {
			continue
		}
		ret = next
		found++
	}
	if found != 1 {
		return 0, fmt.Errorf("%w: %d matching call sites", ErrUnknownRuntime, found)
	}
	return ret, nil
}
