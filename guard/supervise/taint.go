package supervise

import (
	"fmt"
	"sync"
	"time"

	"github.com/cgoguard/cgoguard/guard"
)

// RestartOnTaint wires cgoguard's OnCrash and OnInterrupt hooks to the
// recommended policy: Restart after a crash or interrupt whose Taint.Level
// is TaintProcess, and after k with TaintLibrary within window (k <= 0: never
// for library taints). The worker keeps serving until its replacement is
// ready. The returned function removes the hooks.
func RestartOnTaint(k int, window time.Duration) (remove func()) {
	p := &taintPolicy{k: k, window: window, restart: Restart}
	r1 := guard.OnCrash(func(e *guard.CrashError) { p.observe(e.Taint, "crash", time.Now()) })
	r2 := guard.OnInterrupt(func(e *guard.InterruptError) { p.observe(e.Taint, "interrupt", time.Now()) })
	return func() { r1(); r2() }
}

// taintPolicy is RestartOnTaint's policy.
type taintPolicy struct {
	k       int
	window  time.Duration
	restart func(reason string)

	mu    sync.Mutex
	times []time.Time // library taints within the window
}

func (p *taintPolicy) observe(t guard.Taint, what string, now time.Time) {
	switch t.Level {
	case guard.TaintProcess:
		p.restart(fmt.Sprintf("%s with taint process: %s", what, t.Reason))
	case guard.TaintLibrary:
		if p.k <= 0 {
			return
		}
		p.mu.Lock()
		keep := p.times[:0]
		for _, at := range p.times {
			if now.Sub(at) < p.window {
				keep = append(keep, at)
			}
		}
		p.times = append(keep, now)
		n := len(p.times)
		p.mu.Unlock()
		if n >= p.k {
			p.restart(fmt.Sprintf("%d crashes or interrupts with taint library within %v", n, p.window))
		}
	}
}
