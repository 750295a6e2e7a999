//go:build linux && amd64 && cgo

package guard

/*
#include "../csrc/internal.h"
*/
import "C"

import (
	"context"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard/internal/cgoboundary"
)

// Do runs f on the calling goroutine. A native fault in C code that f
// reaches through any cgo call — its own, or one made inside a binding —
// ends f at that point: Do returns a *CrashError (errors.Is(err,
// ErrCrash)). A Go panic in f propagates out of Do unchanged, and
// runtime.Goexit in f works as without Do.
//
// The fault is turned into a Go panic whose value is the *CrashError, so
// the Go code between Do and the cgo call is unwound: its deferred calls
// run, and state it changed without a defer may be inconsistent. Only cgo
// calls made by the goroutine running f, while f runs, are covered; not
// goroutines f starts, nor C threads. See docs/do.md.
//
// WithTimeout, WithGrace, WithMaxFrames and WithDumpDir mean what they
// mean for Call; with WithTimeout, Do is DoContext with
// context.Background(). WithRetries is refused: running f again is the
// caller's decision.
func Do(f func(), opts ...Option) error {
	if f == nil {
		return ErrNilFunction
	}
	if len(opts) != 0 {
		return doWith(context.Background(), f, opts)
	}
	if !regionsUp.Load() {
		if err := initRegions(); err != nil {
			return err
		}
	}
	return doRegion(f, DefaultMaxFrames, nil)
}

// DoContext is Do that also stops a C call f is blocked in when ctx is
// done or the WithTimeout deadline passes, as CallContext does: Do returns
// an *InterruptError (matching ErrTimeout and context.DeadlineExceeded, or
// context.Canceled and context.Cause(ctx)). Go code in f is never
// interrupted: a deadline that passes while f runs Go code takes effect
// at its next C call (at once with WithGrace(0), even inside malloc, which
// the error's Taint reports). A ctx already done returns a
// *NotStartedError without running f.
//
// The goroutine is locked to its thread while f runs (so that the timeout
// signal reaches the thread running its C call), and a C call with a
// deadline of its own (Call with WithTimeout or a cancellable context)
// inside f returns ErrNestedDeadline.
func DoContext(ctx context.Context, f func(), opts ...Option) error {
	if f == nil {
		return ErrNilFunction
	}
	return doWith(ctx, f, opts)
}

// doWith is Do and DoContext with options or a context.
func doWith(ctx context.Context, f func(), opts []Option) error {
	if err := contextError(ctx); err != nil {
		return err
	}
	var c callConfig
	if d, ok := singleTimeout(opts); ok {
		// The common case of a deadline alone, without building a
		// configuration option by option.
		c = defaultConfig
		c.timeout = d
	} else if c = buildConfig(opts); c.err != nil {
		return c.err
	} else if c.retries != 0 {
		return errDoRetries
	}
	if !regionsUp.Load() {
		if err := initRegions(); err != nil {
			return err
		}
	}
	timeout, err := callTimeout(ctx, c.timeout)
	if err != nil {
		return err
	}
	if c.dumpDirSet {
		// The fault path, in the callback, needs the directory.
		g := cgoboundary.G()
		pushRegionDumpDir(g, c.dumpDir)
		defer popRegionDumpDir(g)
	}
	fin := regionFinish{ctx: ctx, timeout: c.timeout}
	if timeout <= 0 && ctx.Done() == nil {
		return doRegion(f, int32(c.maxFrames), &fin)
	}
	return doDeadline(ctx, f, &c, timeout, &fin)
}

// doDeadline runs f in a region with the calling thread's deadline slot
// armed for it: a deadline, and a cancellable ctx registered lazily as for
// CallContext (lazy_cgo.go).
func doDeadline(ctx context.Context, f func(), c *callConfig, timeout int64, fin *regionFinish) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var lazy int64
	var w [2]uintptr
	if ctx.Done() != nil {
		lazyStart()
		lazy = lazyThreshold
		w = lazyWords(&ctx)
	}
	grace := int64(c.grace)
	if c.grace < 0 {
		grace = -1
	}
	slot, gen, rc := regionArm(cgoboundary.G(), timeout, grace, lazy, w)
	if rc != 0 {
		return resultError(rc, c)
	}
	defer regionDisarm(slot, gen)
	if lazy != 0 && ctx.Err() != nil {
		return &NotStartedError{Err: ctx.Err(), Cause: context.Cause(ctx)}
	}
	// ctx, whose words the slot holds until the disarm, stays reachable
	// through fin, in the caller's frame.
	return doRegion(f, int32(c.maxFrames), fin)
}

// slotTLSOffset is where a thread's cg_thread_slot lies from its thread
// pointer (set by initRegions).
var slotTLSOffset int

