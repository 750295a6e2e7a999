// Package cfaultloop runs guarded faults in a loop inside one C call,
// through cgoguard's C API: the cost of a fault and recovery without the Go
// side (no cgo call, no Go error). It links against the guard package's C
// core, so only programs that import guard may use it.
package cfaultloop

/*
#cgo CFLAGS: -O2
#include <stdint.h>
#include "../../../include/cgoguard.h"

static void cfl_null_write(void *arg) { (void)arg; *(volatile int *)0 = 42; }

// n faults, each recovered; max_frames as WithMaxFrames. Returns how many
// were recovered.
static long cfl_loop(long n, int max_frames) {
	cgoguard_fault f;
	long ok = 0;
	for (long i = 0; i < n; i++)
		ok += cgoguard_call_frames(cfl_null_write, 0, &f, max_frames) == CGOGUARD_FAULT;
	return ok;
}
*/
import "C"

import "github.com/cgoguard/cgoguard/guard"

// Loop makes n guarded faults in C and returns how many were recovered.
func Loop(n, maxFrames int) int {
	if guard.Install() != nil {
		return 0
	}
	return int(C.cfl_loop(C.long(n), C.int(maxFrames)))
}
