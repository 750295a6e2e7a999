//go:build linux && amd64 && cgo

package guard

/*
#include <stdint.h>
#include "../csrc/internal.h"

// Call's default frame count (DefaultMaxFrames, checked in Go), a constant
// so that the compiler folds cg_call's clamping away.
#define CG_DIRECT_FRAMES 32

struct cg_direct_req {
	uintptr_t fn; // a C function pointer, void (*)(void *)
	void *arg;
};

// Call's fast path, entered straight from the runtime's cgocall on the
// thread's system stack, as cgo's own wrappers are. The result comes back as
// cgocall's int32 (the C function's return value): no result is written
// through the argument pointer, so the goroutine stack moving during a Go
// callback does not matter, and cgo's two _cgo_topofstack calls per call
// are saved. q is read before fn runs, while the stack cannot have moved.
//
// Packed result: <= 0 as cg_call returns it; after a fault or interrupt
// cg_direct_pack's (csrc/internal.h, CG_DIRECT_*; see directResult).
__attribute__((visibility("hidden"))) int32_t cg_direct_call(struct cg_direct_req *q) {
	int rc = cg_call((void (*)(void *))q->fn, q->arg, &cg_thread.fault, CG_DIRECT_FRAMES);
	if (rc <= 0)
		return rc;
	int64_t r = cg_pool_publish(rc);
	return cg_direct_pack(r);
}

// The same with a deadline (timeout_ns > 0) and/or lazy cancellation
// (lazy_ns > 0, ctx: the caller's context words), default frames.
struct cg_direct_dl_req {
	uintptr_t fn;
	void *arg;
	int64_t timeout_ns, grace_ns, lazy_ns;
	uintptr_t ctx[2];
};

__attribute__((visibility("hidden"))) int32_t cg_direct_call_dl(struct cg_direct_dl_req *q) {
	int rc = cg_call_deadline_lazy((void (*)(void *))q->fn, q->arg, &cg_thread.fault, CG_DIRECT_FRAMES,
	                               q->timeout_ns, q->grace_ns, NULL, q->lazy_ns, q->ctx);
	if (rc <= 0)
		return rc;
	int64_t r = cg_pool_publish(rc);
	return cg_direct_pack(r);
}
*/
import "C"

import (
	"context"
	"runtime"
	"unsafe"
)

// The C side's frame count must be Call's default: a compile error
// otherwise (a negative constant converted to uint).
const _ = uint(C.CG_DIRECT_FRAMES-DefaultMaxFrames) + uint(DefaultMaxFrames-C.CG_DIRECT_FRAMES)

// runtime.cgocall is what every cgo call goes through: it enters the
// system-call state, switches to the system stack and calls fn(arg) there
// (its signature is kept stable for packages that link to it, see
// go.dev/issue/67401). arg does not escape through it: directCall makes arg
// escape itself, as cgo does.
//
// Allowed: the runtime pushes it (runtime/cgocall.go, Go 1.25 to 1.27).
//
//go:linkname runtimeCgocall runtime.cgocall
//go:noescape
func runtimeCgocall(fn, arg unsafe.Pointer) int32

// The pointer check cgo-generated code makes of every pointer argument.
//
// Allowed: the runtime pushes it for cgo (runtime/linkname.go, Go 1.25 to
// 1.27).
//
//go:linkname cgoCheckPointer runtime.cgoCheckPointer
func cgoCheckPointer(ptr any, arg any)

// Never set: the compiler cannot tell, so storing arg in directEscape under
// it makes arg escape, as cgo's generated code does with its own flag.
var (
	directNever  bool
	directEscape unsafe.Pointer
)

var directCallFn = unsafe.Pointer(C.cg_direct_call)

// directCall runs fn(arg) under a guard with the default options, as a cgo
// call of a C wrapper would, less the wrapper: arg gets cgo's pointer check
// and escapes to the heap as any pointer passed to C does (C may keep it
// across a Go callback, during which the goroutine stack may move). The
// result is in resultError's form.
func directCall(fn, arg unsafe.Pointer) int64 {
	cgoCheckPointer(arg, nil)
	if directNever {
		directEscape = arg
	}
	q := C.struct_cg_direct_req{fn: C.uintptr_t(uintptr(fn)), arg: arg}
	r := runtimeCgocall(directCallFn, unsafe.Pointer(&q))
	// arg stays reachable until fn has returned, whatever the caller
	// still holds (cgo's wrappers do the same with their arguments).
	runtime.KeepAlive(arg)
	return directResult(r)
}

var directCallDlFn = unsafe.Pointer(C.cg_direct_call_dl)

// directCallDeadline is directCall with a deadline (timeout > 0) and/or,
// for a cancellable ctx, lazy cancellation; grace as WithGrace.
func directCallDeadline(fn, arg unsafe.Pointer, timeout, grace int64, ctx *context.Context) int64 {
	cgoCheckPointer(arg, nil)
	if directNever {
		directEscape = arg
	}
	q := C.struct_cg_direct_dl_req{fn: C.uintptr_t(uintptr(fn)), arg: arg,
		timeout_ns: C.int64_t(timeout), grace_ns: C.int64_t(grace)}
	if ctx != nil {
		w := lazyWords(ctx)
		q.lazy_ns = C.int64_t(lazyThreshold)
		q.ctx[0], q.ctx[1] = C.uintptr_t(w[0]), C.uintptr_t(w[1])
	}
	r := runtimeCgocall(directCallDlFn, unsafe.Pointer(&q))
	runtime.KeepAlive(arg)
	runtime.KeepAlive(ctx)
	return directResult(r)
}

// directResult unpacks cg_direct_call's result into resultError's form.
func directResult(r int32) int64 {
	if r <= 0 {
		return int64(r)
	}
	return int64(r&C.CG_DIRECT_SLOT_MASK) |
		int64(r>>C.CG_DIRECT_SIG_SHIFT&C.CG_DIRECT_SIG_MASK)<<C.CG_PUB_SIG_SHIFT |
		int64(r>>C.CG_DIRECT_RC_SHIFT&C.CG_DIRECT_RC_MASK)<<C.CG_PUB_RC_SHIFT
}
