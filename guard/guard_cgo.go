//go:build linux && amd64 && cgo

package guard

/*
#include <stdint.h>
#include "../csrc/internal.h"

const cgoguard_fault *cgoguard_pool_get(int slot);
void cgoguard_pool_release(int slot);

// The guarded call, inlined into cgo's wrapper for it, so that a guarded
// call costs one C call more than a raw one. fn is an integer: it is a C
// function pointer, never a Go pointer, so cgo need not check it.
static inline int64_t cg_pool_call(uintptr_t fn, void *arg, int max_frames) {
	int rc = cg_call((void (*)(void *))fn, arg, &cg_thread_fault, max_frames);
	return rc == CGOGUARD_FAULT ? cgoguard_pool_publish() : rc;
}

// Calls a C function of up to six integer or pointer arguments returning an
// integer or pointer. The function is called through a variadic prototype:
// integer arguments travel in the same registers either way, and %al (the
// vector register count a variadic callee may read) is then 0.
struct cg_args6 {
	uintptr_t fn;
	uintptr_t a[6];
	uintptr_t ret;
};

static void cg_call6(void *p) {
	struct cg_args6 *c = p;
	uintptr_t (*f)(uintptr_t, ...) = (uintptr_t (*)(uintptr_t, ...))c->fn;
	c->ret = f(c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]);
}

struct cg_ret6 {
	int64_t rc;
	uintptr_t ret;
};

static struct cg_ret6 cg_pool_call6(uintptr_t fn, uintptr_t a0, uintptr_t a1, uintptr_t a2,
                                    uintptr_t a3, uintptr_t a4, uintptr_t a5, int max_frames) {
	struct cg_args6 c = {fn, {a0, a1, a2, a3, a4, a5}, 0};
	struct cg_ret6 r;
	r.rc = cg_pool_call((uintptr_t)cg_call6, &c, max_frames);
	r.ret = c.ret;
	return r;
}
*/
import "C"

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard/internal/gotext"
)

var (
	installed   atomic.Bool
	installMu   sync.Mutex
	installErr  error
	installDone bool
)

// Install installs the fault handlers now, chaining to the handlers already
// in place (the Go runtime's). Calls do this on first use; call Install to
// see an error early, or to control when signal handlers change. It is safe
// to call more than once and from several goroutines.
func Install() error {
	if installed.Load() {
		return nil
	}
	installMu.Lock()
	defer installMu.Unlock()
	if installDone {
		return installErr
	}
	start, end := gotext.Range()
	C.cgoguard_set_go_text(C.uintptr_t(start), C.uintptr_t(end))
	installErr = resultError(int64(C.cgoguard_install()))
	installDone = true
	if installErr == nil {
		installed.Store(true)
	}
	return installErr
}

// Supported reports whether guarding works on this platform.
func Supported() bool { return true }

// Call runs the C function fn, of C type void (*)(void *), with arg, under a
// guard. It returns nil when fn returns, a *CrashError (matching ErrCrash)
// when fn faults, or another error when the call could not be made.
func Call(fn, arg unsafe.Pointer, opts ...Option) error {
	if fn == nil {
		return ErrNilFunction
	}
	maxFrames := DefaultMaxFrames
	if len(opts) != 0 {
		c := buildConfig(opts)
		if c.err != nil {
			return c.err
		}
		maxFrames = c.maxFrames
	}
	if !installed.Load() {
		if err := Install(); err != nil {
			return err
		}
	}
	r := int64(C.cg_pool_call(C.uintptr_t(uintptr(fn)), arg, C.int(maxFrames)))
	if r == 0 {
		return nil
	}
	return resultError(r)
}

// CallContext is Call honouring ctx: a ctx that is already done returns its
// error without running fn.
func CallContext(ctx context.Context, fn, arg unsafe.Pointer, opts ...Option) error {
	if err := contextError(ctx); err != nil {
		return err
	}
	return Call(fn, arg, opts...)
}

// CallFunc calls the C function fn with up to six integer or pointer
// arguments under a guard and returns its integer or pointer result.
//
// Limits (x86-64 System V calling convention): arguments must be integers or
// pointers that fit a register; float or double arguments, struct arguments
// passed by value, and float, double or struct results are not supported.
// Variadic functions work for integer and pointer arguments. A Go pointer
// passed as a uintptr is not seen by cgo's pointer checks nor kept alive by
// the call: obey the cgo pointer rules and keep it alive (runtime.KeepAlive
// or runtime.Pinner) yourself.
func CallFunc(fn unsafe.Pointer, args ...uintptr) (uintptr, error) {
	return CallFuncContext(context.Background(), fn, args)
}

