package payload

/*
#include <stdint.h>
// The watchdog's counters (csrc/deadline.c), linked from the guard
// package's C code in the same executable.
void cg_wd_stats(uint64_t out[5]);
*/
import "C"

// WatchdogStats are the watchdog's counters since start.
type WatchdogStats struct {
	Passes, Visits, Fences, Sent, NotResent uint64
}

// ReadWatchdogStats reads them.
func ReadWatchdogStats() WatchdogStats {
	var o [5]C.uint64_t
	C.cg_wd_stats(&o[0])
	return WatchdogStats{uint64(o[0]), uint64(o[1]), uint64(o[2]), uint64(o[3]), uint64(o[4])}
}
