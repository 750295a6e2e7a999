package guard

import (
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// Objects by address range, for computeTaint's objectOf.
func fakeObjects(pc uintptr) string {
	switch {
	case pc >= 0x7f0000000000:
		return "/lib/x86_64-linux-gnu/libc.so.6"
	case pc >= 0x400000:
		return "/srv/app"
	}
	return ""
}

func TestComputeTaint(t *testing.T) {
	app := runtime.Frame{PC: 0x401000, Function: "parse_header"}
	appCaller := runtime.Frame{PC: 0x402000, Function: "handle_request"}
	strlen := runtime.Frame{PC: 0x7f0000001000, Function: "__strlen_avx2"}
	// glibc's internal _int_free is not exported: dladdr names it by the
	// exported symbol before it, but free itself is the next frame.
	intFree := runtime.Frame{PC: 0x7f0000002000, Function: "__libc_pvalloc"}
	free := runtime.Frame{PC: 0x7f0000003000, Function: "free"}
	abortFrames := []runtime.Frame{{PC: 0x7f0000004000, Function: "pthread_kill"}, {PC: 0x7f0000005000, Function: "raise"},
		{PC: 0x7f0000006000, Function: "abort"}, intFree, free, app}
	stdio := runtime.Frame{PC: 0x7f0000007000, Function: "fwrite"}

	for _, c := range []struct {
		name                        string
		frames                      []runtime.Frame
		sig                         syscall.Signal
		kind                        stopKind
		level                       TaintLevel
		heap, allocLocked, libcLock bool
		object, function, reason    string
	}{
		{"null write in app", []runtime.Frame{app, appCaller}, syscall.SIGSEGV, stopFault, TaintLibrary, false, false, false, "/srv/app", "parse_header", "fault in C code"},
		{"strlen(NULL)", []runtime.Frame{strlen, app}, syscall.SIGSEGV, stopFault, TaintLibrary, false, false, false, "/lib/x86_64-linux-gnu/libc.so.6", "__strlen_avx2", "fault in C code"},
		{"invalid free abort", abortFrames, syscall.SIGABRT, stopFault, TaintProcess, true, false, false, "/lib/x86_64-linux-gnu/libc.so.6", "pthread_kill", "heap checks failed"},
		{"segv in malloc", []runtime.Frame{{PC: 0x7f0000002000, Function: "_int_malloc"}, {PC: 0x7f0000003000, Function: "malloc"}, app}, syscall.SIGSEGV, stopFault, TaintProcess, true, false, false, "/lib/x86_64-linux-gnu/libc.so.6", "_int_malloc", "inside the C allocator"},
		{"blocked read", []runtime.Frame{{PC: 0x7f0000008000, Function: "read"}, app}, syscall.Signal(37), stopInSyscall, TaintLibrary, false, false, false, "/lib/x86_64-linux-gnu/libc.so.6", "read", "blocking system call"},
		{"forced in app loop", []runtime.Frame{app, appCaller}, syscall.Signal(37), stopForced, TaintLibrary, false, false, false, "/srv/app", "parse_header", "arbitrary instruction"},
		{"forced in malloc", []runtime.Frame{{PC: 0x7f0000002000, Function: "malloc.part.0"}, app}, syscall.Signal(37), stopForced, TaintProcess, true, true, true, "/lib/x86_64-linux-gnu/libc.so.6", "malloc.part.0", "allocator call"},
		{"forced in stdio", []runtime.Frame{stdio, app}, syscall.Signal(37), stopForced, TaintProcess, false, false, true, "/lib/x86_64-linux-gnu/libc.so.6", "fwrite", "internal locks"},
		{"no frames", nil, syscall.SIGSEGV, stopFault, TaintLibrary, false, false, false, "", "", "fault in C code"},
	} {
		got := computeTaint(c.frames, c.sig, c.kind, fakeObjects)
		if got.Level != c.level || got.HeapSuspect != c.heap || got.AllocatorLocked != c.allocLocked ||
			got.LibcLocked != c.libcLock || got.Object != c.object || got.Function != c.function ||
			!strings.Contains(got.Reason, c.reason) {
			t.Errorf("%s: got %+v", c.name, got)
		}
	}
}

func TestTaintLevelString(t *testing.T) {
	for l, want := range map[TaintLevel]string{0: "none", TaintLibrary: "library", TaintProcess: "process", 7: "TaintLevel(7)"} {
		if l.String() != want {
			t.Errorf("%d: %q, want %q", int(l), l.String(), want)
		}
	}
}
