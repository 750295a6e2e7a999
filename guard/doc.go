// Package guard makes native faults and hung calls in C code reached
// through cgo survivable: they come back as ordinary Go errors instead of a
// dead process or a goroutine and thread lost for good.
//
// Do is the simplest way: a fault in C reached through any cgo call the
// goroutine makes while f runs — its own, or one inside a binding — ends f
// and comes back as a *CrashError. errors.Is(err, ErrCrash) holds for
// every recovered fault.
//
//	err := guard.Do(func() { pkt, perr = parser.Parse(buf) })
//	var ce *guard.CrashError
//	if errors.As(err, &ce) {
//		log.Printf("parser crashed: %v", ce) // SIGSEGV, address, C function, file:line
//	}
//
// A fault is SIGSEGV, SIGBUS, SIGFPE or SIGILL raised by an instruction of
// the C code (or anything it calls on the same thread), or SIGABRT raised
// by that code itself (abort, a failed assert, glibc's heap checks). Under
// Do it becomes a Go panic at the innermost cgo call, recovered by Do: the
// Go code in between is unwound (deferred calls run). Do does not cover
// goroutines f starts, C threads, or #cgo nocallback calls; see
// docs/do.md in the repository.
//
// Call is the cheapest path: it runs one C function of type
// void (*)(void *) under a guard point, and on a fault the thread resumes
// at the guard point, abandoning only C frames. CallFunc takes up to six
// integer or pointer arguments instead of a C thunk.
//
//	err := guard.Call(unsafe.Pointer(C.parse), unsafe.Pointer(req))
//
// # Deadlines and cancellation
//
// DoContext, CallContext and WithTimeout stop a C call that does not return
// in time: a watchdog thread signals the one thread running it, which
// unwinds as for a fault, and the call returns an *InterruptError (matching
// ErrTimeout and context.DeadlineExceeded, or context.Canceled). A thread
// blocked in a system call is stopped at once; one running user code gets
// a grace period (WithGrace) to reach one. A context's cancellation is
// registered only for a call still running after 1 ms (CGOGUARD_LAZY_CANCEL
// changes it): a cancellation before then takes effect at that mark. See
// docs/deadlines.md.
//
// # What recovery can and cannot promise
//
// The C code is abandoned at the faulting instruction: nothing it allocated
// is freed, no lock it held is released, no cleanup runs; later calls into
// that library (or malloc) may deadlock or fault again, and the fault may
// be the symptom of earlier corruption no guard can see. Treat a CrashError
// as "this handle is poisoned": retire it, and restart the process
// gracefully when its Taint is TaintProcess or faults keep coming.
// ReadStats, OnCrash and OnInterrupt help decide; SetDumpDir writes crash
// dumps (which hold raw memory: see docs/dumps.md). See docs/recovery.md.
//
// # Outside a guard nothing changes
//
// Faults in Go code, C faults outside Do and Call, and fault signals sent
// with kill or from another process go to the Go runtime exactly as
// before: an unguarded C crash still prints Go's report and exits with
// status 2; os/signal and profiling work unchanged. The handlers are
// installed on first use (or by Install), never by importing the package.
//
// # Limits
//
//   - amd64 Linux with glibc only; elsewhere every call, Do included,
//     returns ErrUnsupported. Do also returns ErrRuntimeUnsupported on a Go
//     runtime whose cgo boundary it does not know (it knows Go 1.25, 1.26
//     and 1.27), naming the Go version; Call and CallContext still work.
//   - A fault in C that a Go callback (made from C under Call) calls through
//     cgo is not taken by the outer Call; it is taken by a Do around it, or
//     by another Call inside the callback.
//   - Call's guards nest up to MaxDepth deep on one thread; one deadline per
//     thread at a time (ErrNestedDeadline).
//   - C frames are symbolized through github.com/ianlancetaylor/cgosymbolizer,
//     which registers the process's cgo traceback; build with the tag
//     cgoguard_nosymbolizer to register your own.
package guard
