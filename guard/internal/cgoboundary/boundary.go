//go:build amd64

// Package cgoboundary checks how the Go runtime enters C code on
// linux/amd64, for a signal handler that turns a fault in C into a Go panic
// on the goroutine that made the cgo call.
//
// runtime.asmcgocall, on its user-goroutine path, switches to the thread's
// system stack and calls the C function with the goroutine's stack depth at
// 0(SP) and its g at 8(SP); the C function finds its return address at slot
// S, the depth at S+8 and g at S+16. The caller finds that return address
// at run time, from inside a real cgo call (the word at S); Check verifies
// that it lies in runtime.asmcgocall, on the call of its landing pad, among
// the instructions this package knows, so that a runtime laid out
// differently is refused instead of being corrupted.
//
// Nothing here refers to the runtime's code at link time: Go 1.27's linker
// refuses a reference to a runtime symbol that the runtime does not mark
// for outside use, and asmcgocall is not marked. runtime.FuncForPC names
// the code instead.
//
// This package has no cgo so that it can hold Go assembly.
package cgoboundary

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// G returns the calling goroutine's g pointer: a key, never dereferenced
// by Go code.
func G() uintptr { return uintptr(gPointer()) }

// gPointer returns the calling goroutine's g (the word at TLS g).
func gPointer() unsafe.Pointer

// ThreadPointer returns the calling thread's thread pointer (the %fs base
// the C library set up): with it, Go code reaches the thread's
// initial-exec C thread-locals, which lie at fixed offsets from it. The
// goroutine must be locked to its thread for the result to stay its own.
func ThreadPointer() unsafe.Pointer

// TLSGOffset returns where the runtime's TLS slot for g lies from the
// thread pointer, checked: the slot at that offset from this thread's
// pointer holds this goroutine's g. 0 when it was not found. C code reads
// the thread's g there (in C code reached through cgo: its g0).
//
// The offset is read from gPointer's machine code, the runtime's own TLS
// access as the linker resolved it: local exec (MOVQ FS:off, AX), or
// local exec through CX (MOVQ $off, CX; MOVQ FS:0(CX), AX), or initial
// exec (MOVQ off@GOTTPOFF(IP), CX; MOVQ FS:0(CX), AX).
func TLSGOffset() uintptr {
	off, ok := tlsGOffsetFromCode(gPointerPC())
	tp := ThreadPointer()
	if !ok || tp == nil {
		return 0
	}
	// Both reads must be of one thread: the goroutine may move between
	// them, but then the thread pointer changes.
	if *(*uintptr)(unsafe.Add(tp, off)) != G() || ThreadPointer() != tp {
		return 0
	}
	return off
}

var (
	tlsLE     = []byte{0x64, 0x48, 0x8b, 0x04, 0x25} // MOVQ FS:disp32, AX
	tlsMovImm = []byte{0x48, 0xc7, 0xc1}             // MOVQ $imm32, CX
	tlsMovGOT = []byte{0x48, 0x8b, 0x0d}             // MOVQ rel32(IP), CX
	tlsLoadCX = []byte{0x64, 0x48, 0x8b, 0x01}       // MOVQ FS:0(CX), AX
)

func tlsGOffsetFromCode(pc uintptr) (uintptr, bool) {
	code := unsafe.Slice((*byte)(textPointer(pc)), 11)
	le32 := func(b []byte) int32 {
		return int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
	}
	switch {
	case bytes.HasPrefix(code, tlsLE):
		return uintptr(int64(le32(code[5:9]))), true
	case bytes.HasPrefix(code, tlsMovImm) && bytes.Equal(code[7:11], tlsLoadCX):
		return uintptr(int64(le32(code[3:7]))), true
	case bytes.HasPrefix(code, tlsMovGOT) && bytes.Equal(code[7:11], tlsLoadCX):
		got := pc + 7 + uintptr(int64(le32(code[3:7])))
		return *(*uintptr)(textPointer(got)), true
	}
	return 0, false
}

