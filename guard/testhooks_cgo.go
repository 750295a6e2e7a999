//go:build linux && amd64 && cgo

package guard

/*
#include <stdlib.h>
#include "../csrc/internal.h"

// A slot as the thread saw it right after an arm, and the deadline clock
// around the arm.
struct cg_test_arm {
	struct cg_slot slot;
	uint64_t before, after;
};

static void cg_test_snap(void *p) {
	struct cg_test_arm *a = p;
	a->after = cg_deadline_clock();
	a->slot = *cg_thread.slot;
}

// Arms the calling thread's slot as Call with a deadline does
// (cg_call_deadline_lazy), and takes its fields from inside the call.
static int cg_test_arm_c(struct cg_test_arm *a, int64_t timeout_ns, int64_t grace_ns,
                         int64_t lazy_ns, uintptr_t c0, uintptr_t c1) {
	cgoguard_fault f;
	uintptr_t ctx[2] = {c0, c1};
	a->before = cg_deadline_clock();
	return cg_call_deadline_lazy(cg_test_snap, a, &f, 0, timeout_ns, grace_ns, NULL, lazy_ns, ctx);
}

static void cg_test_copy_slot(struct cg_slot *out) { *out = *cg_thread.slot; }
static uint64_t cg_test_clock(void) { return cg_deadline_clock(); }
static uint64_t cg_test_deadline_add(uint64_t now, uint64_t ns) { return cg_deadline_add(now, ns); }
static struct cg_region *cg_test_region_of(uintptr_t g) { return cg_region_of(g); }
static uint32_t cg_test_chunk_hash(uintptr_t key) { return cg_region_chunk_hash(key); }
static int64_t cg_test_pub_pack(int64_t slot1, int sig, int rc) { return cg_pub_pack(slot1, sig, rc); }
static int32_t cg_test_direct_pack(int64_t r) { return cg_direct_pack(r); }
// A NULL write: a fault in a plain cgo call, for the region tests.
static void cg_test_null_write(void) { *(volatile int *)0 = 1; }
*/
import "C"

import (
	"sync/atomic"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard/internal/cgoboundary"
)

// Test hooks: what the package's tests need from C (a _test.go file cannot
// use cgo).

// threadSlots returns the calling thread's deadline slot as Go code
// reaches it (through the thread pointer) and as C sees it, for a test.
// The caller locks the goroutine to its thread.
func threadSlots() (goView, cView unsafe.Pointer) {
	return *(*unsafe.Pointer)(unsafe.Add(cgoboundary.ThreadPointer(), slotTLSOffset)),
		unsafe.Pointer(C.cg_thread_slot())
}

// slotView is what an arm writes in a deadline slot, as the owner thread
// sees it, and the deadline clock (cg_deadline_clock) read before the arm
// and after it.
type slotView struct {
	gen, deadline, lazyAt uint64
	grace                 int64
	armedDepth            int
	regionG               uintptr
	ctx                   [2]uintptr

	before, after uint64
}

func viewOf(s *C.struct_cg_slot, before, after uint64) slotView {
	return slotView{
		gen: uint64(s.gen), deadline: uint64(s.deadline), lazyAt: uint64(s.lazy_at),
		grace: int64(s.grace), armedDepth: int(s.armed_depth), regionG: uintptr(s.region_g),
		ctx:    [2]uintptr{uintptr(s.ctx[0]), uintptr(s.ctx[1])},
		before: before, after: after,
	}
}

// armFromC arms the calling thread's slot in C, as a Call with a deadline
// does, and returns the slot as it was while armed, and cg_call's result.
// The caller locks the goroutine to its thread.
func armFromC(timeout, grace, lazy int64, w [2]uintptr) (slotView, int) {
	a := (*C.struct_cg_test_arm)(C.calloc(1, C.sizeof_struct_cg_test_arm))
	defer C.free(unsafe.Pointer(a))
	rc := C.cg_test_arm_c(a, C.int64_t(timeout), C.int64_t(grace), C.int64_t(lazy),
		C.uintptr_t(w[0]), C.uintptr_t(w[1]))
	return viewOf(&a.slot, uint64(a.before), uint64(a.after)), int(rc)
}

