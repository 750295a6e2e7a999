// Command plug is built with -buildmode=plugin for tests/plugin_test.go:
// Go code outside the main module, reached from C.
package main

/*
// plug.c
void plug_call_go(void *arg);
void plug_null_write(void *arg);
*/
import "C"

import "unsafe"

var sink *int

// plugGoCallback dereferences a nil pointer: a fault in Go code, the Go
// runtime's to turn into a panic.
//
//export plugGoCallback
func plugGoCallback() {
	*sink = 1
}

// CallGoPtr is a C function, void (*)(void *), that calls plugGoCallback.
func CallGoPtr() unsafe.Pointer { return unsafe.Pointer(C.plug_call_go) }

// NullWritePtr is a C function, void (*)(void *), that writes through NULL.
func NullWritePtr() unsafe.Pointer { return unsafe.Pointer(C.plug_null_write) }

// GoFunc is a Go function of the plugin, whose PC the test looks for.
func GoFunc() int { return 42 }

func main() {}
