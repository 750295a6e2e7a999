//go:build linux && amd64 && cgo

package guard

/*
#include "../csrc/internal.h"

void cg_do_land(int rc);
*/
import "C"

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard/internal/cgoboundary"
)

// region mirrors struct cg_region: a goroutine inside Do. Only that
// goroutine writes its entry once it holds it; the signal handler reads it
// on the thread the goroutine runs on, so plain stores are seen there.
type region struct {
	g         uintptr // the goroutine's g; 0: free (claimed with a CAS)
	depth     int32   // Do calls open on it
	maxFrames int32   // the innermost one's WithMaxFrames
	unwinding int32   // set by the handler: the depth a fault is unwinding to
	_         int32
	_         uint64
}

const (
	regionSlots    = C.CG_REGION_SLOTS
	regionWays     = C.CG_REGION_WAYS
	regionOverflow = C.CG_REGION_OVERFLOW
)

var _ = [1]struct{}{}[unsafe.Sizeof(region{})-C.sizeof_struct_cg_region]

var (
	regions *[regionSlots + regionOverflow]region

	regionsOnce sync.Once
	regionsErr  error
	regionsUp   atomic.Bool
)

// initRegions finds the runtime's cgo boundary, tells the C side, and
// checks from inside a real cgo call that the handler will see what it
// expects. Refused (an error from Do) on a runtime laid out otherwise.
func initRegions() error {
	regionsOnce.Do(func() {
		if err := Install(); err != nil {
			regionsErr = err
			return
		}
		l, err := cgoboundary.Find()
		if err != nil {
			regionsErr = fmt.Errorf("%w: %v", ErrRuntimeUnsupported, err)
			return
		}
		regions = (*[regionSlots + regionOverflow]region)(unsafe.Pointer(&C.cg_regions[0]))
		if C.cgoguard_boundary_init(C.uintptr_t(l.Ret), C.uintptr_t(l.OffSyscallSP),
			C.uintptr_t(l.OffNoCallback), C.uintptr_t(uintptr(unsafe.Pointer(C.cg_do_land)))) != 0 {
			regionsErr = ErrInstall
			return
		}
		slotTLSOffset = int(C.cgoguard_slot_tls_offset())
		if r := C.cgoguard_boundary_probe(C.uintptr_t(cgoboundary.G())); r != 0 {
			C.cgoguard_boundary_init_clear()
			regionsErr = fmt.Errorf("%w: check %d failed inside a cgo call", ErrRuntimeUnsupported, int(r))
			return
		}
		regionsUp.Store(true)
	})
	return regionsErr
}

func regionHash(g uintptr) uint32 { return uint32((uint64(g) * 0x9e3779b97f4a7c15) >> 50) }

// regionEnter opens a region for goroutine g and returns its entry and the
// frame count of the region it nests in (0 if none).
func regionEnter(g uintptr, maxFrames int32) (*region, int32) {
	h := regionHash(g)
	var free *region
	for i := uint32(0); i < regionWays; i++ {
		e := &regions[(h+i)&(regionSlots-1)]
		switch atomic.LoadUintptr(&e.g) {
		case g:
			prev := e.maxFrames
			e.maxFrames = maxFrames
			e.depth++
			return e, prev
		case 0:
			if free == nil {
				free = e
			}
		}
	}
	if n := int(atomic.LoadUint32((*uint32)(unsafe.Pointer(&C.cg_region_overflow_used)))); n > 0 {
		for i := 0; i < n; i++ {
			e := &regions[regionSlots+i]
			if atomic.LoadUintptr(&e.g) == g {
				prev := e.maxFrames
				e.maxFrames = maxFrames
				e.depth++
				return e, prev
			}
		}
	}
	if free != nil && atomic.CompareAndSwapUintptr(&free.g, 0, g) {
		free.maxFrames = maxFrames
		free.depth = 1
		return free, 0
	}
	return regionEnterSlow(g, h, maxFrames)
}

// regionEnterSlow claims a free entry when the first choice was taken
// meanwhile or its ways are all in use: the ways again, then the overflow
// area. Nil when every entry is in use.
func regionEnterSlow(g uintptr, h uint32, maxFrames int32) (*region, int32) {
	for i := uint32(0); i < regionWays; i++ {
		if e := &regions[(h+i)&(regionSlots-1)]; atomic.CompareAndSwapUintptr(&e.g, 0, g) {
			e.maxFrames = maxFrames
			e.depth = 1
			return e, 0
		}
	}
	used := (*uint32)(unsafe.Pointer(&C.cg_region_overflow_used))
	for i := 0; i < regionOverflow; i++ {
		e := &regions[regionSlots+i]
		if !atomic.CompareAndSwapUintptr(&e.g, 0, g) {
			continue
		}
		e.maxFrames = maxFrames
		e.depth = 1
		for {
			n := atomic.LoadUint32(used)
			if uint32(i) < n || atomic.CompareAndSwapUint32(used, n, uint32(i+1)) {
				break
			}
		}
		return e, 0
	}
	return nil, 0
}

// regionExit closes the innermost region of entry e. Freeing the entry is
// a plain store: another goroutine's CAS sees it soon enough, and the
// handler only ever looks on this goroutine's thread.
func regionExit(e *region, prevFrames int32) {
	e.maxFrames = prevFrames
	if e.depth--; e.depth == 0 {
		e.g = 0
	}
}
