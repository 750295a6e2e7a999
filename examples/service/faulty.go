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

static void *fn_work(void) { return (void *)work; }
static void *fn_lookup(void) { return (void *)lookup; }
static void *fn_release(void) { return (void *)release; }
*/
import "C"

import (
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
)

var (
	cWork    = unsafe.Pointer(C.fn_work())
	cLookup  = unsafe.Pointer(C.fn_lookup())
	cRelease = unsafe.Pointer(C.fn_release())
)

func work(ms int) error {
	_, err := guard.CallFunc(cWork, uintptr(ms))
	return err
}

func lookup() error {
	_, err := guard.CallFunc(cLookup, 7)
	return err
}

func release() error {
	_, err := guard.CallFunc(cRelease, 8)
	return err
}
