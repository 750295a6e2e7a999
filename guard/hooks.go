package guard

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Hooks a service uses to decide when to drain and restart, and observe,
// which counts every fault and interrupt returned and runs them.

var hooks struct {
	mu        sync.Mutex
	crash     atomic.Pointer[[]*func(*CrashError)]
	interrupt atomic.Pointer[[]*func(*InterruptError)]
}

// OnCrash registers f to be called with every recovered fault, on the
// goroutine that made the call, after the error is complete (frames, taint,
// dump) and before the call returns it. Under Do, a fault reaches the hooks
// when that Do returns, whoever recovers its panic: also when Go code in f
// recovers it and Do returns nil. Under DoContext they run after its
// deadline is disarmed, so that the deadline does not stop a hook's C
// calls. Hooks run in the order registered;
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
