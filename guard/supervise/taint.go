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
	var mu sync.Mutex
	var times []time.Time
	check := func(t guard.Taint, what string) {
		switch t.Level {
		case guard.TaintProcess:
			Restart(fmt.Sprintf("%s with taint process: %s", what, t.Reason))
		case guard.TaintLibrary:
			if k <= 0 {
				return
			}
			now := time.Now()
			mu.Lock()
			keep := times[:0]
			for _, at := range times {
				if now.Sub(at) < window {
					keep = append(keep, at)
				}
			}
			times = append(keep, now)
			n := len(times)
			mu.Unlock()
			if n >= k {
				Restart(fmt.Sprintf("%d crashes or interrupts with taint library within %v", n, window))
			}
		}
	}
	r1 := guard.OnCrash(func(e *guard.CrashError) { check(e.Taint, "crash") })
	r2 := guard.OnInterrupt(func(e *guard.InterruptError) { check(e.Taint, "interrupt") })
	return func() { r1(); r2() }
}