// Deadline encodings of csrc/internal.h.
const (
	dlNone  = ^uint64(0) - 1 // CG_DL_NONE: cancellation only
	dlTSC   = 1 << 63        // CG_DL_TSC: in TSC ticks
	genMask = 1<<48 - 1      // CG_TAG_GEN_MASK
)

// nanotime is CLOCK_MONOTONIC in ns, the clock of a deadline without
// CG_DL_TSC.
//
// Allowed: the runtime pushes it (runtime/time_nofake.go, Go 1.25 to 1.27).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// regionArm is cg_arm (csrc/internal.h) for a region, without a cgo call
// once the thread has a slot (a thread's first deadline creates it, in C):
// the goroutine is locked to the thread, whose slot is reached through its
// thread pointer. It returns the slot and the call's generation, or a
// CGOGUARD_E* code.
func regionArm(g uintptr, timeout, grace, lazy int64, w [2]uintptr) (*C.struct_cg_slot, uint64, int64) {
	slot := (**C.struct_cg_slot)(unsafe.Add(cgoboundary.ThreadPointer(), slotTLSOffset))
	if *slot == nil {
		if rc := C.cg_call_deadline_slow(); rc != C.CGOGUARD_OK {
			return nil, 0, int64(rc)
		}
	}
	s := *slot
	if atomic.LoadUint64((*uint64)(unsafe.Pointer(&s.deadline))) != 0 {
		return nil, 0, C.CGOGUARD_ENESTEDDEADLINE
	}
	gen := (uint64(s.gen) + 1) & genMask
	// cg_deadline_clock and cg_deadline_add: TSC ticks tagged CG_DL_TSC
	// once calibrated, CLOCK_MONOTONIC ns before.
	tsc := atomic.LoadInt32((*int32)(unsafe.Pointer(&C.cg_tsc_ok))) != 0
	var now uint64
	if tsc {
		now = cgoboundary.ReadTSC() | dlTSC
	} else {
		now = uint64(nanotime())
	}
	add := func(ns int64) uint64 {
		if tsc {
			hi, lo := bits.Mul64(uint64(ns), uint64(C.cg_ticks_per_ns_q32))
			return now + (hi<<32 | lo>>32)
		}
		return now + uint64(ns)
	}
	dl := dlNone
	if timeout > 0 {
		dl = add(timeout)
	}
	var la uint64
	if lazy > 0 {
		la = add(lazy)
		s.ctx[0], s.ctx[1] = C.uintptr_t(w[0]), C.uintptr_t(w[1])
	}
	// Plain stores, in cg_arm's order (x86 keeps stores in order, and the
	// compiler does not move them past the atomic store below); the
	// deadline last, with a full fence.
	s.grace = C.int64_t(grace)
	s.lazy_at = C.uint64_t(la)
	s.armed_depth = 0
	s.region_g = C.uintptr_t(g)
	s.gen = C.uint64_t(gen)
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&s.deadline)), dl)
	first := dl
	if la != 0 && la < dl {
		first = la
	}
	watch := (*uint64)(unsafe.Pointer(&s.watch_ns))
	if first&dlTSC != 0 {
		watch = (*uint64)(unsafe.Pointer(&s.watch_tsc))
	}
	if first != dlNone && first < atomic.LoadUint64(watch) {
		C.cg_arm_report(s, C.uint64_t(first))
	}
	return s, gen, 0
}

// regionDisarm is cg_disarm (csrc/internal.h) for a region, without a cgo
// call on its fast path: store the deadline 0, then load fired_gen and
// lazy_gen (the watchdog stores those, fences every thread, then loads the
// deadline; Go's atomic store is a full fence anyway). Only a call the
// watchdog signalled or handed to the registrar needs C.
func regionDisarm(s *C.struct_cg_slot, gen uint64) {
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&s.deadline)), 0)
	if atomic.LoadUint64((*uint64)(unsafe.Pointer(&s.fired_gen))) == gen ||
		atomic.LoadUint64((*uint64)(unsafe.Pointer(&s.lazy_gen))) == gen {
		C.cgoguard_region_disarm_slow(s, C.uint64_t(gen))
	}
	s.region_g = 0
}

// regionFinish is what the Do that recovers a fault adds to its error: the
// context and timeout an interrupt is reported against.
type regionFinish struct {
	ctx     context.Context
	timeout time.Duration
}

// doRegion runs f inside a region of the calling goroutine.
func doRegion(f func(), maxFrames int32, fin *regionFinish) (err error) {
	g := cgoboundary.G()
	e, prev := regionEnter(g, maxFrames)
	if e == nil {
		return ErrTooManyRegions
	}
	defer leaveRegion(g, e, prev, e.pending, fin, &err)
	f()
	return nil
}

