//go:build linux && amd64 && cgo

package guard

/*
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>

static int cg_dladdr(uintptr_t pc, const char **file, const char **sym, uintptr_t *base, uintptr_t *saddr) {
	Dl_info info;
	if (dladdr((void *)pc, &info) == 0)
		return 0;
	*file = info.dli_fname;
	*sym = info.dli_sname;
	*base = (uintptr_t)info.dli_fbase;
	*saddr = (uintptr_t)info.dli_saddr;
	return 1;
}

static uintptr_t cg_dladdr_pc(void) { return (uintptr_t)cg_dladdr; }
*/
import "C"

import (
	"os"
	"runtime"
	"sync"
)

// symbolizerWarm makes the first symbolization in the process happen once,
// alone. cgosymbolizer reads the executable's debug information on first
// use without a lock, and when several threads do so at once every one of
// them builds the tables and all but one copy are leaked (measured: 16
// goroutines faulting together for the first time in a 20 MB test binary
// left 15 extra mappings of 11.6 MiB each, 175 MiB for good).
var symbolizerWarm sync.Once

// warmSymbolizer symbolizes one C PC of this package's own, so that the
// symbolizer is initialised before any concurrent use.
func warmSymbolizer() {
	symbolizerWarm.Do(func() {
		runtime.CallersFrames([]uintptr{uintptr(C.cg_dladdr_pc())}).Next()
	})
}

// symbolize turns the recorded PCs into frames. pcs[0] is the faulting
// instruction; the rest are return addresses, so the call instruction
// before each is what gets symbolized. Frames come from the registered cgo
// symbolizer (cgosymbolizer unless built with cgoguard_nosymbolizer); a PC
// it cannot name falls back to dladdr.
func symbolize(pcs []uintptr) []runtime.Frame {
	warmSymbolizer()
	frames := make([]runtime.Frame, 0, len(pcs))
	for i, pc := range pcs {
		lookup := pc
		if i > 0 {
			lookup--
		}
		n := len(frames)
		// runtime.CallersFrames hands a non-Go PC to the cgo symbolizer
		// as is; one PC may expand to several (inlined) frames.
		it := runtime.CallersFrames([]uintptr{lookup})
		for {
			f, more := it.Next()
			if f.Function != "" || f.File != "" {
				f.PC = pc
				frames = append(frames, f)
			}
			if !more {
				break
			}
		}
		if len(frames) == n {
			frames = append(frames, dladdrFrame(pc, lookup))
		}
	}
	return frames
}

// dladdrFrame names pc by the nearest exported symbol and its object file.
func dladdrFrame(pc, lookup uintptr) runtime.Frame {
	f := runtime.Frame{PC: pc}
	var file, sym *C.char
	var base, saddr C.uintptr_t
	if C.cg_dladdr(C.uintptr_t(lookup), &file, &sym, &base, &saddr) == 0 {
		return f
	}
	if sym != nil {
		f.Function = C.GoString(sym)
		f.Entry = uintptr(saddr)
	}
	if file != nil {
		f.File = C.GoString(file)
	}
	return f
}

// objectOf is the file of the executable or shared object holding pc, as
// the dynamic linker names it ("" when none does).
func objectOf(pc uintptr) string {
	var file, sym *C.char
	var base, saddr C.uintptr_t
	if pc == 0 || C.cg_dladdr(C.uintptr_t(pc), &file, &sym, &base, &saddr) == 0 || file == nil {
		return ""
	}
	name := C.GoString(file)
	if name == "" { // the main program, as glibc's dladdr may report it
		name, _ = os.Executable()
	}
	return name
}
