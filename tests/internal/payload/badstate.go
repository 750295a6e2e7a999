package payload

/*
#include <stdlib.h>
#include "badstate.h"
*/
import "C"

import "unsafe"

// Payloads that fault with the machine state broken (badstate.c).
var (
	// BadRSP moves RSP to an unmapped page, then writes through NULL.
	BadRSP = unsafe.Pointer(C.pl_bad_rsp)
	// BadRIPRSP moves RSP to an unmapped page and jumps to address 0x10.
	BadRIPRSP = unsafe.Pointer(C.pl_bad_rip_rsp)
	// CallUnmapped calls through a pointer to an unmapped address.
	CallUnmapped = unsafe.Pointer(C.pl_call_unmapped)
)

// SpinBadRSP spins about n iterations in C with RSP at an unmapped page,
// then returns normally.
func SpinBadRSP(n int64) {
	p := (*C.long)(C.malloc(C.size_t(unsafe.Sizeof(C.long(0)))))
	defer C.free(unsafe.Pointer(p))
	*p = C.long(n)
	C.pl_spin_bad_rsp(unsafe.Pointer(p))
}

// ProbeInstall installs a probing library's SIGSEGV handler (badstate.c)
// in front of the current one; how 0: SA_SIGINFO and sigsetjmp(buf, 1); 1:
// SA_NODEFER and sigsetjmp(buf, 0).
func ProbeInstall(how int) error {
	if C.pl_probe_install(C.int(how)) != 0 {
		return errProbeInstall
	}
	return nil
}

type probeError struct{}

func (probeError) Error() string { return "payload: sigaction failed" }

var errProbeInstall error = probeError{}

// ProbeRead reports whether the long at addr can be read, by reading it
// under the probing library's handler.
func ProbeRead(addr uintptr) bool { return C.pl_probe_read(C.uintptr_t(addr)) != 0 }

// ProbeFaults is how many probes faulted.
func ProbeFaults() int { return int(C.pl_probe_fault_count()) }
