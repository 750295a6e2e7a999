//go:build cgo

package main

/*
#include <stdlib.h>
#include <time.h>

// A "vendor library" with bugs.

// Takes about ms milliseconds.
static void work(long ms) {
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0) {
	}
}

// Follows a pointer it was never given: a fault in the library's own code.
static void lookup(long key) {
	volatile int *table = 0;
	table[key] = 1;
}

// Frees memory it does not own: glibc's heap checks abort inside free(), so
// the C heap must be taken as corrupt.
static void release(long key) {
	char buf[32];
	char *volatile p = buf; // hidden from the compiler's warning
	free(p + key);
}

*/
import "C"

// The library's binding: plain cgo calls, as any binding makes them. The
// guardhttp.Handler around the service's handlers (main.go) guards them.

// work spends about ms milliseconds in C.
func work(ms int) { C.work(C.long(ms)) }

// lookup faults in C (SIGSEGV).
func lookup() { C.lookup(7) }

// release aborts inside free() (SIGABRT): the C heap is suspect.
func release() { C.release(8) }