// gPointerPC returns gPointer's own (ABI0) entry.
func gPointerPC() uintptr

// ReadTSC returns the CPU's time-stamp counter (RDTSC), the clock the C
// core keeps deadlines in once it has calibrated it.
func ReadTSC() uint64

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

// The user-g path of asmcgocall (Go 1.25, 1.26 and 1.27), around the call:
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

// g's fields up to syscallsp, the same in Go 1.25, 1.26 and 1.27: stack (lo, hi),
// stackguard0, stackguard1, _panic, _defer, m, sched (a gobuf of six
// words), syscallsp. Checked from inside a real cgo call by the caller.
const offSyscallSP = 2*8 + 5*8 + 6*8

// codeWindow is how far into asmcgocall the call site may lie (under
// GOEXPERIMENT=runtimesecret, Go 1.27 puts a call and four loads before
// the stack switch).
const codeWindow = 512

// Names of the runtime functions around the call site.
const (
	asmcgocallName = "runtime.asmcgocall"
	landingPadName = "runtime.asmcgocall_landingpad"
)

// Check verifies that ret, the word found at slot S from inside a cgo call
// of a goroutine, is the return address of asmcgocall's user-g call, and
// returns the layout. cgoNoCallbackOffset finds g.nocgocallback by setting
// it through the runtime and seeing which byte changes.
func Check(ret uintptr) (Layout, error) {
	f := runtime.FuncForPC(ret)
	if f == nil || f.Name() != asmcgocallName {
		return Layout{}, fmt.Errorf("%w: the cgo call returns to %s, not %s", ErrUnknownRuntime, funcName(ret), asmcgocallName)
	}
	fn := f.Entry()
	end := ret + uintptr(len(afterCall))
	if last := runtime.FuncForPC(end - 1); end-fn > codeWindow || last == nil || last.Entry() != fn {
		return Layout{}, fmt.Errorf("%w: call site %#x at +%#x in %s", ErrUnknownRuntime, ret, ret-fn, asmcgocallName)
	}
	code := unsafe.Slice((*byte)(textPointer(fn)), end-fn)
	pad, err := callTarget(code, fn, ret)
	if err != nil {
		return Layout{}, err
	}
	if name := funcName(pad); name != landingPadName {
		return Layout{}, fmt.Errorf("%w: asmcgocall calls %s, not %s", ErrUnknownRuntime, name, landingPadName)
	}
	if got, err := callSite(code, fn, pad); err != nil {
		return Layout{}, err
	} else if got != ret {
		return Layout{}, fmt.Errorf("%w: the cgo call returns to %#x, the known call site is %#x", ErrUnknownRuntime, ret, got)
	}
	off, err := cgoNoCallbackOffset()
	if err != nil {
		return Layout{}, err
	}
	return Layout{Ret: ret, OffSyscallSP: offSyscallSP, OffNoCallback: off}, nil
}

// textPointer is pc as a pointer, to read the runtime's machine code: an
// address in the binary's text, which the garbage collector ignores.
func textPointer(pc uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&pc)) }

func funcName(pc uintptr) string {
	if f := runtime.FuncForPC(pc); f != nil {
		return f.Name()
	}
	return fmt.Sprintf("%#x (no Go function)", pc)
}

// callTarget returns the target of the rel32 CALL that ends just before
// ret, in code (the bytes from fn up to the call's return address and the
// instructions after it).
func callTarget(code []byte, fn, ret uintptr) (uintptr, error) {
	at := int(ret - fn)
	if at < 5 || code[at-5] != 0xe8 {
		return 0, fmt.Errorf("%w: no direct call before %#x", ErrUnknownRuntime, ret)
	}
	rel := int32(uint32(code[at-4]) | uint32(code[at-3])<<8 | uint32(code[at-2])<<16 | uint32(code[at-1])<<24)
	return ret + uintptr(int64(rel)), nil
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
