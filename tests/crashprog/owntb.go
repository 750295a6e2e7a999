//go:build cgoguard_nosymbolizer

package main

/*
#include <stdint.h>

// The argument layouts of runtime.SetCgoTraceback (runtime/traceback.go:
// cgoTracebackArg, cgoSymbolizerArg).
struct crashprog_traceback_arg {
	uintptr_t context;
	uintptr_t sig_context;
	uintptr_t *buf;
	uintptr_t max;
};

struct crashprog_symbolizer_arg {
	uintptr_t pc;
	const char *file;
	uintptr_t lineno;
	const char *func;
	uintptr_t entry;
	uintptr_t more;
	uintptr_t data;
};

// Named like cgosymbolizer's global C functions on purpose: this only links
// because the cgoguard_nosymbolizer tag keeps cgosymbolizer out.
void cgoTraceback(void *p) {
	struct crashprog_traceback_arg *a = p;
	if (a->max > 0)
		a->buf[0] = 0;
}

void cgoSymbolizer(void *p) {
	struct crashprog_symbolizer_arg *a = p;
	if (a->pc == 0)
		return; // end of a traceback: nothing to release
	a->file = "my.c";
	a->lineno = 1;
	a->func = "mysymbolizer_fn";
	a->entry = a->pc;
	a->more = 0;
	a->data = 0;
}
*/
import "C"

import (
	"runtime"
	"unsafe"
)

func init() {
	registerOwnTraceback = func() {
		runtime.SetCgoTraceback(0, unsafe.Pointer(C.cgoTraceback), nil, unsafe.Pointer(C.cgoSymbolizer))
	}
}
