package main

/*
#include <stdint.h>

static void pluginprog_call(uintptr_t fn) { ((void (*)(void *))fn)(0); }
*/
import "C"

import "unsafe"

// cCall calls the C function fn, void (*)(void *), with a plain cgo call.
func cCall(fn unsafe.Pointer) { C.pluginprog_call(C.uintptr_t(uintptr(fn))) }
