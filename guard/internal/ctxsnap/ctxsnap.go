//go:build cgo

// Package ctxsnap takes a snapshot of the calling thread's registers and
// stack inside two named C functions, in the form the signal handler
// captures at a fault, so that tests can write a minidump of a real thread
// state and have a debugger unwind and name it.
package ctxsnap

/*
#cgo CFLAGS: -O0 -fno-omit-frame-pointer
#include <stdlib.h>
#include "ctxsnap.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Available reports whether Take works in this build (it needs cgo).
const Available = true

// The C functions of the snapshot: InnerFunc takes it and is called by
// OuterFunc.
const (
	InnerFunc = "ctxsnap_inner"
	OuterFunc = "ctxsnap_outer"
)

// Snapshot is one thread's state, as the signal handler would capture it.
type Snapshot struct {
	Regs       [23]uint64 // glibc's gregs order
	FPRegs     []byte     // 512-byte fxsave image
	StackStart uint64     // address of Stack[0]: 128 bytes (the red zone) below the RSP of Regs
	Stack      []byte
	ThreadID   int
}

// Take returns a snapshot taken in InnerFunc, with at most maxStack bytes of
// stack.
func Take(maxStack int) (*Snapshot, error) {
	out := (*C.ctxsnap_out)(C.calloc(1, C.size_t(unsafe.Sizeof(C.ctxsnap_out{}))))
	defer C.free(unsafe.Pointer(out))
	out.stack = (*C.uint8_t)(C.malloc(C.size_t(maxStack)))
	defer C.free(unsafe.Pointer(out.stack))
	out.stack_cap = C.uint64_t(maxStack)
	if rc := C.ctxsnap_outer(out); rc != 0 {
		return nil, fmt.Errorf("ctxsnap: snapshot failed (%d)", int(rc))
	}
	s := &Snapshot{
		FPRegs:     C.GoBytes(unsafe.Pointer(&out.fx[0]), 512),
		StackStart: uint64(out.stack_start),
		Stack:      C.GoBytes(unsafe.Pointer(out.stack), C.int(out.stack_len)),
		ThreadID:   int(out.tid),
	}
	for i := range s.Regs {
		s.Regs[i] = uint64(out.gregs[i])
	}
	return s, nil
}