// CallFuncContext is CallFunc with a context and options.
func CallFuncContext(ctx context.Context, fn unsafe.Pointer, args []uintptr, opts ...Option) (uintptr, error) {
	if fn == nil {
		return 0, ErrNilFunction
	}
	if len(args) > 6 {
		return 0, ErrTooManyArgs
	}
	if err := contextError(ctx); err != nil {
		return 0, err
	}
	c := buildConfig(opts)
	if c.err != nil {
		return 0, c.err
	}
	if !installed.Load() {
		if err := Install(); err != nil {
			return 0, err
		}
	}
	var a [6]uintptr
	copy(a[:], args)
	r := C.cg_pool_call6(C.uintptr_t(uintptr(fn)), C.uintptr_t(a[0]), C.uintptr_t(a[1]), C.uintptr_t(a[2]),
		C.uintptr_t(a[3]), C.uintptr_t(a[4]), C.uintptr_t(a[5]), C.int(c.maxFrames))
	if r.rc != 0 {
		return 0, resultError(int64(r.rc))
	}
	return uintptr(r.ret), nil
}

// VerifyHandlers checks the kernel's handler table for the guarded signals
// and puts cgoguard's handler back in front of any that replaced it. It
// returns how many it repaired. Guarded calls already do this when a
// replacement was made through sigaction or signal; VerifyHandlers also
// catches raw system calls.
func VerifyHandlers() (int, error) {
	if err := Install(); err != nil {
		return 0, err
	}
	n := int(C.cgoguard_verify_handlers())
	if n < 0 {
		return 0, resultError(int64(n))
	}
	return n, nil
}

// Stats are process-wide counters.
type Stats struct {
	Recovered      uint64 // faults recovered by a guard since start
	HandlerRepairs uint64 // times a replaced handler was put back in front
}

// ReadStats returns the process-wide counters.
func ReadStats() Stats {
	return Stats{
		Recovered:      uint64(C.cgoguard_recovered()),
		HandlerRepairs: uint64(C.cgoguard_handler_repairs()),
	}
}

// resultError turns a C result into an error.
func resultError(r int64) error {
	switch {
	case r == 0:
		return nil
	case r > 0:
		return crashFromPool(r)
	}
	switch r {
	case C.CGOGUARD_ENULLFN:
		return ErrNilFunction
	case C.CGOGUARD_EDEPTH:
		return ErrNestingLimit
	case C.CGOGUARD_EUNSUPPORTED:
		return ErrUnsupported
	case C.CGOGUARD_EINSTALL:
		return ErrInstall
	case C.CGOGUARD_EALTSTACK:
		return ErrAltStack
	case C.CGOGUARD_ELINKMODE:
		return ErrLinkMode
	}
	return &resultCodeError{int(r)}
}

type resultCodeError struct{ code int }

func (e *resultCodeError) Error() string {
	return "guard: " + C.GoString(C.cgoguard_strerror(C.int(e.code)))
}

// crashFromPool reads the fault record the C side left in the pool.
func crashFromPool(r int64) *CrashError {
	slot := int(uint32(r)) - 1
	e := &CrashError{Signal: syscall.Signal(r >> 32)}
	if slot < 0 {
		return e // pool exhausted: only the signal is known
	}
	f := C.cgoguard_pool_get(C.int(slot))
	e.Code = int(f.code)
	e.Addr = uintptr(f.addr)
	e.PC = uintptr(f.pc)
	e.SP = uintptr(f.sp)
	e.ThreadID = int(f.tid)
	e.SenderPID = int(f.sender_pid)
	e.Depth = int(f.depth)
	e.Time = time.Unix(0, int64(f.time_ns))
	var regs [23]uint64
	for i := range regs {
		regs[i] = uint64(f.regs[i])
	}
	e.Registers = registersFrom(&regs)
	pcs := make([]uintptr, int(f.nframes))
	for i := range pcs {
		pcs[i] = uintptr(f.frames[i])
	}
	C.cgoguard_pool_release(C.int(slot))
	e.Frames = symbolize(pcs)
	return e
}
