// Package guard runs C functions, called through cgo, under a guard point
// that turns a native fault inside them into an ordinary Go error instead
// of a dead process.
//
// A fault is SIGSEGV, SIGBUS, SIGFPE or SIGILL raised by an instruction of
// the guarded C code (or anything it calls on the same thread), or SIGABRT
// raised by that code itself (abort, a failed assert, glibc's heap checks).
// The handler records where it happened, then makes the thread resume at the
// guard point, which returns a *CrashError. errors.Is(err, ErrCrash) holds
// for every recovered fault.
//
//	err := guard.Call(unsafe.Pointer(C.parse), unsafe.Pointer(req))
//	var ce *guard.CrashError
//	if errors.As(err, &ce) {
//		log.Printf("parser crashed: %v", ce) // SIGSEGV, address, C function, file:line
//	}
//
// # Deadlines and cancellation
//
// WithTimeout, and CallContext with a context that has a deadline or can be
// cancelled, stop a C call that does not return in time: a watchdog thread
// sends a signal to the one thread running it, which unwinds to the guard
// point as for a fault, and the call returns an *InterruptError (matching
// ErrTimeout and context.DeadlineExceeded, or context.Canceled). A thread
// blocked in a system call is stopped at once; one running user code is
// given a grace period to reach a system call (WithGrace) before it is
// stopped wherever it stands. See the README for what each leaves behind.
// A context's cancellation is registered only for a call still running
// after 1 ms (CGOGUARD_LAZY_CANCEL changes it): a cancellation before then
// takes effect at that mark.
//
// # What recovery can and cannot promise
//
// The guarded function is abandoned at the faulting instruction: nothing it
// allocated is freed, no lock it held is released, no cleanup runs. If it
// faulted inside the allocator or with a library lock held, later calls into
// that library (or malloc) may deadlock or fault again. Treat a CrashError
// as "this handle, connection or object is poisoned": retire it, and restart
// the process gracefully when faults keep coming. A fault is also often the
// symptom of earlier memory corruption that the guard cannot see or undo.
//
// # Taint, crash dumps and hooks
//
// Every CrashError and InterruptError carries a Taint: TaintLibrary when the
// state of the library the call used may be inconsistent (retire the
// handle), TaintProcess when state every C caller shares may be damaged (a
// fault inside the allocator, glibc's heap checks failing, a forced stop
// inside malloc or libc): drain and restart the process. ReadStats counts
// crashes, interrupts and process-level taints; OnCrash and OnInterrupt
// register hooks. With SetDumpDir or WithDumpDir, every recovered fault and
// forced interrupt writes a minidump that LLDB opens (lldb -c FILE), within
// the limits of SetDumpLimits. %+v prints a full report of either error.
//
// # Outside a guard nothing changes
//
// Faults in Go code, faults on threads with no open guard, and fault signals
// sent with kill or from another process go to the Go runtime exactly as
// before: Go panics stay recoverable, an unguarded C crash still prints Go's
// report and exits with status 2, os/signal and profiling work unchanged.
// The handlers are installed on first use (or by Install), never merely by
// importing the package.
//
// # Limits
//
//   - amd64 Linux with glibc only; elsewhere every call returns ErrUnsupported.
//   - A fault in C code that a Go callback (made from guarded C) called
//     through cgo is not recovered by the outer guard: jumping over Go frames
//     would corrupt the runtime, so it crashes as it would without cgoguard.
//     Use another guard.Call inside the callback to protect such code.
//   - Guards nest up to MaxDepth deep on one thread; one call with a deadline
//     per thread at a time (ErrNestedDeadline).
//   - A library that later installs its own handler for one of these signals
//     is noticed (through sigaction/signal) and cgoguard's handler is put
//     back in front of it on the next guarded call; VerifyHandlers checks
//     the kernel's table directly.
//
// # Symbolized frames and the cgo traceback
//
// C frames are symbolized through github.com/ianlancetaylor/cgosymbolizer,
// which this package imports and which registers the process's cgo
// traceback (runtime.SetCgoTraceback). A program that registers its own
// builds with the tag cgoguard_nosymbolizer: frames are then symbolized by
// whatever the program registered, or else by dladdr (exported symbols
// only, no file:line).
package guard
