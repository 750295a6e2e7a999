package guard

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats are process-wide counters, since the process started, of what
// this package returned, and the last taint. Each error is counted when
// the call returns it, as the hooks (OnCrash, OnInterrupt) see it: under
// Do, also a fault whose panic Go code inside f recovered.
type Stats struct {
	// Crashes is how many native faults were recovered, each a
	// *CrashError.
	Crashes uint64
	// Interrupts is how many calls were interrupted at a deadline or a
	// cancellation, each an *InterruptError: every attempt, with
	// WithRetries.
	Interrupts uint64
	// Forced is how many of the Interrupts stopped the thread in user code
	// when the grace period ended (InterruptError.Forced).
	Forced uint64
	// ProcessTaints is how many of the Crashes and Interrupts had a
	// Taint.Level of TaintProcess.
	ProcessTaints uint64
	// DumpsWritten is how many crash dumps were written.
	DumpsWritten uint64
	// DumpsSkipped is how many crash dumps that were due were not written:
	// by the rate limit, for want of a capture slot, or because the
	// directory failed its check (ErrDumpDirUnsafe).
	DumpsSkipped uint64
	// HandlerRepairs is how many times cgoguard's signal handler was put
	// back in front of one installed after it (which it then chains to);
	// see VerifyHandlers.
	HandlerRepairs uint64

	// LastTaint is the taint of the latest crash or interrupt, at LastTime
	// (both zero before the first).
	LastTaint Taint
	LastTime  time.Time
}

// What the process has been through, as this package counted it: counters
// since start and the last taint (observe, hooks.go, updates them).
var stats struct {
	crashes, interrupts, forced, processTaints atomic.Uint64
	dumpsWritten, dumpsSkipped                 atomic.Uint64

	mu       sync.Mutex
	last     Taint
	lastTime time.Time
}

// readGoStats fills the counters kept on the Go side.
func readGoStats(s *Stats) {
	s.Crashes = stats.crashes.Load()
	s.Interrupts = stats.interrupts.Load()
	s.Forced = stats.forced.Load()
	s.ProcessTaints = stats.processTaints.Load()
	s.DumpsWritten = stats.dumpsWritten.Load()
	s.DumpsSkipped = stats.dumpsSkipped.Load()
	stats.mu.Lock()
	s.LastTaint, s.LastTime = stats.last, stats.lastTime
	stats.mu.Unlock()
}
