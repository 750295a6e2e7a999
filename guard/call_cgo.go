//go:build linux && amd64 && cgo

package guard

/*
#include <stdint.h>
#include "../csrc/internal.h"

// The guarded call, inlined into cgo's wrapper for it, so that a guarded
// call costs one C call more than a raw one. fn is an integer: it is a C
// function pointer, never a Go pointer, so cgo need not check it.
static inline int64_t cg_pool_call(uintptr_t fn, void *arg, int max_frames) {
	int rc = cg_call((void (*)(void *))fn, arg, &cg_thread.fault, max_frames);
	return rc > 0 ? cg_pool_publish(rc) : rc;
}

// The same with a deadline and/or lazy cancellation (lazy_ns > 0: the
// context words ctx0, ctx1; see lazy_cgo.go).
static inline int64_t cg_pool_call_deadline(uintptr_t fn, void *arg, int max_frames,
                                            int64_t timeout_ns, int64_t grace_ns,
                                            int64_t lazy_ns, uintptr_t ctx0, uintptr_t ctx1) {
	uintptr_t ctx[2] = {ctx0, ctx1};
	int rc = cg_call_deadline_lazy((void (*)(void *))fn, arg, &cg_thread.fault, max_frames,
	                               timeout_ns, grace_ns, NULL, lazy_ns, ctx);
	return rc > 0 ? cg_pool_publish(rc) : rc;
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
	"runtime"
	"time"
	"unsafe"
)

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
// arguments under a guard and returns its integer or pointer result;
// arguments not given are 0. It takes the options Call takes, and returns
// what Call returns, or ErrTooManyArgs for more than six arguments.
//
//	n, err := guard.CallFunc(unsafe.Pointer(C.parse_len), []uintptr{uintptr(unsafe.Pointer(buf)), size},
//		guard.WithTimeout(time.Second))
//
// Limits (x86-64 System V calling convention): arguments must be integers or
// pointers that fit a register; float or double arguments, struct arguments
// passed by value, and float, double or struct results are not supported.
// Variadic functions work for integer and pointer arguments. A Go pointer
// passed as a uintptr is not seen by cgo's pointer checks nor kept alive by
// the call: obey the cgo pointer rules and keep it alive (runtime.KeepAlive
// or runtime.Pinner) yourself.
func CallFunc(fn unsafe.Pointer, args []uintptr, opts ...Option) (uintptr, error) {
	return CallFuncContext(context.Background(), fn, args, opts...)
}

// CallFuncContext is CallFunc honouring ctx, as CallContext is Call.
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
