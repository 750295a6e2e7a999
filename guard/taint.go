package guard

import (
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// TaintLevel says how far the damage a recovered fault or an interrupted
// call may have done can reach. Every error reports one of the two levels;
// the zero TaintLevel (a Taint not filled in, as Stats.LastTaint before the
// first crash or interrupt) prints as "none".
type TaintLevel int

const (
	// TaintLibrary: the C function was abandoned part way. Whatever state of
	// its library it was using (the handle, connection or context it was
	// given, the library's globals) may be inconsistent, and locks the
	// library held stay held. Retire that handle; do not trust data the call
	// was producing.
	TaintLibrary TaintLevel = iota + 1
	// TaintProcess: state every C caller in the process shares may be
	// damaged: the C heap, or a lock inside the C library (the allocator's,
	// stdio's, the dynamic loader's). Any later C call may crash or hang.
	// Stop taking work and restart the process gracefully.
	TaintProcess
)

func (l TaintLevel) String() string {
	switch l {
	case 0:
		return "none"
	case TaintLibrary:
		return "library"
	case TaintProcess:
		return "process"
	}
	return "TaintLevel(" + strconv.Itoa(int(l)) + ")"
}

// Taint states what a recovered fault or an interrupted call may have left
// inconsistent. It is worked out from where the thread was stopped (its C
// frames), so it can only be as good as the frames: a corrupting write that
// happened long before the fault, in code that did not fault, is invisible.
type Taint struct {
	Level TaintLevel
	// HeapSuspect: the C heap may be corrupt: the fault was inside the
	// allocator (malloc, free, ...: its metadata was bad), glibc's heap
	// consistency checks aborted, or the thread was stopped part way
	// through an allocator call.
	HeapSuspect bool
	// AllocatorLocked: the thread was stopped at an arbitrary instruction
	// inside the allocator (a forced interrupt): an arena lock may stay
	// held, and the next malloc in another thread may hang.
	AllocatorLocked bool
	// LibcLocked: the thread was stopped at an arbitrary instruction inside
	// the C library or the dynamic loader, which take internal locks
	// (stdio, dlopen, the environment, time zones).
	LibcLocked bool
	// Object is the file of the executable or shared object holding the
	// innermost frame that belongs to one ("" when unknown).
	Object string
	// Function is the innermost named C function.
	Function string
	// Reason is one sentence a log line can carry.
	Reason string
}

// allocatorFunctions are the C allocator's entry points and glibc's
// internal allocator functions, as a symbolizer or dladdr names them. A
// frame of glibc's (whose internal functions are not exported) is named by
// the exported function before it, but a stop inside the allocator always
// has an exported entry point (malloc, free, ...) among its frames.
var allocatorFunctions = map[string]bool{
	"malloc": true, "free": true, "calloc": true, "realloc": true, "reallocarray": true,
	"memalign": true, "posix_memalign": true, "aligned_alloc": true, "valloc": true,
	"pvalloc": true, "cfree": true, "malloc_usable_size": true, "malloc_trim": true,
	"__libc_malloc": true, "__libc_free": true, "__libc_calloc": true, "__libc_realloc": true,
	"__libc_memalign": true, "__libc_valloc": true, "__libc_pvalloc": true,
	"__malloc_info": true, "malloc_info": true, "mallinfo": true, "mallinfo2": true,
	"_int_malloc": true, "_int_free": true, "_int_realloc": true, "_int_memalign": true,
	"malloc_consolidate": true, "sysmalloc": true, "systrim": true, "unlink_chunk": true,
	"malloc_printerr": true, "tcache_init": true, "arena_get2": true, "_int_free_merge_chunk": true,
	"_int_free_create_chunk": true, "_int_free_maybe_consolidate": true,
	// Other allocators' usual names.
	"je_malloc": true, "je_free": true, "je_calloc": true, "je_realloc": true,
	"tc_malloc": true, "tc_free": true, "tc_calloc": true, "tc_realloc": true,
	"mi_malloc": true, "mi_free": true, "mi_calloc": true, "mi_realloc": true,
}

func isAllocatorFunction(name string) bool {
	if allocatorFunctions[name] {
		return true
	}
	// GCC's split-off parts (_int_free.cold, malloc.part.0) and glibc's
	// internal aliases (__GI___libc_free).
	if i := strings.IndexByte(name, '.'); i > 0 && allocatorFunctions[name[:i]] {
		return true
	}
	return strings.HasPrefix(name, "__GI_") && allocatorFunctions[strings.TrimPrefix(name, "__GI_")]
}

// isLibcObject reports whether file is the C library or the dynamic loader.
func isLibcObject(file string) bool {
	base := file[strings.LastIndexByte(file, '/')+1:]
	return strings.HasPrefix(base, "libc.so") || strings.HasPrefix(base, "libc-") ||
		strings.HasPrefix(base, "ld-linux") || strings.HasPrefix(base, "libpthread.so")
}

// stopKind is how the thread came to leave the C function.
type stopKind int

const (
	stopFault     stopKind = iota // a fault recovered by the guard
	stopInSyscall                 // interrupted while blocked in a system call
	stopForced                    // interrupted at an arbitrary instruction
)

// computeTaint works out a Taint from the frames (innermost first), the
// signal of a fault, and how the thread was stopped; objectOf names the
// file holding a PC.
func computeTaint(frames []runtime.Frame, sig syscall.Signal, kind stopKind, objectOf func(uintptr) string) Taint {
	t := Taint{Level: TaintLibrary}
	inAllocator := false
	for i, f := range frames {
		if t.Function == "" && f.Function != "" {
			t.Function = f.Function
		}
		if t.Object == "" {
			pc := f.PC
			if i > 0 && pc > 0 {
				pc-- // a return address: the call is before it
			}
			t.Object = objectOf(pc)
		}
		if isAllocatorFunction(f.Function) {
			inAllocator = true
		}
	}
	innermostInLibc := len(frames) > 0 && isLibcObject(objectOf(frames[0].PC))

	switch kind {
	case stopFault:
		switch {
		case inAllocator && sig == syscall.SIGABRT:
			t.HeapSuspect = true
			t.Reason = "the C library's heap checks failed: the C heap is corrupt"
		case inAllocator:
			t.HeapSuspect = true
			t.Reason = "fault inside the C allocator: its metadata (the C heap) is likely corrupt"
		default:
			t.Reason = "fault in C code: the state it was working on may be inconsistent and its locks stay held"
		}
	case stopInSyscall:
		t.Reason = "C call abandoned in a blocking system call: the state of its library (connection, handle) is unknown"
		if inAllocator {
			t.HeapSuspect, t.AllocatorLocked = true, true
			t.Reason = "C call abandoned inside the allocator: an allocator lock may stay held"
		}
	case stopForced:
		switch {
		case inAllocator:
			t.HeapSuspect, t.AllocatorLocked, t.LibcLocked = true, true, true
			t.Reason = "C call stopped part way through an allocator call: the C heap may be inconsistent and an allocator lock may stay held"
		case innermostInLibc:
			t.LibcLocked = true
			t.Reason = "C call stopped part way through a C library function, which may hold one of the library's internal locks"
		default:
			t.Reason = "C call stopped at an arbitrary instruction: the state it was working on may be inconsistent and its locks stay held"
		}
	}
	if t.HeapSuspect || t.AllocatorLocked || t.LibcLocked {
		t.Level = TaintProcess
	}
	return t
}
