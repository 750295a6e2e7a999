package payload

/*
#include "payload.h"
void pl_call_go(void *);
void pl_call_go_then_block(void *);
*/
import "C"

import (
	"sync"
	"unsafe"
)

// CallGo is a C function that calls the Go function set with SetCallback,
// passing its input, and stores the result in Out.
var CallGo = unsafe.Pointer(C.pl_call_go)

// CallGoThenBlock calls the Go callback, then blocks in read() forever.
var CallGoThenBlock = unsafe.Pointer(C.pl_call_go_then_block)

var (
	callbackMu sync.Mutex
	callback   func(int) int
)

// SetCallback sets what CallGo runs in Go.
func SetCallback(f func(int) int) {
	callbackMu.Lock()
	callback = f
	callbackMu.Unlock()
}

//export plGoCallback
func plGoCallback(in C.long) C.long {
	callbackMu.Lock()
	f := callback
	callbackMu.Unlock()
	return C.long(f(int(in)))
}
