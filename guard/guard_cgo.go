//go:build linux && amd64 && cgo

package guard

/*
#include <stdint.h>
#include "../csrc/internal.h"

const cgoguard_fault *cgoguard_pool_get(int slot);
void cgoguard_pool_release(int slot);
void cgoguard_pool_stats(uint32_t out[2]);

// The guarded call, inlined into cgo's wrapper for it, so that a guarded
// call costs one C call more than a raw one. fn is an integer: it is a C
// function pointer, never a Go pointer, so cgo need not check it.
static inline int64_t cg_pool_call(uintptr_t fn, void *arg, int max_frames) {
	int rc = cg_call((void (*)(void *))fn, arg, &cg_thread_fault, max_frames);
	return rc > 0 ? cgoguard_pool_publish(rc) : rc;
}

// The same with a deadline and/or lazy cancellation (lazy_ns > 0: the
// context words ctx0, ctx1; see lazy_cgo.go).
static inline int64_t cg_pool_call_deadline(uintptr_t fn, void *arg, int max_frames,
                                            int64_t timeout_ns, int64_t grace_ns,
                                            int64_t lazy_ns, uintptr_t ctx0, uintptr_t ctx1) {
	uintptr_t ctx[2] = {ctx0, ctx1};
	int rc = cg_call_deadline_lazy((void (*)(void *))fn, arg, &cg_thread_fault, max_frames,
	                               timeout_ns, grace_ns, NULL, lazy_ns, ctx);
	return rc > 0 ? cgoguard_pool_publish(rc) : rc;
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
                                    uintptr_t a3, uintptr_t a4, uintptr_t a5, int max_frames,
                                    int64_t timeout_ns, int64_t grace_ns, int64_t lazy_ns,
                                    uintptr_t ctx0, uintptr_t ctx1) {
	struct cg_args6 c = {fn, {a0, a1, a2, a3, a4, a5}, 0};
	struct cg_ret6 r;
	if (timeout_ns > 0 || lazy_ns > 0)
		r.rc = cg_pool_call_deadline((uintptr_t)cg_call6, &c, max_frames, timeout_ns, grace_ns,
		                             lazy_ns, ctx0, ctx1);
	else
		r.rc = cg_pool_call((uintptr_t)cg_call6, &c, max_frames);
	r.ret = c.ret;
	return r;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard/internal/gotext"
)

// modulesErr is why the handler cannot walk the runtime's module list
// (nil when it can).
var modulesErr error

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
	// The other Go modules (plugins): walked by the handler, or, on a
	// runtime whose module list is not known, every fault goes to Go once
	// one is loaded (modulesErr says why).
	var mods gotext.ModuleList
	mods, modulesErr = gotext.Modules()
	setGoModules(mods)
	installErr = resultError(int64(C.cgoguard_install()), nil)
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
// when fn faults, an *InterruptError (matching ErrTimeout) when a deadline
// set with WithTimeout interrupted it, or another error when the call could
// not be made.
func Call(fn, arg unsafe.Pointer, opts ...Option) error {
	if fn == nil {
		return ErrNilFunction
	}
	if !installed.Load() {
		if err := Install(); err != nil {
			return err
		}
	}
	var r int64
	switch {
	case len(opts) == 0:
		r = directCall(fn, arg)
	case len(opts) == 1 && isTimeout(opts[0]):
		// The common case of a deadline alone, without building a
		// configuration.
		d := opts[0].(timeoutOption)
		r = directCallDeadline(fn, arg, int64(d), int64(DefaultGrace), nil)
		if r != 0 {
			return observe(finishError(resultError(r, nil), nil, time.Duration(d), 1))
		}
	default:
		return callWith(context.Background(), fn, arg, opts)
	}
	if r == 0 {
		return nil
	}
	return observe(resultError(r, nil))
}

func isTimeout(o Option) bool {
	d, ok := o.(timeoutOption)
	return ok && d > 0
}

// finishError completes an *InterruptError with what the Go side knows.
func finishError(err error, ctx context.Context, timeout time.Duration, attempt int) error {
	ie, ok := err.(*InterruptError) // unwrapped here; errors.As would allocate
	if !ok {
		return err
	}
	ie.Attempts = attempt
	ie.Timeout = timeout
	ie.Err = ErrTimeout
	if ctx != nil {
		if cerr := ctx.Err(); cerr != nil {
			ie.Err, ie.Cause = cerr, context.Cause(ctx)
		}
	}
	return ie
}

// CallContext is Call honouring ctx: a ctx that is already done returns its
// error without running fn; a ctx that is done while fn runs interrupts it
// like a deadline (see WithTimeout and WithGrace), and the error matches
// ctx.Err() (context.DeadlineExceeded also matches ErrTimeout) and
// context.Cause(ctx).
func CallContext(ctx context.Context, fn, arg unsafe.Pointer, opts ...Option) error {
	if fn == nil {
		return ErrNilFunction
	}
	// The common case: no options, a cancellable context without a
	// deadline, not done yet.
	if len(opts) == 0 && ctx != nil && installed.Load() && ctx.Done() != nil {
		if _, ok := ctx.Deadline(); !ok && ctx.Err() == nil {
			lazyStart()
			r := directCallDeadline(fn, arg, 0, int64(DefaultGrace), &ctx)
			if r == 0 {
				return nil
			}
			return observe(finishError(resultError(r, nil), ctx, 0, 1))
		}
	}
	return callWith(ctx, fn, arg, opts)
}

func callWith(ctx context.Context, fn, arg unsafe.Pointer, opts []Option) error {
	_, err := run(ctx, &callReq{fn: uintptr(fn), arg: arg}, opts)
	return err
}

// callReq is one C call: fn(arg), or fn(args...) for CallFunc.
type callReq struct {
	fn    uintptr
	arg   unsafe.Pointer
	args  [6]uintptr
	nargs bool // a CallFunc call
}

// attempt makes the call once under a guard; lazy > 0 with ctx for lazy
// cancellation.
func (q *callReq) attempt(maxFrames int, timeout, grace, lazy int64, ctx *context.Context) (int64, uintptr) {
	var w [2]uintptr
	if lazy > 0 {
		w = lazyWords(ctx)
	}
	if q.nargs {
		r := C.cg_pool_call6(C.uintptr_t(q.fn), C.uintptr_t(q.args[0]), C.uintptr_t(q.args[1]), C.uintptr_t(q.args[2]),
			C.uintptr_t(q.args[3]), C.uintptr_t(q.args[4]), C.uintptr_t(q.args[5]), C.int(maxFrames),
			C.int64_t(timeout), C.int64_t(grace), C.int64_t(lazy), C.uintptr_t(w[0]), C.uintptr_t(w[1]))
		runtime.KeepAlive(ctx)
		return int64(r.rc), uintptr(r.ret)
	}
	if timeout <= 0 && lazy <= 0 {
		return int64(C.cg_pool_call(C.uintptr_t(q.fn), q.arg, C.int(maxFrames))), 0
	}
	r := int64(C.cg_pool_call_deadline(C.uintptr_t(q.fn), q.arg, C.int(maxFrames),
		C.int64_t(timeout), C.int64_t(grace), C.int64_t(lazy), C.uintptr_t(w[0]), C.uintptr_t(w[1])))
	runtime.KeepAlive(ctx)
	return r, 0
}

// run makes one guarded call, with retries on timeout, for Call,
// CallContext and CallFuncContext.
func run(ctx context.Context, q *callReq, opts []Option) (uintptr, error) {
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
	var lazy int64
	if ctx.Done() != nil {
		lazyStart()
		lazy = lazyThreshold
	}
	grace := int64(c.grace)
	if c.grace < 0 {
		grace = -1
	}
	for attempt := 1; ; attempt++ {
		timeout, err := callTimeout(ctx, c.timeout)
		if err != nil {
			return 0, err
		}
		if lazy != 0 && ctx.Err() != nil {
			return 0, &NotStartedError{Err: ctx.Err(), Cause: context.Cause(ctx)}
		}
		r, ret := q.attempt(c.maxFrames, timeout, grace, lazy, &ctx)
		if r == 0 {
			return ret, nil
		}
		err = observe(finishError(resultError(r, &c), ctx, c.timeout, attempt))
		var ie *InterruptError
		if errors.As(err, &ie) && ie.Err == ErrTimeout && attempt <= c.retries {
			continue
		}
		return 0, err
	}
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

// CallFuncContext is CallFunc with a context and options, as CallContext.
func CallFuncContext(ctx context.Context, fn unsafe.Pointer, args []uintptr, opts ...Option) (uintptr, error) {
	if fn == nil {
		return 0, ErrNilFunction
	}
	if len(args) > 6 {
		return 0, ErrTooManyArgs
	}
	q := callReq{fn: uintptr(fn), nargs: true}
	copy(q.args[:], args)
	return run(ctx, &q, opts)
}

// SetTimeoutSignal chooses the signal that interrupts calls at their
// deadline: a real-time signal (SIGRTMIN and above as glibc counts them,
// 34-64; the default is SIGRTMIN+3 = 37) or SIGUSR1/SIGUSR2. It must be
// called before the first call with a deadline or a cancellable context.
// Instances of that signal that cgoguard did not send for a live call go to
// the handler installed before (os/signal keeps working for it).
func SetTimeoutSignal(sig syscall.Signal) error {
	switch C.cgoguard_set_timeout_signal(C.int(sig)) {
	case C.CGOGUARD_OK:
		return nil
	case C.CGOGUARD_EUNSUPPORTED:
		return ErrUnsupported
	}
	return fmt.Errorf("guard: SetTimeoutSignal(%d): %w", int(sig), ErrTimeoutSignal)
}

// TimeoutSignal is the signal that interrupts calls at their deadline.
func TimeoutSignal() syscall.Signal { return syscall.Signal(C.cgoguard_timeout_signal()) }

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
		return 0, resultError(int64(n), nil)
	}
	return n, nil
}

// ReadStats returns the process-wide counters.
func ReadStats() Stats {
	s := Stats{
		Recovered:      uint64(C.cgoguard_recovered()),
		Interrupted:    uint64(C.cgoguard_interrupted()),
		HandlerRepairs: uint64(C.cgoguard_handler_repairs()),
	}
	readGoStats(&s)
	return s
}

// resultError turns a C result into an error; c configured the call (nil:
// the defaults).
func resultError(r int64, c *callConfig) error {
	switch {
	case r == 0:
		return nil
	case r > 0:
		return reportFromPool(r, c)
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
	case C.CGOGUARD_ESIGNAL:
		return ErrTimeoutSignal
	case C.CGOGUARD_EWATCHDOG:
		return ErrWatchdog
	case C.CGOGUARD_ENESTEDDEADLINE:
		return ErrNestedDeadline
	}
	return &resultCodeError{int(r)}
}

type resultCodeError struct{ code int }

func (e *resultCodeError) Error() string {
	return "guard: " + C.GoString(C.cgoguard_strerror(C.int(e.code)))
}

// reportFromPool reads the fault record the C side left in the pool: a
// *CrashError for a fault, an *InterruptError for an interrupted call, with
// taint, the caller's Go stack and, when one is due, a crash dump.
func reportFromPool(r int64, c *callConfig) error {
	slot := int(uint32(r)) - 1
	rc := int((r >> 48) & 0xff)
	e := &CrashError{Signal: syscall.Signal((r >> 32) & 0xffff)}
	var interrupt int
	if slot >= 0 { // else the pool was exhausted: only the signal is known
		f := C.cgoguard_pool_get(C.int(slot))
		e.Code = int(f.code)
		e.Addr = uintptr(f.addr)
		e.PC = uintptr(f.pc)
		e.SP = uintptr(f.sp)
		e.ThreadID = int(f.tid)
		e.SenderPID = int(f.sender_pid)
		e.Depth = int(f.depth)
		e.Time = time.Unix(0, int64(f.time_ns))
		interrupt = int(f.interrupt)
		var regs [23]uint64
		for i := range regs {
			regs[i] = uint64(f.regs[i])
		}
		e.Registers = registersFrom(&regs)
		pcs := make([]uintptr, int(f.nframes))
		for i := range pcs {
			pcs[i] = uintptr(f.frames[i])
		}
		id := f.capture
		C.cgoguard_pool_release(C.int(slot))
		e.Frames = symbolize(pcs)
		// A dump is due for a fault or a forced interrupt; the handler
		// captured one if captures were on and a slot was free.
		dir := ""
		if rc == C.CGOGUARD_FAULT || interrupt == C.CGOGUARD_FORCED {
			dir = dumpDirFor(c)
		}
		switch {
		case dir == "":
			if id != 0 {
				C.cgoguard_capture_drop(id)
			}
		case id == 0:
			stats.dumpsSkipped.Add(1)
			e.DumpErr = fmt.Errorf("%w: every capture slot was in use", ErrDumpSkipped)
		default:
			if in := takeCapture(id); in == nil {
				stats.dumpsSkipped.Add(1)
				e.DumpErr = fmt.Errorf("%w: the capture was taken over by a later fault", ErrDumpSkipped)
			} else {
				in.Requested = rc != C.CGOGUARD_FAULT
				e.DumpPath, e.DumpErr = writeDumpFile(dir, in, e)
			}
		}
	}
	e.GoStack = callerStack()
	if rc == C.CGOGUARD_FAULT {
		e.Taint = computeTaint(e.Frames, e.Signal, stopFault, objectOf)
		return e
	}
	kind := stopInSyscall
	if interrupt == C.CGOGUARD_FORCED {
		kind = stopForced
	}
	return &InterruptError{
		Signal: e.Signal, PC: e.PC, SP: e.SP, Frames: e.Frames, Registers: e.Registers,
		ThreadID: e.ThreadID, Time: e.Time,
		InSyscall: interrupt == C.CGOGUARD_IN_SYSCALL, Forced: interrupt == C.CGOGUARD_FORCED,
		Err:     ErrTimeout,
		Taint:   computeTaint(e.Frames, e.Signal, kind, objectOf),
		GoStack: e.GoStack, DumpPath: e.DumpPath, DumpErr: e.DumpErr,
	}
}

// enableCapture makes the signal handler capture what crash dumps need.
func enableCapture() error {
	if err := Install(); err != nil {
		return err
	}
	if C.cgoguard_capture_enable() != 0 {
		return fmt.Errorf("guard: crash dumps: could not map %d KiB for captures", C.CG_CAPTURE_SLOTS*C.sizeof_struct_cgoguard_capture/1024)
	}
	return nil
}

// poolRecords returns how many fault records the C pool has mapped and how
// many of them are free (for tests: exact only while no call hands one
// over).
func poolRecords() (mapped, free int) {
	var out [2]C.uint32_t
	C.cgoguard_pool_stats(&out[0])
	return int(out[0]), int(out[1])
}

// poolTake hands the calling thread's last fault record over to the pool,
// as a guarded call's fault does, and returns the pool slot (for tests).
func poolTake() int { return int(uint32(C.cgoguard_pool_publish(C.CGOGUARD_FAULT))) - 1 }

// poolGive releases a slot poolTake returned (for tests).
func poolGive(slot int) { C.cgoguard_pool_release(C.int(slot)) }

// pcInGo reports whether the handler takes pc for Go code (for tests).
func pcInGo(pc uintptr) bool { return C.cg_pc_in_go(C.uintptr_t(pc)) != 0 }

// setGoModules hands the handler a module list (for tests).
func setGoModules(l gotext.ModuleList) {
	C.cgoguard_set_go_modules(C.uintptr_t(l.First), C.uintptr_t(l.OffText), C.uintptr_t(l.OffEtext),
		C.uintptr_t(l.OffNext), C.uintptr_t(l.LastP), C.uintptr_t(l.Last))
}
