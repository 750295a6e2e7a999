//go:build linux && amd64 && cgo

package guard

/*
#include "../csrc/internal.h"
*/
import "C"

// ReadStats returns the process-wide counters.
func ReadStats() Stats {
	s := Stats{
		Recovered:      uint64(C.cgoguard_recovered()),
		Interrupted:    uint64(C.cgoguard_interrupted()),
		HandlerRepairs: uint64(C.cgoguard_handler_repairs()),
	}
	readGoStats(&s)
	return s
}
