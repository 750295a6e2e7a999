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
	"debug/elf"
	"os"
	"runtime"
	"sort"
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

// dladdrFrame names lookup by its object file and the function that holds
// it in that file's symbol table, or else the nearest exported symbol
// (dladdr's), for a PC the cgo symbolizer cannot name: an object it does
// not know (cgosymbolizer reads the list of loaded objects once, so one
// loaded later is unknown to it), or one without debug information. PC
// unset.
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
	if name, entry, ok := symtabFunction(f.File, uintptr(base), lookup); ok && entry >= f.Entry {
		f.Function, f.Entry = name, entry
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

// objectSymbols caches each object file's function symbols.
var objectSymbols struct {
	sync.Mutex
	m map[string]*funcSymbols
}

// funcSymbols are an object file's defined functions, sorted by address.
type funcSymbols struct {
	absolute bool // an ET_EXEC: addresses are not relative to the load base
	syms     []elf.Symbol
}

// symtabFunction finds the function holding pc in the symbol table of the
// object file loaded at base: its name and address.
func symtabFunction(file string, base, pc uintptr) (string, uintptr, bool) {
	if file == "" {
		file, _ = os.Executable()
	}
	if file == "" {
		return "", 0, false
	}
	objectSymbols.Lock()
	fs, ok := objectSymbols.m[file]
	if !ok {
		fs = readFunctionSymbols(file)
		if objectSymbols.m == nil {
			objectSymbols.m = make(map[string]*funcSymbols)
		}
		objectSymbols.m[file] = fs
	}
	objectSymbols.Unlock()
	if fs == nil {
		return "", 0, false
	}
	off := uint64(pc - base)
	if fs.absolute {
		off, base = uint64(pc), 0
	}
	i := sort.Search(len(fs.syms), func(i int) bool { return fs.syms[i].Value > off }) - 1
	if i < 0 || off >= fs.syms[i].Value+fs.syms[i].Size {
		return "", 0, false
	}
	return fs.syms[i].Name, base + uintptr(fs.syms[i].Value), true
}

// readFunctionSymbols reads file's defined function symbols (.symtab, or
// .dynsym when it was stripped); nil when it has none.
func readFunctionSymbols(file string) *funcSymbols {
	ef, err := elf.Open(file)
	if err != nil {
		return nil
	}
	defer ef.Close()
	all, err := ef.Symbols()
	if err != nil || len(all) == 0 {
		all, _ = ef.DynamicSymbols()
	}
	fs := &funcSymbols{absolute: ef.Type == elf.ET_EXEC}
	for _, sy := range all {
		if elf.ST_TYPE(sy.Info) == elf.STT_FUNC && sy.Section != elf.SHN_UNDEF && sy.Size > 0 {
			fs.syms = append(fs.syms, elf.Symbol{Name: sy.Name, Value: sy.Value, Size: sy.Size})
		}
	}
	if len(fs.syms) == 0 {
		return nil
	}
	sort.Slice(fs.syms, func(i, j int) bool { return fs.syms[i].Value < fs.syms[j].Value })
	return fs
}
