//go:build linux && amd64 && cgo

package guard

/*
#include "../csrc/internal.h"
*/
import "C"

// The deadline slot, Go's half: csrc/internal.h holds the C half (struct
// cg_slot, cg_arm, cg_disarm, cg_call_deadline_lazy), which Call's
// deadlines use; regionArm and regionDisarm make the same stores for
// DoContext without a cgo call. The layout is C's (C.struct_cg_slot) and so
// are the constants; slot_test.go arms a slot both ways and compares.

import (
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard/internal/cgoboundary"
)

// slotTLSOffset is where a thread's cg_thread.slot lies from its thread
// pointer (set by initRegions).
var slotTLSOffset int

// Deadline encodings of csrc/internal.h.
const (
	dlNone  uint64 = C.CG_DL_NONE      // cancellation only
	dlTSC   uint64 = C.CG_DL_TSC       // in TSC ticks
	genMask uint64 = C.CG_TAG_GEN_MASK // a call's generation
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
		C.cg_region_disarm_slow(s, C.uint64_t(gen))
	}
	s.region_g = 0
}
