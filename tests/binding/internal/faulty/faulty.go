// Package faulty is C that faults, for Go functions registered with the
// SQLite driver to call.
package faulty

/*
#include <stdlib.h>

static void faulty_segv(void) { *(volatile int *)0 = 1; }
static void faulty_abort(void) { abort(); }
*/
import "C"

// Segv writes through a null pointer in C.
func Segv() { C.faulty_segv() }

// Abort calls abort() in C.
func Abort() { C.faulty_abort() }