// armFromGo is armFromC through regionArm and regionDisarm, as DoContext
// arms a region's deadline for goroutine g.
func armFromGo(g uintptr, timeout, grace, lazy int64, w [2]uintptr) (slotView, int) {
	before := uint64(C.cg_test_clock())
	s, gen, rc := regionArm(g, timeout, grace, lazy, w)
	if rc != 0 {
		return slotView{}, int(rc)
	}
	after := uint64(C.cg_test_clock())
	c := (*C.struct_cg_slot)(C.calloc(1, C.sizeof_struct_cg_slot))
	defer C.free(unsafe.Pointer(c))
	C.cg_test_copy_slot(c)
	regionDisarm(s, gen)
	return viewOf(c, before, after), 0
}

// threadSlotView is the calling thread's slot now, as C sees it.
func threadSlotView() slotView {
	c := (*C.struct_cg_slot)(C.calloc(1, C.sizeof_struct_cg_slot))
	defer C.free(unsafe.Pointer(c))
	C.cg_test_copy_slot(c)
	return viewOf(c, 0, 0)
}

// setThreadSlotGen sets the generation of the calling thread's slot, as if
// that many calls had been armed on it.
func setThreadSlotGen(gen uint64) {
	(*C.struct_cg_slot)(*(*unsafe.Pointer)(unsafe.Add(cgoboundary.ThreadPointer(), slotTLSOffset))).gen = C.uint64_t(gen)
}

// deadlineAdd is cg_deadline_add: now plus ns, in now's clock.
func deadlineAdd(now uint64, ns int64) uint64 {
	return uint64(C.cg_test_deadline_add(C.uint64_t(now), C.uint64_t(ns)))
}

// regionOfC is cg_region_of (csrc/internal.h), the handler's lookup.
func regionOfC(g uintptr) *C.struct_cg_region { return C.cg_test_region_of(C.uintptr_t(g)) }

// regionFieldsC are the fields of goroutine g's region as C reads them
// (ok false: C finds none).
func regionFieldsC(g uintptr) (depth, maxFrames, unwinding int32, p unsafe.Pointer, ok bool) {
	r := regionOfC(g)
	if r == nil {
		return 0, 0, 0, nil, false
	}
	return int32(r.depth), int32(r.max_frames), int32(r.unwinding), unsafe.Pointer(r), true
}

// chunkHashC is cg_region_chunk_hash.
func chunkHashC(key uintptr) uint32 { return uint32(C.cg_test_chunk_hash(C.uintptr_t(key))) }

// tscCalibrated reports whether new deadlines are in TSC ticks (CG_DL_TSC).
func tscCalibrated() bool {
	return atomic.LoadInt32((*int32)(unsafe.Pointer(&C.cg_tsc_ok))) != 0
}

// poolRecords returns how many fault records the C pool has mapped and how
// many of them are free (for tests: exact only while no call hands one
// over).
func poolRecords() (mapped, free int) {
	var out [2]C.uint32_t
	C.cg_pool_stats(&out[0])
	return int(out[0]), int(out[1])
}

// poolTake hands the calling thread's last fault record over to the pool,
// as a guarded call's fault does, and returns the pool slot (for tests).
func poolTake() int { return int(uint32(C.cg_pool_publish(C.CGOGUARD_FAULT))) - 1 }

// poolGive releases a slot poolTake returned (for tests).
func poolGive(slot int) { C.cg_pool_release(C.int(slot)) }

// testNullWrite faults in C, in a plain cgo call (for tests: under Do it
// becomes a panic).
func testNullWrite() { C.cg_test_null_write() }

// pcInGo reports whether the handler takes pc for Go code (for tests).
func pcInGo(pc uintptr) bool { return C.cg_pc_in_go(C.uintptr_t(pc)) != 0 }

// packPublished and packDirect pack a result as the C side does
// (cg_pub_pack, cg_direct_pack), for result_test.go.
func packPublished(slot1, sig, rc int) int64 {
	return int64(C.cg_test_pub_pack(C.int64_t(slot1), C.int(sig), C.int(rc)))
}
func packDirect(r int64) int32 { return int32(C.cg_test_direct_pack(C.int64_t(r))) }

// Results and limits the C side packs, for result_test.go.
const (
	resultFault    = C.CGOGUARD_FAULT
	resultTimeout  = C.CGOGUARD_TIMEOUT
	resultCanceled = C.CGOGUARD_CANCELED
	poolSlotsMax   = C.CG_DIRECT_SLOT_MASK - 1 // the largest slot a direct result holds
)
