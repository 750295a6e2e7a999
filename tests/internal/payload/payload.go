// Package payload holds the C functions the tests guard: every fault class
// the guard must recover from, healthy functions, and C code that enters
// guards itself through the C API. cgo is not allowed in _test.go files, so
// the C lives here.
package payload

/*
#cgo CFLAGS: -O2 -g -I${SRCDIR}/../../../include
#cgo LDFLAGS: -lz -lpthread
#include <stdlib.h>
#include "payload.h"
*/
import "C"

import (
	"syscall"
	"unsafe"

	// The C API functions nested.c calls are defined by the guard package.
	_ "github.com/cgoguard/cgoguard/guard"
)

// Result is the argument block every payload function takes.
type Result C.struct_pl_result

// NewResult allocates a Result in C memory (the C code may keep writing to
// it from a thread the test does not own). Free it with Free.
func NewResult(in int) *Result {
	r := (*Result)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_pl_result{}))))
	r.in = C.long(in)
	return r
}

// Free releases a Result from NewResult.
func Free(r *Result) { C.free(unsafe.Pointer(r)) }

// Out returns the function's output field.
func (r *Result) Out() int { return int(r.out) }

// In returns the input field.
func (r *Result) In() int { return int(r.in) }

// SetInner sets the inner field (an extra input for some payloads).
func (r *Result) SetInner(v int) { r.inner = C.long(v) }

// Inner is what a nested guard reported.
func (r *Result) Inner() int { return int(r.inner) }

// After is what the outer function recorded after the inner guard returned.
func (r *Result) After() int { return int(r.after) }

// DepthReached is the deepest guard depth a nesting payload saw.
func (r *Result) DepthReached() int { return int(r.depth_reached) }

// Stop tells pl_sleep_until to return.
func (r *Result) Stop() { C.pl_set_stop((*C.struct_pl_result)(r)) }

// TID is the thread id pl_sleep_until wrote, 0 before it ran.
func (r *Result) TID() int { return int(C.pl_get_tid((*C.struct_pl_result)(r))) }

// Fault is a C function that faults, with what the guard should report.
type Fault struct {
	Name     string         // test name
	Fn       unsafe.Pointer // void (*)(void *)
	Signal   syscall.Signal // expected signal
	Code     int            // expected si_code; 0 means "do not check"
	Function string         // a C function expected among the frames
	Prints   bool           // writes to stderr (assert, glibc's free check)
	Setup    func() error   // run once before use, if not nil
}

// si_code values used below.
const (
	SEGV_MAPERR = 1
	SEGV_ACCERR = 2
	FPE_INTDIV  = 1
	ILL_ILLOPN  = 2
	BUS_ADRERR  = 2
	SI_TKILL    = -6
)

// Faults lists every fault class.
func Faults() []Fault {
	return []Fault{
		{Name: "null_write", Fn: C.pl_null_write, Signal: syscall.SIGSEGV, Code: SEGV_MAPERR, Function: "pl_null_write"},
		{Name: "wild_read", Fn: C.pl_wild_read, Signal: syscall.SIGSEGV, Code: SEGV_MAPERR, Function: "pl_wild_read"},
		{Name: "rodata_write", Fn: C.pl_rodata_write, Signal: syscall.SIGSEGV, Code: SEGV_ACCERR, Function: "pl_rodata_write"},
		{Name: "jump_nx", Fn: C.pl_jump_nx, Signal: syscall.SIGSEGV, Code: SEGV_ACCERR, Function: "pl_jump_nx"},
		{Name: "div_zero", Fn: C.pl_div_zero, Signal: syscall.SIGFPE, Code: FPE_INTDIV, Function: "pl_div_zero"},
		{Name: "trap", Fn: C.pl_trap, Signal: syscall.SIGILL, Code: ILL_ILLOPN, Function: "pl_trap"},
		{Name: "abort", Fn: C.pl_abort, Signal: syscall.SIGABRT, Code: SI_TKILL, Function: "pl_abort"},
		{Name: "assert", Fn: C.pl_assert, Signal: syscall.SIGABRT, Code: SI_TKILL, Function: "pl_assert", Prints: true},
		{Name: "bad_free", Fn: C.pl_bad_free, Signal: syscall.SIGABRT, Code: SI_TKILL, Function: "pl_bad_free", Prints: true},
		{Name: "strlen_null", Fn: C.pl_strlen_null, Signal: syscall.SIGSEGV, Code: SEGV_MAPERR, Function: "pl_strlen_null"},
		{Name: "zlib_inflate", Fn: C.pl_zlib_bad, Signal: syscall.SIGSEGV, Code: SEGV_MAPERR, Function: "inflate"},
		{Name: "sigbus", Fn: C.pl_sigbus, Signal: syscall.SIGBUS, Code: BUS_ADRERR, Function: "pl_sigbus", Setup: busSetup},
		{Name: "stack_overflow", Fn: C.pl_stack_overflow, Signal: syscall.SIGSEGV, Code: 0, Function: "pl_recurse"},
		{Name: "raise_segv", Fn: C.pl_raise_segv, Signal: syscall.SIGSEGV, Code: SI_TKILL, Function: "pl_raise_segv"},
	}
}