// leaveRegion, deferred by doRegion, recovers the panic of a fault taken in
// this region (and only that: a Go panic goes on), completes its error,
// and closes the region. prevPending is the pending depth the region had
// when this Do opened it (an outer Do's fault may be unwinding through a
// deferred call that called this Do).
func leaveRegion(g uintptr, e *region, prev, prevPending int32, fin *regionFinish, err *error) {
	d := e.depth
	if e.pending != d && e.unwinding != d {
		e.pending = prevPending
		regionExit(e, prev)
		return
	}
	// A fault was taken at this depth. Its panic is in flight unless f
	// recovered it.
	e.unwinding = 0
	e.pending = prevPending
	regionExit(e, prev)
	ies := takePendingInterrupts(g, d)
	finish := func(ie *InterruptError) error {
		if fin != nil {
			return observe(finishError(ie, fin.ctx, fin.timeout, 1))
		}
		return observe(finishError(ie, nil, 0, 1))
	}
	v := recover()
	for _, ie := range ies {
		if v != any(ie) {
			finish(ie) // recovered by f: its hooks run now
		}
	}
	switch v := v.(type) {
	case *CrashError:
		*err = v // observed when it was raised
	case *InterruptError:
		*err = finish(v)
	case nil:
		// f recovered the fault's panic itself (and the hooks have seen
		// it).
	default:
		panic(v) // a later panic replaced ours
	}
}

// Interrupts taken in regions whose Do has not closed yet, by goroutine
// and depth: the Do completes them with its context and observes them,
// whoever recovers their panic. Touched on the fault path only.
var pendingInterrupts struct {
	mu sync.Mutex
	m  map[pendingKey][]*InterruptError
}

type pendingKey struct {
	g     uintptr
	depth int32
}

func setPendingInterrupt(g uintptr, depth int32, ie *InterruptError) {
	pendingInterrupts.mu.Lock()
	if pendingInterrupts.m == nil {
		pendingInterrupts.m = make(map[pendingKey][]*InterruptError)
	}
	k := pendingKey{g, depth}
	pendingInterrupts.m[k] = append(pendingInterrupts.m[k], ie)
	pendingInterrupts.mu.Unlock()
}

func takePendingInterrupts(g uintptr, depth int32) []*InterruptError {
	pendingInterrupts.mu.Lock()
	defer pendingInterrupts.mu.Unlock()
	k := pendingKey{g, depth}
	l := pendingInterrupts.m[k]
	if l != nil {
		delete(pendingInterrupts.m, k)
	}
	return l
}

// Regions with WithDumpDir, per goroutine (innermost last): the fault
// path, in the callback, writes the dump there.
var regionDumpDirs struct {
	mu sync.Mutex
	m  map[uintptr][]string
}

func pushRegionDumpDir(g uintptr, dir string) {
	regionDumpDirs.mu.Lock()
	if regionDumpDirs.m == nil {
		regionDumpDirs.m = make(map[uintptr][]string)
	}
	regionDumpDirs.m[g] = append(regionDumpDirs.m[g], dir)
	regionDumpDirs.mu.Unlock()
}

func popRegionDumpDir(g uintptr) {
	regionDumpDirs.mu.Lock()
	if l := regionDumpDirs.m[g]; len(l) <= 1 {
		delete(regionDumpDirs.m, g)
	} else {
		regionDumpDirs.m[g] = l[:len(l)-1]
	}
	regionDumpDirs.mu.Unlock()
}

// regionError builds the error of a fault or interrupt taken in a region
// of goroutine g, as far as the callback can: the Do that recovers it
// completes an interrupt with its context.
func regionError(g uintptr, r int64) error {
	var c *callConfig
	regionDumpDirs.mu.Lock()
	if l := regionDumpDirs.m[g]; len(l) > 0 {
		c = &callConfig{dumpDir: l[len(l)-1], dumpDirSet: true}
	}
	regionDumpDirs.mu.Unlock()
	return resultError(r, c)
}

// singleTimeout reports whether opts is one valid WithTimeout, and its
// duration.
func singleTimeout(opts []Option) (time.Duration, bool) {
	if len(opts) != 1 {
		return 0, false
	}
	d, ok := opts[0].(timeoutOption)
	return time.Duration(d), ok && d > 0
}

// threadSlots returns the calling thread's deadline slot as Go code
// reaches it (through the thread pointer) and as C sees it, for a test.
// The caller locks the goroutine to its thread.
func threadSlots() (goView, cView unsafe.Pointer) {
	return *(*unsafe.Pointer)(unsafe.Add(cgoboundary.ThreadPointer(), slotTLSOffset)),
		unsafe.Pointer(C.cgoguard_thread_slot())
}
