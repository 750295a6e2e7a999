//go:build cgo

// The land function of a guard region (csrc/boundary.c): the signal
// handler resumes a faulting or interrupted thread here, as if asmcgocall
// had called it, with the C frames above abandoned. It hands the fault
// record to the Go package and calls back into Go, which panics; the panic
// never comes back here.
#include <stdint.h>
#include <stdlib.h>

#include "_cgo_export.h"

int64_t cg_pool_publish(int rc);

__attribute__((visibility("hidden"))) void cg_do_land(int rc) {
	cgoguardUnwindRegion(cg_pool_publish(rc));
	abort(); /* not reached: cgoguardUnwindRegion panics */
}
