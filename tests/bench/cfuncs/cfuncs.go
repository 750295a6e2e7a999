// Package cfuncs holds the C functions the benchmarks call, both in the
// benchmark process (guarded or not) and in the go-plugin process. It does
// not import the guard package, so the plugin process runs them unguarded.
package cfuncs

/*
#cgo CFLAGS: -O2 -g
#include <stdlib.h>
#include "cfuncs.h"
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Function pointers, of C type void (*)(void *), for guard.Call.
var (
	Empty     = unsafe.Pointer(C.bf_empty)
	NullWrite = unsafe.Pointer(C.bf_null_write)
	// ReadPipe blocks in read() on a pipe nobody writes to; its argument
	// is a C long that receives read's result. Call PipeSetup first.
	ReadPipe = unsafe.Pointer(C.bf_read_pipe)
)

// RawEmpty calls bf_empty(arg) through plain cgo: the baseline. arg goes
// through cgo's pointer check, as in guard.Call.
func RawEmpty(arg unsafe.Pointer) { C.bf_empty(arg) }

// RawNullWrite faults in C with no guard: in a Go program the process dies.
func RawNullWrite() { C.bf_null_write(nil) }

// PipeSetup creates the pipe ReadPipe waits on.
func PipeSetup() error {
	if C.bf_pipe_setup() != 0 {
		return errors.New("cfuncs: pipe failed")
	}
	return nil
}

// NewLong allocates a C long for ReadPipe's result; free it with Free.
func NewLong() unsafe.Pointer { return C.calloc(1, C.size_t(unsafe.Sizeof(C.long(0)))) }

// Free releases memory from NewLong.
func Free(p unsafe.Pointer) { C.free(p) }

// SeedCall runs fn(arg) under the seed-style wrapper: handlers installed
// with sigaction and a setitimer armed around the call, then disarmed and
// restored. It returns 0 or the signal that ended the call. Single-threaded
// only: lock the goroutine to its thread.
func SeedCall(fn, arg unsafe.Pointer, timeoutUs int) int {
	return int(C.bf_seed_call(C.bf_fn(fn), arg, C.long(timeoutUs)))
}
