//go:build linux && amd64 && cgo

package guard

import (
	"context"
	"runtime"
	"sync"
	"time"

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
// The deadline is one absolute time for all of f. A panic that f recovers
// ends neither it nor ctx's cancellation: after a recovered fault the rest
// of f is under both; after a recovered interrupt the deadline has passed
// (or ctx is done), so f's next C call is stopped at once, as after a
// deadline that passed while f ran Go code.
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
		defer fin.observeLater()
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
	// The hooks of the region's faults and interrupts run once the
	// deadline is disarmed (deferred calls run last first): under it,
	// their C calls would be stopped.
	defer fin.observeLater()
	defer regionDisarm(slot, gen)
	if lazy != 0 && ctx.Err() != nil {
		return &NotStartedError{Err: ctx.Err(), Cause: context.Cause(ctx)}
	}
	// ctx, whose words the slot holds until the disarm, stays reachable
	// through fin, in the caller's frame.
	return doRegion(f, int32(c.maxFrames), fin)
}

// regionFinish is what the Do that recovers a fault adds to its error: the
// context and timeout an interrupt is reported against. The errors for the
// hooks are left in observed, for the caller to observe (observeLater)
// after its disarm.
type regionFinish struct {
	ctx      context.Context
	timeout  time.Duration
	observed []error
}

func (fin *regionFinish) observeLater() {
	for _, err := range fin.observed {
		observe(err)
	}
}

// doRegion runs f inside a region of the calling goroutine.
func doRegion(f func(), maxFrames int32, fin *regionFinish) (err error) {
	g := cgoboundary.G()
	e, prev := regionEnter(g, maxFrames)
	if e == nil {
		return errTooManyRegions
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
	taken := takePending(g, d)
	v := recover()
	// Every error taken at this depth reaches the hooks once, whoever
	// recovered it (an interrupt completed with the context first): now,
	// or, given fin, by the caller after its disarm.
	give := func(e error) {
		if fin == nil {
			observe(finishError(e, nil, 0, 1))
			return
		}
		fin.observed = append(fin.observed, finishError(e, fin.ctx, fin.timeout, 1))
	}
	found := false
	for _, e := range taken {
		give(e)
		found = found || v == any(e)
	}
	switch v := v.(type) {
	case *CrashError:
		*err = v
	case *InterruptError:
		if !found {
			give(v)
		}
		*err = v
	case nil:
		// f recovered the fault's panic itself; the hooks still see it.
	default:
		panic(v) // a later panic replaced ours
	}
}

// Faults and interrupts taken in regions whose Do has not closed yet, by
// goroutine and depth: the Do completes them (an interrupt with its
// context) and observes them, whoever recovers their panic. Touched on
// the fault path only.
var pendingErrors struct {
	mu sync.Mutex
	m  map[pendingKey][]error
}

type pendingKey struct {
	g     uintptr
	depth int32
}

func setPending(g uintptr, depth int32, err error) {
	pendingErrors.mu.Lock()
	if pendingErrors.m == nil {
		pendingErrors.m = make(map[pendingKey][]error)
	}
	k := pendingKey{g, depth}
	pendingErrors.m[k] = append(pendingErrors.m[k], err)
	pendingErrors.mu.Unlock()
}

func takePending(g uintptr, depth int32) []error {
	pendingErrors.mu.Lock()
	defer pendingErrors.mu.Unlock()
	k := pendingKey{g, depth}
	l := pendingErrors.m[k]
	if l != nil {
		delete(pendingErrors.m, k)
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
