//go:build linux && amd64 && cgo

package guard

/*
#include "../csrc/internal.h"

void cg_do_land(int rc);
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard/internal/cgoboundary"
)

// region mirrors struct cg_region: a goroutine inside Do. Only that
// goroutine writes its entry (the handler does, on the thread the goroutine
// runs on); so plain stores, seen there in order.
type region struct {
	depth     int32 // Do calls open on it
	maxFrames int32 // the innermost one's WithMaxFrames
	unwinding int32 // set by the handler: the depth a fault is being taken at
	// pending, Go's alone: the depth whose Do may still have to recover a
	// fault's panic (set by the callback when it clears unwinding; each Do
	// restores the value it found when it closes).
	pending int32
}

// regionChunk mirrors struct cg_region_chunk.
type regionChunk struct {
	key     uintptr // (g >> chunkShift) + 1; 0: free
	entries *[perChunk]region
}

const (
	grainShift = C.CG_REGION_GRAIN_SHIFT
	chunkShift = C.CG_REGION_CHUNK_SHIFT
	perChunk   = C.CG_REGION_PER_CHUNK
	chunks     = C.CG_REGION_CHUNKS
)

// The mirrors' sizes and offsets are C's: a compile error otherwise.
var (
	_ = [1]struct{}{}[unsafe.Sizeof(region{})-C.sizeof_struct_cg_region]
	_ = [1]struct{}{}[unsafe.Sizeof(regionChunk{})-C.sizeof_struct_cg_region_chunk]
	_ = [1]struct{}{}[unsafe.Offsetof(region{}.depth)-unsafe.Offsetof(C.struct_cg_region{}.depth)]
	_ = [1]struct{}{}[unsafe.Offsetof(region{}.maxFrames)-unsafe.Offsetof(C.struct_cg_region{}.max_frames)]
	_ = [1]struct{}{}[unsafe.Offsetof(region{}.unwinding)-unsafe.Offsetof(C.struct_cg_region{}.unwinding)]
	_ = [1]struct{}{}[unsafe.Offsetof(regionChunk{}.key)-unsafe.Offsetof(C.struct_cg_region_chunk{}.key)]
	_ = [1]struct{}{}[unsafe.Offsetof(regionChunk{}.entries)-unsafe.Offsetof(C.struct_cg_region_chunk{}.entries)]
)

var (
	regionChunks *[chunks]regionChunk

	// boundarySkew is 0 but in a test build (unknownruntime_tag.go).
	boundarySkew uintptr

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
		l, err := cgoboundary.Check(boundaryCallSite() + boundarySkew)
		if err != nil {
			regionsErr = runtimeUnsupported(err)
			return
		}
		tlsG := cgoboundary.TLSGOffset()
		if tlsG == 0 {
			regionsErr = runtimeUnsupported(errors.New("the runtime's TLS slot for g was not found"))
			return
		}
		regionChunks = (*[chunks]regionChunk)(unsafe.Pointer(&C.cg_region_chunks[0]))
		if C.cg_boundary_init(C.uintptr_t(l.Ret), C.uintptr_t(l.OffSyscallSP),
			C.uintptr_t(l.OffNoCallback), C.uintptr_t(uintptr(unsafe.Pointer(C.cg_do_land))),
			C.intptr_t(tlsG)) != 0 {
			regionsErr = errInstall
			return
		}
		slotTLSOffset = int(C.cg_slot_tls_offset())
		if r := C.cg_boundary_probe(C.uintptr_t(cgoboundary.G())); r != 0 {
			C.cg_boundary_init_clear()
			regionsErr = runtimeUnsupported(fmt.Errorf("check %d failed inside a cgo call", int(r)))
			return
		}
		regionsUp.Store(true)
	})
	return regionsErr
}

// boundaryCallSite returns the word a C function called through a cgo call
// of this goroutine finds at slot S: asmcgocall's return address, unless
// the runtime is laid out otherwise (then cgoboundary.Check refuses it).
// Found at run time: a link-time reference to asmcgocall is refused by Go
// 1.27's linker.
func boundaryCallSite() uintptr {
	return uintptr(C.cg_boundary_discover(C.uintptr_t(cgoboundary.G())))
}

func chunkHash(key uintptr) uint32 { return uint32((uint64(key) * 0x9e3779b97f4a7c15) >> 54) }

// regionOf is cg_region_of: goroutine g's entry, or nil when its chunk has
// none yet.
func regionOf(g uintptr) *region {
	key := g>>chunkShift + 1
	h := chunkHash(key)
	for i := uint32(0); i < chunks; i++ {
		c := &regionChunks[(h+i)&(chunks-1)]
		switch atomic.LoadUintptr(&c.key) {
		case key:
			return &c.entries[(g>>grainShift)&(perChunk-1)]
		case 0:
			return nil
		}
	}
	return nil
}

// regionEnter opens a region for goroutine g and returns its entry and the
// frame count of the region it nests in (meaningless at depth 1).
func regionEnter(g uintptr, maxFrames int32) (*region, int32) {
	e := regionOf(g)
	if e == nil {
		if C.cg_region_chunk_add(C.uintptr_t(g)) != 0 {
			return nil, 0
		}
		e = regionOf(g)
	}
	prev := e.maxFrames
	e.maxFrames = maxFrames
	e.depth++
	return e, prev
}

// regionExit closes the innermost region of entry e.
func regionExit(e *region, prevFrames int32) {
	e.maxFrames = prevFrames
	e.depth--
}
