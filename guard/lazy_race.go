//go:build race

package guard

import "sync/atomic"

// The race detector does not see the hand-over of a context through C
// memory (lazy_cgo.go): give it the happens-before edge the C side's
// atomics and the eventfd provide.
var lazyRaceEdge atomic.Uint64

func lazyRelease() { lazyRaceEdge.Add(1) }
func lazyAcquire() { lazyRaceEdge.Load() }
