//go:build linux && amd64 && cgo

package guard

/*
#include "../csrc/internal.h"
*/
import "C"

// ReadStats returns the process-wide counters.
func ReadStats() Stats {
	s := Stats{HandlerRepairs: uint64(C.cgoguard_handler_repairs())}
	readGoStats(&s)
	return s
}
