package payload

/*
#include "payload.h"
void pl_invoke(pl_fn fn, void *arg);
void pl_invoke_nocb(pl_fn fn, void *arg);
#cgo nocallback pl_invoke_nocb
void *pl_dlsym(const char *path, const char *name);
#include <stdlib.h>
*/
import "C"

import "unsafe"

// Dlsym loads the shared object at path (dlopen) and returns the address
// of its symbol name, or nil.
func Dlsym(path, name string) unsafe.Pointer {
	p, n := C.CString(path), C.CString(name)
	defer C.free(unsafe.Pointer(p))
	defer C.free(unsafe.Pointer(n))
	return C.pl_dlsym(p, n)
}

// RawCall calls fn(arg), a void (*)(void *), through a plain cgo call with
// no guard, as a binding would.
func RawCall(fn, arg unsafe.Pointer) { C.pl_invoke(C.pl_fn(fn), arg) }

// RawCallGo calls the Go callback set with SetCallback from C through a
// plain cgo call, passing in, and returns what it returned.
func RawCallGo(in int) int {
	r := NewResult(in)
	defer Free(r)
	C.pl_call_go(unsafe.Pointer(r))
	return r.Out()
}

// RawCallNoCallback is RawCall through a C function marked #cgo
// nocallback: the runtime refuses any call back into Go during it.
func RawCallNoCallback(fn, arg unsafe.Pointer) { C.pl_invoke_nocb(C.pl_fn(fn), arg) }
