// Package guard makes native faults and hung calls in C code reached
// through cgo survivable: they come back as ordinary Go errors instead of a
// dead process or a goroutine and thread lost for good.
//
// # Using it
//
// For a database/sql pool over a cgo driver, guardsql.Open (package
// github.com/cgoguard/cgoguard/guard/guardsql) runs every call into the
// driver under Do; for an HTTP service, guardhttp.Handler (package
// github.com/cgoguard/cgoguard/guard/guardhttp) makes a fault in C that a
// handler reaches a 500 for that request alone.
//
// Do is the simplest way: one closure, any binding, any signature. A fault
// in C reached through any cgo call the goroutine makes while f runs — its
// own, or one inside a binding — ends f there and comes back as a
// *CrashError; errors.Is(err, ErrCrash) holds for every recovered fault.
// The fault is delivered as a Go panic at the innermost cgo call and
// recovered by Do: the Go code in between is unwound (deferred calls run).
// Do does not cover goroutines f starts, C threads, or #cgo nocallback
// calls; see docs/do.md in the repository.
//
//	err := guard.Do(func() { pkt, perr = parser.Parse(buf) })
//	var ce *guard.CrashError
//	if errors.As(err, &ce) {
//		log.Printf("parser crashed: %v", ce) // SIGSEGV, address, C function, file:line
//	}
//
// DoContext is Do that also stops a C call f is blocked in when ctx is done
// or its deadline passes: the error is an *InterruptError matching
// ErrTimeout and context.DeadlineExceeded, or context.Canceled. A thread
// blocked in a system call is stopped at once; one running user code gets
// a grace period (WithGrace) to reach one. See docs/deadlines.md.
//
//	err := guard.DoContext(ctx, func() { rows, qerr = conn.Query(q) })
//	if errors.Is(err, context.DeadlineExceeded) {
//		// the C call was abandoned: retire conn
//	}
//
// Call is the cheapest path: it runs one C function of type
// void (*)(void *) under a guard point, and on a fault the thread resumes
// at the guard point, abandoning only C frames; no Go code is unwound.
// CallFunc(fn, args, opts...) calls a C function of up to six integer or
// pointer arguments without a thunk.
//
//	err := guard.Call(unsafe.Pointer(C.parse), unsafe.Pointer(req))
//
// CallContext and CallFuncContext are Call and CallFunc that stop fn when
// ctx is done; WithTimeout does the same without a context.
//
// Every call takes the same options: WithTimeout, WithGrace, WithRetries
// (not Do), WithMaxFrames and WithDumpDir. SetDumpDir writes a crash dump
// for every fault (dumps hold raw memory: see docs/dumps.md). Each error's
// Taint says how far the damage may reach; ReadStats counts what was
// returned, and OnCrash and OnInterrupt hooks see every fault and
// interrupt.
//
// # What recovery promises
//
// The thread resumes at a known point (Call's guard point, Do's cgo
// boundary) and the goroutine gets an error; the C code is abandoned at
// the faulting instruction, with nothing freed and no lock released. Treat
// a CrashError or InterruptError as "this handle is poisoned": retire it,
// and restart the process gracefully when its Taint is TaintProcess or
// faults keep coming. The full statement, with what is not recoverable and
// the policy we recommend: [docs/recovery.md].
//
// # Errors
//
// A call that ran and was abandoned part way returns a *CrashError
// (matching ErrCrash) or an *InterruptError (matching ErrTimeout, or the
// context's error). A call that did not run returns a *NotStartedError
// (the context was done first), ErrUnsupported (no guarding on this
// platform; for Do also ErrRuntimeUnsupported, which matches
// ErrUnsupported), ErrSetup (cgoguard could not be set up; the text says
// what failed), ErrTooDeep (MaxDepth guards already open on the thread),
// ErrNestedDeadline (a deadline inside another on the same thread),
// ErrNilFunction, ErrTooManyArgs, or an error naming a bad option.
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
//   - Call's guards nest up to MaxDepth deep on one thread (ErrTooDeep);
//     one deadline per thread at a time (ErrNestedDeadline).
//   - C frames are symbolized through github.com/ianlancetaylor/cgosymbolizer,
//     which registers the process's cgo traceback; build with the tag
//     cgoguard_nosymbolizer to register your own.
//
// [docs/recovery.md]: https://github.com/cgoguard/cgoguard/blob/main/docs/recovery.md
package guard
