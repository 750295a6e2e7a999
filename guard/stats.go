package guard

import (
	"sync"
	"sync/atomic"
	"time"
)

// Stats are process-wide counters and the last taint.
type Stats struct {
	Recovered      uint64 // faults recovered by a guard since start (the C API's too)
	Interrupted    uint64 // calls interrupted at a deadline or cancellation since start (the C API's too)
	HandlerRepairs uint64 // times a replaced handler was put back in front

	// Counted as this package returned them.
	Crashes       uint64 // *CrashError returned
	Interrupts    uint64 // *InterruptError returned (every interrupted attempt)
	Forced        uint64 // of those, stopped in user code when the grace period ended
	ProcessTaints uint64 // crashes and interrupts whose Taint.Level was TaintProcess
	DumpsWritten  uint64
	DumpsSkipped  uint64 // by the rate limit, for want of a capture slot, or refused by the directory check (ErrDumpDirUnsafe)

	// LastTaint is the taint of the latest crash or interrupt, at LastTime
	// (zero before the first).
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