func busSetup() error {
	if C.pl_bus_setup() != 0 {
		return syscall.EIO
	}
	return nil
}

// Function pointers of the healthy and helper payloads.
var (
	Empty         = unsafe.Pointer(C.pl_empty)
	Healthy       = unsafe.Pointer(C.pl_healthy)
	NullWrite     = unsafe.Pointer(C.pl_null_write)
	Abort         = unsafe.Pointer(C.pl_abort)
	DeepNullWrite = unsafe.Pointer(C.pl_deep_outer)
	// InlinedNullWrite writes through NULL in a function inlined into
	// pl_inlined_null_write: one PC, two symbolized frames.
	InlinedNullWrite = unsafe.Pointer(C.pl_inlined_null_write)
	SleepUntil       = unsafe.Pointer(C.pl_sleep_until)
	NestedOuter      = unsafe.Pointer(C.pl_nested_outer)
	NestDeep         = unsafe.Pointer(C.pl_nest_deep)
	Sum6             = unsafe.Pointer(C.pl_sum6)
	Div6             = unsafe.Pointer(C.pl_div6)
	StackOverflw     = unsafe.Pointer(C.pl_stack_overflow)
)

// RawEmpty calls pl_empty(arg) through plain cgo, with no guard: the
// baseline. arg goes through cgo's pointer check, as in guard.Call.
func RawEmpty(arg unsafe.Pointer) { C.pl_empty(arg) }

// RawNullWrite faults in C with no guard: the process dies as Go decides.
func RawNullWrite() { C.pl_null_write(nil) }

// RawNullWriteDeep faults like RawNullWrite, three C frames deep
// (pl_deep_outer, pl_deep_middle, pl_null_write).
func RawNullWriteDeep() { C.pl_deep_outer(nil) }

// QuietStderr redirects fd 2 to /dev/null (true) or back (false).
func QuietStderr(quiet bool) {
	q := C.int(0)
	if quiet {
		q = 1
	}
	C.pl_quiet_stderr(q)
}

// GuardInCThread runs fn under a guard (C API) on a new C thread, which has
// no alternate signal stack. It returns the C result code, the signal the
// guard caught (0 if none) and the guard depth on that thread afterwards.
func GuardInCThread(fn unsafe.Pointer) (rc int, sig syscall.Signal, depthAfter int) {
	var s C.long
	var d C.int
	rc = int(C.pl_guard_in_c_thread(C.pl_fn(fn), &s, &d))
	return rc, syscall.Signal(s), int(d)
}

// ReplaceHandler installs, for sig, a handler that counts the signals it
// sees and chains to the handler it replaced, through sigaction (viaSignal
// false) or signal() (true), as another library might.
func ReplaceHandler(sig syscall.Signal, viaSignal bool) error {
	how := C.int(0)
	if viaSignal {
		how = 1
	}
	if C.pl_replace_handler(C.int(sig), how) != 0 {
		return syscall.EINVAL
	}
	return nil
}

// ReplacementSeen is how many sig signals the replacement handler saw.
func ReplacementSeen(sig syscall.Signal) int { return int(C.pl_replacement_seen(C.int(sig))) }

// NewResultValue returns a Result value (for copying into C memory) with
// the given input and zero outputs.
func NewResultValue(in int) *Result {
	return &Result{in: C.long(in)}
}

// BlockThenFault blocks all signals on its thread, then faults.
var BlockThenFault = unsafe.Pointer(C.pl_block_then_fault)

// SigBlocked reports whether sig is blocked on the calling thread.
func SigBlocked(sig syscall.Signal) bool { return C.pl_sig_blocked(C.int(sig)) == 1 }

// SeedCall runs fn(arg) the way the design cgoguard replaces did: handlers
// installed with sigaction and a setitimer armed around every call, then
// disarmed and restored. It returns 0 or the signal that ended the call.
// Single-threaded only; the benchmark locks its goroutine to one thread.
func SeedCall(fn, arg unsafe.Pointer, timeoutUs int) int {
	return int(C.pl_seed_call(C.pl_fn(fn), arg, C.long(timeoutUs)))
}
