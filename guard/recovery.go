package guard

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// What the process has been through: counters since start, the last taint,
// and hooks a service uses to decide when to drain and restart.

var stats struct {
	crashes, interrupts, forced, processTaints atomic.Uint64
	dumpsWritten, dumpsSkipped                 atomic.Uint64

	mu       sync.Mutex
	last     Taint
	lastTime time.Time
}

var hooks struct {
	mu        sync.Mutex
	crash     atomic.Pointer[[]*func(*CrashError)]
	interrupt atomic.Pointer[[]*func(*InterruptError)]
}

// OnCrash registers f to be called with every recovered fault, on the
// goroutine that made the call, after the error is complete (frames, taint,
// dump) and before the call returns it. Under Do, a fault reaches the hooks
// before its panic unwinds f, whoever recovers it: also when Go code in f
// recovers the panic and Do returns nil. Hooks run in the order registered;
// a panic in one propagates to the caller. The returned function removes f.
//
// A typical use counts faults with Taint.Level == TaintProcess, or all of
// them, and starts a graceful restart past a threshold.
func OnCrash(f func(*CrashError)) (remove func()) {
	return addHook(&hooks.crash, f)
}

// OnInterrupt is OnCrash for interrupted calls (timeouts, cancellations):
// every attempt that was interrupted, retried or not.
func OnInterrupt(f func(*InterruptError)) (remove func()) {
	return addHook(&hooks.interrupt, f)
}

func addHook[F any](list *atomic.Pointer[[]*F], f F) func() {
	p := &f
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	var l []*F
	if old := list.Load(); old != nil {
		l = append(l, *old...)
	}
	l = append(l, p)
	list.Store(&l)
	return func() {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		old := list.Load()
		if old == nil {
			return
		}
		var l []*F
		for _, q := range *old {
			if q != p {
				l = append(l, q)
			}
		}
		list.Store(&l)
	}
}

// observe counts err, when it is a recovered fault or an interrupt, and runs
// the hooks. It returns err.
func observe(err error) error {
	// A type switch first: errors.As makes its target escape (an
	// allocation per fault); errors come here unwrapped.
	ce, _ := err.(*CrashError)
	ie, _ := err.(*InterruptError)
	switch {
	case err == nil:
	case ce != nil || ie == nil && errors.As(err, &ce):
		stats.crashes.Add(1)
		noteTaint(ce.Taint, ce.Time)
		if l := hooks.crash.Load(); l != nil {
			for _, f := range *l {
				(*f)(ce)
			}
		}
	case ie != nil || errors.As(err, &ie):
		stats.interrupts.Add(1)
		if ie.Forced {
			stats.forced.Add(1)
		}
		noteTaint(ie.Taint, ie.Time)
		if l := hooks.interrupt.Load(); l != nil {
			for _, f := range *l {
				(*f)(ie)
			}
		}
	}
	return err
}

func noteTaint(t Taint, at time.Time) {
	if t.Level == TaintProcess {
		stats.processTaints.Add(1)
	}
	stats.mu.Lock()
	if at.IsZero() {
		at = time.Now()
	}
	stats.last, stats.lastTime = t, at
	stats.mu.Unlock()
}

// callerStack returns the calling goroutine's stack, from the first frame
// outside this package outward. Under Do it is called in the cgo callback
// that turns a fault into a panic: the callback's own frames
// (runtime.cgocallback*, the export wrapper) are skipped too, so the stack
// starts at the cgo call that faulted (runtime.cgocall). On the fault path: which PCs belong to this
// package is remembered (pkgPCs), so a repeated fault site costs no
// function lookup; one allocation.
func callerStack() []uintptr {
	var buf [64]uintptr
	pcs := buf[:runtime.Callers(3, buf[:])]
	for len(pcs) > 0 && inPackage(pcs[0]) {
		pcs = pcs[1:]
	}
	return append([]uintptr(nil), pcs...)
}

// pkgPCs caches inPackage's verdicts: entry pc<<1 | verdict, direct-mapped.
var pkgPCs [256]atomic.Uintptr

// inPackage reports whether the return address pc is in a function of this
// package (or of the runtime's cgo callback path). The call is the instruction before it; a function of this
// package inlined into the caller's code counts as the caller's.
func inPackage(pc uintptr) bool {
	e := &pkgPCs[(pc^pc>>8)%uintptr(len(pkgPCs))]
	if v := e.Load(); v>>1 == pc {
		return v&1 != 0
	}
	f := runtime.FuncForPC(pc - 1)
	in := f != nil && (strings.HasPrefix(f.Name(), packagePath+".") ||
		strings.HasPrefix(f.Name(), "runtime.cgocallback") || strings.HasPrefix(f.Name(), "_cgoexp_"))
	v := pc << 1
	if in {
		v |= 1
	}
	e.Store(v)
	return in
}

const packagePath = "github.com/cgoguard/cgoguard/guard"
