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
*/
import "C"

import (
	"os"
	"runtime"
	"sync"
)

// symbolize turns the recorded PCs into frames. pcs[0] is the faulting
// instruction; the rest are return addresses, so the call instruction
// before each is what gets symbolized. Frames come from the registered cgo
// symbolizer (cgosymbolizer unless built with cgoguard_nosymbolizer); a PC
// it cannot name falls back to dladdr.
func symbolize(pcs []uintptr) []runtime.Frame {
	if len(pcs) == 0 {
		return nil // WithMaxFrames(0): the symbolizer is not even loaded
	}
	frames := make([]runtime.Frame, 0, len(pcs))
	for i, pc := range pcs {
		lookup := pc
		if i > 0 {
			lookup--
		}
		for _, f := range framesAt(lookup) {
			f.PC = pc
			frames = append(frames, f)
		}
	}
	return frames
}

// symbolCache holds the frames of every C PC symbolized so far, up to
// symbolCacheMax of them (then it starts again), and its lock keeps
// cgoguard's lookups from running concurrently. Both work around
// cgosymbolizer's leaks:
//   - it reads the executable's debug information on first use without a
//     lock, and when several threads do so at once each builds the tables
//     and all copies but one are leaked (measured: 16 goroutines faulting
//     together for the first time in a 20 MB test binary left 15 extra
//     mappings of 11.6 MiB each);
//   - its allocator leaks what it cannot lock at once;
//   - every lookup of a PC that expands to more than one frame (an inlined
//     call) allocates the extra frames' records and never frees them
//     (measured: 33 bytes a fault, 3.2 MiB for 100,000 faults at one such
//     PC); a cached PC is not looked up again.
//
// A shared object unloaded and another loaded at the same address would be
// named by the first one's cached frames.
var symbolCache struct {
	sync.Mutex
	frames map[uintptr][]runtime.Frame
}

const symbolCacheMax = 4096

// framesAt is the symbolized frames of the C PC lookup (PC fields unset).
func framesAt(lookup uintptr) []runtime.Frame {
	symbolCache.Lock()
	defer symbolCache.Unlock()
	if fs, ok := symbolCache.frames[lookup]; ok {
		return fs
	}
	var fs []runtime.Frame
	// runtime.CallersFrames hands a non-Go PC to the cgo symbolizer as is;
	// one PC may expand to several (inlined) frames.
	it := runtime.CallersFrames([]uintptr{lookup})
	for {
		f, more := it.Next()
		if f.Function != "" || f.File != "" {
			f.PC = 0
			fs = append(fs, f)
		}
		if !more {
			break
		}
	}
	if len(fs) == 0 {
		fs = append(fs, dladdrFrame(lookup))
	}
	if symbolCache.frames == nil || len(symbolCache.frames) >= symbolCacheMax {
		symbolCache.frames = make(map[uintptr][]runtime.Frame)
	}
	symbolCache.frames[lookup] = fs
	return fs
}

// dladdrFrame names lookup by the nearest exported symbol and its object
// file (PC unset).
func dladdrFrame(lookup uintptr) runtime.Frame {
	var f runtime.Frame
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
